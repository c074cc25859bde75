"""The product's scoring: the activity table and the context models through monitoring.scoring.

- Features per agent-day are aggregated once, set-based, from the activity table into
  AgentDayFeatures (sql/features/store.sql, one INSERT ... SELECT per pass): counts per kind, records untouched
  for 90 days (the client's previous touch by anyone: a window function over the period's rows, and
  each client's last touch in the 90 days before the period), out-of-book high-value accesses net of
  recorded cover, accesses near a client's large deposit or withdrawal, short calls, per hour.
- `features_refresh` aggregates only what is not final: the days not yet over when last aggregated
  (normally yesterday and today), an agent's window the first time they are scored, and the
  agent-days whose context changed since (a cover recorded, changed or removed: each stored day keeps
  the covers it was computed with; a large movement recorded since the last pass around an access).
  Leave, shifts, notices, campaign days and holidays are read by the scoring itself each pass. Rows
  recorded for a day long over (a backfill) are read by `brand_rescore(..., rebuild=True)`.
- The nightly rescore (`brand_rescore`) scores every agent-day of the window (SCORING_WINDOW_DAYS)
  from the stored features, recalibrates the thresholds to the brand's alert budget and rewrites
  every agent-day score; the evidence references of a day that raises an alert are looked up again
  (`_with_refs`, the same aggregation for that one agent-day).
- The hourly pass (`brand_score_hourly`) brings the features up to date the same way (today's rows),
  scores on them at the last nightly thresholds and raises the alerts of the days since the watermark.
- Entering a notice rescores the agent's last 30 days at the lower threshold (`agent_notice_rescore`).
"""

from __future__ import annotations

import contextlib
import gc
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from orjson import dumps as json_dumps
from orjson import loads as json_loads
from psycopg import sql

from crm.models import Brand, RoleCode, User
from monitoring import scoring
from monitoring.models import (
    AgentDayFeatures,
    CampaignDay,
    Cover,
    Holiday,
    Leave,
    Notice,
    ScoringState,
    Shift,
)
from monitoring.recording import large_movement_threshold
from monitoring.services import monitoring_settings_for, raise_alert
from plumbing.sqlfiles import sql_text

logger = logging.getLogger(__name__)

SCORING_WINDOW_DAYS = 180
NOTICE_RESCORE_DAYS = scoring.NOTICE_LOOKBACK_DAYS
AGENT_ROLES = (RoleCode.SALES_AGENT, RoleCode.RETENTION_AGENT)
EVIDENCE_LINKS = 8

# The statements that aggregate the activity table (features/hourly, features/store: the rows as
# the scoring reads them, set-based; features/changed: the stored agent-days whose context changed)
# are monitoring/sql/features/*.sql, each saying what it does and why it is written so.
STORE_PARTS = {"agent": sql.SQL("d.agent_id"), "day": sql.SQL("d.day")}
CHANGED_PARTS = {"agent": sql.SQL("f.agent_id"), "day": sql.SQL("f.day")}
ALL_AGENT_DAYS = sql.SQL("")


def history_start() -> datetime | None:
    """The time of the first recorded activity: the first day partition holding a row, read
    through the parent (the application's role may read only that), one partition at a time."""
    with connection.cursor() as cur:
        cur.execute("""SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                       JOIN pg_class p ON p.oid = i.inhparent
                       WHERE p.relname = 'monitoring_activity' ORDER BY c.relname""")
        names = [name for (name,) in cur.fetchall()]
        for name in names:
            day = datetime.strptime(name.rsplit("_p", 1)[1], "%Y%m%d").replace(tzinfo=UTC)
            cur.execute("SELECT min(time) FROM monitoring_activity WHERE time >= %s AND time < %s",
                        [day, day + timedelta(days=1)])
            found: datetime | None = cur.fetchone()[0]
            if found is not None:
                return found
    return None


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def features_aggregate(*, agent_ids: Sequence[int], start: datetime, end: datetime,
                       stream_start: datetime) -> dict[str, dict[date, scoring.DayFeatures]]:
    """Daily features per agent (keys: the agent's id as text) from the rows of [start, end)."""
    out: dict[str, dict[date, scoring.DayFeatures]] = defaultdict(dict)
    if not agent_ids:
        return out
    stale_after = stream_start + timedelta(days=scoring.STALE_DAYS)
    with connection.cursor() as cur:
        cur.execute(sql_text("monitoring", "features/hourly", targets=ALL_AGENT_DAYS), {
            "start": start, "end": end, "agents": list(agent_ids), "stale_after": stale_after,
            "brief": scoring.BRIEF_CALL_S, "short": scoring.SHORT_CALL_S, "cap": scoring.EVIDENCE_CAP,
            "large": large_movement_threshold(), "near_weight": scoring.MONEY_NEAR_OOB_WEIGHT,
        })
        for row in cur.fetchall():
            (agent_id, day, hour, first_time, total, opens, reveals, stale, oob_hv, oob_clients, exports,
             export_rows, searches, calls, brief, short, hour_refs, open_refs, reveal_refs, stale_refs, oob_refs,
             export_refs, short_refs, money_near, oob_money_near) = row
            per_agent = out[str(agent_id)]
            f = per_agent.get(day)
            if f is None:
                f = per_agent[day] = scoring.DayFeatures(stale_known=first_time >= stale_after)
            c = f.counts
            c["opens"] += opens
            c["reveals"] += reveals
            c["stale"] += stale
            c["oob_hv"] += float(oob_hv)
            c["export_rows"] += float(export_rows) / scoring.EXPORT_UNIT
            c["searches"] += searches
            c["brief_calls"] += brief
            c["short_calls"] += short
            f.hours[hour] += total
            f.open_hours[hour] += opens
            f.stale_hours[hour] += stale
            f.hour_refs[hour] = [str(r) for r in hour_refs or ()]
            f.calls += calls
            f.long_calls += calls - short
            f.exports += exports
            f.money_near += money_near
            f.oob_money_near += oob_money_near
            f.export_rows += int(export_rows)
            f.oob_clients.update(str(cid) for cid in oob_clients)
            for signal, refs in (("opens", open_refs), ("reveals", reveal_refs), ("stale", stale_refs),
                                 ("oob_hv", oob_refs), ("export_rows", export_refs), ("short_calls", short_refs)):
                room = scoring.EVIDENCE_CAP - len(f.refs[signal])
                if refs and room > 0:
                    f.refs[signal].extend(str(r) for r in refs[:room])
    for per_agent in out.values():
        for features in per_agent.values():
            features.finish()
    return out


# --- stored features ----------------------------------------------------------------------------------


def _features_build(brand_id: int, *, agent_ids: Sequence[int], first: date, last: date, stream_start: datetime,
                    targets: Sequence[tuple[int, date]] | None = None) -> int:
    """Aggregate the agents' days of [first, last] (only the agent-days `targets`, when given) from the
    activity table into AgentDayFeatures, in one statement, replacing what was stored for them.
    Returns the number of agent-days written."""
    if not agent_ids or last < first:
        return 0
    params: dict[str, Any] = {
        "brand": brand_id, "start": _day_start(first), "end": _day_start(last + timedelta(days=1)),
        "agents": list(agent_ids), "stale_after": stream_start + timedelta(days=scoring.STALE_DAYS),
        "brief": scoring.BRIEF_CALL_S, "short": scoring.SHORT_CALL_S, "large": large_movement_threshold(),
        "near_weight": scoring.MONEY_NEAR_OOB_WEIGHT,
    }
    with connection.cursor() as cur:
        # the window function and the per-day grouping sort every row of the period: in memory, not
        # in temporary files (for this transaction only)
        cur.execute("SET LOCAL work_mem = '128MB'")
        if targets is None:
            cur.execute("DELETE FROM monitoring_agentdayfeatures WHERE agent_id = ANY(%s) AND day BETWEEN %s AND %s",
                        [list(agent_ids), first, last])
            cur.execute(sql_text("monitoring", "features/store", targets=ALL_AGENT_DAYS, **STORE_PARTS), params)
        else:
            params["t_agents"] = [a for a, _ in targets]
            params["t_days"] = [d for _, d in targets]
            cur.execute("""DELETE FROM monitoring_agentdayfeatures
                           WHERE (agent_id, day) IN (SELECT * FROM unnest(%s::bigint[], %s::date[]))""",
                        [params["t_agents"], params["t_days"]])
            cur.execute(sql_text("monitoring", "features/store", **STORE_PARTS), params)  # with _targets.sql
        return int(cur.rowcount)


def _features_changed(*, agent_ids: Sequence[int], first: date, before: date,
                      since: datetime | None) -> list[tuple[int, date]]:
    """The stored agent-days of [first, before) whose context changed since they were aggregated
    (sql/features/changed.sql)."""
    if not agent_ids or before <= first:
        return []
    with connection.cursor() as cur:
        cur.execute(sql_text("monitoring", "features/changed", **CHANGED_PARTS), {
            "agents": list(agent_ids), "first": first, "before": before, "large": large_movement_threshold(),
            # a movement committed by a transaction that began before the last pass is still seen
            "since": (since - RECORDING_LAG) if since is not None else datetime.min.replace(tzinfo=UTC),
        })
        return sorted(set(cur.fetchall()))


# Rows reach the activity table in batches (monitoring.recording): a day's features are final once
# aggregated this long after the day ended; until then every pass aggregates the day again.
RECORDING_LAG = timedelta(hours=2)


@dataclass
class FeaturesRefresh:
    days: int = 0          # days aggregated for all agents (the days not yet final)
    agent_days: int = 0    # agent-days written
    changed: int = 0       # agent-days aggregated again because their context changed
    rebuilt: bool = False  # everything aggregated again (first pass, or the history's start moved)


def features_refresh(brand_id: int, agents: Sequence[User], *, first: date, last: date, now: datetime,
                     stream_start: datetime, state: ScoringState, rebuild: bool = False) -> FeaturesRefresh:
    """Bring the stored daily features of the brand's agents for [first, last] up to date, aggregating
    only what is not final: every day from the first not yet final (normally yesterday and today), an
    agent's whole window the first time they are scored, and the agent-days whose context changed
    since (sql/features/changed.sql). Everything again when `rebuild`, on the first pass, or when the history's
    start moved (old partitions dropped: records untouched for 90 days count from it).
    The result equals aggregating the whole window from scratch."""
    ids = [a.pk for a in agents]
    out = FeaturesRefresh()
    final_before = state.features_final_before
    if final_before is None or state.features_stream_start != stream_start:
        rebuild = True
    known = set() if rebuild else {int(a) for a in state.features_agents or ()}
    open_from = first if rebuild or final_before is None else max(first, min(final_before, last + timedelta(days=1)))
    out.rebuilt = rebuild
    if not rebuild:
        changed = _features_changed(agent_ids=[i for i in ids if i in known], first=first, before=open_from,
                                    since=state.features_at)
        if changed:
            out.changed = len(changed)
            out.agent_days += _features_build(brand_id, agent_ids=sorted({a for a, _ in changed}),
                                              first=min(d for _, d in changed), last=max(d for _, d in changed),
                                              stream_start=stream_start, targets=changed)
        newcomers = [i for i in ids if i not in known]
        if newcomers:
            out.agent_days += _features_build(brand_id, agent_ids=newcomers, first=first,
                                              last=open_from - timedelta(days=1), stream_start=stream_start)
    out.days = max((last - open_from).days + 1, 0)
    out.agent_days += _features_build(brand_id, agent_ids=ids, first=open_from, last=last, stream_start=stream_start)
    # the window moved on, an agent left the brand: their stored days are no longer read
    AgentDayFeatures.objects.filter(brand_id=brand_id).filter(Q(day__lt=first) | ~Q(agent_id__in=ids)).delete()
    state.features_at = now
    state.features_final_before = min(last + timedelta(days=1), (now - RECORDING_LAG).astimezone(UTC).date())
    state.features_stream_start = stream_start
    state.features_agents = ids
    logger.info("features of brand %s: %s days aggregated, %s agent-days written (%s for a changed context)%s",
                brand_id, out.days, out.agent_days, out.changed, ", rebuilt" if out.rebuilt else "")
    return out


def _features_from_json(stored: Mapping[str, Any] | str) -> scoring.DayFeatures:
    data: Mapping[str, Any] = json_loads(stored) if isinstance(stored, str) else stored
    f = scoring.DayFeatures(stale_known=bool(data["stale_known"]))
    c = f.counts
    for name in ("opens", "reveals", "stale", "oob_hv", "searches", "brief_calls", "short_calls"):
        c[name] = float(data[name])
    c["export_rows"] = float(data["export_rows"]) / scoring.EXPORT_UNIT
    for target, name in ((f.hours, "hours"), (f.open_hours, "open_hours"), (f.stale_hours, "stale_hours")):
        for hour, n in data[name].items():
            target[int(hour)] = int(n)
    f.calls = int(data["calls"])
    f.long_calls = f.calls - int(data["short_calls"])
    f.exports, f.export_rows = int(data["exports"]), int(data["export_rows"])
    f.oob_clients = set(data["oob_clients"])
    f.money_near = int(data["money_near"])
    f.oob_money_near = int(data.get("oob_money_near", 0))
    f.finish()
    return f


def _features_load(agent_ids: Sequence[int], start: date, last: date) -> dict[str, dict[date, scoring.DayFeatures]]:
    """The stored daily features of the agents for [start, last] (keys: the agent's id as text)."""
    out: dict[str, dict[date, scoring.DayFeatures]] = defaultdict(dict)
    with connection.cursor() as cur:
        # the document as text: one orjson.loads each is quicker than the driver's per-value conversion
        cur.execute("""SELECT agent_id, day, data::text FROM monitoring_agentdayfeatures
                       WHERE agent_id = ANY(%s) AND day BETWEEN %s AND %s ORDER BY agent_id, day""",
                    [list(agent_ids), start, last])
        for agent_id, day, data in cur.fetchall():
            out[str(agent_id)][day] = _features_from_json(data)
    return out


def _with_refs(s: scoring.DayScore, stream_start: datetime) -> scoring.DayScore:
    """The day's event references (the evidence), aggregated again for this one agent-day: the stored
    features keep counts only. The off-hours references follow the hours the scoring found off."""
    fresh = features_aggregate(agent_ids=[int(s.agent)], start=_day_start(s.day),
                               end=_day_start(s.day + timedelta(days=1)), stream_start=stream_start)
    f = fresh.get(s.agent, {}).get(s.day)
    if f is None:
        return s
    s.features.refs = f.refs
    s.features.hour_refs = f.hour_refs
    if not s.offhours_refs and s.offhours_hours:
        s.offhours_refs = [r for h in s.offhours_hours for r in f.hour_refs[h]][:scoring.EVIDENCE_CAP]
    return s


# --- context -----------------------------------------------------------------------------------------


def brand_agents(brand: Brand | int) -> list[User]:
    """The brand's agents: sales and retention staff on one of its desks."""
    brand_id = brand if isinstance(brand, int) else brand.pk
    return list(User.objects.filter(desk__brand_id=brand_id, role__code__in=AGENT_ROLES)
                .select_related("desk", "role").order_by("pk"))


def brand_context(brand: Brand | int, *, agents: Sequence[User] | None = None,
                  as_of: date | None = None) -> scoring.Context:
    """What the managers recorded, as the scoring reads it (agents keyed by their id as text, desks by
    name). The shift in force on `as_of` (default today) is the agent's shift; its dated changes are
    kept, so each day is judged against the hours of that day."""
    brand_id = brand if isinstance(brand, int) else brand.pk
    agents = brand_agents(brand_id) if agents is None else agents
    as_of = as_of or timezone.now().date()
    ids = [a.pk for a in agents]
    first_seen = agents_first_seen(ids)
    notices = {n.agent_id: n for n in Notice.objects.filter(agent_id__in=ids, withdrawn_at__isnull=True)}
    shifts: dict[int, Shift] = {}
    history: dict[int, list[scoring.ShiftChange]] = defaultdict(list)
    for s in Shift.objects.filter(agent_id__in=ids, starts_on__lte=as_of).order_by("agent_id", "starts_on", "pk"):
        shifts[s.agent_id] = s
        history[s.agent_id].append(scoring.ShiftChange(since=s.starts_on, start=s.start_hour, end=s.end_hour % 24))
    infos: dict[str, scoring.AgentInfo] = {}
    for a in agents:
        notice = notices.get(a.pk)
        shift = shifts.get(a.pk)
        infos[str(a.pk)] = scoring.AgentInfo(
            id=str(a.pk), role=a.role_code or "", desk=a.desk.name if a.desk_id and a.desk else "",
            joined=_joined(a, first_seen.get(a.pk)),
            left=notice.last_day if notice is not None else None,
            notice_given=notice.given_on if notice is not None else None,
            notice_known_on=_recorded_on(notice.created_at) if notice is not None else None,
            shift_start=shift.start_hour if shift is not None else None,
            shift_end=shift.end_hour if shift is not None else None,
            shifts=tuple(history.get(a.pk, ())),
        )
    cover = [scoring.CoverPeriod(agent=str(c.agent_id), covers=str(c.covered_id), start=c.starts_on, end=c.ends_on,
                                 known_on=_recorded_on(c.created_at))
             for c in Cover.objects.filter(agent_id__in=ids)]
    leave = [scoring.LeavePeriod(agent=str(lv.agent_id), start=lv.starts_on, end=lv.ends_on,
                                 known_on=_recorded_on(lv.created_at))
             for lv in Leave.objects.filter(agent_id__in=ids)]
    campaigns: dict[tuple[str, date], date | None] = {(c.desk.name, c.day): _recorded_on(c.created_at)
                 for c in CampaignDay.objects.filter(brand_id=brand_id).select_related("desk")}
    holidays = set(Holiday.objects.filter(brand_id=brand_id).values_list("day", flat=True))
    return scoring.Context(agents=infos, cover=cover, leave=leave, campaign_days=campaigns, holidays=holidays)


def _recorded_on(created_at: datetime) -> date:
    """The UTC day a record was entered: the day its fact became known."""
    return created_at.astimezone(UTC).date()


def agents_first_seen(agent_ids: Sequence[int]) -> dict[int, date]:
    """Each agent's first day in the activity table (one index probe per agent)."""
    with connection.cursor() as cur:
        cur.execute("""SELECT a, (SELECT min(time) FROM monitoring_activity m WHERE m.agent_id = a)
                       FROM unnest(%s::bigint[]) AS a""", [list(agent_ids)])
        return {agent: first.astimezone(UTC).date() for agent, first in cur.fetchall() if first is not None}


def _joined(agent: User, first_seen: date | None) -> date | None:
    """The day the agent joined: their account's creation, unless their activity is older (an
    account brought over from another system): then unknown, and the scoring judges by the history."""
    joined = agent.date_joined.astimezone(UTC).date()
    if first_seen is not None and first_seen < joined:
        return None
    return joined


# --- passes ------------------------------------------------------------------------------------------


@dataclass
class PassReport:
    brand: int
    days: int = 0
    scored: int = 0
    alerted: int = 0
    raised: int = 0
    threshold: float | None = None
    aggregated_days: int = 0         # days aggregated from the activity table for all agents
    aggregated_agent_days: int = 0   # agent-days whose features were written


def _scored_detector(s: scoring.DayScore) -> str:
    """The pattern an alert names (what a benign decision quiets): the strongest signal's family;
    under notice, access to records or other books is a departure."""
    best = max(s.signals.values(), key=lambda r: r.score)
    family = scoring.FAMILY[best.signal]
    if s.watched and family in ("access", "relationship"):
        return "agent.departure"
    return {"access": "agent.bulk_access", "timing": "agent.off_hours", "relationship": "agent.out_of_book",
            "calls": "agent.call_padding"}[family]


def _evidence(s: scoring.DayScore, agent: User) -> list[dict[str, str]]:
    """Links to the day's activity page (every event of the day) and to the clients behind the
    strongest signals."""
    links = [{"label": f"All activity of {agent} on {s.day.isoformat()}",
              "url": reverse("monitoring_agent_day", args=[agent.code, s.day.isoformat()])}]
    ids: list[int] = []
    for refs in s.evidence().values():
        ids.extend(int(r) for r in refs if r.isdigit())
    if not ids:
        return links
    from crm.models import Client

    day_start = _day_start(s.day)
    with connection.cursor() as cur:
        cur.execute("""SELECT DISTINCT ON (client_id) client_id, kind, time FROM monitoring_activity
                       WHERE id = ANY(%s) AND time >= %s AND time < %s AND client_id IS NOT NULL
                       ORDER BY client_id, time""", [ids, day_start, day_start + timedelta(days=1)])
        found = cur.fetchall()
    codes = dict(Client.objects.filter(pk__in=[r[0] for r in found]).values_list("pk", "code"))
    for client_id, kind, at in sorted(found, key=lambda r: r[2])[:EVIDENCE_LINKS]:
        if client_id in codes:
            links.append({"label": f"{kind.replace('_', ' ')} at {at.astimezone(UTC):%H:%M} UTC: client "
                                   f"{str(codes[client_id])[:8]}",
                          "url": reverse("client_detail", args=[codes[client_id]])})
    return links


def _desk_thresholds(agents: Sequence[User], *, budget: float) -> dict[str, scoring.Thresholds]:
    """The thresholds of the agents whose desk has its own alert budget (monitoring.review), by agent id
    as text; the others are alerted at the brand's."""
    from monitoring.review.selectors import desk_thresholds

    by_desk = desk_thresholds()
    return {str(a.pk): scoring.Thresholds(normal=by_desk[a.desk_id][0], watched=by_desk[a.desk_id][1], budget=budget)
            for a in agents if a.desk_id in by_desk}


def _persist(brand_id: int, scores: Iterable[scoring.DayScore], thresholds: scoring.Thresholds, *,
             since: date, raise_since: date | None, stream_start: datetime, only_agents: set[str] | None = None,
             per_agent: Mapping[str, scoring.Thresholds] | None = None) -> PassReport:
    report = PassReport(brand=brand_id, threshold=thresholds.normal)
    rows: list[dict[str, Any]] = []
    to_raise = []
    for s in scores:
        if s.day < since:
            continue
        report.scored += 1
        report.alerted += int(s.alerted)
        rows.append({"agent": int(s.agent), "day": s.day, "score": s.score,
                     "threshold": scoring.threshold_of(s, thresholds, per_agent), "alerted": s.alerted,
                     "reasons": s.reasons, "signals": {k: round(v, 3) for k, v in s.features.counts.items()}})
        if s.alerted and raise_since is not None and s.day >= raise_since and (
                only_agents is None or s.agent in only_agents):
            to_raise.append(s)
    _scores_write(brand_id, rows)
    agents = {a.pk: a for a in User.objects.filter(pk__in=[int(s.agent) for s in to_raise]).select_related("desk")}
    for s in to_raise:
        s = _with_refs(s, stream_start)  # noqa: PLW2901 - the same day, with its references
        agent = agents[int(s.agent)]
        alert = raise_alert(brand=brand_id, subject_kind="agent", detector=_scored_detector(s), day=s.day,
                            score=s.score, reasons=s.reasons or scoring.reasons_for(s), evidence=_evidence(s, agent),
                            agent=agent)
        report.raised += int(alert is not None)
    return report


# Every scored agent-day of the pass in a few statements, the rows as one JSON parameter each (orjson
# writes it in C; arrays, one per column, were quoted element by element in Python). The document is
# json, not jsonb: each number reaches its float8 column as written (a score of -0.0 stays -0.0).
_SCORES_UPSERT = """
INSERT INTO monitoring_agentdayscore (brand_id, agent_id, day, score, threshold, alerted, reasons, signals, computed_at)
SELECT %(brand)s, s.agent, s.day, s.score, s.threshold, s.alerted, s.reasons, s.signals, %(now)s
FROM json_to_recordset(%(rows)s::json)
  AS s(agent bigint, day date, score float8, threshold float8, alerted boolean, reasons jsonb, signals jsonb)
ON CONFLICT (agent_id, day) DO UPDATE
SET brand_id = EXCLUDED.brand_id, score = EXCLUDED.score, threshold = EXCLUDED.threshold, alerted = EXCLUDED.alerted,
    reasons = EXCLUDED.reasons, signals = EXCLUDED.signals, computed_at = EXCLUDED.computed_at
"""
SCORES_WRITE_BATCH = 20_000


def _scores_write(brand_id: int, rows: Sequence[Mapping[str, Any]]) -> None:
    now = timezone.now()
    with connection.cursor() as cur:
        for i in range(0, len(rows), SCORES_WRITE_BATCH):
            cur.execute(_SCORES_UPSERT, {"brand": brand_id, "now": now,
                                         "rows": json_dumps(rows[i:i + SCORES_WRITE_BATCH]).decode()})


def _budget(brand_id: int) -> float:
    return float(monitoring_settings_for(brand_id).alert_budget)  # a rate, not money


@transaction.atomic
def brand_rescore(brand: Brand | int, *, today: date | None = None, raise_since: date | None = None,
                  only_agents: set[str] | None = None, now: datetime | None = None,
                  rebuild: bool = False) -> PassReport:
    """The nightly rescore: the stored daily features brought up to date (only the days not yet
    final and the agent-days whose context changed are aggregated from the activity table; all of
    them when `rebuild`), every agent-day of the window scored again from them, thresholds
    recalibrated to the brand's alert budget, the scores rewritten; alerts raised for the alerted
    days from `raise_since` (default: yesterday) of `only_agents` (default: all)."""
    brand_id = brand if isinstance(brand, int) else brand.pk
    now = now or timezone.now()
    today = today or now.date()
    agents = brand_agents(brand_id)
    stream_start = history_start()
    state, _ = ScoringState.objects.select_for_update().get_or_create(brand_id=brand_id)
    if stream_start is None or not agents:
        return PassReport(brand=brand_id)
    first = max(today - timedelta(days=SCORING_WINDOW_DAYS), stream_start.astimezone(UTC).date())
    refreshed = features_refresh(brand_id, agents, first=first, last=today, now=now, stream_start=stream_start,
                                 state=state, rebuild=rebuild)
    with _gc_paused():
        features = _timed("features loaded", _features_load, [a.pk for a in agents], first, today)
        report = _score_and_persist(brand_id, agents, features, first=first, last=today, since=first,
                                    raise_since=raise_since or today - timedelta(days=1), only_agents=only_agents,
                                    calibrate=True, state=state, stream_start=stream_start)
    report.aggregated_days, report.aggregated_agent_days = refreshed.days, refreshed.agent_days
    state.watermark = now
    state.rescored_at = state.watermark
    state.save()
    return report


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """A pass builds some hundred thousand small objects (features, scores) that all live until it
    ends: the cyclic collector would walk them over and over for nothing (it tripled the scoring's
    time). Paused for the pass; what the pass leaves is reclaimed by reference counting."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _timed[T](what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    started = timezone.now()
    out = fn(*args, **kwargs)
    logger.info("%s in %.1f s", what, (timezone.now() - started).total_seconds())
    return out


def _score_and_persist(brand_id: int, agents: Sequence[User], features: Mapping[str, Mapping[date, scoring.DayFeatures]],
                       *, first: date, last: date, since: date, raise_since: date | None,
                       only_agents: set[str] | None, calibrate: bool, state: ScoringState,
                       stream_start: datetime) -> PassReport:
    if not features:
        return PassReport(brand=brand_id)
    # the records as known now, for every day of the window (the rescore of the window as of today; the
    # days raised are today's and yesterday's, and a notice's re-review)
    context = brand_context(brand_id, agents=agents, as_of=last).all_known()
    scores = _timed("scored", scoring.score_features, features, context, first, last)
    if calibrate or state.threshold is None:
        # on the days before the last: the day still running is not calibrated on
        thresholds = scoring.calibrate([s for s in scores if s.day < last] or scores, _budget(brand_id))
        state.threshold, state.notice_threshold = thresholds.normal, thresholds.watched
    else:
        thresholds = scoring.Thresholds(normal=state.threshold, watched=state.notice_threshold or state.threshold,
                                        budget=_budget(brand_id))
    per_agent = _desk_thresholds(agents, budget=thresholds.budget)
    scoring.apply_thresholds(scores, thresholds, per_agent)
    report = _timed("scores written", _persist, brand_id, scores, thresholds, since=since, raise_since=raise_since,
                    only_agents=only_agents, per_agent=per_agent, stream_start=stream_start)
    report.days = (last - first).days + 1
    return report


@transaction.atomic
def brand_score_hourly(brand: Brand | int, *, now: datetime | None = None) -> PassReport:
    """The hourly pass: the stored features brought up to date (the days not yet final: normally
    today's rows so far), every day scored on them at the thresholds of the last nightly rescore, the
    scores of the days since the watermark written and their alerts raised."""
    brand_id = brand if isinstance(brand, int) else brand.pk
    now = now or timezone.now()
    state, _ = ScoringState.objects.select_for_update().get_or_create(brand_id=brand_id)
    if state.watermark is None or state.threshold is None:
        return brand_rescore(brand_id, today=now.date(), now=now)
    agents = brand_agents(brand_id)
    stream_start = history_start()
    if stream_start is None or not agents:
        return PassReport(brand=brand_id)
    since = min(state.watermark.astimezone(UTC).date(), now.date())
    first = max(now.date() - timedelta(days=SCORING_WINDOW_DAYS), stream_start.astimezone(UTC).date())
    refreshed = features_refresh(brand_id, agents, first=first, last=now.date(), now=now, stream_start=stream_start,
                                 state=state)
    with _gc_paused():
        features = _features_load([a.pk for a in agents], first, now.date())
        report = _score_and_persist(brand_id, agents, features, first=first, last=now.date(), since=since,
                                    raise_since=since, only_agents=None, calibrate=False, state=state,
                                    stream_start=stream_start)
    report.aggregated_days, report.aggregated_agent_days = refreshed.days, refreshed.agent_days
    state.watermark = now
    state.save()
    return report


def agent_notice_rescore(*, agent_id: int) -> PassReport:
    """A notice was entered: the agent's last 30 days scored again at the lower threshold, their
    alerts raised."""
    agent = User.objects.select_related("desk").get(pk=agent_id)
    desk = agent.desk
    if desk is None:
        return PassReport(brand=0)
    today = timezone.now().date()
    return brand_rescore(desk.brand_id, today=today, raise_since=today - timedelta(days=NOTICE_RESCORE_DAYS),
                         only_agents={str(agent_id)})


def brands_with_agents() -> list[int]:
    return list(Brand.objects.filter(Q(desks__members__role__code__in=AGENT_ROLES)).values_list("pk", flat=True)
                .distinct())
