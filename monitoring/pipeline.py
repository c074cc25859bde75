"""The product's scoring: the activity table and the context models through monitoring.scoring.

- Features per agent-day come from one set-based SQL aggregation per agent-hour over the activity
  table (`_HOURLY_SQL`): counts per kind, records untouched for 90 days (the client's previous touch
  by anyone, looked up on the client index), out-of-book high-value accesses net of recorded cover,
  short calls, and the first references per signal for the evidence. Python only folds at most 24
  rows per agent-day into `scoring.DayFeatures`.
- The nightly rescore (`brand_rescore`) aggregates the whole window (SCORING_WINDOW_DAYS), keeps
  the features per agent-day (AgentDayFeatures), recalibrates the thresholds to the brand's alert
  budget and rewrites every agent-day score.
- The hourly pass (`brand_score_hourly`) aggregates only the days since the watermark, scores them
  on the stored features of the days before, and raises the day's alerts through raise_alert.
- Entering a notice rescores the agent's last 30 days at the lower threshold (`agent_notice_rescore`).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from crm.models import Brand, RoleCode, User
from monitoring import scoring
from monitoring.models import (
    AgentDayFeatures,
    AgentDayScore,
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

logger = logging.getLogger(__name__)

SCORING_WINDOW_DAYS = 180
NOTICE_RESCORE_DAYS = scoring.NOTICE_LOOKBACK_DAYS
AGENT_ROLES = (RoleCode.SALES_AGENT, RoleCode.RETENTION_AGENT)
EVIDENCE_LINKS = 8

# Per agent-hour. `stale`: an access whose client nobody touched in the 90 days before (and the
# history reaches back 90 days); `oob`: a high-value client of another agent's book without cover.
# Ties in time are ordered by id, as the export orders its lines.
# The days around each large deposit or withdrawal (the day before to three days after), per client,
# for the activity of [start, end); MONEY_NEAR: whether the access `a` falls on one of its client's.
MONEY_DAYS_CTE = """money AS (
    SELECT DISTINCT m.client_id, (m.occurred_at AT TIME ZONE 'UTC')::date + g AS day
    FROM wallet_public_client_movements m, generate_series(-1, 3) AS g
    WHERE m.kind IN ('deposit', 'withdrawal') AND abs(m.amount) >= %(large)s
      AND m.occurred_at >= %(start)s - interval '3 days' AND m.occurred_at < %(end)s + interval '1 day'
)"""
MONEY_NEAR = """(a.kind IN ('client_open', 'pii_reveal') AND a.client_id IS NOT NULL
     AND EXISTS (SELECT 1 FROM money n WHERE n.client_id = a.client_id AND n.day = (a.time AT TIME ZONE 'UTC')::date))"""

_HOURLY_SQL = """
WITH """ + MONEY_DAYS_CTE + """,
acc AS (
    SELECT a.*, """ + MONEY_NEAR + """ AS money_near
    FROM monitoring_activity a
    WHERE a.time >= %(start)s AND a.time < %(end)s AND a.agent_id = ANY(%(agents)s)
),
ev AS (
    SELECT a.id, a.time, a.agent_id, a.kind, a.client_id, a.client_owner_id, a.client_high_value, a.rows,
           a.duration_s, a.money_near,
           (a.kind IN ('client_open', 'pii_reveal') AND a.client_id IS NOT NULL AND NOT a.money_near
            AND a.time >= %(stale_after)s
            AND NOT EXISTS (SELECT 1 FROM monitoring_activity p
                            WHERE p.client_id = a.client_id AND p.time > a.time - interval '90 days'
                              AND (p.time, p.id) < (a.time, a.id))) AS stale,
           (a.kind IN ('client_open', 'pii_reveal') AND a.client_id IS NOT NULL AND a.client_high_value
            AND a.client_owner_id IS NOT NULL AND a.client_owner_id <> a.agent_id AND NOT a.money_near
            AND NOT EXISTS (SELECT 1 FROM monitoring_cover c
                            WHERE c.agent_id = a.agent_id AND c.covered_id = a.client_owner_id
                              AND (a.time AT TIME ZONE 'UTC')::date BETWEEN c.starts_on AND c.ends_on)) AS oob
    FROM acc a
)
SELECT agent_id, (time AT TIME ZONE 'UTC')::date AS day, extract(hour FROM time AT TIME ZONE 'UTC')::int AS hour,
       min(time) AS first_time,
       count(*) AS total,
       count(*) FILTER (WHERE kind = 'client_open' AND client_id IS NOT NULL) AS opens,
       count(*) FILTER (WHERE kind = 'pii_reveal' AND client_id IS NOT NULL) AS reveals,
       count(*) FILTER (WHERE stale) AS stale,
       count(*) FILTER (WHERE oob) AS oob_hv,
       coalesce(array_agg(DISTINCT client_id) FILTER (WHERE oob), '{}') AS oob_clients,
       count(*) FILTER (WHERE kind = 'export') AS exports,
       coalesce(sum(coalesce(rows, 0)) FILTER (WHERE kind = 'export'), 0) AS export_rows,
       count(*) FILTER (WHERE kind = 'search') AS searches,
       count(*) FILTER (WHERE kind = 'call') AS calls,
       count(*) FILTER (WHERE kind = 'call' AND coalesce(duration_s, 0) <= %(brief)s) AS brief_calls,
       count(*) FILTER (WHERE kind = 'call' AND coalesce(duration_s, 0) <= %(short)s) AS short_calls,
       (array_agg(id ORDER BY time, id))[1:20] AS hour_refs,
       (array_agg(id ORDER BY time, id) FILTER (WHERE kind = 'client_open' AND client_id IS NOT NULL))[1:%(cap)s]
           AS open_refs,
       (array_agg(id ORDER BY time, id) FILTER (WHERE kind = 'pii_reveal' AND client_id IS NOT NULL))[1:%(cap)s]
           AS reveal_refs,
       (array_agg(id ORDER BY time, id) FILTER (WHERE stale))[1:%(cap)s] AS stale_refs,
       (array_agg(id ORDER BY time, id) FILTER (WHERE oob))[1:%(cap)s] AS oob_refs,
       (array_agg(id ORDER BY time, id) FILTER (WHERE kind = 'export'))[1:%(cap)s] AS export_refs,
       (array_agg(id ORDER BY time, id) FILTER (WHERE kind = 'call' AND coalesce(duration_s, 0) <= %(short)s))
           [1:%(cap)s] AS short_refs,
       count(*) FILTER (WHERE money_near) AS money_near
FROM ev
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3
"""  # noqa: S608 - constants only


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
            found = cur.fetchone()[0]
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
        cur.execute(_HOURLY_SQL, {
            "start": start, "end": end, "agents": list(agent_ids), "stale_after": stale_after,
            "brief": scoring.BRIEF_CALL_S, "short": scoring.SHORT_CALL_S, "cap": scoring.EVIDENCE_CAP,
            "large": large_movement_threshold(),
        })
        for row in cur.fetchall():
            (agent_id, day, hour, first_time, total, opens, reveals, stale, oob_hv, oob_clients, exports,
             export_rows, searches, calls, brief, short, hour_refs, open_refs, reveal_refs, stale_refs, oob_refs,
             export_refs, short_refs, money_near) = row
            per_agent = out[str(agent_id)]
            f = per_agent.get(day)
            if f is None:
                f = per_agent[day] = scoring.DayFeatures(stale_known=first_time >= stale_after)
            c = f.counts
            c["opens"] += opens
            c["reveals"] += reveals
            c["stale"] += stale
            c["oob_hv"] += oob_hv
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
            f.export_rows += int(export_rows)
            f.oob_clients.update(str(cid) for cid in oob_clients)
            for signal, refs in (("opens", open_refs), ("reveals", reveal_refs), ("stale", stale_refs),
                                 ("oob_hv", oob_refs), ("export_rows", export_refs), ("short_calls", short_refs)):
                room = scoring.EVIDENCE_CAP - len(f.refs[signal])
                if refs and room > 0:
                    f.refs[signal].extend(str(r) for r in refs[:room])
    for per_agent in out.values():
        for f in per_agent.values():
            _finish(f)
    return out


def _finish(f: scoring.DayFeatures) -> None:
    """The busiest three hours of opens and the day's total, as scoring.extract_features computes them."""
    best, start = 0, 0
    oh = f.open_hours
    for h in range(22):
        window = oh[h] + oh[h + 1] + oh[h + 2]
        if window > best:
            best, start = window, h
    f.counts["burst"] = best
    f.counts["total"] = float(sum(f.hours))
    f.burst_start = start


# --- stored features ----------------------------------------------------------------------------------


def _features_to_json(f: scoring.DayFeatures) -> dict[str, Any]:
    return {"counts": f.counts, "hours": f.hours, "open_hours": f.open_hours, "stale_hours": f.stale_hours,
            "calls": f.calls, "long_calls": f.long_calls, "exports": f.exports, "export_rows": f.export_rows,
            "oob_clients": sorted(f.oob_clients), "burst_start": f.burst_start, "stale_known": f.stale_known,
            "money_near": f.money_near}


def _features_from_json(data: Mapping[str, Any]) -> scoring.DayFeatures:
    f = scoring.DayFeatures(stale_known=bool(data.get("stale_known")))
    f.counts.update({k: float(v) for k, v in data["counts"].items()})
    f.hours = list(data["hours"])
    f.open_hours = list(data["open_hours"])
    f.stale_hours = list(data["stale_hours"])
    f.calls, f.long_calls = int(data["calls"]), int(data["long_calls"])
    f.exports, f.export_rows = int(data["exports"]), int(data["export_rows"])
    f.oob_clients = set(data.get("oob_clients") or ())
    f.burst_start = int(data.get("burst_start") or 0)
    f.money_near = int(data.get("money_near") or 0)
    return f


def _features_store(brand_id: int, features: Mapping[str, Mapping[date, scoring.DayFeatures]],
                    since: date) -> None:
    rows = [AgentDayFeatures(brand_id=brand_id, agent_id=int(agent), day=day, data=_features_to_json(f))
            for agent, days in features.items() for day, f in days.items() if day >= since]
    AgentDayFeatures.objects.filter(brand_id=brand_id, day__gte=since).exclude(
        agent_id__in=[int(a) for a in features]).delete()
    AgentDayFeatures.objects.bulk_create(rows, batch_size=2000, update_conflicts=True,
                                         unique_fields=["agent", "day"], update_fields=["data", "brand"])


def _features_load(brand_id: int, agent_ids: Sequence[int], start: date,
                   before: date) -> dict[str, dict[date, scoring.DayFeatures]]:
    out: dict[str, dict[date, scoring.DayFeatures]] = defaultdict(dict)
    for agent_id, day, data in AgentDayFeatures.objects.filter(
            agent_id__in=agent_ids, day__gte=start, day__lt=before).values_list("agent_id", "day", "data").iterator(
            chunk_size=5000):
        out[str(agent_id)][day] = _features_from_json(data)
    return out


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
    history: dict[int, list[tuple[date, int, int]]] = defaultdict(list)
    for s in Shift.objects.filter(agent_id__in=ids, starts_on__lte=as_of).order_by("agent_id", "starts_on", "pk"):
        shifts[s.agent_id] = s
        history[s.agent_id].append((s.starts_on, s.start_hour, s.end_hour % 24))
    infos: dict[str, scoring.AgentInfo] = {}
    for a in agents:
        notice = notices.get(a.pk)
        shift = shifts.get(a.pk)
        infos[str(a.pk)] = scoring.AgentInfo(
            id=str(a.pk), role=a.role_code or "", desk=a.desk.name if a.desk_id and a.desk else "",
            joined=_joined(a, first_seen.get(a.pk)),
            left=notice.last_day if notice is not None else None,
            notice_given=notice.given_on if notice is not None else None,
            shift_start=shift.start_hour if shift is not None else None,
            shift_end=shift.end_hour if shift is not None else None,
            shifts=tuple(history.get(a.pk, ())),
        )
    cover = [(str(c.agent_id), str(c.covered_id), c.starts_on, c.ends_on)
             for c in Cover.objects.filter(agent_id__in=ids)]
    leave = [(str(lv.agent_id), lv.starts_on, lv.ends_on) for lv in Leave.objects.filter(agent_id__in=ids)]
    campaigns = {(c.desk.name, c.day) for c in CampaignDay.objects.filter(brand_id=brand_id).select_related("desk")}
    holidays = set(Holiday.objects.filter(brand_id=brand_id).values_list("day", flat=True))
    return scoring.Context(agents=infos, cover=cover, leave=leave, campaign_days=campaigns, holidays=holidays)


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
             since: date, raise_since: date | None, only_agents: set[str] | None = None,
             per_agent: Mapping[str, scoring.Thresholds] | None = None) -> PassReport:
    report = PassReport(brand=brand_id, threshold=thresholds.normal)
    now = timezone.now()
    rows = []
    to_raise = []
    for s in scores:
        if s.day < since:
            continue
        report.scored += 1
        report.alerted += int(s.alerted)
        rows.append(AgentDayScore(
            brand_id=brand_id, agent_id=int(s.agent), day=s.day, score=s.score,
            threshold=scoring.threshold_of(s, thresholds, per_agent), alerted=s.alerted,
            reasons=s.reasons, signals={k: round(v, 3) for k, v in s.features.counts.items()}, computed_at=now))
        if s.alerted and raise_since is not None and s.day >= raise_since and (
                only_agents is None or s.agent in only_agents):
            to_raise.append(s)
    AgentDayScore.objects.bulk_create(rows, batch_size=2000, update_conflicts=True, unique_fields=["agent", "day"],
                                      update_fields=["score", "threshold", "alerted", "reasons", "signals",
                                                     "computed_at", "brand"])
    agents = {a.pk: a for a in User.objects.filter(pk__in=[int(s.agent) for s in to_raise]).select_related("desk")}
    for s in to_raise:
        agent = agents[int(s.agent)]
        alert = raise_alert(brand=brand_id, subject_kind="agent", detector=_scored_detector(s), day=s.day,
                            score=s.score, reasons=s.reasons or scoring.reasons_for(s), evidence=_evidence(s, agent),
                            agent=agent)
        report.raised += int(alert is not None)
    return report


def _budget(brand_id: int) -> float:
    return float(monitoring_settings_for(brand_id).alert_budget)  # a rate, not money


@transaction.atomic
def brand_rescore(brand: Brand | int, *, today: date | None = None, raise_since: date | None = None,
                  only_agents: set[str] | None = None) -> PassReport:
    """The nightly rescore: every agent-day of the window from the activity table again, thresholds
    recalibrated to the brand's alert budget, the scores rewritten; alerts raised for the alerted
    days from `raise_since` (default: yesterday) of `only_agents` (default: all)."""
    brand_id = brand if isinstance(brand, int) else brand.pk
    today = today or timezone.now().date()
    agents = brand_agents(brand_id)
    stream_start = history_start()
    state, _ = ScoringState.objects.select_for_update().get_or_create(brand_id=brand_id)
    if stream_start is None or not agents:
        return PassReport(brand=brand_id)
    first = max(today - timedelta(days=SCORING_WINDOW_DAYS), stream_start.astimezone(UTC).date())
    end = _day_start(today + timedelta(days=1))
    features = features_aggregate(agent_ids=[a.pk for a in agents], start=_day_start(first), end=end,
                                  stream_start=stream_start)
    _features_store(brand_id, features, first)
    report = _score_and_persist(brand_id, agents, features, first=first, last=today, since=first,
                                raise_since=raise_since or today - timedelta(days=1), only_agents=only_agents,
                                calibrate=True, state=state)
    state.watermark = timezone.now()
    state.rescored_at = state.watermark
    state.save()
    return report


def _score_and_persist(brand_id: int, agents: Sequence[User], features: Mapping[str, Mapping[date, scoring.DayFeatures]],
                       *, first: date, last: date, since: date, raise_since: date | None,
                       only_agents: set[str] | None, calibrate: bool, state: ScoringState) -> PassReport:
    if not features:
        return PassReport(brand=brand_id)
    context = brand_context(brand_id, agents=agents, as_of=last)
    scores = scoring.score_features(features, context, first, last)
    if calibrate or state.threshold is None:
        thresholds = scoring.calibrate(scores, _budget(brand_id))
        state.threshold, state.notice_threshold = thresholds.normal, thresholds.watched
    else:
        thresholds = scoring.Thresholds(normal=state.threshold, watched=state.notice_threshold or state.threshold,
                                        budget=_budget(brand_id))
    per_agent = _desk_thresholds(agents, budget=thresholds.budget)
    scoring.apply_thresholds(scores, thresholds, per_agent)
    report = _persist(brand_id, scores, thresholds, since=since, raise_since=raise_since, only_agents=only_agents,
                      per_agent=per_agent)
    report.days = (last - first).days + 1
    return report


@transaction.atomic
def brand_score_hourly(brand: Brand | int, *, now: datetime | None = None) -> PassReport:
    """The hourly pass: the days since the watermark aggregated again (only their rows), scored on the
    stored features of the days before, their scores written and their alerts raised."""
    brand_id = brand if isinstance(brand, int) else brand.pk
    now = now or timezone.now()
    state, _ = ScoringState.objects.select_for_update().get_or_create(brand_id=brand_id)
    if state.watermark is None or state.threshold is None:
        return brand_rescore(brand_id, today=now.date())
    agents = brand_agents(brand_id)
    stream_start = history_start()
    if stream_start is None or not agents:
        return PassReport(brand=brand_id)
    since = min(state.watermark.astimezone(UTC).date(), now.date())
    first = max(now.date() - timedelta(days=SCORING_WINDOW_DAYS), stream_start.astimezone(UTC).date())
    ids = [a.pk for a in agents]
    features = _features_load(brand_id, ids, first, since)
    fresh = features_aggregate(agent_ids=ids, start=_day_start(since), end=now, stream_start=stream_start)
    for agent, days in fresh.items():
        features.setdefault(agent, {}).update(days)
    _features_store(brand_id, fresh, since)
    report = _score_and_persist(brand_id, agents, features, first=first, last=now.date(), since=since,
                                raise_since=since, only_agents=None, calibrate=False, state=state)
    state.watermark = now
    state.save(update_fields=["watermark", "threshold", "notice_threshold"])
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
