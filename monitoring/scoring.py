"""Agent behaviour scoring: every agent against their own baseline, shrunk towards their peers.

Pure Python (no Django), so that the backtest command, the Celery tasks, the scenario benchmark and
the tests all run the same code on plain objects.

The model, per agent-day:

- Signals (daily counts) from the activity events: client records opened, the busiest three-hour
  window of opens, opens of records nobody touched for 90 days, personal-data reveals, exported rows,
  searches, actions outside the agent's own hours, accesses to high-value clients of another agent's
  book without recorded cover, calls of a few seconds (as a count, and relative to the agent's real
  calls that day).
- Expected count = peer exposure x agent level x context. The peer exposure is the mean of the agent's
  peer group (role + desk) for that weekday (holidays and leave are a day type of their own), raised on
  campaign days and cover days by factors learnt from the same history. The agent level is a
  Gamma-Poisson posterior (prior: the peer group, so a newcomer starts from their peers and moves to
  their own level as days accrue; past days are forgotten with a half-life of about six weeks, so
  shift and role changes are learnt; a day counts for the information it carries given the day-to-day
  overdispersion, and is winsorised, so an anomaly does not become the new normal).
- The predictive distribution of the day's count is negative binomial (agent level uncertainty x
  day-to-day overdispersion estimated from all agents); a signal's score is -log10 of its upper tail
  probability. Exported rows are a sum of exports of the agent's habitual size (a compound: their
  number from the level, each one's rows Gamma around the habit with the shape the peers' single
  exports show), so that one ordinary export on a quiet agent's day says little and one ten times
  the habit says much. Short calls against the day's real calls keep their own spread, fitted on the
  peers (narrower than their count's: a busy day has more of both). An evening running on from the
  shift counts in hours at the day's own pace. Records untouched for 90 days are not scored on a day
  type the peers' history has not yet shown them on (the history's first days reaching back 90 days). Signals are grouped in families (access, timing, relationship, calls); the day's score
  is the larger of the best family (corrected for the number of families) and Fisher's combination
  of the families, so that moderate deviations in several families together also score.
- Thresholds are calibrated to an alert budget on the scored history (see `calibrate`). An agent under
  notice (and their 30 days before the notice, rescored) is held to a lower threshold.
- Nothing of a day is learnt before the day is scored: the nightly rescore fits the peers and the
  thresholds on the days before its last; the backtest (`replay_features`) replays a history day after
  day, each day with the peers, spreads and thresholds of the days before it and the context facts
  known by its end (each carries the day it became known); a notice known on day K reviews the days
  before it again on K, their alerts raised then.
- Out-of-book access to a client near their large deposit or withdrawal weighs more (in book it is
  ordinary); a covering agent's access to the covered colleague's book is expected.

Each scored day keeps its reasons in words with numbers and the evidence (event references).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple

KINDS = ("client_open", "pii_reveal", "export", "search", "call", "login")
ACCESS_KINDS = frozenset({"client_open", "pii_reveal"})
STALE_DAYS = 90
SHORT_CALL_S = 6.0
BRIEF_CALL_S = 15.0             # a second, wider cut: padding logged as calls of ten-odd seconds
NOTICE_LOOKBACK_DAYS = 30
NOTICE_THRESHOLD_DROP = 1.0     # -log10 units: ten times likelier to alert under notice
NEWCOMER_DAYS = 30
DECAY = 0.985                   # per day: half-life about 46 days
EVIDENCE_CAP = 50
EXPORT_UNIT = 25.0              # rows: exports are counted in units of a small export, not row by row

SIGNALS = ("opens", "burst", "stale", "reveals", "export_rows", "searches", "offhours", "oob_hv",
           "short_calls", "short_ratio", "brief_calls")
FAMILY = {"opens": "access", "burst": "access", "stale": "access", "reveals": "access",
          "export_rows": "access", "searches": "access", "offhours": "timing", "oob_hv": "relationship",
          "short_calls": "calls", "short_ratio": "calls", "brief_calls": "calls"}
FAMILIES = ("access", "timing", "relationship", "calls")
SUBGROUP = {"opens": "opens", "burst": "opens", "stale": "stale", "reveals": "reveals", "export_rows": "exports",
            "searches": "searches", "offhours": "offhours", "oob_hv": "oob_hv", "short_calls": "calls",
            "short_ratio": "calls", "brief_calls": "calls"}
_FAMILY_SUBGROUPS = {family: sorted({SUBGROUP[s] for s in SIGNALS if FAMILY[s] == family}) for family in FAMILIES}
_FAMILY_SIZE = {family: sum(1 for s in SIGNALS if FAMILY[s] == family) for family in FAMILIES}
# Signals whose exposure is learnt from the peers' history (the others are built while scoring).
_PEER_SIGNALS = ("opens", "burst", "stale", "reveals", "export_rows", "searches", "oob_hv", "short_calls", "brief_calls", "total")
_ALL = (*SIGNALS, "total")
# Signals whose level learns at the agent's own day-to-day spread once it is known: exports come in a few
# lumps of hundreds of rows, whose spread is the agent's habit (a reporting agent's days vary tenfold; the
# day's rows are then scored as a sum of exports, `export_score`); the counts of many small actions keep
# the peers' spread, so that a doubled day stands out.
OWN_SPREAD_SIGNALS = frozenset({"export_rows"})
OFF_DAYTYPE = 7                 # holidays and leave: a day type of their own (0-6 are the weekdays)
DAYTYPES = 8
_EXPORT_SIZE_MIN_EXPORTS = 3     # an agent's rows per export join the peers' habit from this many exports
_MIN_MEAN = 0.03                # the smallest expected count: a signal never seen still has a finite tail
BURST_WIDTH_HOURS = 3           # the busiest window of opens is this many consecutive hours


@dataclass(frozen=True, slots=True)
class ScoringParameters:
    """The model's tuning. Each number says what it means and where it comes from; most were set on
    the synthetic desk (monitoring.scenarios: its labelled agent-days, at the default alert budget)
    and hold on the labelled set of tests/monitoring/test_scenarios.py. Changing one changes scores:
    run that check and the backtest before and after."""

    # --- the agent's own hours ------------------------------------------------------------------
    shift_seed_weight: float = 3.0
    """Weight of each hour inside the recorded shift in a new hour profile: about three days' worth
    of a day's activity, so the shift sets the usual hours until the agent's own days outweigh it."""
    off_shift_seed_weight: float = 0.05
    """Weight of each hour outside the shift in a new hour profile: small, never zero."""
    default_day: tuple[int, int] = (7, 20)
    """The usual working hours (from, to) of an agent without a recorded shift."""
    shift_margin_hours: int = 1
    """An hour this close to the shift is not outside the agent's hours (a slightly early start)."""
    shift_change_moved_share: float = 0.7
    """On a recorded shift change, this share of the profile's whole weight is put on the new hours at
    once, so the first day of the new shift is not judged against the old one."""
    shift_change_kept_share: float = 0.3
    """On a recorded shift change, the share of each hour's weight kept: the old hours fade out."""
    off_hour_share: float = 0.012
    """An hour outside the shift is outside the agent's own hours while it holds less than this share
    of their hour profile (a quarter of an hour's share if they worked all 24 hours evenly)."""
    usual_hour_share: float = 0.03
    """An hour holding at least this share of the profile is one of the agent's usual hours."""
    overtime_reach_hours: int = 3
    """Off-hours activity joined to the usual hours by active hours, within this many hours of them, is
    overtime (the working day carried on)."""
    overtime_weight: float = 0.25
    """Each action of overtime counts this much off the agent's hours (a return at night counts 1);
    after a full day (begun by the shift's start) an hour of overtime at the day's own pace (actions
    per active hour within the agent's hours) counts this much."""
    profile_learn_weight: float = 3.0
    """A day's hour shape is added to the (decaying) hour profile at this weight..."""
    anomalous_profile_learn_weight: float = 0.6
    """...and at this weight when its off-hours score is anomalous, so that a night of copying does
    not become the agent's hours while a lasting change is learnt within weeks."""
    anomalous_offhours_score: float = 2.0
    """An off-hours score (-log10 tail probability) at or above this is an anomalous day for learning."""

    # --- the agent's working days -----------------------------------------------------------------
    worked_prior_weekday: float = 0.9
    """Share of Mondays to Fridays worked, before the peer group's own share is known."""
    worked_prior_weekend: float = 0.1
    """Share of Saturdays, Sundays and days off worked, before the peer group's own share is known."""
    newcomer_worked_floor: float = 0.5
    """A newcomer's working weekdays are not known: each is taken as worked at least half the time."""
    worked_prior_days: float = 4.0
    """The prior share of days worked counts as this many days of the agent's own."""
    worked_decay: float = 0.97
    """Per day of that type: what the agent worked on a day type is forgotten with a half-life of
    about 23 such days (five months of Saturdays)."""
    anomalous_worked_step: float = 0.3
    """An anomalous day counts this much of a day when learning whether the agent works that day."""
    active_day_min_actions: int = 2
    """A day with more actions than this was worked."""
    day_off_worked_share: float = 0.25
    """A day type the agent works less often than this is a day off for them (like a holiday)."""

    # --- expected off-hours activity ----------------------------------------------------------------
    offhours_exposure_workday: float = 0.15
    """Expected actions outside the agent's hours on a day they work (a little overtime is usual)."""
    offhours_exposure_day_off: float = 0.05
    """Expected actions on a day off (all of them count as off hours), at the least..."""
    offhours_exposure_day_off_slope: float = 0.3
    """...plus this times the share of such days the agent does not work: 0.05 + 0.3 x (1 - share)."""
    moved_day_share: float = 0.7
    """A working day whose in-hours activity falls short of this share of the agent's usual total was
    moved, not added to: the off-hours count is reduced by the shortfall."""

    # --- levels -----------------------------------------------------------------------------------------
    newcomer_prior_widening: float = 2.0
    """A newcomer's level is less sure to be their peers': the prior's weight is divided by this."""
    day_level_prior: float = 1.5
    """Weight (in days) of the prior that the agent works a day type like their peers."""
    ramp_up_extra_days: int = 15
    """For this many days after the newcomer period the agent's level is not taken below the peers'
    (while ramping up, working like a peer is not surprising)."""
    learn_cap_sd: float = 3.0
    """A day teaches the level at most its expected count plus this many standard deviations
    (winsorised), so an anomaly does not become the new normal."""
    own_spread_min_days: float = 20.0
    """An agent's own day-to-day spread widens their expectation once this many (decayed) days show it."""
    own_spread_max_excess: float = 2.0
    """The own spread (excess variance over the mean squared) is read as at most this."""
    export_size_shape: float = 2.0
    """Exported rows are a few exports a day of the agent's habitual size each: the day's rows are
    judged as a sum of that many exports (their number negative binomial, from the agent's level), each
    export's rows Gamma distributed around the agent's habitual size with the shape the peers' single
    exports show (`fit_peers`), this one before they show it (2: an export three times the habitual size
    is a 1-in-60 export; the smaller, the less a single large one says)."""
    export_size_shape_bounds: tuple[float, float] = (1.0, 5.0)
    """The fitted shape of export sizes lies between these."""
    export_size_prior_exports: float = 3.0
    """The peers' rows per export count as this many exports of the agent's own habit."""
    export_size_learn_cap: float = 4.0
    """A day teaches the habitual size at most this many times the habit per export (an anomalous
    export does not become the habit)."""

    # --- reasons -------------------------------------------------------------------------------------------
    reason_min_score: float = 1.3
    """A signal scoring at least this (a tail probability of 5 %) is a reason and has evidence."""
    reason_also_score: float = 2.5
    """Besides the strongest, a signal is named among the reasons from this score."""
    near_threshold: float = 0.5
    """Days within this of their threshold get their reasons written too (for the review of near misses)."""

    # --- calibration ---------------------------------------------------------------------------------------
    calibration_min_days: int = 50
    """With fewer benign agent-days than this, the default thresholds hold."""
    default_threshold: float = 3.0
    """The threshold without enough history: a tail probability of 1 in 1,000."""
    default_watched_threshold: float = 2.0
    """The threshold under notice without enough history."""
    tail_fit_quantiles: tuple[float, float] = (0.95, 0.99)
    """The two quantiles of the benign scores the exponential tail is fitted through."""
    min_threshold: float = 1.5
    """The threshold is never below this, whatever the budget."""
    min_watched_threshold: float = 1.0
    """The threshold under notice is never below this."""
    max_budget_share: float = 0.5
    """The alert budget is read as at most this share of agent-days."""


PARAMETERS = ScoringParameters()


@dataclass(frozen=True, slots=True)
class PeerFitParameters:
    """How the peers' history is read (`fit_peers`)."""

    min_days: int = 20
    """Peer means need this many agent-days of a group and day type; a smaller group takes its role's,
    then everyone's. The agent's own level is estimated from this many days at least."""
    trim: float = 0.01
    """Share of the highest days left out of a peer mean (an injected anomaly must not set it)."""
    context_min_expected: float = 5.0
    """A campaign or cover factor is fitted once the expected count on such days exceeds this."""
    context_factor_max: float = 6.0
    """A context factor lies between 1 (no more work than usual) and this."""
    level_min_expected: float = 5.0
    """An agent's level and dispersion are estimated once their history expects this many events."""
    dispersion_bounds: tuple[float, float] = (0.02, 5.0)
    """Bounds of the fitted overdispersion (excess variance over the Poisson's, relative to the mean
    squared); the NB size is its inverse."""
    level_variance_bounds: tuple[float, float] = (0.02, 2.0)
    """Bounds of the between-agent variance of levels; the prior's concentration is its inverse."""
    default_size: float = 2.0
    """The NB size before the history says otherwise."""
    default_prior: float = 4.0
    """The prior's concentration before the history says otherwise (four days' worth)."""
    default_short_ratio: float = 0.1
    """Short calls per real call before the history says otherwise."""
    offhours_size: float = 0.7
    """The off-hours count is built while scoring, not learnt from the peers: a wide, fixed spread..."""
    offhours_prior: float = 1.0
    """...and a weak prior (one day's worth)."""


PEER_FIT = PeerFitParameters()


class ScoringInputError(ValueError):
    """Bad input: the message names the line or field."""


# --------------------------------------------------------------------------------------------------
# Inputs


@dataclass(slots=True)
class Event:
    time: datetime
    agent: str
    kind: str
    client: str = ""
    client_owner: str = ""
    client_high_value: bool = False
    rows: int = 0
    duration_s: float = 0.0
    ref: str = ""
    untouched_days: int | None = None   # when the exporter knows it; else derived from the stream
    # the client had a large deposit or withdrawal from the day before to three days after: the access
    # has a reason the CRM recorded, so it counts neither as out-of-book nor as untouched
    money_near: bool = False


class ShiftChange(NamedTuple):
    """From day `since`, the agent works from hour `start` to hour `end` (UTC; past midnight when
    `end` < `start`)."""

    since: date
    start: int
    end: int


class CoverPeriod(NamedTuple):
    """`agent` covers `covers`'s book from `start` to `end` (both days included), recorded on
    `known_on` (None: known all along, as the product's nightly rescore reads its own records)."""

    agent: str
    covers: str
    start: date
    end: date
    known_on: date | None = None


class LeavePeriod(NamedTuple):
    """`agent` is away from `start` to `end` (both days included), recorded on `known_on`."""

    agent: str
    start: date
    end: date
    known_on: date | None = None


def known_by(known_on: date | None, day: date) -> bool:
    """Whether a fact recorded on `known_on` was known by the end of `day` (None: known all along).
    A fact holds for a day only once known: a cover recorded late never excuses the days before."""
    return known_on is None or known_on <= day


@dataclass(slots=True)
class AgentInfo:
    id: str
    role: str = ""
    desk: str = ""
    joined: date | None = None
    left: date | None = None
    notice_given: date | None = None
    # the days the notice (with its last day) and a departure without notice were recorded; None:
    # known all along (the nightly rescore's reading of the product's own records)
    notice_known_on: date | None = None
    left_known_on: date | None = None
    shift_start: int | None = None
    shift_end: int | None = None
    # the shift's recorded changes, oldest first; a day before the first change keeps the first shift
    # recorded, and with none the agent's shift above holds
    shifts: tuple[ShiftChange, ...] = ()

    def left_known(self, day: date) -> date | None:
        """The last day, if known by the end of `day`."""
        if self.left is None:
            return None
        known_on = self.notice_known_on if self.notice_given is not None else self.left_known_on
        return self.left if known_by(known_on, day) else None

    def watch(self) -> Watch | None:
        """From which day the agent is held to the lower threshold, and since when that is known."""
        if self.notice_given is not None:
            return Watch(since=self.notice_given - timedelta(days=NOTICE_LOOKBACK_DAYS), known_on=self.notice_known_on)
        if self.left is not None:
            return Watch(since=self.left - timedelta(days=NOTICE_LOOKBACK_DAYS), known_on=self.left_known_on)
        return None

    def shift_on(self, day: date) -> tuple[int | None, int | None]:
        """The agent's shift hours (start, end) on that day."""
        if not self.shifts:
            return self.shift_start, self.shift_end
        current = self.shifts[0]
        for change in self.shifts:
            if change.since > day:
                break
            current = change
        return current.start, current.end


class Watch(NamedTuple):
    """An agent under notice (or leaving) is held to the lower threshold from `since` (30 days before
    the notice, or the last day); `known_on` is the day that became known (None: all along). The
    days from `since` before `known_on` are reviewed again on `known_on`, their alerts raised then."""

    since: date
    known_on: date | None


@dataclass
class Context:
    agents: dict[str, AgentInfo] = field(default_factory=dict)
    cover: list[CoverPeriod] = field(default_factory=list)
    leave: list[LeavePeriod] = field(default_factory=list)
    # (desk, day) -> the day the campaign was recorded (None: known all along)
    campaign_days: dict[tuple[str, date], date | None] = field(default_factory=dict)
    holidays: set[date] = field(default_factory=set)     # a calendar: known in advance

    def __post_init__(self) -> None:
        self._cover_by_agent: dict[str, list[CoverPeriod]] = defaultdict(list)
        for cover in self.cover:
            self._cover_by_agent[cover.agent].append(cover)
        self._leave_by_agent: dict[str, list[LeavePeriod]] = defaultdict(list)
        for leave in self.leave:
            self._leave_by_agent[leave.agent].append(leave)

    def covers(self, agent: str, owner: str, day: date) -> bool:
        """Whether `agent` covers `owner`'s book on `day`, as known by the end of that day."""
        return any(c.covers == owner and c.start <= day <= c.end and known_by(c.known_on, day)
                   for c in self._cover_by_agent.get(agent, ()))

    def covering_on(self, agent: str, day: date) -> bool:
        """Whether `agent` covers anyone's book on `day`, as known by the end of that day."""
        return any(c.start <= day <= c.end and known_by(c.known_on, day) for c in self._cover_by_agent.get(agent, ()))

    def on_leave(self, agent: str, day: date) -> bool:
        """Whether `agent` is on leave on `day`, as known by the end of that day."""
        return any(leave.start <= day <= leave.end and known_by(leave.known_on, day)
                   for leave in self._leave_by_agent.get(agent, ()))

    def campaign_on(self, desk: str, day: date) -> bool:
        """Whether `desk` has a campaign on `day`, as known by the end of that day."""
        key = (desk, day)
        return key in self.campaign_days and known_by(self.campaign_days[key], day)

    def all_known(self) -> Context:
        """The same facts read as known all along: the nightly rescore's view of its window, and the
        backtest's with `--context-known-at-end` (README)."""
        return Context(
            agents={agent_id: replace(info, notice_known_on=None, left_known_on=None)
                    for agent_id, info in self.agents.items()},
            cover=[cover._replace(known_on=None) for cover in self.cover],
            leave=[leave._replace(known_on=None) for leave in self.leave],
            campaign_days=dict.fromkeys(self.campaign_days), holidays=set(self.holidays))

    def info(self, agent: str) -> AgentInfo:
        found = self.agents.get(agent)
        if found is None:
            found = self.agents[agent] = AgentInfo(id=agent)
        return found


def _parse_time(value: Any, where: str) -> datetime:
    if not isinstance(value, str):
        raise ScoringInputError(f"{where}: 'time' must be an ISO 8601 string")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ScoringInputError(f"{where}: 'time' is not ISO 8601: {value!r}") from exc
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _parse_date(value: Any, where: str, *, required: bool = False) -> date | None:
    if value in (None, ""):
        if required:
            raise ScoringInputError(f"{where} is required")
        return None
    if not isinstance(value, str):
        raise ScoringInputError(f"{where} must be a date (YYYY-MM-DD)")
    try:
        return date.fromisoformat(value[:10])
    except ValueError as exc:
        raise ScoringInputError(f"{where} is not a date (YYYY-MM-DD): {value!r}") from exc


def _required_date(value: Any, where: str) -> date:
    parsed = _parse_date(value, where, required=True)
    assert parsed is not None  # noqa: S101 - required=True raises instead
    return parsed


def _parse_shifts(value: Any, where: str) -> tuple[ShiftChange, ...]:
    """An agent's dated shifts: [{"from": "2026-03-02", "start": 13, "end": 22}, ...], in any order."""
    if value in (None, ""):
        return ()
    if not isinstance(value, list):
        raise ScoringInputError(f"{where} must be a list of {{from, start, end}}")
    out: list[ShiftChange] = []
    for i, item in enumerate(value):
        at = f"{where}[{i}]"
        if not isinstance(item, Mapping):
            raise ScoringInputError(f"{at} must be an object with from, start and end")
        start, end = _parse_hour(item.get("start"), f"{at}.start"), _parse_hour(item.get("end"), f"{at}.end")
        if start is None or end is None:
            raise ScoringInputError(f"{at}: start and end are required")
        out.append(ShiftChange(since=_required_date(item.get("from"), f"{at}.from"), start=start, end=end))
    return tuple(sorted(out))


def _parse_hour(value: Any, where: str) -> int | None:
    if value in (None, ""):
        return None
    if isinstance(value, str) and ":" in value:
        value = value.split(":", 1)[0]
    try:
        hour = int(value)
    except (TypeError, ValueError) as exc:
        raise ScoringInputError(f"{where} must be an hour 0-24") from exc
    if not 0 <= hour <= 24:
        raise ScoringInputError(f"{where} must be an hour 0-24")
    return hour % 24 if hour == 24 else hour


def event_from_dict(obj: Mapping[str, Any], *, ref: str = "") -> Event:
    """One line of EVENTS.jsonl; `ref` names it in errors and in the evidence."""
    where = f"event {ref}" if ref else "event"
    if not isinstance(obj, Mapping):
        raise ScoringInputError(f"{where}: not a JSON object")
    agent = obj.get("agent")
    if agent in (None, ""):
        raise ScoringInputError(f"{where}: 'agent' is required")
    kind = obj.get("kind")
    if kind not in KINDS:
        raise ScoringInputError(f"{where}: 'kind' must be one of {', '.join(KINDS)}, not {kind!r}")
    try:
        rows = int(obj.get("rows") or 0)
        duration = float(obj.get("duration_s") or 0)
    except (TypeError, ValueError) as exc:
        raise ScoringInputError(f"{where}: 'rows' and 'duration_s' must be numbers") from exc
    if rows < 0 or duration < 0:
        raise ScoringInputError(f"{where}: 'rows' and 'duration_s' must not be negative")
    untouched = obj.get("client_untouched_days")
    return Event(
        time=_parse_time(obj.get("time"), where), agent=str(agent), kind=kind,
        client=str(obj.get("client") or ""), client_owner=str(obj.get("client_owner") or ""),
        client_high_value=obj.get("client_high_value") in (True, "true", "True", 1, "1"),
        rows=rows, duration_s=duration, ref=str(obj.get("id") or ref),
        untouched_days=int(untouched) if untouched not in (None, "") else None,
        money_near=obj.get("client_money_near") in (True, "true", "True", 1, "1"),
    )


def _parse_known(value: Any, where: str, *, required: bool) -> date | None:
    """When a fact became known (`known_from`: an ISO 8601 time, UTC, or a date), as the day by whose
    end it was known; without it, an error when `required`, else None (known all along)."""
    if value in (None, ""):
        if required:
            raise ScoringInputError(
                f"{where} is required: the time the fact became known (ISO 8601), so that no day is scored "
                "with what was learnt after it; or run with --context-known-at-end to read every fact as "
                "known at the end of the period (a rescore of the whole period as of its last day)")
        return None
    if isinstance(value, str) and len(value) > 10:
        return _parse_time(value, where).date()
    return _parse_date(value, where)


def context_from_dict(data: Mapping[str, Any], *, known_from_required: bool = True) -> Context:
    """CONTEXT.json: agents, cover, leave, campaign_days, holidays (see the README). Every notice,
    departure, cover, leave and campaign day says when it became known (`known_from`; for an agent
    `notice_known_from` and, for a departure without notice, `left_known_from`); a fact without it is
    refused unless `known_from_required` is False (then it is known all along: see Context.all_known)."""
    if not isinstance(data, Mapping):
        raise ScoringInputError("context: not a JSON object")
    required = known_from_required
    agents: dict[str, AgentInfo] = {}
    for i, item in enumerate(data.get("agents") or []):
        where = f"agents[{i}]"
        if not isinstance(item, Mapping) or item.get("id") in (None, ""):
            raise ScoringInputError(f"{where}.id is required")
        raw_shift = item.get("shift")
        shift: Mapping[str, Any] = raw_shift if isinstance(raw_shift, Mapping) else {}
        left = _parse_date(item.get("left"), f"{where}.left")
        notice_given = _parse_date(item.get("notice_given"), f"{where}.notice_given")
        agents[str(item["id"])] = AgentInfo(
            id=str(item["id"]), role=str(item.get("role") or ""), desk=str(item.get("desk") or ""),
            joined=_parse_date(item.get("joined"), f"{where}.joined"),
            left=left, notice_given=notice_given,
            notice_known_on=_parse_known(item.get("notice_known_from"), f"{where}.notice_known_from",
                                         required=required) if notice_given is not None else None,
            left_known_on=_parse_known(item.get("left_known_from"), f"{where}.left_known_from",
                                       required=required) if left is not None and notice_given is None else None,
            shift_start=_parse_hour(item.get("shift_start", shift.get("start")), f"{where}.shift_start"),
            shift_end=_parse_hour(item.get("shift_end", shift.get("end")), f"{where}.shift_end"),
            shifts=_parse_shifts(item.get("shifts"), f"{where}.shifts"),
        )
    cover: list[CoverPeriod] = []
    for i, item in enumerate(data.get("cover") or []):
        where = f"cover[{i}]"
        if not isinstance(item, Mapping) or not item.get("agent") or not item.get("covers"):
            raise ScoringInputError(f"{where}: 'agent' and 'covers' are required")
        cover.append(CoverPeriod(agent=str(item["agent"]), covers=str(item["covers"]),
                                 start=_required_date(item.get("from"), f"{where}.from"),
                                 end=_required_date(item.get("to"), f"{where}.to"),
                                 known_on=_parse_known(item.get("known_from"), f"{where}.known_from",
                                                       required=required)))
    leave: list[LeavePeriod] = []
    for i, item in enumerate(data.get("leave") or []):
        where = f"leave[{i}]"
        if not isinstance(item, Mapping) or not item.get("agent"):
            raise ScoringInputError(f"{where}.agent is required")
        leave.append(LeavePeriod(agent=str(item["agent"]), start=_required_date(item.get("from"), f"{where}.from"),
                                 end=_required_date(item.get("to"), f"{where}.to"),
                                 known_on=_parse_known(item.get("known_from"), f"{where}.known_from",
                                                       required=required)))
    campaigns: dict[tuple[str, date], date | None] = {}
    for i, item in enumerate(data.get("campaign_days") or []):
        where = f"campaign_days[{i}]"
        if not isinstance(item, Mapping):
            raise ScoringInputError(f"{where}: expected an object with desk and date")
        key = (str(item.get("desk") or ""), _required_date(item.get("date"), f"{where}.date"))
        campaigns[key] = _parse_known(item.get("known_from"), f"{where}.known_from", required=required)
    holidays: set[date] = set()
    for i, item in enumerate(data.get("holidays") or []):
        value = item.get("date") if isinstance(item, Mapping) else item
        holidays.add(_required_date(value, f"holidays[{i}]"))
    return Context(agents=agents, cover=cover, leave=leave, campaign_days=campaigns, holidays=holidays)


# --------------------------------------------------------------------------------------------------
# Features per agent-day


@dataclass(slots=True)
class DayFeatures:
    """What one agent did on one day, as the scoring reads it: built from the events
    (`extract_features`) or from the activity table (monitoring.pipeline), then `finish`ed."""

    counts: dict[str, float] = field(default_factory=lambda: dict.fromkeys((*SIGNALS, "total"), 0.0))
    hours: list[int] = field(default_factory=lambda: [0] * 24)         # actions per hour (UTC)
    open_hours: list[int] = field(default_factory=lambda: [0] * 24)    # client records opened per hour
    stale_hours: list[int] = field(default_factory=lambda: [0] * 24)   # of which untouched for STALE_DAYS
    hour_refs: list[list[str]] = field(default_factory=lambda: [[] for _ in range(24)])  # first events per hour
    refs: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))  # evidence per signal
    calls: int = 0
    long_calls: int = 0               # calls longer than SHORT_CALL_S
    exports: int = 0
    export_rows: int = 0
    oob_clients: set[str] = field(default_factory=set)   # high-value clients of other books opened
    burst_start: int = 0              # the first hour of the busiest window of opens
    stale_known: bool = False         # the history reaches back far enough to know untouched records
    money_near: int = 0               # own or covered book's accesses near the client's large deposit or withdrawal
    oob_money_near: int = 0           # out-of-book accesses near one (counted MONEY_NEAR_OOB_WEIGHT times)

    def finish(self) -> None:
        """The day's busiest window of opens and its total, once every action of the day is counted."""
        busiest, start = busiest_window(self.open_hours)
        self.counts["burst"] = busiest
        self.counts["total"] = float(sum(self.hours))
        self.burst_start = start


def busiest_window(per_hour: Sequence[int], width: int = BURST_WIDTH_HOURS) -> tuple[int, int]:
    """The busiest `width` consecutive hours of a day (not across midnight) as (count, first hour):
    the earliest of equal windows, and (0, 0) for a day without any."""
    busiest, start = 0, 0
    for first in range(24 - width + 1):
        window = sum(per_hour[first:first + width])
        if window > busiest:
            busiest, start = window, first
    return busiest, start


def _add_ref(refs: list[str], ref: str) -> None:
    if len(refs) < EVIDENCE_CAP:
        refs.append(ref)


OWN_BOOK, COVERED_BOOK, OTHER_BOOK = "own", "covered", "other"
# An out-of-book access to a client near their large deposit or withdrawal counts this many times.
MONEY_NEAR_OOB_WEIGHT = 2.0


def book_of_access(*, agent: str, owner: str, day: date, context: Context) -> str:
    """Whose book an access falls in: the agent's own (or a client without an owner), a colleague's
    they cover that day (known by then), or another's."""
    if not owner or owner == agent:
        return OWN_BOOK
    return COVERED_BOOK if context.covers(agent, owner, day) else OTHER_BOOK


def extract_features(  # noqa: C901 - one branch per kind of event, in one pass
    events: Iterable[Event], context: Context,
) -> tuple[dict[str, dict[date, DayFeatures]], date, date]:
    """Daily features per agent, from events in any order. Returns (features, first day, last day)."""
    ordered = sorted(events, key=lambda event: event.time)
    if not ordered:
        raise ScoringInputError("no events")
    stream_start = ordered[0].time
    stale_after = stream_start + timedelta(days=STALE_DAYS)
    last_touch: dict[str, datetime] = {}
    stale_delta = timedelta(days=STALE_DAYS)
    out: dict[str, dict[date, DayFeatures]] = defaultdict(dict)
    for event in ordered:
        day = event.time.date()
        per_agent = out[event.agent]
        features = per_agent.get(day)
        if features is None:
            features = per_agent[day] = DayFeatures(stale_known=event.time >= stale_after)
        hour = event.time.hour
        counts = features.counts
        features.hours[hour] += 1
        if len(features.hour_refs[hour]) < 20:
            features.hour_refs[hour].append(event.ref)
        kind = event.kind
        if kind in ACCESS_KINDS and event.client:
            if event.untouched_days is not None:
                stale = event.untouched_days >= STALE_DAYS
                features.stale_known = True
            else:
                previous = last_touch.get(event.client)
                stale = (event.time - previous >= stale_delta) if previous is not None else event.time >= stale_after
            if kind == "client_open":
                counts["opens"] += 1
                features.open_hours[hour] += 1
                _add_ref(features.refs["opens"], event.ref)
            else:
                counts["reveals"] += 1
                _add_ref(features.refs["reveals"], event.ref)
            book = book_of_access(agent=event.agent, owner=event.client_owner, day=day, context=context)
            if book != OTHER_BOOK:
                # the own client after their deposit is ordinary; the covered colleague's records
                # (untouched by their owner for months) are what a cover is for
                if event.money_near:
                    features.money_near += 1
                if event.money_near or book == COVERED_BOOK:
                    stale = False
            if stale:
                counts["stale"] += 1
                features.stale_hours[hour] += 1
                _add_ref(features.refs["stale"], event.ref)
            if book == OTHER_BOOK and (event.client_high_value or event.money_near):
                # out of book near the client's large deposit or withdrawal weighs more, not less
                counts["oob_hv"] += MONEY_NEAR_OOB_WEIGHT if event.money_near else 1.0
                features.oob_money_near += int(event.money_near)
                features.oob_clients.add(event.client)
                _add_ref(features.refs["oob_hv"], event.ref)
        elif kind == "export":
            counts["export_rows"] += event.rows / EXPORT_UNIT
            features.export_rows += event.rows
            features.exports += 1
            _add_ref(features.refs["export_rows"], event.ref)
        elif kind == "search":
            counts["searches"] += 1
        elif kind == "call":
            features.calls += 1
            if event.duration_s <= BRIEF_CALL_S:
                counts["brief_calls"] += 1
            if event.duration_s <= SHORT_CALL_S:
                counts["short_calls"] += 1
                _add_ref(features.refs["short_calls"], event.ref)
            else:
                features.long_calls += 1
        if event.client:
            last_touch[event.client] = event.time
    for per_agent in out.values():
        for features in per_agent.values():
            features.finish()
    return out, ordered[0].time.date(), ordered[-1].time.date()


# --------------------------------------------------------------------------------------------------
# Distributions


def _log_betainc_cf(a: float, b: float, x: float) -> float:
    """log of the continued fraction of the regularised incomplete beta (modified Lentz; the names are
    the textbook's: c and d the Lentz ratios, h the product so far, aa the fraction's terms)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    if abs(d) < tiny:
        d = tiny
    d = 1.0 / d
    h = d
    for m in range(1, 400):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = tiny if -tiny < d < tiny else d
        c = 1.0 + aa / c
        c = tiny if -tiny < c < tiny else c
        d = 1.0 / d
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = tiny if -tiny < d < tiny else d
        c = 1.0 + aa / c
        c = tiny if -tiny < c < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-10:
            break
    return math.log(h)


def log10_betainc(a: float, b: float, x: float) -> float:
    """log10 of the regularised incomplete beta I_x(a, b), accurate far into the small tail."""
    if x <= 0.0:
        return -math.inf
    if x >= 1.0:
        return 0.0
    front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return (front + _log_betainc_cf(a, b, x) - math.log(a)) / math.log(10)
    rest = math.exp(front + _log_betainc_cf(b, a, 1.0 - x) - math.log(b))
    return math.log10(max(1.0 - rest, 1e-300))


def nb_tail_score(x: float, mean: float, size: float) -> float:
    """-log10 P(X >= x) for a negative binomial of this mean and size (dispersion); 0 at or below the mean."""
    if x <= mean or x <= 0:
        return 0.0
    k = math.floor(x + 0.5)
    if k < 1:
        return 0.0
    q = mean / (size + mean)
    return max(0.0, -log10_betainc(k, size, q))


def nb_quantile(prob: float, mean: float, size: float, *, cap: int = 1_000_000) -> int:
    """The smallest k with P(X <= k) >= prob."""
    p = size / (size + mean)
    pmf = math.exp(size * math.log(p))
    total, k = pmf, 0
    if mean > 200:     # normal approximation: the pmf walk would be long
        sd = math.sqrt(mean + mean * mean / size)
        # the standard normal's 95th and 99th percentiles (only those two are asked for)
        return int(round(mean + 1.645 * sd)) if prob == 0.95 else int(round(mean + 2.33 * sd))
    while total < prob and k < cap:
        pmf *= (k + size) / (k + 1) * (1.0 - p)
        k += 1
        total += pmf
    return k


def log_gamma_sf(a: float, x: float) -> float:
    """Natural log of the regularised upper incomplete gamma Q(a, x) = P(Gamma(a, 1) >= x), accurate far
    into the small tail (series below a + 1, Lentz's continued fraction above; the textbook's names)."""
    if x <= 0.0:
        return 0.0
    front = a * math.log(x) - x - math.lgamma(a)
    if x < a + 1.0:
        term = total = 1.0 / a
        n = a
        for _ in range(500):
            n += 1.0
            term *= x / n
            total += term
            if term < total * 1e-12:     # both positive (x > 0, a > 0)
                break
        lower = math.exp(front + math.log(total))
        return math.log(max(1.0 - lower, 1e-300))
    tiny = 1e-300
    b = x + 1.0 - a
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, 500):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if -tiny < d < tiny else d
        c = b + an / c
        c = tiny if -tiny < c < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-12:
            break
    return front + math.log(h)


def compound_tail_score(x: float, *, count: float, count_size: float, size_mean: float, size_shape: float) -> float:
    """-log10 P(S >= x) for S the sum of N sizes, N negative binomial (mean `count`, size `count_size`)
    and each size Gamma (mean `size_mean`, shape `size_shape`): a day's exported rows, a few exports
    of a habitual size each. 0 at or below the mean."""
    if x <= 0 or x <= count * size_mean:
        return 0.0
    count = max(count, 1e-6)
    p = count / (count + count_size)
    log_pmf = count_size * math.log1p(-p)          # P(N = 0)
    scaled = x * size_shape / size_mean
    terms: list[float] = []
    top = -math.inf
    log_p = math.log(p)
    for n in range(1, 400):
        log_pmf += math.log((n - 1 + count_size) / n) + log_p
        term = log_pmf + log_gamma_sf(n * size_shape, scaled)
        terms.append(term)
        top = max(top, term)
        if n > count + 2 and term < top - 30:     # past the peak, the rest adds less than e^-30 of the sum
            break
    total = top + math.log(sum(math.exp(t - top) for t in terms))
    return max(0.0, -total / math.log(10))


def _chi2_even_sf(x: float, dof: int) -> float:
    """Survival function of chi-squared with an even number of degrees of freedom."""
    half = x / 2.0
    term, total = 1.0, 1.0
    for k in range(1, dof // 2):
        term *= half / k
        total += term
    return math.exp(-half) * total


# --------------------------------------------------------------------------------------------------
# Peer baselines


@dataclass
class PeerModel:
    """What the peers' history says to expect of an agent, fitted once per pass (`fit_peers`)."""

    means: dict[tuple[str, str], dict[str, list[float]]]     # (role, desk) -> signal -> 8 day types
    role_means: dict[str, dict[str, list[float]]]            # role -> signal -> 8 day types (a desk too small)
    global_means: dict[str, list[float]]                     # signal -> 8 day types (a role too small)
    worked: dict[tuple[str, str], list[float]]               # share of days active per day type
    campaign_factor: dict[str, float]   # observed / expected on campaign days, per signal (1 to 6)
    cover_factor: dict[str, float]      # observed / expected while covering a colleague's book
    size: dict[str, float]          # day-to-day overdispersion (NB size) per signal
    prior: dict[str, float]         # between-agent concentration of the level (Gamma shape = rate)
    short_ratio: float              # short calls per real call, over everyone's history
    export_size: float = 40.0 / EXPORT_UNIT    # the middle agent's rows per export, in EXPORT_UNITs
    export_shape: float = 2.0       # the Gamma shape of one export's rows around the agent's habit
    # (signal, day type) the peers' history has not shown on enough worked days (PEER_FIT.min_days, or
    # one per agent in a smaller history): not scored on such a day. The first days on which "untouched
    # for 90 days" is known (the history reaching back that far) have no peer level to hold them to:
    # every record first touched then would be a surprise
    unseen: frozenset[tuple[str, int]] = frozenset()

    def exposure(self, role: str, desk: str, signal: str, daytype: int) -> float:
        """The peers' mean count of `signal` on `daytype`: the (role, desk) group's, else the role's,
        else everyone's."""
        per_group = self.means.get((role, desk))
        if per_group is not None:
            return per_group[signal][daytype]
        per_role = self.role_means.get(role)
        if per_role is not None:
            return per_role[signal][daytype]
        return self.global_means[signal][daytype]


def daytype_of(agent: str, day: date, context: Context) -> int:
    """The weekday (0 Monday to 6 Sunday), or OFF_DAYTYPE on a holiday or the agent's leave."""
    if day in context.holidays or context.on_leave(agent, day):
        return OFF_DAYTYPE
    return day.weekday()


def _trimmed_mean(values: list[float], trim: float) -> float:
    """The mean without the highest `trim` share of the values."""
    if not values:
        return 0.0
    values = sorted(values)
    keep = len(values) - int(len(values) * trim)
    kept = values[:max(keep, 1)]
    return sum(kept) / len(kept)


def _agent_span(info: AgentInfo, first: date, last: date, days: Mapping[date, DayFeatures]) -> tuple[date, date]:
    """The agent's days within [first, last]: from joining (or their first activity) to their last day
    if known by `last` (else to `last`, or their last activity)."""
    left = info.left_known(last)
    start = max(info.joined or first, first)
    end = min(left or last, last)
    if days:
        start = min(start, min(days))
        end = max(end, max(days)) if left is None else end
    return max(start, first), min(end, last)


def _days(start: date, end: date) -> Iterable[date]:
    day = start
    one = timedelta(days=1)
    while day <= end:
        yield day
        day += one


@dataclass(frozen=True, slots=True)
class _ContextDay:
    """An agent-day on a campaign or while covering: kept out of the plain means, it measures the
    context factors."""

    role: str
    desk: str
    daytype: int
    campaign: bool
    covering: bool
    features: DayFeatures


def fit_peers(  # noqa: C901 - three passes over the same history: means, context factors, dispersion
    features: Mapping[str, Mapping[date, DayFeatures]], context: Context, first: date, last: date,
) -> PeerModel:
    """Peer means per (role, desk) and day type, context factors and overdispersion, from the days of
    [first, last] (the replay fits on the days before the one scored: `PeerSchedule`)."""
    fit = PEER_FIT
    empty = DayFeatures()
    # group -> signal -> daytype -> values (plain days only: no campaign, no cover)
    values: dict[tuple[str, str], dict[str, list[list[float]]]] = {}
    role_values: dict[str, dict[str, list[list[float]]]] = {}
    global_values: dict[str, list[list[float]]] = {s: [[] for _ in range(DAYTYPES)] for s in _PEER_SIGNALS}
    worked_counts: dict[tuple[str, str], list[list[int]]] = {}   # group -> daytype -> [worked, days]
    context_days: list[_ContextDay] = []
    export_sizes: list[float] = []   # each agent's rows per export (with a few exports), for the habit's prior
    single_spread = [0.0, 0.0]       # single exports' squared relative deviations from their agent's mean, dof
    stale_seen = [0] * DAYTYPES      # worked days of each day type whose untouched records are known
    # each agent's days of the span as (features, day type, campaign, covering), for the passes below
    spans: list[tuple[AgentInfo, list[tuple[DayFeatures, int, bool, bool]]]] = []
    for agent, days in features.items():
        info = context.info(agent)
        key = (info.role, info.desk)
        group = values.setdefault(key, {s: [[] for _ in range(DAYTYPES)] for s in _PEER_SIGNALS})
        group_worked = worked_counts.setdefault(key, [[0, 0] for _ in range(DAYTYPES)])
        start, end = _agent_span(info, first, last, days)
        export_units = exports = 0.0
        singles: list[float] = []        # the rows of the days with one export (in EXPORT_UNITs)
        span: list[tuple[DayFeatures, int, bool, bool]] = []
        spans.append((info, span))
        for day in _days(start, end):
            day_features = days.get(day, empty)
            daytype = daytype_of(agent, day, context)
            campaign = context.campaign_on(info.desk, day)
            covering = context.covering_on(agent, day)
            span.append((day_features, daytype, campaign, covering))
            worked_day = day in days
            group_worked[daytype][0] += 1 if worked_day else 0
            group_worked[daytype][1] += 1
            if campaign or covering:
                context_days.append(_ContextDay(role=info.role, desk=info.desk, daytype=daytype, campaign=campaign,
                                                covering=covering, features=day_features))
                continue
            if worked_day and day_features.stale_known:
                stale_seen[daytype] += 1
            counts = day_features.counts
            export_units += counts["export_rows"]
            exports += day_features.exports
            if day_features.exports == 1:
                singles.append(counts["export_rows"])
            stale_unknown = worked_day and not day_features.stale_known
            for signal in _PEER_SIGNALS:
                if stale_unknown and signal == "stale":
                    continue
                group[signal][daytype].append(counts[signal])
        if exports >= _EXPORT_SIZE_MIN_EXPORTS:
            export_sizes.append(export_units / exports)
        if len(singles) >= _EXPORT_SIZE_MIN_EXPORTS + 2:
            # the spread of one export's rows around the agent's own mean, their largest left out (an
            # injected anomaly must not set it)
            singles = sorted(singles)[:-1]
            mean_single = sum(singles) / len(singles)
            if mean_single > 0:
                single_spread[0] += sum((x / mean_single - 1) ** 2 for x in singles)
                single_spread[1] += len(singles) - 1

    # the role's and everyone's values: the groups' joined (a trimmed mean sorts them: the order is moot)
    for (role, _desk), group in values.items():
        role_group = role_values.setdefault(role, {s: [[] for _ in range(DAYTYPES)] for s in _PEER_SIGNALS})
        for signal, found_by_daytype in group.items():
            for daytype, found in enumerate(found_by_daytype):
                role_group[signal][daytype].extend(found)
                global_values[signal][daytype].extend(found)

    def reduce(per: dict[str, list[list[float]]]) -> dict[str, list[float]]:
        return {s: [_trimmed_mean(per[s][dt], fit.trim) if len(per[s][dt]) >= fit.min_days
                    else _trimmed_mean(global_values[s][dt], fit.trim)
                    for dt in range(DAYTYPES)] for s in _PEER_SIGNALS}

    global_means = {s: [_trimmed_mean(global_values[s][dt], fit.trim) for dt in range(DAYTYPES)]
                    for s in _PEER_SIGNALS}
    means = {k: reduce(v) for k, v in values.items()}
    role_means = {k: reduce(v) for k, v in role_values.items()}
    # the share of days worked per day type, with one worked and one idle day of prior (Laplace)
    worked = {k: [(n_worked + 1) / (n_days + 2) for n_worked, n_days in per_daytype]
              for k, per_daytype in worked_counts.items()}
    model = PeerModel(means=means, role_means=role_means, global_means=global_means, worked=worked,
                      campaign_factor=dict.fromkeys(_ALL, 1.0), cover_factor=dict.fromkeys(_ALL, 1.0),
                      size=dict.fromkeys(_ALL, fit.default_size), prior=dict.fromkeys(_ALL, fit.default_prior),
                      short_ratio=fit.default_short_ratio,
                      # the middle agent's habit: a few agents exporting hundreds of rows at a time
                      # must not make everyone's large export ordinary
                      export_size=(sorted(export_sizes)[len(export_sizes) // 2] if len(export_sizes) >= 5
                                   else 40.0 / EXPORT_UNIT),
                      # a Gamma's shape is its mean squared over its variance
                      export_shape=(min(max(single_spread[1] / single_spread[0], PARAMETERS.export_size_shape_bounds[0]),
                                        PARAMETERS.export_size_shape_bounds[1])
                                    if single_spread[1] >= fit.min_days and single_spread[0] > 0
                                    else PARAMETERS.export_size_shape),
                      unseen=frozenset(("stale", dt) for dt in range(DAYTYPES)
                                       if stale_seen[dt] < min(fit.min_days, max(len(features), 1))))

    # Context factors: observed / expected on campaign days (not covering) and cover days (no campaign).
    for which, factors in (("campaign", model.campaign_factor), ("cover", model.cover_factor)):
        for signal in _PEER_SIGNALS:
            seen = foreseen = 0.0
            for row in context_days:
                if (which == "campaign" and row.campaign and not row.covering) or (
                        which == "cover" and row.covering and not row.campaign):
                    seen += row.features.counts[signal]
                    foreseen += model.exposure(row.role, row.desk, signal, row.daytype)
            if foreseen > fit.context_min_expected:
                factors[signal] = min(max(seen / foreseen, 1.0), fit.context_factor_max)

    # Short calls relative to real calls, and overdispersion / between-agent spread per signal.
    short = long = 0.0
    levels: dict[str, list[float]] = defaultdict(list)      # signal -> each agent's level (observed / expected)
    excess: dict[str, list[float]] = defaultdict(list)      # signal -> each agent's excess dispersion
    for info, span in spans:
        observed_by: dict[str, list[float]] = {}
        expected_by: dict[str, list[float]] = {}
        for day_features, _daytype, _campaign, _covering in span:
            short += day_features.counts["short_calls"]
            long += day_features.long_calls
        for signal in _PEER_SIGNALS:
            exposure_of = [model.exposure(info.role, info.desk, signal, daytype) for daytype in range(DAYTYPES)]
            campaign_factor, cover_factor = model.campaign_factor[signal], model.cover_factor[signal]
            expected_days: list[float] = []
            for _features, daytype, campaign, covering in span:
                exposure = exposure_of[daytype]
                if campaign:
                    exposure *= campaign_factor
                if covering:
                    exposure *= cover_factor
                expected_days.append(_MIN_MEAN if _MIN_MEAN > exposure else exposure)
            observed_by[signal] = [day_features.counts[signal] for day_features, *_ in span]
            expected_by[signal] = expected_days
        # short calls against the day's real calls: their spread given the calls made, which is
        # narrower than the day-to-day spread of their count (a busy day has more of both)
        observed_by["short_ratio"] = observed_by["short_calls"]
        expected_by["short_ratio"] = [float(day_features.long_calls + SHORT_RATIO_PRIOR_CALLS)
                                      for day_features, *_ in span]
        for signal in (*_PEER_SIGNALS, "short_ratio"):
            observed, expected = observed_by[signal], expected_by[signal]
            total_observed, total_expected = sum(observed), sum(expected)
            if total_expected < fit.level_min_expected or len(observed) < fit.min_days:
                continue
            theta = total_observed / total_expected
            levels[signal].append(theta)
            if theta <= 0:
                continue
            # method of moments per day: (x - mean)^2 - mean over mean^2 estimates the excess dispersion;
            # the agent's two most extreme days are left out (an injected anomaly must not set it)
            resid = sorted([((x - te) ** 2 - te, te ** 2)
                            for x, te in zip(observed, [theta * e for e in expected], strict=True)])
            resid = resid[:-2]
            num = sum([r for r, _ in resid])
            den = sum([m for _, m in resid])
            if den > 0:
                excess[signal].append(num / den)
    # one short call and ten real calls of prior
    model.short_ratio = (short + 1) / (long + 10)
    for signal in (*_PEER_SIGNALS, "short_ratio"):
        if excess[signal]:
            median = sorted(excess[signal])[len(excess[signal]) // 2]
            model.size[signal] = 1.0 / min(max(median, fit.dispersion_bounds[0]), fit.dispersion_bounds[1])
        if len(levels[signal]) >= 5:
            mean = sum(levels[signal]) / len(levels[signal])
            if mean > 0:
                var = sum((v / mean - 1) ** 2 for v in levels[signal]) / (len(levels[signal]) - 1)
                model.prior[signal] = 1.0 / min(max(var, fit.level_variance_bounds[0]), fit.level_variance_bounds[1])
    model.size["offhours"] = fit.offhours_size
    model.prior["offhours"] = fit.offhours_prior
    if not excess["short_ratio"]:
        model.size["short_ratio"] = model.size["short_calls"]
    if len(levels["short_ratio"]) < 5:
        model.prior["short_ratio"] = model.prior["short_calls"]
    return model


# --------------------------------------------------------------------------------------------------
# Scoring


@dataclass(slots=True)
class SignalResult:
    signal: str
    value: float
    expected: float
    size: float
    score: float


@dataclass(slots=True)
class DayScore:
    agent: str
    day: date
    score: float
    signals: dict[str, SignalResult]
    watched: bool                     # under notice (or its 30 days before), known that day: lower threshold
    newcomer: bool
    notes: list[str]
    features: DayFeatures
    offhours_refs: list[str]
    info: AgentInfo
    alerted: bool = False
    reasons: list[str] = field(default_factory=list)
    offhours_hours: list[int] = field(default_factory=list)  # the hours counted off (for the references)
    review_on: date | None = None     # reviewed again under notice on this later day, when the notice became known
    learning: bool = False            # in the replay's first days: scored, never alerted (REPLAY.warmup_days)
    threshold: float | None = None    # the threshold the day was alerted at (the replay's, as of the day raised)
    raised_on: date | None = None     # the day its alert was raised: the day itself, or a re-review's day

    def evidence(self) -> dict[str, list[str]]:
        """Event references behind each signal that scored."""
        out: dict[str, list[str]] = {}
        for name, result in self.signals.items():
            if result.score < PARAMETERS.reason_min_score:
                continue
            if name == "offhours":
                out[name] = list(self.offhours_refs)
            elif name in ("burst",):
                out[name] = list(self.features.refs.get("opens", []))
            elif name in ("short_ratio", "brief_calls"):
                out["short_calls"] = list(self.features.refs.get("short_calls", []))
            else:
                out[name] = list(self.features.refs.get(name, []))
        return out


class Predictive(NamedTuple):
    """The negative binomial a day's count is expected to follow."""

    mean: float
    size: float        # NB size (dispersion): the smaller, the wider


class _Level:
    """Gamma posterior of an agent's level relative to the peer exposure, with forgetting: shape
    `prior + seen_count`, rate `prior + seen_exposure`, both `seen_*` decaying by DECAY a day."""

    __slots__ = ("last", "own_spread", "prior", "seen_count", "seen_days", "seen_exposure", "spread_excess",
                 "spread_scale")

    def __init__(self, prior: float, *, own_spread: bool = False) -> None:
        self.prior = prior                # weight of the peers' level, in units of exposure
        self.seen_count = 0.0             # the agent's own (decayed, winsorised, weighted) counts
        self.seen_exposure = 0.0          # and the exposure they were seen at
        self.last: date | None = None
        # the agent's own day-to-day spread (decayed moments: squared excess over the Poisson's, and
        # the squared means), so that an agent whose days vary more than their peers' is judged by it
        self.own_spread = own_spread
        self.spread_excess = 0.0
        self.spread_scale = 0.0
        self.seen_days = 0.0

    def decay_to(self, day: date) -> None:
        if self.last is not None:
            gap = (day - self.last).days
            if gap > 0:
                kept = DECAY ** gap
                self.seen_count *= kept
                self.seen_exposure *= kept
                self.spread_excess *= kept
                self.spread_scale *= kept
                self.seen_days *= kept
        self.last = day

    def mean(self) -> float:
        return (self.prior + self.seen_count) / (self.prior + self.seen_exposure)

    def shape(self) -> float:
        return self.prior + self.seen_count

    def predictive(self, exposure: float, size: float, other: _Level | None = None,
                   floor: float = 0.0) -> Predictive:
        """The day's count at `exposure`: the level's uncertainty and the day-to-day overdispersion
        (`size`) combined, times the day type's level (`other`), the level not below `floor`."""
        shape = self.prior + self.seen_count
        level = shape / (self.prior + self.seen_exposure)
        spread = (1.0 + 1.0 / shape) * (1.0 + 1.0 / self.own_size(size))
        if other is not None:
            level *= other.mean()
            spread *= 1.0 + 1.0 / other.shape()
        return Predictive(max(exposure * max(level, floor), _MIN_MEAN), 1.0 / (spread - 1.0))

    def own_size(self, peer_size: float) -> float:
        """The NB size for the agent: the peers' (`peer_size`), widened to the agent's own spread once
        PARAMETERS.own_spread_min_days days show it (never narrowed: a steady agent keeps the peers')."""
        params = PARAMETERS
        if not self.own_spread or self.seen_days < params.own_spread_min_days or self.spread_scale <= 0:
            return peer_size
        own_excess = min(self.spread_excess / self.spread_scale, params.own_spread_max_excess)
        return 1.0 / max(1.0 / peer_size, own_excess)

    def learn(self, observed: float, exposure: float, expected: Predictive, size: float) -> None:
        """Add the day: its count winsorised at the expected mean plus PARAMETERS.learn_cap_sd standard
        deviations, weighted for the information it carries given the overdispersion `size`."""
        mean = expected.mean
        cap = mean + PARAMETERS.learn_cap_sd * math.sqrt(mean + mean * mean / expected.size) + 1.0
        kept = min(observed, cap)
        size = self.own_size(size)
        weight = size / (size + mean)
        self.seen_count += weight * kept
        self.seen_exposure += weight * exposure
        self.spread_excess += (kept - mean) ** 2 - mean
        self.spread_scale += mean * mean
        self.seen_days += 1.0


def _in_shift(hour: int, shift: tuple[int | None, int | None], margin: int) -> bool:
    """Whether `hour` is within the shift (start, end), widened by `margin` hours each side; without a
    shift, within PARAMETERS.default_day."""
    shift_start, shift_end = shift
    if shift_start is None or shift_end is None:
        return PARAMETERS.default_day[0] <= hour < PARAMETERS.default_day[1]
    start, end = (shift_start - margin) % 24, (shift_end + margin) % 24
    if shift_start == shift_end:
        return True
    if start < end:
        return start <= hour < end
    return hour >= start or hour < end


def _contiguous(hours: list[int], hour: int, profile: list[float], total: float) -> bool:
    """Whether `hour` joins the day's usual hours through active hours, within
    PARAMETERS.overtime_reach_hours of them."""
    for step in (-1, 1):
        other = hour
        for _ in range(PARAMETERS.overtime_reach_hours):
            other = (other + step) % 24
            if profile[other] / total >= PARAMETERS.usual_hour_share:
                return True
            if not hours[other]:
                break
    return False


def score_history(events: Iterable[Event], context: Context) -> list[DayScore]:
    """Score every agent-day from the first to the last day of the events (within each agent's
    employment), each day against the agent's history before it (past only, as the hourly scoring
    sees it) and the peers' history."""
    features, first, last = extract_features(events, context)
    return score_features(features, context, first, last)


class PeerSchedule:
    """The peer models of a pass, each used from its day on: the nightly rescore has one (fitted on the
    days before its last), the replay one per refit (each on the days before it)."""

    __slots__ = ("_days", "_models")

    def __init__(self, fits: Sequence[tuple[date, PeerModel]]) -> None:
        self._days = [day for day, _model in fits]
        self._models = [model for _day, model in fits]

    def on(self, day: date) -> PeerModel:
        """The model fitted last before `day` (the first one for earlier days)."""
        return self._models[max(bisect_right(self._days, day) - 1, 0)]


def score_features(features: Mapping[str, Mapping[date, DayFeatures]], context: Context, first: date,
                   last: date) -> list[DayScore]:
    """The nightly rescore: every agent-day again from the stored daily features, the peers fitted on
    the days before `last` (the day still running is not learnt from), the context as given."""
    fitted_until = last - timedelta(days=1) if last > first else last
    peers = PeerSchedule([(first, fit_peers(features, context, first, fitted_until))])
    out: list[DayScore] = []
    for agent in sorted(features):
        out.extend(_score_agent(agent, features[agent], context, peers, first, last))
    return out


@dataclass(frozen=True, slots=True)
class ReplayParameters:
    """How the backtest replays a history day after day (`replay_features`)."""

    warmup_days: int = 28
    """The history's first days only teach the model: scored against what was known, never alerted,
    and not calibrated on (the peers are fitted on a few days then)."""
    peer_refit_days: int = 7
    """After the warm-up the peers are fitted again every this many days, on the days before (during
    the warm-up every day)."""


REPLAY = ReplayParameters()


def peer_fit_days(first: date, last: date) -> list[date]:
    """The days the replay fits the peers again (each on the days before it): the first day (on
    nothing: the defaults), every day of the warm-up, then every REPLAY.peer_refit_days."""
    out = [first]
    day = first + timedelta(days=1)
    settled = first + timedelta(days=REPLAY.warmup_days)
    while day <= last:
        out.append(day)
        day += timedelta(days=1 if day < settled else REPLAY.peer_refit_days)
    return out


def replay_features(features: Mapping[str, Mapping[date, DayFeatures]], context: Context, first: date,
                    last: date, *, budget: float) -> tuple[list[DayScore], Thresholds]:
    """The backtest as the hourly pass would have run it, day after day: each day scored with the peers
    fitted on the days before it, the context known by its end, alerted at the thresholds calibrated on
    the days before it; a notice re-reviews the days before it when it becomes known (raised then).
    Returns the scores and the thresholds in force on the last day."""
    schedule = PeerSchedule([(day, fit_peers(features, context, first, day - timedelta(days=1)))
                             for day in peer_fit_days(first, last)])
    scores: list[DayScore] = []
    for agent in sorted(features):
        scores.extend(_score_agent(agent, features[agent], context, schedule, first, last))
    return scores, replay_thresholds(scores, budget=budget, first=first, last=last)


def replay_thresholds(scores: Sequence[DayScore], *, budget: float, first: date, last: date) -> Thresholds:
    """Alert the replay's days in time order, each at the thresholds calibrated (to `budget`) on the
    scores of the days before it (after the warm-up), the lower one when under notice known that day;
    then the re-reviews: a day before a notice, not alerted in time, is alerted on the day the notice
    became known if it reaches that day's lower threshold. Returns the last day's thresholds."""
    by_day: dict[date, list[DayScore]] = defaultdict(list)
    for day_score in scores:
        by_day[day_score.day].append(day_score)
    calibrated_from = first + timedelta(days=REPLAY.warmup_days)
    benign: list[float] = []
    thresholds_on: dict[date, Thresholds] = {}
    for day in _days(first, last):
        thresholds = calibrate_values(benign, budget)
        thresholds_on[day] = thresholds
        todays = by_day.get(day, [])
        for day_score in todays:
            day_score.learning = day < calibrated_from
            day_score.threshold = thresholds.watched if day_score.watched else thresholds.normal
            day_score.alerted = not day_score.learning and day_score.score >= day_score.threshold
            day_score.raised_on = day if day_score.alerted else None
        if day >= calibrated_from:
            benign.extend(day_score.score for day_score in todays if not day_score.watched)
            benign.sort()
    for day_score in scores:
        review_on = day_score.review_on
        if day_score.alerted or day_score.learning or review_on is None or review_on > last:
            continue
        limit = thresholds_on[review_on].watched
        if day_score.score >= limit:
            day_score.alerted, day_score.raised_on, day_score.threshold = True, review_on, limit
    for day_score in scores:
        near = day_score.threshold is not None and day_score.score >= day_score.threshold - PARAMETERS.near_threshold
        day_score.reasons = reasons_for(day_score) if day_score.alerted or near else []
    return thresholds_on[last]


# An agent first seen this many days after the history starts is a newcomer (an account without a
# recorded joining day).
LATE_FIRST_SEEN_DAYS = 7
# Real calls of prior in the expected share of short calls (a day with no real call still expects some).
SHORT_RATIO_PRIOR_CALLS = 2


@dataclass(slots=True)
class OffHours:
    """Actions outside the agent's own hours on a day."""

    count: int                     # every such action
    weighted: float                # overtime weighing PARAMETERS.overtime_weight, the rest 1
    hours: list[int]               # the hours they fell in


class _WorkedDays:
    """How often the agent works each day type: decayed counts of days worked and of days, seeded
    with the peers' share (PARAMETERS.worked_prior_days days' worth)."""

    __slots__ = ("days", "worked")

    def __init__(self, peer_share: Sequence[float] | None, *, newcomer: bool) -> None:
        params = PARAMETERS
        share = peer_share or [params.worked_prior_weekday] * 5 + [params.worked_prior_weekend] * 3
        self.worked = [max(share[daytype], params.newcomer_worked_floor if newcomer and daytype < OFF_DAYTYPE
                           else 0.0) * params.worked_prior_days for daytype in range(DAYTYPES)]
        self.days = [params.worked_prior_days] * DAYTYPES

    def share(self, daytype: int) -> float:
        return self.worked[daytype] / self.days[daytype]

    def learn(self, daytype: int, *, active: bool, weight: float) -> None:
        decay = PARAMETERS.worked_decay
        self.worked[daytype] = self.worked[daytype] * decay + (1.0 if active else 0.0) * weight
        self.days[daytype] = self.days[daytype] * decay + weight


def offhours_expected(*, day_off: bool, worked_share: float) -> float:
    """The expected number of actions outside the agent's hours: a little on a working day, more on a
    day off the less often the agent works that day type."""
    params = PARAMETERS
    if not day_off:
        return params.offhours_exposure_workday
    return params.offhours_exposure_day_off_slope * (1 - worked_share) + params.offhours_exposure_day_off


def _move_profile_to_shift(profile: list[float], shift: tuple[int | None, int | None]) -> None:
    """A recorded shift change: the new hours are the agent's from that day, the old ones fade."""
    params = PARAMETERS
    inside = [hour for hour in range(24) if _in_shift(hour, shift, 0)]
    moved_weight = params.shift_change_moved_share * sum(profile) / max(len(inside), 1)
    for hour in range(24):
        profile[hour] = profile[hour] * params.shift_change_kept_share + (moved_weight if hour in inside else 0.0)


class _ExportHabit:
    """The agent's habitual rows per export (in EXPORT_UNITs): decayed sums of their rows and exports,
    with the peers' size as PARAMETERS.export_size_prior_exports exports of prior."""

    __slots__ = ("exports", "last", "prior_size", "units")

    def __init__(self, prior_size: float) -> None:
        self.prior_size = prior_size
        self.units = 0.0
        self.exports = 0.0
        self.last: date | None = None

    def size(self) -> float:
        prior = PARAMETERS.export_size_prior_exports
        return max((prior * self.prior_size + self.units) / (prior + self.exports), 1.0 / EXPORT_UNIT)

    def learn(self, day: date, units: float, exports: int) -> None:
        if self.last is not None:
            kept = DECAY ** max((day - self.last).days, 0)
            self.units *= kept
            self.exports *= kept
        self.last = day
        if exports > 0:
            self.units += min(units, exports * self.size() * PARAMETERS.export_size_learn_cap)
            self.exports += exports


def export_score(observed: float, expected: Predictive, habit_size: float, count_size: float,
                 shape: float) -> tuple[float, float]:
    """The day's exported rows (in EXPORT_UNITs) against the agent's expectation: a sum of exports of
    the habitual size (`compound_tail_score`), their number negative binomial of size `count_size`
    (the agent's level's certainty: the lumps are the sizes', not the number's). Returns (score, the
    negative binomial size with the same mean and variance, for the reasons' percentile); `shape`: of
    one export's rows (PeerModel.export_shape)."""
    count = expected.mean / habit_size
    score = compound_tail_score(observed, count=count, count_size=count_size, size_mean=habit_size,
                                size_shape=shape)
    variance = (count * habit_size * habit_size * (1.0 + 1.0 / shape)
                + (count * habit_size) ** 2 / count_size)
    excess = variance - expected.mean
    return score, (expected.mean ** 2 / excess if excess > 0 else expected.size)


class _SignalPlan(NamedTuple):
    """How one signal is scored for an agent under one peer model (`_signal_plans`): what the loop over
    the days would otherwise look up again for every day."""

    signal: str
    level: _Level
    kind: int                          # _GENERIC, _OFFHOURS, _SHORT_RATIO or _EXPORT
    exposures: list[float] | None      # the peers' mean per day type (the generic signals)
    campaign_factor: float
    cover_factor: float
    size: float                        # the peers' NB size
    size_spread: float                 # 1 + 1 / size: the day-to-day overdispersion's share of the spread


_GENERIC, _OFFHOURS, _SHORT_RATIO, _EXPORT = range(4)


def _signal_plans(peers: PeerModel, info: AgentInfo, levels: Mapping[str, _Level]) -> list[_SignalPlan]:
    """Each signal's peer exposure per day type, context factors and spread for the agent, once per peer
    model (the loop over the days reads them from here)."""
    plans = []
    for signal in SIGNALS:
        kind = (_OFFHOURS if signal == "offhours" else _SHORT_RATIO if signal == "short_ratio"
                else _EXPORT if signal == "export_rows" else _GENERIC)
        exposures = (None if kind in (_OFFHOURS, _SHORT_RATIO)
                     else [peers.exposure(info.role, info.desk, signal, daytype) for daytype in range(DAYTYPES)])
        size = peers.size[signal]
        plans.append(_SignalPlan(signal, levels[signal], kind, exposures, peers.campaign_factor[signal],
                                 peers.cover_factor[signal], size, 1.0 + 1.0 / size))
    return plans


def _day_notes(*, info: AgentInfo, campaign: bool, covering: bool, daytype: int, newcomer: bool, tenure: int,
               money_near: int, watched: bool, review_on: date | None) -> list[str]:
    """The day's context in words (only the facts that hold are written)."""
    notes = []
    if campaign:
        notes.append(f"campaign day for desk {info.desk}")
    if covering:
        notes.append("covering a colleague's book")
    if daytype == OFF_DAYTYPE:
        notes.append("holiday or leave")
    if newcomer:
        notes.append(f"newcomer (day {tenure + 1}): baseline mostly from peers")
    if money_near:
        notes.append(f"{money_near} record{'s' if money_near != 1 else ''} of the own or covered book opened "
                     "near the client's large deposit or withdrawal: ordinary, not counted as untouched")
    if watched:
        notes.append(f"under notice (given {info.notice_given or '-'}, last day {info.left or '-'}): lower threshold")
    if review_on:
        notes.append(f"reviewed again on {review_on} under notice (given {info.notice_given or '-'}, last day "
                     f"{info.left or '-'}), at the lower threshold")
    return notes


def _score_agent(  # noqa: C901, PLR0915 - one day after another, each signal against the agent's level
    agent: str, days: Mapping[date, DayFeatures], context: Context, schedule: PeerSchedule, first: date, last: date,
) -> list[DayScore]:
    """The agent's days, each against their level so far (the arithmetic of `_Level.predictive` and
    `_Level.learn` written out in the loop, which runs for every agent-day and signal of a pass)."""
    params = PARAMETERS
    info = context.info(agent)
    start, end = _agent_span(info, first, last, days)
    peers = schedule.on(start)
    agent_first = min(days) if days else start
    # a newcomer: joined within the data, or first seen well after it starts
    recent = first - timedelta(days=NEWCOMER_DAYS + params.ramp_up_extra_days)
    began = info.joined if info.joined is not None and info.joined >= recent else (
        agent_first if info.joined is None and agent_first > first + timedelta(days=LATE_FIRST_SEEN_DAYS) else None)
    # a newcomer's level is less sure to be the peers' (wider prior), and their working days unknown
    widening = params.newcomer_prior_widening if began is not None else 1.0
    levels = {signal: _Level(peers.prior[signal] / widening, own_spread=signal in OWN_SPREAD_SIGNALS)
              for signal in SIGNALS}
    plans = _signal_plans(peers, info, levels)
    # the agent's own weekday profile relative to the peers' (a Saturday worker, a Friday-light agent)
    # one per day type, shared by all signals, learnt from the day's total activity
    day_levels = [_Level(params.day_level_prior) for _ in range(DAYTYPES)]
    total_level = _Level(peers.prior["total"])
    export_habit = _ExportHabit(peers.export_size)
    # hour profile on working days (decayed), seeded by the shift
    shift = info.shift_on(start)
    profile = [params.shift_seed_weight if _in_shift(hour, shift, 0) else params.off_shift_seed_weight
               for hour in range(24)]
    worked = _WorkedDays(peers.worked.get((info.role, info.desk)), newcomer=began is not None)
    watch = info.watch()
    empty = DayFeatures()
    learn_cap_sd = params.learn_cap_sd
    ramp_up_days = NEWCOMER_DAYS + params.ramp_up_extra_days
    sqrt = math.sqrt
    results: list[DayScore] = []
    for day in _days(start, end):
        refitted = schedule.on(day)
        if refitted is not peers:
            # the peers fitted again (the replay): their spread between agents is the levels' prior
            peers = refitted
            for signal, level in levels.items():
                level.prior = peers.prior[signal] / widening
            total_level.prior = peers.prior["total"]
            export_habit.prior_size = peers.export_size
            plans = _signal_plans(peers, info, levels)
        features = days.get(day, empty)
        feature_counts = features.counts
        daytype = daytype_of(agent, day, context)
        day_shift = info.shift_on(day)
        if day_shift != shift:
            shift = day_shift
            _move_profile_to_shift(profile, shift)
        campaign = context.campaign_on(info.desk, day)
        covering = context.covering_on(agent, day)
        # -- off-hours count from the own hour profile and own working days
        worked_share = worked.share(daytype)
        day_off = daytype == OFF_DAYTYPE or worked_share < params.day_off_worked_share
        off = _off_hours(features, profile, sum(profile), shift, day_off)
        off_refs = [ref for hour in off.hours for ref in features.hour_refs[hour]]
        tenure = (day - began).days if began is not None else 10_000
        newcomer = tenure < NEWCOMER_DAYS
        # while ramping up, the own level lags behind: a newcomer is not surprising for working like a peer
        floor = 1.0 if tenure < ramp_up_days else 0.0
        # the day type's level (does this agent work Saturdays?) from the day's total activity
        day_level = day_levels[daytype]
        day_level.decay_to(day)
        total_level.decay_to(day)
        total_exposure = max(peers.exposure(info.role, info.desk, "total", daytype), _MIN_MEAN)
        total_expected = total_level.predictive(total_exposure, peers.size["total"], day_level)
        # a shifted day (activity moved, not added): the off-hours block replaces the usual hours
        in_hours = feature_counts["total"] - off.count
        moved = max(0.0, params.moved_day_share * total_expected.mean - in_hours) if not day_off else 0.0
        offhours_count = max(0.0, off.weighted - moved)
        short_exposure = peers.short_ratio * (features.long_calls + SHORT_RATIO_PRIOR_CALLS)
        # the day type's level, the same for every signal of the day (it learns after them)
        day_mean = day_level.mean()
        day_spread = 1.0 + 1.0 / day_level.shape()
        skip_stale = not features.stale_known or ("stale", daytype) in peers.unseen
        signals: dict[str, SignalResult] = {}
        any_score = False
        for signal, level, kind, exposures, campaign_factor, cover_factor, size, size_spread in plans:
            if kind == _GENERIC and signal == "stale" and skip_stale:
                continue
            # _Level.decay_to(day)
            if level.last is not None:
                gap = (day - level.last).days
                if gap > 0:
                    forgotten = DECAY ** gap
                    level.seen_count *= forgotten
                    level.seen_exposure *= forgotten
                    level.spread_excess *= forgotten
                    level.spread_scale *= forgotten
                    level.seen_days *= forgotten
            level.last = day
            if kind == _OFFHOURS:
                exposure = offhours_expected(day_off=day_off, worked_share=worked_share)
                observed = offhours_count
            elif kind == _SHORT_RATIO:
                exposure = short_exposure
                observed = feature_counts["short_calls"]
            else:
                exposure = exposures[daytype]  # type: ignore[index]  # generic and export signals have them
                if campaign:
                    exposure *= campaign_factor
                if covering:
                    exposure *= cover_factor
                observed = feature_counts[signal]
            if exposure < _MIN_MEAN:
                exposure = _MIN_MEAN
            # _Level.predictive(exposure, size, day_level, floor)
            prior = level.prior
            shape = prior + level.seen_count
            agent_level = shape / (prior + level.seen_exposure)
            own_size = level.own_size(size) if level.own_spread else size
            spread = (1.0 + 1.0 / shape) * (1.0 + 1.0 / own_size if level.own_spread else size_spread)
            agent_level *= day_mean
            spread *= day_spread
            mean = exposure * (floor if floor > agent_level else agent_level)
            if _MIN_MEAN > mean:
                mean = _MIN_MEAN
            nb_size = 1.0 / (spread - 1.0)
            if kind == _EXPORT:
                score, equivalent_size = export_score(observed, Predictive(mean, nb_size), export_habit.size(), shape,
                                                      peers.export_shape)
                signals[signal] = SignalResult(signal, observed, mean, equivalent_size, score)
                export_habit.learn(day, observed, features.exports)
            else:
                score = nb_tail_score(observed, mean, nb_size) if observed > mean and observed > 0 else 0.0
                signals[signal] = SignalResult(signal, observed, mean, nb_size, score)
            if score:
                any_score = True
            # _Level.learn(observed, exposure * day_mean, Predictive(mean, nb_size), size): the day's count
            # winsorised (never above it when at or below the mean), weighted for its information
            kept = observed
            if observed > mean:
                cap = mean + learn_cap_sd * sqrt(mean + mean * mean / nb_size) + 1.0
                if cap < observed:
                    kept = cap
            weight = own_size / (own_size + mean)
            level.seen_count += weight * kept
            level.seen_exposure += weight * (exposure * day_mean)
            if level.own_spread:
                level.spread_excess += (kept - mean) ** 2 - mean
                level.spread_scale += mean * mean
                level.seen_days += 1.0
        day_total = feature_counts["total"]
        day_level.learn(day_total, total_exposure * total_level.mean(), total_expected, peers.size["total"])
        total_level.learn(day_total, total_exposure * day_level.mean(), total_expected, peers.size["total"])
        score = _combine(signals) if any_score else _QUIET_DAY_SCORE
        watched = watch is not None and day >= watch.since and known_by(watch.known_on, day)
        review_on = watch.known_on if watch is not None and day >= watch.since and not watched else None
        notes = _day_notes(info=info, campaign=campaign, covering=covering, daytype=daytype, newcomer=newcomer,
                           tenure=tenure, money_near=features.money_near, watched=watched, review_on=review_on)
        results.append(DayScore(agent=agent, day=day, score=round(score, 3), signals=signals, watched=watched,
                                newcomer=newcomer, notes=notes, features=features,
                                offhours_refs=off_refs[:EVIDENCE_CAP], offhours_hours=off.hours, info=info,
                                review_on=review_on))
        _learn_hours(features, daytype, signals["offhours"].score, profile, worked)
    return results


def _off_hours(features: DayFeatures, profile: list[float], profile_total: float,
               shift: tuple[int | None, int | None], day_off: bool) -> OffHours:
    """Actions outside the agent's own hours: every action on a day off; else those in an hour that is
    neither near the shift nor usual for the agent (PARAMETERS.off_hour_share of the profile)."""
    params = PARAMETERS
    hours = [hour for hour in range(24) if features.hours[hour] and (
        day_off or (profile[hour] / profile_total < params.off_hour_share
                    and not _in_shift(hour, shift, params.shift_margin_hours)))]
    count = sum(features.hours[hour] for hour in hours)
    # the day's own pace: actions per active hour within the agent's hours
    in_hours = [hour for hour in range(24) if features.hours[hour] and hour not in hours]
    pace = max(1.0, (sum(features.hours) - count) / max(len(in_hours), 1))
    # a full day: begun by the shift's start (within the margin); after a late start the evening is
    # the day moved, not carried on, and each of its actions counts
    start = shift[0] if shift[0] is not None else params.default_day[0]
    full_day = bool(in_hours) and (in_hours[0] - start + params.shift_margin_hours) % 24 <= 2 * params.shift_margin_hours
    weighted = 0.0
    for hour in hours:
        actions = features.hours[hour]
        # overtime: the working day carried on without a break; weighs less than a return at night
        # (every action 1), and after a full day it counts in hours at the day's pace (a busy agent's
        # evening is not more of a return at night than a quiet one's)
        if not day_off and _contiguous(features.hours, hour, profile, profile_total):
            weighted += actions * params.overtime_weight / (pace if full_day else 1.0)
        else:
            weighted += actions
    return OffHours(count=count, weighted=weighted, hours=hours)


def _learn_hours(features: DayFeatures, daytype: int, offhours_score: float, profile: list[float],
                 worked: _WorkedDays) -> None:
    """Learn the hour profile and working days from the day; an anomalous day at a fraction of its
    weight (a lasting change is learnt in a few weeks, a night of copying does not become the
    agent's hours)."""
    params = PARAMETERS
    anomalous = offhours_score >= params.anomalous_offhours_score
    weight = params.anomalous_profile_learn_weight if anomalous else params.profile_learn_weight
    actions = sum(features.hours)
    per_action = max(actions, 1)
    profile[:] = [share * DECAY + n / per_action * weight for share, n in zip(profile, features.hours, strict=True)]
    worked.learn(daytype, active=actions > params.active_day_min_actions,
                 weight=params.anomalous_worked_step if anomalous else 1.0)


def _fisher(scores: Sequence[float]) -> float:
    """Fisher's combination of independent -log10 tail probabilities, as a -log10 tail probability."""
    chi = 2.0 * math.log(10) * sum(scores)
    return -math.log10(max(_chi2_even_sf(chi, 2 * len(scores)), 1e-300))


# signal -> (family, the family's correction for its number of signals in -log10, subgroup)
_SIGNAL_COMBINE = {name: (FAMILY[name], math.log10(_FAMILY_SIZE[FAMILY[name]]), SUBGROUP[name]) for name in SIGNALS}
# the families whose signals count different events (more than one subgroup), in FAMILIES' order
_JOINT_FAMILIES = [(family, _FAMILY_SUBGROUPS[family]) for family in FAMILIES if len(_FAMILY_SUBGROUPS[family]) > 1]


def _combine(signals: Mapping[str, SignalResult]) -> float:
    """The day's score from its signals: the best family (corrected for their number) or Fisher's
    combination across families, whichever is larger."""
    family_best = dict.fromkeys(FAMILIES, 0.0)
    subgroup_best: dict[str, float] = {}
    for name, result in signals.items():
        family, penalty, subgroup = _SIGNAL_COMBINE[name]
        # the best of a family's signals, corrected for the number of them (Bonferroni in -log10)
        score = result.score
        corrected = score - penalty
        if corrected > family_best[family]:
            family_best[family] = corrected
        kept = subgroup_best.get(subgroup, 0.0)
        subgroup_best[subgroup] = score if score > kept else kept
    # within a family, signals that count different events add up (Fisher); those counting the
    # same events (opens and their busiest window; short calls as a count and as a share) do not
    for family, subgroups in _JOINT_FAMILIES:
        joint = _fisher([subgroup_best.get(g, 0.0) for g in subgroups])
        if joint > family_best[family]:
            family_best[family] = joint
    best = max(family_best.values()) - math.log10(len(FAMILIES))
    return max(best, _fisher(list(family_best.values())), 0.0)


# The score of a day on which no signal is above its expectation (every signal 0): what `_combine`
# gives for it, computed once.
_QUIET_DAY_SCORE = _combine({})


# --------------------------------------------------------------------------------------------------
# Calibration to a budget, alerts and reasons


@dataclass(frozen=True, slots=True)
class Thresholds:
    normal: float
    watched: float
    budget: float             # alerts per 100 agent-days the desk can review


def calibrate(scores: Sequence[DayScore], budget: float) -> Thresholds:
    """The threshold that alerts `budget` benign agent-days per 100 on this history.

    The empirical quantile would spend the budget on whatever anomalies the history holds (and
    miss the rest whenever there are more of them than the budget); so the benign tail is fitted
    through two upper quantiles of the scores (PARAMETERS.tail_fit_quantiles: nearly all benign) as an
    exponential tail, which is how -log10 tail probabilities behave, and extrapolated to the budget.
    The empirical quantile at a tenth of the budget bounds it from above, the one at twice the budget
    from below."""
    return calibrate_values(sorted(day.score for day in scores if not day.watched), budget)


def calibrate_values(values: Sequence[float], budget: float) -> Thresholds:
    """`calibrate` on the benign scores, sorted."""
    params = PARAMETERS
    if budget <= 0:
        raise ScoringInputError("budget must be positive")
    if len(values) < params.calibration_min_days:
        return Thresholds(normal=params.default_threshold, watched=params.default_watched_threshold, budget=budget)
    n = len(values)
    share = min(budget / 100.0, params.max_budget_share)

    def quantile(q: float) -> float:
        return values[min(int(q * n), n - 1)]

    q1, q2 = params.tail_fit_quantiles
    s1, s2 = quantile(q1), quantile(q2)
    if s2 - s1 > 1e-6:
        slope = (s2 - s1) / (math.log10(1 - q1) - math.log10(1 - q2))
        fitted = s2 + slope * (math.log10(1 - q2) - math.log10(share))
    else:
        fitted = quantile(1 - share)
    low, high = quantile(1 - min(2 * share, params.max_budget_share)), quantile(1 - share / 10)
    threshold = min(max(fitted, low), max(high, low))
    threshold = max(threshold, params.min_threshold)
    watched = max(threshold - NOTICE_THRESHOLD_DROP, params.min_watched_threshold)
    return Thresholds(normal=round(threshold, 3), watched=round(watched, 3), budget=budget)


def apply_thresholds(scores: Iterable[DayScore], thresholds: Thresholds,
                     per_agent: Mapping[str, Thresholds] | None = None) -> None:
    """Alert each agent-day at or over its threshold: the agent's own (`per_agent`: their desk's
    alert budget) or the brand's; the lower one while under notice. Days alerted or near their
    threshold (PARAMETERS.near_threshold) get their reasons."""
    for day in scores:
        limit = threshold_of(day, thresholds, per_agent)
        day.threshold = limit
        day.alerted = day.score >= limit
        near = day.score >= limit - PARAMETERS.near_threshold
        day.reasons = reasons_for(day) if day.alerted or near else []


def threshold_of(day: DayScore, thresholds: Thresholds, per_agent: Mapping[str, Thresholds] | None = None) -> float:
    """The threshold the agent-day is alerted at."""
    own = (per_agent or {}).get(day.agent, thresholds)
    return own.watched if day.watched else own.normal


def _hours(start: int, width: int = BURST_WIDTH_HOURS) -> str:
    return f"{start:02d}:00 and {(start + width) % 24:02d}:00"


def reasons_for(day: DayScore) -> list[str]:  # noqa: C901 - one sentence per signal
    """The day's reasons in words with numbers, strongest first."""
    params = PARAMETERS
    out: list[str] = []
    features = day.features
    ranked = sorted((r for r in day.signals.values() if r.score >= params.reason_min_score), key=lambda r: -r.score)
    # the strongest signal, and the others that are strong in their own right
    ranked = [r for rank, r in enumerate(ranked) if rank == 0 or r.score >= params.reason_also_score]
    calls_said = False
    for result in ranked:
        q95 = nb_quantile(0.95, result.expected, result.size)
        value = int(result.value)
        signal = result.signal
        if signal == "burst":
            start = features.burst_start
            stale_in = sum(features.stale_hours[start:start + BURST_WIDTH_HOURS])
            text = f"opened {value} records between {_hours(start)}; own 95th percentile {q95}"
            if stale_in:
                text += f"; {stale_in} of them untouched for {STALE_DAYS} days"
            out.append(text)
        elif signal == "opens":
            out.append(f"opened {value} client records in the day; own 95th percentile {q95}")
        elif signal == "stale":
            out.append(f"opened {value} records untouched for {STALE_DAYS} days or more; own 95th percentile {q95}")
        elif signal == "reveals":
            out.append(f"revealed personal data {value} times; own 95th percentile {q95}")
        elif signal == "export_rows":
            exports = features.exports
            out.append(f"exported {features.export_rows} rows in {exports} export{'s' if exports != 1 else ''}; "
                       f"own 95th percentile {int(q95 * EXPORT_UNIT)} rows")
        elif signal == "searches":
            out.append(f"ran {value} searches; own 95th percentile {q95}")
        elif signal == "offhours":
            active = [hour for hour in range(24) if features.hours[hour]]
            day_shift = day.info.shift_on(day.day)
            shift = (f"shift {day_shift[0]:02d}:00-{day_shift[1]:02d}:00" if day_shift[0] is not None
                     and day_shift[1] is not None else "no shift recorded")
            day_off = any("holiday" in note for note in day.notes) or not any(
                _in_shift(hour, day_shift, params.shift_margin_hours) for hour in active)
            when = ("on a day the agent does not usually work" if day_off
                    else f"between {min(active):02d}:00 and {max(active) + 1:02d}:00")
            out.append(f"{value} actions outside own hours ({shift}), {when}; own 95th percentile {q95}")
        elif signal == "oob_hv":
            out.append(f"opened high-value clients of other agents' books {value} times "
                       f"({len(features.oob_clients)} clients) without recorded cover; own 95th percentile {q95}")
        elif signal == "brief_calls" and not calls_said:
            calls_said = True
            out.append(f"logged {value} calls of {int(BRIEF_CALL_S)} seconds or less out of {features.calls} calls; "
                       f"own 95th percentile {q95}")
        elif signal in ("short_calls", "short_ratio") and not calls_said:
            calls_said = True
            short = day.signals["short_calls"]
            q = q95 if signal == "short_calls" else nb_quantile(0.95, short.expected, short.size)
            out.append(f"logged {int(features.counts['short_calls'])} calls of {int(SHORT_CALL_S)} seconds or less "
                       f"out of {features.calls} calls; own 95th percentile {q}")
    out.extend(day.notes)
    return out


def backtest(events: Iterable[Event], context: Context, *, budget: float = 0.5,
             known_at_end: bool = False) -> tuple[list[DayScore], Thresholds]:
    """The history replayed day after day (`replay_features`): what the hourly pass would have raised,
    each day with what was known by its end. With `known_at_end`, every fact is read as known at the
    end of the period instead: the whole period rescored as the nightly rescore would on its last day
    (thresholds calibrated on the days before it), every alert raised on that day."""
    features, first, last = extract_features(events, context.all_known() if known_at_end else context)
    if known_at_end:
        scores = score_features(features, context.all_known(), first, last)
        thresholds = calibrate([day for day in scores if day.day < last] or scores, budget)
        apply_thresholds(scores, thresholds)
        for day_score in scores:
            day_score.raised_on = last if day_score.alerted else None
        return scores, thresholds
    return replay_features(features, context, first, last, budget=budget)
