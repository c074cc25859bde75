"""The monitoring demo: a desk of twelve agents with six months of activity (monitoring.scenarios,
written through the recording's bulk path), the context its manager recorded (leave with cover,
shifts, campaign days, holidays), a resignation notice, and two alerts waiting after scoring: a
departure (bulk opens of other books and an export after the notice) and call padding.

Idempotent: a second run finds the desk and changes nothing."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.db import transaction
from django.utils import timezone

from crm.models import Brand, Desk, RoleCode, User
from crm.services import user_create
from crm.staff_services import desk_create
from monitoring import scenarios, services
from monitoring.models import MonitoringAlert, Notice
from monitoring.pipeline import brand_rescore
from monitoring.recording import ActivityRow, activity_write_many
from plumbing import context as actor_context

DESK_NAME = "Atlas Monitoring Demo"
AGENTS = 12
DAYS = 182
SEED = 11
EMAIL = "monitoring.agent{n:02d}@demo-broker.example"
NAMES = ("Ava Brooks", "Ben Okafor", "Chloe Martin", "Daniel Weiss", "Elena Petrova", "Farid Rahimi",
         "Grace Tan", "Hugo Lefevre", "Isla Murray", "Jonas Berg", "Kira Novak", "Leo Santos")
CLIENT_BASE = 10**12  # synthetic clients of the demo history: ids no real client has


@dataclass
class DemoResult:
    created: bool
    manager: User
    alerts: list[MonitoringAlert]


def _client_id(scenario_client: str) -> int | None:
    if not scenario_client:
        return None
    _, agent, number = scenario_client.split("-")
    return CLIENT_BASE + int(agent) * 10_000 + int(number)


def _last_weekday(before: date) -> date:
    day = before
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


def monitoring_seed_demo(*, brand: Brand, admin: User, manager: User, today: date | None = None) -> DemoResult:
    """Build the demo desk (once) and score it; returns the alerts waiting for `manager`."""
    existing = Desk.objects.filter(brand=brand, name=DESK_NAME).first()
    if existing is not None:
        alerts = list(MonitoringAlert.objects.filter(agent__desk=existing).order_by("detector"))
        return DemoResult(created=False, manager=manager, alerts=alerts)
    today = today or timezone.now().date()
    alert_day = _last_weekday(today - timedelta(days=1))
    start = alert_day - timedelta(days=DAYS - 1)
    with actor_context.acting_as(admin, source="seed"):
        desk, agents, scenario = _desk_and_history(brand=brand, admin=admin, manager=manager, start=start)
    leaving, padding = agents[1], agents[4]  # two steady sales agents of the generated desk
    with actor_context.acting_as(manager, source="seed"):
        services.notice_enter(actor=manager, agent=leaving, given_on=alert_day - timedelta(days=4),
                              last_day=alert_day + timedelta(days=14), note="Resigned: joining a competitor.")
    _inject(scenario=scenario, agents=agents, leaving=leaving, padding=padding, day=alert_day, brand=brand)
    with actor_context.acting_as(None, source="seed"):
        brand_rescore(brand.pk, today=today, raise_since=alert_day)
    alerts = list(MonitoringAlert.objects.filter(agent__desk=desk).order_by("detector"))
    return DemoResult(created=True, manager=manager, alerts=alerts)


@transaction.atomic
def _desk_and_history(*, brand: Brand, admin: User, manager: User,
                      start: date) -> tuple[Desk, list[User], scenarios.Scenario]:
    desk = desk_create(actor=admin, brand=brand, name=DESK_NAME, manager=manager)
    scenario = scenarios.generate(agents=AGENTS, days=DAYS, seed=SEED, injections_per_kind=0, start=start,
                                  shift_history=True)
    agents: list[User] = []
    by_id: dict[str, User] = {}
    for n, spec in enumerate(scenario.context["agents"]):
        role = RoleCode.RETENTION_AGENT if spec["role"] == "retention" else RoleCode.SALES_AGENT
        user = user_create(actor=admin, email=EMAIL.format(n=n + 1), full_name=NAMES[n], role_code=role, desk=desk,
                           brands=[brand])
        agents.append(user)
        by_id[spec["id"]] = user
    scenario_context_record(scenario=scenario, by_id=by_id, manager=manager, desk=desk, brand=brand, start=start)
    activity_write_many(scenario_rows(scenario, by_id, brand))
    return desk, agents, scenario


def scenario_context_record(*, scenario: scenarios.Scenario, by_id: dict[str, User], manager: User, desk: Desk,
                            brand: Brand, start: date) -> None:
    """What the generated desk's manager would have recorded, through the services: shifts, leave
    with cover, campaign days (every generated desk's, on this one desk) and holidays."""
    ctx = scenario.context
    for spec in ctx["agents"]:
        shifts = spec.get("shifts") or [{"from": start.isoformat(), "start": spec["shift_start"],
                                         "end": spec["shift_end"]}]
        for shift in shifts:  # each change from its day, as the manager entered it
            services.shift_set(actor=manager, agent=by_id[spec["id"]], start_hour=shift["start"],
                               end_hour=shift["end"] or 24, starts_on=max(start, date.fromisoformat(shift["from"])))
    for item in ctx["leave"]:
        services.leave_set(actor=manager, agent=by_id[item["agent"]], starts_on=date.fromisoformat(item["from"]),
                           ends_on=date.fromisoformat(item["to"]))
    for item in ctx["cover"]:
        services.cover_set(actor=manager, agent=by_id[item["agent"]], covered=by_id[item["covers"]],
                           starts_on=date.fromisoformat(item["from"]), ends_on=date.fromisoformat(item["to"]))
    for day in sorted({date.fromisoformat(c["date"]) for c in ctx["campaign_days"]}):
        services.campaign_day_set(actor=manager, desk=desk, day=day, note="Demo campaign")
    for n, day_text in enumerate(ctx["holidays"]):
        services.holiday_set(actor=manager, brand=brand, day=date.fromisoformat(day_text), name=f"Public holiday {n + 1}")


def scenario_rows(scenario: scenarios.Scenario, by_id: dict[str, User], brand: Brand) -> list[ActivityRow]:
    rows = []
    for e in sorted(scenario.events, key=lambda e: e.time):
        owner = by_id.get(e.client_owner)
        rows.append(ActivityRow(
            time=e.time, agent_id=by_id[e.agent].pk, kind=e.kind, brand_id=brand.pk, client_id=_client_id(e.client),
            client_owner_id=owner.pk if owner is not None else None, client_high_value=e.client_high_value,
            rows=e.rows or None, duration_s=int(e.duration_s) if e.kind == "call" else None,
            outcome=("answered" if e.duration_s > 6 else "no_answer") if e.kind == "call" else "",
            ip="203.0.113.10", device="Mozilla/5.0 (demo)", ref=f"demo:{e.ref}"))
    return rows


def _inject(*, scenario: scenarios.Scenario, agents: list[User], leaving: User, padding: User, day: date,
            brand: Brand) -> None:
    """The two stories of the demo day: after the notice, `leaving` opens a hundred records of other
    agents' books untouched for months and exports them; `padding` logs dozens of calls of seconds."""
    rng = random.Random(SEED)
    by_user = {u.pk: f"agent-{n:03d}" for n, u in enumerate(agents)}
    others = [u for u in agents if u.pk not in (leaving.pk, padding.pk)]
    base = datetime(day.year, day.month, day.day, tzinfo=UTC)
    rows: list[ActivityRow] = []
    for i in range(110):
        owner = others[i % len(others)]
        number = 300 + rng.randrange(90)  # the end of the owner's book: clients nobody opened lately
        rows.append(ActivityRow(
            time=base + timedelta(hours=14, seconds=90 * i), agent_id=leaving.pk, kind="client_open",
            brand_id=brand.pk, client_id=_client_id(f"c-{by_user[owner.pk][-3:]}-{number:04d}"),
            client_owner_id=owner.pk, client_high_value=i % 4 == 0, ip="198.51.100.23", device="Mozilla/5.0 (demo)",
            ref=f"demo:departure:{i}"))
    rows.append(ActivityRow(time=base + timedelta(hours=17, minutes=10), agent_id=leaving.pk, kind="export",
                            brand_id=brand.pk, rows=1450, ip="198.51.100.23", device="Mozilla/5.0 (demo)",
                            ref="demo:departure:export"))
    book = f"c-{by_user[padding.pk][-3:]}"
    for i in range(70):
        rows.append(ActivityRow(
            time=base + timedelta(hours=10, minutes=5 * i), agent_id=padding.pk, kind="call", brand_id=brand.pk,
            client_id=_client_id(f"{book}-{i % 60:04d}"), client_owner_id=padding.pk, client_high_value=False,
            duration_s=rng.randint(1, 5), outcome="no_answer", ref=f"demo:padding:{i}"))
    activity_write_many(rows)


def standing_notice(agent: User) -> Notice | None:
    return Notice.objects.filter(agent=agent, withdrawn_at__isnull=True).first()
