"""A synthetic desk for tuning and testing the behaviour scoring: agents, their books, six months of
activity with benign confounders, and injected anomalies of each detector's kind at two intensities.

Pure Python (no Django): the scenario benchmark, the tests and the demo seed use it.

Benign confounders: campaign days per desk (more opens and calls), overtime evenings, leave with a
colleague covering the book (recorded cover), holidays, newcomers ramping up, shift changes in the
middle of the period, reporting-heavy agents (many large exports), retention agents who open other
books' clients as part of their role.

Injected kinds (labelled agent-days): bulk_access (a burst of opens, half of them stale records),
departure (notice given, then exports and stale opens on several days before the last day),
offhours (activity at night or on a day off), oob_high_value (other books' high-value clients without
cover), call_padding (dozens of calls of a few seconds). Intensities: "low" and "high".
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from monitoring.scoring import Event

KINDS_INJECTED = ("bulk_access", "departure", "offhours", "oob_high_value", "call_padding")


@dataclass
class Scenario:
    events: list[Event]
    context: dict[str, Any]
    labels: dict[tuple[str, date], tuple[str, str]]       # (agent, day) -> (kind, intensity)
    newcomer_days: set[tuple[str, date]] = field(default_factory=set)
    start: date = date(2026, 1, 5)
    days: int = 182


@dataclass
class _Agent:
    id: str
    role: str
    desk: str
    shift: tuple[int, int]
    level: float
    calls: float
    short_share: float
    exports: float
    export_rows: float
    joined: date | None = None
    left: date | None = None
    notice: date | None = None
    shift_change: tuple[date, tuple[int, int]] | None = None
    overtime: float = 0.04
    saturday: bool = False
    book: list[str] = field(default_factory=list)
    hot: list[str] = field(default_factory=list)


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _nb(rng: random.Random, mean: float, size: float = 6.0) -> int:
    return _poisson(rng, mean * rng.gammavariate(size, 1.0 / size))


def generate(*, agents: int = 80, days: int = 182, seed: int = 7, injections_per_kind: int = 8,  # noqa: C901 - one branch per confounder, in the order the seeded generator draws them
             start: date = date(2026, 1, 5), shift_history: bool = False) -> Scenario:
    """`shift_history`: the context also holds each shift change with its date (as the product's own
    records give it); without, only the shift in force at the end, as a bare CONTEXT.json may."""
    rng = random.Random(seed)
    # the times facts became known and the clients' large movements: a stream of their own, so the
    # activity drawn from `rng` stays what it was
    known_rng = random.Random(seed * 7919 + 1)
    desks = [f"desk-{i}" for i in range(1, max(2, agents // 20) + 1)]
    end = start + timedelta(days=days - 1)
    holidays = {start + timedelta(days=d) for d in (26, 95, 140) if d < days}
    campaign_days = {(desk, start + timedelta(days=d)) for desk in desks
                     for d in rng.sample(range(days), k=min(8, days)) if (start + timedelta(days=d)).weekday() < 5}
    roster: list[_Agent] = []
    client_owner: dict[str, str] = {}
    high_value: set[str] = set()
    for i in range(agents):
        role = "retention" if i % 10 in (3, 7, 8) else "sales"
        desk = desks[i % len(desks)]
        shift = rng.choice([(8, 17), (9, 18), (9, 18), (10, 19), (12, 21), (6, 15)])
        a = _Agent(id=f"agent-{i:03d}", role=role, desk=desk, shift=shift,
                   level=rng.lognormvariate(0, 0.35), calls=rng.lognormvariate(0, 0.3),
                   short_share=rng.uniform(0.05, 0.25), exports=0.15, export_rows=40.0,
                   overtime=rng.choice([0.0, 0.03, 0.06, 0.12]), saturday=rng.random() < 0.1)
        if i % 12 == 5:      # reporting-heavy
            a.exports, a.export_rows = 2.5, 400.0
        if i % 9 == 4:       # newcomer
            a.joined = start + timedelta(days=rng.randint(30, days - 45))
        if i % 10 == 6:      # shift change half way
            a.shift_change = (start + timedelta(days=rng.randint(40, days - 40)),
                              ((shift[0] + 4) % 24, (shift[1] + 4) % 24))
        for c in range(rng.randint(150, 400)):
            cid = f"c-{i:03d}-{c:04d}"
            a.book.append(cid)
            client_owner[cid] = a.id
            if rng.random() < 0.08:
                high_value.add(cid)
        a.hot = a.book[:60]
        roster.append(a)
    # large deposits and withdrawals: a few clients of each book, on a day of the period
    movements: dict[str, list[date]] = {}
    for a in roster:
        for cid in a.book:
            if known_rng.random() < 0.03:
                movements[cid] = [start + timedelta(days=known_rng.randrange(days))]
    by_desk: dict[str, list[_Agent]] = {}
    for a in roster:
        by_desk.setdefault(a.desk, []).append(a)

    # leave and cover
    leave: list[tuple[str, date, date]] = []
    cover: list[tuple[str, str, date, date]] = []
    on_leave: dict[str, list[tuple[date, date]]] = {}
    covering: dict[str, list[tuple[str, date, date]]] = {}
    for a in roster:
        if rng.random() < 0.6:
            for _ in range(rng.randint(1, 2)):
                s = start + timedelta(days=rng.randint(10, days - 20))
                e = s + timedelta(days=rng.randint(4, 11))
                leave.append((a.id, s, e))
                on_leave.setdefault(a.id, []).append((s, e))
                mates = [m for m in by_desk[a.desk] if m.id != a.id]
                mate = rng.choice(mates)
                cover.append((mate.id, a.id, s, e))
                covering.setdefault(mate.id, []).append((a.id, s, e))

    events: list[Event] = []
    labels: dict[tuple[str, date], tuple[str, str]] = {}
    newcomer_days: set[tuple[str, date]] = set()
    ref = 0

    def emit(t: datetime, agent: _Agent, kind: str, client: str = "", rows: int = 0, duration: float = 0.0) -> None:
        nonlocal ref
        ref += 1
        owner = client_owner.get(client, "")
        day = t.date()
        near = any(moved - timedelta(days=1) <= day <= moved + timedelta(days=3) for moved in movements.get(client, ()))
        events.append(Event(time=t, agent=agent.id, kind=kind, client=client, client_owner=owner,
                            client_high_value=client in high_value, rows=rows, duration_s=duration, ref=str(ref),
                            money_near=near))

    def at(day: date, hour: float) -> datetime:
        hour = max(0.0, min(hour, 23.999))
        return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(hours=hour)

    # injections planned up front
    plan: dict[tuple[str, date], tuple[str, str]] = {}
    candidates = [a for a in roster if a.joined is None]
    rng.shuffle(candidates)
    pick = iter(candidates * 3)
    departures: list[_Agent] = []
    for kind in KINDS_INJECTED:
        for n in range(injections_per_kind):
            intensity = "low" if n % 2 == 0 else "high"
            a = next(pick)
            if kind == "departure":
                if a in departures or a.left:
                    a = next(pick)
                a.left = start + timedelta(days=rng.randint(int(days * 0.55), days - 2))
                a.notice = a.left - timedelta(days=rng.randint(14, 30)) if n % 4 != 3 else None
                departures.append(a)
                for back in rng.sample(range(1, 12), k=3):
                    d = a.left - timedelta(days=back)
                    if d.weekday() < 5:
                        plan[(a.id, d)] = (kind, intensity)
                continue
            for _ in range(20):
                d = start + timedelta(days=rng.randint(35, days - 5))
                if (a.id, d) in plan or d in holidays or (a.left and d > a.left):
                    continue
                if kind != "offhours" and d.weekday() >= 5:
                    continue
                if any(s <= d <= e for s, e in on_leave.get(a.id, [])):
                    continue
                plan[(a.id, d)] = (kind, intensity)
                break

    moved_today: dict[tuple[str, date], list[str]] = defaultdict(list)
    for cid in sorted(movements):
        for moved in movements[cid]:
            moved_today[(client_owner[cid], moved + timedelta(days=known_rng.randint(0, 1)))].append(cid)
    for a in roster:
        first = a.joined or start
        last = a.left or end
        day = first
        while day <= last:
            shift = a.shift
            if a.shift_change and day >= a.shift_change[0]:
                shift = a.shift_change[1]
            tenure = (day - first).days if a.joined else 999
            if a.joined and tenure < 30:
                newcomer_days.add((a.id, day))
            ramp = min(1.0, 0.4 + tenure / 35) if a.joined else 1.0
            works = (day.weekday() < 5 or (a.saturday and day.weekday() == 5)) and day not in holidays
            if any(s <= day <= e for s, e in on_leave.get(a.id, [])):
                works = False
            injected = plan.get((a.id, day))
            if works:
                camp = 1.8 if (a.desk, day) in campaign_days else 1.0
                covered = [c for c, s, e in covering.get(a.id, []) if s <= day <= e]
                hours_len = (shift[1] - shift[0]) % 24 or 24
                overtime = rng.random() < a.overtime
                span = hours_len + (rng.uniform(1.5, 3.0) if overtime else 0)

                def hour() -> float:
                    return shift[0] + rng.random() * span  # noqa: B023

                n_opens = _nb(rng, 25 * a.level * camp * ramp * (1.4 if covered else 1.0))
                for _ in range(n_opens):
                    r = rng.random()
                    if covered and r < 0.3:
                        mate_book = next(m for m in roster if m.id == covered[0]).book
                        client = rng.choice(mate_book)
                    elif a.role == "retention" and r < 0.36:
                        other = rng.choice(roster)
                        client = rng.choice(other.book)
                    elif r < 0.95:
                        client = rng.choice(a.hot)
                    else:
                        client = rng.choice(a.book)
                    t = at(day, hour())
                    emit(t, a, "client_open", client)
                    if rng.random() < 0.1:
                        emit(t + timedelta(seconds=20), a, "pii_reveal", client)
                for _ in range(_nb(rng, 6 * ramp * camp)):
                    emit(at(day, hour()), a, "search")
                for _ in range(_poisson(rng, a.exports * ramp)):
                    emit(at(day, hour()), a, "export", rows=max(1, _nb(rng, a.export_rows, 3)))
                for _ in range(_nb(rng, 30 * a.calls * camp * ramp)):
                    short = rng.random() < a.short_share
                    emit(at(day, hour()), a, "call", rng.choice(a.hot),
                         duration=rng.uniform(0, 6) if short else rng.uniform(15, 600))
                emit(at(day, shift[0] + rng.random() * 0.5), a, "login")
                if rng.random() < 0.1:   # rotate the working set slowly
                    a.hot[rng.randrange(len(a.hot))] = rng.choice(a.book)
                # the agent works their own clients after a large deposit or withdrawal (ordinary)
                for client in moved_today.get((a.id, day), ()):
                    for _ in range(known_rng.randint(1, 3)):
                        emit(at(day, shift[0] + known_rng.random() * hours_len), a, "client_open", client)
            elif rng.random() < 0.03:   # a glance from home on a day off
                emit(at(day, rng.uniform(9, 20)), a, "login")
                emit(at(day, rng.uniform(9, 20)), a, "client_open", rng.choice(a.hot))
            if injected:
                near_movement = sorted(cid for cid, moved in movements.items() if client_owner[cid] != a.id
                                       and any(m - timedelta(days=3) <= day <= m + timedelta(days=1) for m in moved))
                _inject(rng, injected, a, day, shift, emit, at, roster, high_value, covering,
                        near_movement=near_movement, known_rng=known_rng)
                labels[(a.id, day)] = injected
            day += timedelta(days=1)

    def known(day: date, hour: int) -> str:
        return f"{day.isoformat()}T{hour:02d}:00:00Z"

    def recorded_before(day: date) -> str:
        """A cover or leave is recorded up to ten days ahead, one in seven the morning after it began."""
        if known_rng.random() < 1 / 7:
            return known(day + timedelta(days=1), 9)
        return known(day - timedelta(days=known_rng.randint(0, 10)), 10)

    cover_known = [recorded_before(s) for _x, _y, s, _e in cover]
    context = {
        "agents": [{"id": a.id, "role": a.role, "desk": a.desk,
                    "joined": (a.joined or start - timedelta(days=400)).isoformat(),
                    "left": a.left.isoformat() if a.left else None,
                    "notice_given": a.notice.isoformat() if a.notice else None,
                    # a notice is recorded the day it is given; a departure without one on the last day
                    "notice_known_from": known(a.notice, 16) if a.notice else None,
                    "left_known_from": known(a.left, 17) if a.left and not a.notice else None,
                    "shift_start": (a.shift_change[1] if a.shift_change else a.shift)[0],
                    "shift_end": (a.shift_change[1] if a.shift_change else a.shift)[1],
                    **({"shifts": [{"from": start.isoformat(), "start": a.shift[0], "end": a.shift[1]}]
                        + ([{"from": a.shift_change[0].isoformat(), "start": a.shift_change[1][0],
                             "end": a.shift_change[1][1]}] if a.shift_change else [])} if shift_history else {})}
                   for a in roster],
        "cover": [{"agent": x, "covers": y, "from": s.isoformat(), "to": e.isoformat(), "known_from": k}
                  for (x, y, s, e), k in zip(cover, cover_known, strict=True)],
        "leave": [{"agent": x, "from": s.isoformat(), "to": e.isoformat(), "known_from": k}
                  for (x, s, e), k in zip(leave, cover_known, strict=True)],
        "campaign_days": [{"desk": d, "date": day.isoformat(), "known_from": known(day - timedelta(days=3), 10)}
                          for d, day in sorted(campaign_days)],
        "holidays": [h.isoformat() for h in sorted(holidays)],
    }
    return Scenario(events=events, context=context, labels=labels, newcomer_days=newcomer_days,
                    start=start, days=days)


def _inject(rng: random.Random, what: tuple[str, str], a: _Agent, day: date, shift: tuple[int, int], emit: Any,
            at: Any, roster: list[_Agent], high_value: set[str], covering: dict[str, Any], *,
            near_movement: list[str], known_rng: random.Random) -> None:
    kind, intensity = what
    high = intensity == "high"
    if kind == "bulk_access":
        n = int(25 * a.level * (4.0 if high else 2.0))
        h0 = rng.uniform(shift[0], shift[0] + 5)
        for _ in range(n):
            client = rng.choice(a.book) if rng.random() < 0.5 else rng.choice(a.hot)
            emit(at(day, h0 + rng.random() * 3), a, "client_open", client)
    elif kind == "departure":
        rows = int(a.export_rows * (12 if high else 5)) + (300 if high else 150)
        emit(at(day, rng.uniform(shift[0], shift[1])), a, "export", rows=rows)
        for _ in range(40 if high else 18):
            emit(at(day, rng.uniform(shift[0], shift[1])), a, "client_open", rng.choice(a.book))
    elif kind == "offhours":
        n = 20 if high else 7
        h0 = rng.choice([22.5, 23.0, 0.5, 1.0, 3.0])
        for _ in range(n):
            emit(at(day, h0 + rng.random() * 1.5), a, rng.choice(["client_open", "client_open", "search", "pii_reveal"]),
                 rng.choice(a.hot))
    elif kind == "oob_high_value":
        covered = {c for c, _s, _e in covering.get(a.id, [])}
        pool = [c for c in sorted(high_value) if not c.startswith(f"c-{a.id[-3:]}") and
                f"agent-{c[2:5]}" not in covered]
        targets = rng.sample(pool, k=8 if high else 4)
        # other books' clients just after their large deposit or withdrawal draw the poacher too
        covered_pool = [c for c in near_movement if f"agent-{c[2:5]}" not in covered]
        targets += known_rng.sample(covered_pool, k=min(len(covered_pool), 2 if high else 1))
        for _ in range(22 if high else 9):
            emit(at(day, rng.uniform(shift[0], shift[1])), a, rng.choice(["client_open", "pii_reveal"]),
                 rng.choice(targets))
    elif kind == "call_padding":
        for _ in range(40 if high else 16):
            emit(at(day, rng.uniform(shift[0], shift[1])), a, "call", rng.choice(a.hot), duration=rng.uniform(1, 5))


def events_as_dicts(events: list[Event]) -> Iterator[dict[str, Any]]:
    """The EVENTS.jsonl shape of the events (what the product's activity export writes)."""
    for e in events:
        out: dict[str, Any] = {"id": e.ref, "time": e.time.isoformat().replace("+00:00", "Z"), "agent": e.agent,
                               "kind": e.kind, "client": e.client or None, "client_owner": e.client_owner or None,
                               "client_high_value": e.client_high_value, "client_money_near": e.money_near}
        if e.kind == "export":
            out["rows"] = e.rows
        if e.kind == "call":
            out["duration_s"] = round(e.duration_s, 1)
        yield out


@dataclass
class Evaluation:
    recall: dict[str, float]            # "<kind>/<intensity>" and "<kind>" and "all"
    false_per_100: float
    newcomer_false_per_100: float
    threshold: float
    agent_days: int


def evaluate(scenario: Scenario, scores: list[Any], *, threshold: float | None = None,
             watched_drop: float = 1.0) -> Evaluation:
    """Recall per injected kind and false alert-days per 100 agent-days, at the scores' own alert
    marks (an alert raised on a later day, by a notice's review, counts) or at `threshold` (watched
    days at threshold - watched_drop); the replay's learning days are left out."""
    def alerted(s: Any) -> bool:
        if threshold is None:
            return bool(s.alerted)
        return bool(s.score >= (threshold - watched_drop if s.watched else threshold))

    hits: dict[str, list[int]] = {}
    false = total = nf = nt = 0
    for s in scores:
        if getattr(s, "learning", False):
            continue     # the replay's first weeks: never alerted, not counted
        key = (s.agent, s.day)
        label = scenario.labels.get(key)
        a = alerted(s)
        if label:
            for k in (f"{label[0]}/{label[1]}", label[0], "all"):
                hits.setdefault(k, [0, 0])
                hits[k][0] += int(a)
                hits[k][1] += 1
            continue
        total += 1
        false += int(a)
        if key in scenario.newcomer_days:
            nt += 1
            nf += int(a)
    return Evaluation(recall={k: v[0] / v[1] for k, v in sorted(hits.items())},
                      false_per_100=100.0 * false / max(total, 1),
                      newcomer_false_per_100=100.0 * nf / max(nt, 1),
                      threshold=threshold if threshold is not None else float("nan"), agent_days=total)


def threshold_at_false_rate(scenario: Scenario, scores: list[Any], rate_per_100: float,
                            watched_drop: float = 1.0) -> float:
    """The lowest threshold whose false alert-days stay within `rate_per_100` (an oracle, for tuning)."""
    benign = sorted((s.score + (watched_drop if s.watched else 0.0) for s in scores
                     if (s.agent, s.day) not in scenario.labels and not getattr(s, "learning", False)), reverse=True)
    allowed = int(len(benign) * rate_per_100 / 100.0)
    return benign[allowed] + 1e-9 if allowed < len(benign) else 0.0


def without_departure_context(context: dict[str, Any]) -> dict[str, Any]:
    """The same context without notices and last days: what the scoring finds with no word of a
    departure (the agents' days then end with their activity)."""
    departure_keys = ("left", "notice_given", "notice_known_from", "left_known_from")
    return {**context, "agents": [{key: value for key, value in agent.items() if key not in departure_keys}
                                  for agent in context["agents"]]}
