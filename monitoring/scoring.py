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
  probability. Signals are grouped in families (access, timing, relationship, calls); the day's score
  is the larger of the best family (corrected for the number of families) and Fisher's combination
  of the families, so that moderate deviations in several families together also score.
- Thresholds are calibrated to an alert budget on the scored history (see `calibrate`). An agent under
  notice (and their 30 days before the notice, rescored) is held to a lower threshold.

Each scored day keeps its reasons in words with numbers and the evidence (event references).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

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
_FAMILY_SUBGROUPS = {f: sorted({SUBGROUP[s] for s in SIGNALS if FAMILY[s] == f}) for f in FAMILIES}
_FAMILY_SIZE = {f: sum(1 for s in SIGNALS if FAMILY[s] == f) for f in FAMILIES}
# Signals whose exposure is learnt from the peers' history (the others are built while scoring).
_PEER_SIGNALS = ("opens", "burst", "stale", "reveals", "export_rows", "searches", "oob_hv", "short_calls", "brief_calls", "total")
_ALL = (*SIGNALS, "total")
OFF_DAYTYPE = 7                 # holidays and leave: a day type of their own
_MIN_MEAN = 0.03


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


@dataclass(slots=True)
class AgentInfo:
    id: str
    role: str = ""
    desk: str = ""
    joined: date | None = None
    left: date | None = None
    notice_given: date | None = None
    shift_start: int | None = None
    shift_end: int | None = None
    # the shift's recorded changes, oldest first: (from the day, start hour, end hour); a day before
    # the first change keeps the first shift recorded, and with none the agent's shift above holds
    shifts: tuple[tuple[date, int, int], ...] = ()

    def shift_on(self, day: date) -> tuple[int | None, int | None]:
        """The agent's shift hours on that day."""
        if not self.shifts:
            return self.shift_start, self.shift_end
        current = self.shifts[0]
        for change in self.shifts:
            if change[0] > day:
                break
            current = change
        return current[1], current[2]


@dataclass
class Context:
    agents: dict[str, AgentInfo] = field(default_factory=dict)
    cover: list[tuple[str, str, date, date]] = field(default_factory=list)
    leave: list[tuple[str, date, date]] = field(default_factory=list)
    campaign_days: set[tuple[str, date]] = field(default_factory=set)
    holidays: set[date] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._cover_by_agent: dict[str, list[tuple[str, date, date]]] = defaultdict(list)
        for agent, covers, start, end in self.cover:
            self._cover_by_agent[agent].append((covers, start, end))
        self._leave_by_agent: dict[str, list[tuple[date, date]]] = defaultdict(list)
        for agent, start, end in self.leave:
            self._leave_by_agent[agent].append((start, end))

    def covers(self, agent: str, owner: str, day: date) -> bool:
        return any(c == owner and s <= day <= e for c, s, e in self._cover_by_agent.get(agent, ()))

    def covering_on(self, agent: str, day: date) -> bool:
        return any(s <= day <= e for _, s, e in self._cover_by_agent.get(agent, ()))

    def on_leave(self, agent: str, day: date) -> bool:
        return any(s <= day <= e for s, e in self._leave_by_agent.get(agent, ()))

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


def _parse_shifts(value: Any, where: str) -> tuple[tuple[date, int, int], ...]:
    """An agent's dated shifts: [{"from": "2026-03-02", "start": 13, "end": 22}, ...], in any order."""
    if value in (None, ""):
        return ()
    if not isinstance(value, list):
        raise ScoringInputError(f"{where} must be a list of {{from, start, end}}")
    out: list[tuple[date, int, int]] = []
    for i, item in enumerate(value):
        at = f"{where}[{i}]"
        if not isinstance(item, Mapping):
            raise ScoringInputError(f"{at} must be an object with from, start and end")
        start, end = _parse_hour(item.get("start"), f"{at}.start"), _parse_hour(item.get("end"), f"{at}.end")
        if start is None or end is None:
            raise ScoringInputError(f"{at}: start and end are required")
        since = _parse_date(item.get("from"), f"{at}.from", required=True)
        assert since is not None  # noqa: S101 - required=True raises instead
        out.append((since, start, end))
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


def context_from_dict(data: Mapping[str, Any]) -> Context:
    """CONTEXT.json: agents, cover, leave, campaign_days, holidays (see the README)."""
    if not isinstance(data, Mapping):
        raise ScoringInputError("context: not a JSON object")
    agents: dict[str, AgentInfo] = {}
    for i, a in enumerate(data.get("agents") or []):
        where = f"agents[{i}]"
        if not isinstance(a, Mapping) or a.get("id") in (None, ""):
            raise ScoringInputError(f"{where}.id is required")
        raw_shift = a.get("shift")
        shift: Mapping[str, Any] = raw_shift if isinstance(raw_shift, Mapping) else {}
        agents[str(a["id"])] = AgentInfo(
            id=str(a["id"]), role=str(a.get("role") or ""), desk=str(a.get("desk") or ""),
            joined=_parse_date(a.get("joined"), f"{where}.joined"),
            left=_parse_date(a.get("left"), f"{where}.left"),
            notice_given=_parse_date(a.get("notice_given"), f"{where}.notice_given"),
            shift_start=_parse_hour(a.get("shift_start", shift.get("start")), f"{where}.shift_start"),
            shift_end=_parse_hour(a.get("shift_end", shift.get("end")), f"{where}.shift_end"),
            shifts=_parse_shifts(a.get("shifts"), f"{where}.shifts"),
        )
    cover = []
    for i, c in enumerate(data.get("cover") or []):
        where = f"cover[{i}]"
        if not isinstance(c, Mapping) or not c.get("agent") or not c.get("covers"):
            raise ScoringInputError(f"{where}: 'agent' and 'covers' are required")
        cover.append((str(c["agent"]), str(c["covers"]),
                      _parse_date(c.get("from"), f"{where}.from", required=True),
                      _parse_date(c.get("to"), f"{where}.to", required=True)))
    leave = []
    for i, item in enumerate(data.get("leave") or []):
        where = f"leave[{i}]"
        if not isinstance(item, Mapping) or not item.get("agent"):
            raise ScoringInputError(f"{where}.agent is required")
        leave.append((str(item["agent"]), _parse_date(item.get("from"), f"{where}.from", required=True),
                      _parse_date(item.get("to"), f"{where}.to", required=True)))
    campaigns = set()
    for i, item in enumerate(data.get("campaign_days") or []):
        where = f"campaign_days[{i}]"
        if not isinstance(item, Mapping):
            raise ScoringInputError(f"{where}: expected an object with desk and date")
        campaigns.add((str(item.get("desk") or ""), _parse_date(item.get("date"), f"{where}.date", required=True)))
    holidays = set()
    for i, item in enumerate(data.get("holidays") or []):
        value = item.get("date") if isinstance(item, Mapping) else item
        holidays.add(_parse_date(value, f"holidays[{i}]", required=True))
    return Context(agents=agents, cover=cover, leave=leave,  # type: ignore[arg-type]
                   campaign_days=campaigns, holidays=holidays)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------
# Features per agent-day


@dataclass(slots=True)
class DayFeatures:
    counts: dict[str, float] = field(default_factory=lambda: dict.fromkeys((*SIGNALS, "total"), 0.0))
    hours: list[int] = field(default_factory=lambda: [0] * 24)
    open_hours: list[int] = field(default_factory=lambda: [0] * 24)
    stale_hours: list[int] = field(default_factory=lambda: [0] * 24)
    hour_refs: list[list[str]] = field(default_factory=lambda: [[] for _ in range(24)])
    refs: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    calls: int = 0
    long_calls: int = 0
    exports: int = 0
    export_rows: int = 0
    oob_clients: set[str] = field(default_factory=set)
    burst_start: int = 0
    stale_known: bool = False
    money_near: int = 0               # accesses near the client's large deposit or withdrawal


def _add_ref(refs: list[str], ref: str) -> None:
    if len(refs) < EVIDENCE_CAP:
        refs.append(ref)


def extract_features(  # noqa: C901 - one branch per kind of event, in one pass
    events: Iterable[Event], context: Context,
) -> tuple[dict[str, dict[date, DayFeatures]], date, date]:
    """Daily features per agent, from events in any order. Returns (features, first day, last day)."""
    ordered = sorted(events, key=lambda e: e.time)
    if not ordered:
        raise ScoringInputError("no events")
    stream_start = ordered[0].time
    stale_after = stream_start + timedelta(days=STALE_DAYS)
    last_touch: dict[str, datetime] = {}
    stale_delta = timedelta(days=STALE_DAYS)
    out: dict[str, dict[date, DayFeatures]] = defaultdict(dict)
    for e in ordered:
        day = e.time.date()
        per_agent = out[e.agent]
        f = per_agent.get(day)
        if f is None:
            f = per_agent[day] = DayFeatures(stale_known=e.time >= stale_after)
        hour = e.time.hour
        c = f.counts
        f.hours[hour] += 1
        if len(f.hour_refs[hour]) < 20:
            f.hour_refs[hour].append(e.ref)
        kind = e.kind
        if kind in ACCESS_KINDS and e.client:
            if e.untouched_days is not None:
                stale = e.untouched_days >= STALE_DAYS
                f.stale_known = True
            else:
                previous = last_touch.get(e.client)
                stale = (e.time - previous >= stale_delta) if previous is not None else e.time >= stale_after
            if kind == "client_open":
                c["opens"] += 1
                f.open_hours[hour] += 1
                _add_ref(f.refs["opens"], e.ref)
            else:
                c["reveals"] += 1
                _add_ref(f.refs["reveals"], e.ref)
            if e.money_near:
                f.money_near += 1
                stale = False
            if stale:
                c["stale"] += 1
                f.stale_hours[hour] += 1
                _add_ref(f.refs["stale"], e.ref)
            if (e.client_high_value and e.client_owner and e.client_owner != e.agent and not e.money_near
                    and not context.covers(e.agent, e.client_owner, day)):
                c["oob_hv"] += 1
                f.oob_clients.add(e.client)
                _add_ref(f.refs["oob_hv"], e.ref)
        elif kind == "export":
            c["export_rows"] += e.rows / EXPORT_UNIT
            f.export_rows += e.rows
            f.exports += 1
            _add_ref(f.refs["export_rows"], e.ref)
        elif kind == "search":
            c["searches"] += 1
        elif kind == "call":
            f.calls += 1
            if e.duration_s <= BRIEF_CALL_S:
                c["brief_calls"] += 1
            if e.duration_s <= SHORT_CALL_S:
                c["short_calls"] += 1
                _add_ref(f.refs["short_calls"], e.ref)
            else:
                f.long_calls += 1
        if e.client:
            last_touch[e.client] = e.time
    for per_agent in out.values():
        for f in per_agent.values():
            best, start = 0, 0
            oh = f.open_hours
            for h in range(22):
                window = oh[h] + oh[h + 1] + oh[h + 2]
                if window > best:
                    best, start = window, h
            f.counts["burst"] = best
            f.counts["total"] = float(sum(f.hours))
            f.burst_start = start
    return out, ordered[0].time.date(), ordered[-1].time.date()


# --------------------------------------------------------------------------------------------------
# Distributions


def _log_betainc_cf(a: float, b: float, x: float) -> float:
    """log of the continued fraction of the regularised incomplete beta (modified Lentz)."""
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
        d = tiny if abs(d) < tiny else d
        c = 1.0 + aa / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = tiny if abs(d) < tiny else d
        c = 1.0 + aa / c
        c = tiny if abs(c) < tiny else c
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
        return int(round(mean + 1.645 * sd)) if prob == 0.95 else int(round(mean + 2.33 * sd))
    while total < prob and k < cap:
        pmf *= (k + size) / (k + 1) * (1.0 - p)
        k += 1
        total += pmf
    return k


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
    means: dict[tuple[str, str], dict[str, list[float]]]     # (role, desk) -> signal -> 8 day types
    role_means: dict[str, dict[str, list[float]]]
    global_means: dict[str, list[float]]
    worked: dict[tuple[str, str], list[float]]                 # share of days active per day type
    campaign_factor: dict[str, float]
    cover_factor: dict[str, float]
    size: dict[str, float]          # day-to-day overdispersion (NB size) per signal
    prior: dict[str, float]         # between-agent concentration of the level (Gamma shape = rate)
    short_ratio: float

    def exposure(self, role: str, desk: str, signal: str, daytype: int) -> float:
        per_group = self.means.get((role, desk))
        if per_group is not None:
            return per_group[signal][daytype]
        per_role = self.role_means.get(role)
        if per_role is not None:
            return per_role[signal][daytype]
        return self.global_means[signal][daytype]


def daytype_of(agent: str, day: date, context: Context) -> int:
    if day in context.holidays or context.on_leave(agent, day):
        return OFF_DAYTYPE
    return day.weekday()


def _trimmed_mean(values: list[float], trim: float = 0.01) -> float:
    if not values:
        return 0.0
    values = sorted(values)
    keep = len(values) - int(len(values) * trim)
    kept = values[:max(keep, 1)]
    return sum(kept) / len(kept)


def _agent_span(info: AgentInfo, first: date, last: date, days: Mapping[date, DayFeatures]) -> tuple[date, date]:
    start = max(info.joined or first, first)
    end = min(info.left or last, last)
    if days:
        start = min(start, min(days))
        end = max(end, max(days)) if info.left is None else end
    return start, end


def _days(start: date, end: date) -> Iterable[date]:
    d = start
    one = timedelta(days=1)
    while d <= end:
        yield d
        d += one


def fit_peers(  # noqa: C901 - three passes over the same history: means, context factors, dispersion
    features: Mapping[str, Mapping[date, DayFeatures]], context: Context, first: date, last: date,
) -> PeerModel:
    """Peer means per (role, desk) and day type, context factors and overdispersion, from all history."""
    empty = DayFeatures()
    # signal -> group -> daytype -> values (plain days only: no campaign, no cover)
    values: dict[tuple[str, str], dict[str, list[list[float]]]] = {}
    role_values: dict[str, dict[str, list[list[float]]]] = {}
    global_values: dict[str, list[list[float]]] = {s: [[] for _ in range(8)] for s in _PEER_SIGNALS}
    worked_counts: dict[tuple[str, str], list[list[int]]] = {}
    special: list[tuple[str, str, str, int, bool, bool, DayFeatures]] = []
    for agent, days in features.items():
        info = context.info(agent)
        key = (info.role, info.desk)
        group = values.setdefault(key, {s: [[] for _ in range(8)] for s in _PEER_SIGNALS})
        rgroup = role_values.setdefault(info.role, {s: [[] for _ in range(8)] for s in _PEER_SIGNALS})
        wc = worked_counts.setdefault(key, [[0, 0] for _ in range(8)])
        start, end = _agent_span(info, first, last, days)
        for day in _days(start, end):
            f = days.get(day, empty)
            dt = daytype_of(agent, day, context)
            campaign = (info.desk, day) in context.campaign_days
            covering = context.covering_on(agent, day)
            wc[dt][0] += 1 if day in days else 0
            wc[dt][1] += 1
            if campaign or covering:
                special.append((agent, info.role, info.desk, dt, campaign, covering, f))
                continue
            for s in _PEER_SIGNALS:
                if s == "stale" and not f.stale_known and day in days:
                    continue
                v = f.counts[s]
                group[s][dt].append(v)
                rgroup[s][dt].append(v)
                global_values[s][dt].append(v)

    def reduce(per: dict[str, list[list[float]]]) -> dict[str, list[float]]:
        return {s: [_trimmed_mean(per[s][dt]) if len(per[s][dt]) >= 20 else _trimmed_mean(global_values[s][dt])
                    for dt in range(8)] for s in _PEER_SIGNALS}

    global_means = {s: [_trimmed_mean(global_values[s][dt]) for dt in range(8)] for s in _PEER_SIGNALS}
    means = {k: reduce(v) for k, v in values.items()}
    role_means = {k: reduce(v) for k, v in role_values.items()}
    worked = {k: [(w + 1) / (n + 2) for w, n in wc] for k, wc in worked_counts.items()}
    model = PeerModel(means=means, role_means=role_means, global_means=global_means, worked=worked,
                      campaign_factor=dict.fromkeys(_ALL, 1.0), cover_factor=dict.fromkeys(_ALL, 1.0),
                      size=dict.fromkeys(_ALL, 2.0), prior=dict.fromkeys(_ALL, 4.0), short_ratio=0.1)

    # Context factors: observed / expected on campaign and cover days.
    for which, factors in (("campaign", model.campaign_factor), ("cover", model.cover_factor)):
        for s in _PEER_SIGNALS:
            obs = exp = 0.0
            for _agent, role, desk, dt, campaign, covering, f in special:
                if (which == "campaign" and campaign and not covering) or (which == "cover" and covering and not campaign):
                    obs += f.counts[s]
                    exp += model.exposure(role, desk, s, dt)
            if exp > 5:
                factors[s] = min(max(obs / exp, 1.0), 6.0)

    # Short calls relative to real calls, and overdispersion / between-agent spread per signal.
    short = long = 0.0
    levels: dict[str, list[float]] = defaultdict(list)
    excess: dict[str, list[float]] = defaultdict(list)
    for agent, days in features.items():
        info = context.info(agent)
        start, end = _agent_span(info, first, last, days)
        xs: dict[str, list[float]] = defaultdict(list)
        es: dict[str, list[float]] = defaultdict(list)
        for day in _days(start, end):
            f = days.get(day, empty)
            short += f.counts["short_calls"]
            long += f.long_calls
            dt = daytype_of(agent, day, context)
            campaign = (info.desk, day) in context.campaign_days
            covering = context.covering_on(agent, day)
            for s in _PEER_SIGNALS:
                e = model.exposure(info.role, info.desk, s, dt)
                if campaign:
                    e *= model.campaign_factor[s]
                if covering:
                    e *= model.cover_factor[s]
                xs[s].append(f.counts[s])
                es[s].append(max(e, _MIN_MEAN))
        for s in _PEER_SIGNALS:
            sx, se = sum(xs[s]), sum(es[s])
            if se < 5 or len(xs[s]) < 20:
                continue
            theta = sx / se
            levels[s].append(theta)
            if theta <= 0:
                continue
            # trim the agent's two most extreme days: an injected anomaly must not set the dispersion
            resid = sorted(((x - theta * e) ** 2 - theta * e, (theta * e) ** 2) for x, e in zip(xs[s], es[s], strict=True))
            resid = resid[:-2]
            num = sum(r for r, _ in resid)
            den = sum(m for _, m in resid)
            if den > 0:
                excess[s].append(num / den)
    model.short_ratio = (short + 1) / (long + 10)
    for s in _PEER_SIGNALS:
        if excess[s]:
            ex = sorted(excess[s])[len(excess[s]) // 2]
            model.size[s] = 1.0 / min(max(ex, 0.02), 5.0)
        if len(levels[s]) >= 5:
            mean = sum(levels[s]) / len(levels[s])
            if mean > 0:
                var = sum((v / mean - 1) ** 2 for v in levels[s]) / (len(levels[s]) - 1)
                model.prior[s] = 1.0 / min(max(var, 0.02), 2.0)
    model.size["offhours"] = 0.7
    model.prior["offhours"] = 1.0
    model.size["short_ratio"] = model.size["short_calls"]
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
    watched: bool                     # under notice (or its 30 days before): lower threshold
    newcomer: bool
    notes: list[str]
    features: DayFeatures
    offhours_refs: list[str]
    info: AgentInfo
    alerted: bool = False
    reasons: list[str] = field(default_factory=list)
    offhours_hours: list[int] = field(default_factory=list)  # the hours counted off (for the references)

    def evidence(self) -> dict[str, list[str]]:
        """Event references behind each signal that scored."""
        out: dict[str, list[str]] = {}
        for name, result in self.signals.items():
            if result.score < 1.3:
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


class _Level:
    """Gamma posterior of an agent's level relative to the peer exposure, with forgetting."""

    __slots__ = ("a", "a0", "b", "b0", "last")

    def __init__(self, prior: float) -> None:
        self.a0 = self.b0 = prior
        self.a = self.b = 0.0
        self.last: date | None = None

    def decay_to(self, day: date) -> None:
        if self.last is not None:
            gap = (day - self.last).days
            if gap > 0:
                w = DECAY ** gap
                self.a *= w
                self.b *= w
        self.last = day

    def mean(self) -> float:
        return (self.a0 + self.a) / (self.b0 + self.b)

    def shape(self) -> float:
        return self.a0 + self.a

    def predictive(self, exposure: float, size: float, other: _Level | None = None,
                   floor: float = 0.0) -> tuple[float, float]:
        shape = self.a0 + self.a
        level = shape / (self.b0 + self.b)
        spread = (1.0 + 1.0 / shape) * (1.0 + 1.0 / size)
        if other is not None:
            level *= other.mean()
            spread *= 1.0 + 1.0 / other.shape()
        return max(exposure * max(level, floor), _MIN_MEAN), 1.0 / (spread - 1.0)

    def learn(self, x: float, exposure: float, mean: float, size: float, nb_size: float) -> None:
        cap = mean + 3.0 * math.sqrt(mean + mean * mean / nb_size) + 1.0
        w = size / (size + mean)
        self.a += w * min(x, cap)
        self.b += w * exposure


def _in_shift(hour: int, shift: tuple[int | None, int | None], margin: int) -> bool:
    shift_start, shift_end = shift
    if shift_start is None or shift_end is None:
        return 7 <= hour < 20
    start, end = (shift_start - margin) % 24, (shift_end + margin) % 24
    if shift_start == shift_end:
        return True
    if start < end:
        return start <= hour < end
    return hour >= start or hour < end


def _contiguous(hours: list[int], h: int, profile: list[float], total: float) -> bool:
    """Whether hour `h` joins the day's usual hours through active hours, within three hours of them."""
    for step in (-1, 1):
        k = h
        for _ in range(3):
            k = (k + step) % 24
            if profile[k] / total >= 0.03:
                return True
            if not hours[k]:
                break
    return False


def score_history(events: Iterable[Event], context: Context) -> list[DayScore]:
    """Score every agent-day from the first to the last day of the events (within each agent's
    employment), each day against the agent's history before it (past only, as the hourly scoring
    sees it) and the peers' history."""
    features, first, last = extract_features(events, context)
    return score_features(features, context, first, last)


def score_features(features: Mapping[str, Mapping[date, DayFeatures]], context: Context, first: date,
                   last: date) -> list[DayScore]:
    """The nightly rescore: every agent-day again from the stored daily features."""
    peers = fit_peers(features, context, first, last)
    out: list[DayScore] = []
    for agent in sorted(features):
        out.extend(_score_agent(agent, features[agent], context, peers, first, last))
    return out


def _score_agent(agent: str, days: Mapping[date, DayFeatures], context: Context, peers: PeerModel,
                 first: date, last: date) -> list[DayScore]:
    info = context.info(agent)
    start, end = _agent_span(info, first, last, days)
    agent_first = min(days) if days else start
    # a newcomer: joined within the data, or first seen well after it starts
    began = info.joined if info.joined is not None and info.joined >= first - timedelta(days=NEWCOMER_DAYS + 15) else (
        agent_first if info.joined is None and agent_first > first + timedelta(days=7) else None)
    # a newcomer's level is less sure to be the peers' (wider prior), and their working days unknown
    levels = {s: _Level(peers.prior[s] / (2.0 if began is not None else 1.0)) for s in SIGNALS}
    # the agent's own weekday profile relative to the peers' (a Saturday worker, a Friday-light agent)
    # one per day type, shared by all signals, learnt from the day's total activity
    day_levels = [_Level(1.5) for _ in range(8)]
    total_level = _Level(peers.prior["total"])
    # hour profile on working days (decayed), seeded by the shift
    shift = info.shift_on(start)
    profile = [3.0 if _in_shift(h, shift, 0) else 0.05 for h in range(24)]
    worked_prior = peers.worked.get((info.role, info.desk)) or [0.9] * 5 + [0.1] * 3
    worked = [[max(worked_prior[dt], 0.5 if began is not None and dt < OFF_DAYTYPE else 0.0) * 4, 4.0]
              for dt in range(8)]
    notice_from = None
    if info.notice_given is not None:
        notice_from = info.notice_given - timedelta(days=NOTICE_LOOKBACK_DAYS)
    elif info.left is not None:
        notice_from = info.left - timedelta(days=NOTICE_LOOKBACK_DAYS)
    empty = DayFeatures()
    results: list[DayScore] = []
    for day in _days(start, end):
        f = days.get(day, empty)
        dt = daytype_of(agent, day, context)
        day_shift = info.shift_on(day)
        if day_shift != shift:
            # a recorded shift change: the new hours are the agent's from that day, the old ones fade
            shift = day_shift
            inside = [h for h in range(24) if _in_shift(h, shift, 0)]
            moved_weight = 0.7 * sum(profile) / max(len(inside), 1)
            for h in range(24):
                profile[h] = profile[h] * 0.3 + (moved_weight if h in inside else 0.0)
        campaign = (info.desk, day) in context.campaign_days
        covering = context.covering_on(agent, day)
        # -- off-hours count from the own hour profile and own working days
        total_prof = sum(profile)
        w_share = worked[dt][0] / worked[dt][1]
        day_off = dt == OFF_DAYTYPE or w_share < 0.25
        off, off_weighted, off_hours = _off_hours(f, profile, total_prof, shift, day_off)
        off_refs = [r for h in off_hours for r in f.hour_refs[h]]
        tenure = (day - began).days if began is not None else 10_000
        newcomer = tenure < NEWCOMER_DAYS
        # while ramping up, the own level lags behind: a newcomer is not surprising for working like a peer
        floor = 1.0 if tenure < NEWCOMER_DAYS + 15 else 0.0
        # the day type's level (does this agent work Saturdays?) from the day's total activity
        dlevel = day_levels[dt]
        dlevel.decay_to(day)
        total_level.decay_to(day)
        t_exposure = max(peers.exposure(info.role, info.desk, "total", dt), _MIN_MEAN)
        t_mean, t_size = total_level.predictive(t_exposure, peers.size["total"], dlevel)
        # a shifted day (activity moved, not added): the off-hours block replaces the usual hours
        in_hours = f.counts["total"] - off
        moved = max(0.0, 0.7 * t_mean - in_hours) if not day_off else 0.0
        counts = dict(f.counts)
        counts["offhours"] = max(0.0, off_weighted - moved)
        short_exposure = peers.short_ratio * (f.long_calls + 2)
        signals: dict[str, SignalResult] = {}
        for s in SIGNALS:
            if s == "stale" and not f.stale_known:
                continue
            level = levels[s]
            level.decay_to(day)
            dlevel = day_levels[dt]
            if s == "offhours":
                exposure = 0.15 if not day_off else 0.3 * (1 - w_share) + 0.05
            elif s == "short_ratio":
                exposure = short_exposure
            else:
                exposure = (peers.exposure(info.role, info.desk, s, dt)
                            * (peers.campaign_factor[s] if campaign else 1.0)
                            * (peers.cover_factor[s] if covering else 1.0))
            x = counts["short_calls"] if s == "short_ratio" else counts[s]
            size = peers.size[s]
            exposure = max(exposure, _MIN_MEAN)
            mean, nb_size = level.predictive(exposure, size, dlevel, floor)
            score = nb_tail_score(x, mean, nb_size)
            signals[s] = SignalResult(s, x, mean, nb_size, score)
            level.learn(x, exposure * dlevel.mean(), mean, size, nb_size)
        dlevel.learn(f.counts["total"], t_exposure * total_level.mean(), t_mean, peers.size["total"], t_size)
        total_level.learn(f.counts["total"], t_exposure * dlevel.mean(), t_mean, peers.size["total"], t_size)
        score = _combine(signals)
        watched = notice_from is not None and day >= notice_from
        notes = [text for cond, text in (
            (campaign, f"campaign day for desk {info.desk}"),
            (covering, "covering a colleague's book"),
            (dt == OFF_DAYTYPE, "holiday or leave"),
            (newcomer, f"newcomer (day {tenure + 1}): baseline mostly from peers"),
            (f.money_near, f"{f.money_near} record{'s' if f.money_near != 1 else ''} opened near the client's large "
                           "deposit or withdrawal: not counted as out-of-book or untouched"),
            (watched, f"under notice (given {info.notice_given or '-'}, last day {info.left or '-'}): lower threshold"),
        ) if cond]
        results.append(DayScore(agent=agent, day=day, score=round(score, 3), signals=signals, watched=watched,
                                newcomer=newcomer, notes=notes, features=f, offhours_refs=off_refs[:EVIDENCE_CAP],
                                offhours_hours=off_hours,
                                info=info))
        _learn_hours(f, dt, signals["offhours"].score, profile, worked)
    return results


def _off_hours(f: DayFeatures, profile: list[float], total_prof: float, shift: tuple[int | None, int | None],
               day_off: bool) -> tuple[int, float, list[int]]:
    """Actions outside the agent's own hours: (count, weighted count, the hours off)."""
    off = 0
    weighted = 0.0
    hours: list[int] = []
    for h in range(24):
        n = f.hours[h]
        if not n:
            continue
        if day_off or (profile[h] / total_prof < 0.012 and not _in_shift(h, shift, 1)):
            off += n
            hours.append(h)
            # overtime: the working day carried on without a break; weighs less than a return at night
            weighted += n * (0.25 if not day_off and _contiguous(f.hours, h, profile, total_prof) else 1.0)
    return off, weighted, hours


def _learn_hours(f: DayFeatures, dt: int, off_score: float, profile: list[float], worked: list[list[float]]) -> None:
    """Learn the hour profile and working days from the day; an anomalous day at a fraction of its
    weight (a lasting change is learnt in a few weeks, a night of copying does not become the
    agent's hours)."""
    weight = 3.0 if off_score < 2.0 else 0.6
    n_day = sum(f.hours)
    for h in range(24):
        profile[h] = profile[h] * DECAY + f.hours[h] / max(n_day, 1) * weight
    active = 1.0 if n_day > 2 else 0.0
    step = 1.0 if off_score < 2.0 else 0.3
    worked[dt][0] = worked[dt][0] * 0.97 + active * step
    worked[dt][1] = worked[dt][1] * 0.97 + step


def _combine(signals: Mapping[str, SignalResult]) -> float:
    """The day's score from its signals: the best family (corrected for their number) or Fisher's
    combination across families, whichever is larger."""
    fam_best = dict.fromkeys(FAMILIES, 0.0)
    sub_best: dict[str, float] = {}
    for s, r in signals.items():
        fam = FAMILY[s]
        adj = r.score - math.log10(_FAMILY_SIZE[fam])
        if adj > fam_best[fam]:
            fam_best[fam] = adj
        sub = SUBGROUP[s]
        sub_best[sub] = max(sub_best.get(sub, 0.0), r.score)
    # within a family, signals that count different events add up (Fisher); those counting the
    # same events (opens and their busiest window; short calls as a count and as a share) do not
    for fam in FAMILIES:
        subs = _FAMILY_SUBGROUPS[fam]
        if len(subs) > 1:
            total = sum(sub_best.get(g, 0.0) for g in subs)
            chi_f = 2.0 * math.log(10) * total
            joint = -math.log10(max(_chi2_even_sf(chi_f, 2 * len(subs)), 1e-300))
            fam_best[fam] = max(fam_best[fam], joint)
    best = max(fam_best.values()) - math.log10(len(FAMILIES))
    chi = 2.0 * math.log(10) * sum(fam_best.values())
    fisher = -math.log10(max(_chi2_even_sf(chi, 2 * len(FAMILIES)), 1e-300))
    return max(best, fisher, 0.0)


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
    miss the rest whenever there are more of them than the budget); so the benign tail is fitted on
    the upper-middle scores (the 90th to 98th percentiles: nearly all benign) as an exponential tail,
    which is how -log10 tail probabilities behave, and extrapolated to the budget. The empirical
    quantile at a tenth of the budget bounds it from above, the one at the budget from below."""
    if budget <= 0:
        raise ScoringInputError("budget must be positive")
    values = sorted(s.score for s in scores if not s.watched)
    if len(values) < 50:
        return Thresholds(normal=3.0, watched=2.0, budget=budget)
    n = len(values)
    share = min(budget / 100.0, 0.5)

    def quantile(q: float) -> float:
        return values[min(int(q * n), n - 1)]

    q1, q2 = 0.95, 0.99
    s1, s2 = quantile(q1), quantile(q2)
    if s2 - s1 > 1e-6:
        slope = (s2 - s1) / (math.log10(1 - q1) - math.log10(1 - q2))
        fitted = s2 + slope * (math.log10(1 - q2) - math.log10(share))
    else:
        fitted = quantile(1 - share)
    low, high = quantile(1 - min(2 * share, 0.5)), quantile(1 - share / 10)
    threshold = min(max(fitted, low), max(high, low))
    threshold = max(threshold, 1.5)
    return Thresholds(normal=round(threshold, 3), watched=round(max(threshold - NOTICE_THRESHOLD_DROP, 1.0), 3),
                      budget=budget)


def apply_thresholds(scores: Iterable[DayScore], thresholds: Thresholds,
                     per_agent: Mapping[str, Thresholds] | None = None) -> None:
    """Alert each agent-day at or over its threshold: the agent's own (`per_agent`: their desk's
    alert budget) or the brand's; the lower one while under notice."""
    for s in scores:
        limit = threshold_of(s, thresholds, per_agent)
        s.alerted = s.score >= limit
        s.reasons = reasons_for(s) if s.alerted or s.score >= limit - 0.5 else []


def threshold_of(s: DayScore, thresholds: Thresholds, per_agent: Mapping[str, Thresholds] | None = None) -> float:
    own = (per_agent or {}).get(s.agent, thresholds)
    return own.watched if s.watched else own.normal


def _hours(start: int, width: int = 3) -> str:
    return f"{start:02d}:00 and {(start + width) % 24:02d}:00"


def reasons_for(s: DayScore) -> list[str]:
    """The day's reasons in words with numbers, strongest first."""
    out: list[str] = []
    f = s.features
    ranked = sorted((r for r in s.signals.values() if r.score >= 1.3), key=lambda r: -r.score)
    # the strongest signal, and the others that are strong in their own right
    ranked = [r for i, r in enumerate(ranked) if i == 0 or r.score >= 2.5]
    seen_calls = False
    for r in ranked:
        q95 = nb_quantile(0.95, r.expected, r.size)
        v = int(r.value)
        if r.signal == "burst":
            stale_in = sum(f.stale_hours[f.burst_start:f.burst_start + 3])
            text = f"opened {v} records between {_hours(f.burst_start)}; own 95th percentile {q95}"
            if stale_in:
                text += f"; {stale_in} of them untouched for {STALE_DAYS} days"
            out.append(text)
        elif r.signal == "opens":
            out.append(f"opened {v} client records in the day; own 95th percentile {q95}")
        elif r.signal == "stale":
            out.append(f"opened {v} records untouched for {STALE_DAYS} days or more; own 95th percentile {q95}")
        elif r.signal == "reveals":
            out.append(f"revealed personal data {v} times; own 95th percentile {q95}")
        elif r.signal == "export_rows":
            out.append(f"exported {f.export_rows} rows in {f.exports} export{'s' if f.exports != 1 else ''}; "
                       f"own 95th percentile {int(q95 * EXPORT_UNIT)} rows")
        elif r.signal == "searches":
            out.append(f"ran {v} searches; own 95th percentile {q95}")
        elif r.signal == "offhours":
            hours = [h for h in range(24) if f.hours[h]]
            day_shift = s.info.shift_on(s.day)
            shift = (f"shift {day_shift[0]:02d}:00-{day_shift[1]:02d}:00" if day_shift[0] is not None
                     and day_shift[1] is not None else "no shift recorded")
            when = "on a day the agent does not usually work" if any("holiday" in n for n in s.notes) or not any(
                _in_shift(h, day_shift, 1) for h in hours) else f"between {min(hours):02d}:00 and {max(hours) + 1:02d}:00"
            out.append(f"{v} actions outside own hours ({shift}), {when}; own 95th percentile {q95}")
        elif r.signal == "oob_hv":
            out.append(f"opened high-value clients of other agents' books {v} times ({len(f.oob_clients)} clients) "
                       f"without recorded cover; own 95th percentile {q95}")
        elif r.signal == "brief_calls" and not seen_calls:
            seen_calls = True
            out.append(f"logged {v} calls of {int(BRIEF_CALL_S)} seconds or less out of {f.calls} calls; "
                       f"own 95th percentile {q95}")
        elif r.signal in ("short_calls", "short_ratio") and not seen_calls:
            seen_calls = True
            q = q95 if r.signal == "short_calls" else nb_quantile(0.95, s.signals["short_calls"].expected,
                                                                   s.signals["short_calls"].size)
            out.append(f"logged {int(f.counts['short_calls'])} calls of {int(SHORT_CALL_S)} seconds or less out of "
                       f"{f.calls} calls; own 95th percentile {q}")
    out.extend(s.notes)
    return out


def backtest(events: Iterable[Event], context: Context, *, budget: float = 0.5) -> tuple[list[DayScore], Thresholds]:
    """Score the history, calibrate the thresholds to the budget, mark the alerts."""
    scores = score_history(events, context)
    thresholds = calibrate(scores, budget)
    apply_thresholds(scores, thresholds)
    return scores, thresholds
