"""manage.py seed_demo: the demo brokerage, loaded once (that it is deterministic:
tests/demo/test_seed_demo_deterministic.py).

The command's default is 2,000 clients; these tests use a smaller number (with part of them
through the services and the rest through the bulk path) to stay quick, loaded once for the module.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.test import RequestFactory
from django.utils import timezone

from crm.models import Brand, Client, Desk, Event, EventDelivery, Note, Role, RoleCode, Stage, Task, User
from demo.management.commands.seed_demo import Command
from demo.plan import Planner
from demo.writer import DEFAULT_CLIENTS
from emails.models import EmailTemplate, OutboundEmail

CLIENTS = 200
VIA_SERVICES = 40

pytestmark = pytest.mark.django_db


def run_seed(**options: int) -> str:
    out = StringIO()
    call_command("seed_demo", clients=options.get("clients", CLIENTS),
                 via_services=options.get("via_services", VIA_SERVICES), stdout=out, stderr=StringIO())
    return out.getvalue()


def logins(output: str) -> list[tuple[str, str, str]]:
    return [tuple(line.split()[1:]) for line in output.splitlines() if line.startswith("LOGIN ")]


@pytest.fixture(scope="module")
def _seeded_once(django_db_setup: Any, django_db_blocker: Any) -> Iterator[str]:
    """The demo loaded once for the module, committed (as `manage.py seed_demo` leaves a database),
    and emptied after it: loading it was most of the module's time when each test loaded its own.
    The database must be empty after the module: the test that needs it so (the same clients every
    time) is in tests/demo/test_seed_demo_deterministic.py."""
    with django_db_blocker.unblock():
        output = run_seed()
    try:
        yield output
    finally:
        with django_db_blocker.unblock():  # as a transactional test's end empties the database
            call_command("flush", verbosity=0, interactive=False, reset_sequences=False)


@pytest.fixture
def seeded(_seeded_once: str, db: Any) -> str:
    """What seed_demo printed; each test reads the demo in a transaction of its own, rolled back."""
    return _seeded_once


def test_the_command_loads_2000_clients_unless_told_otherwise() -> None:
    parser = Command().create_parser("manage.py", "seed_demo")
    assert parser.parse_args([]).clients == 2000
    assert DEFAULT_CLIENTS == 2000


def test_seed_demo_builds_two_brands_three_desks_and_staff_in_every_role(seeded: str) -> None:
    assert sorted(Brand.objects.values_list("code", flat=True)) == ["atlas", "nova"]
    assert Desk.objects.count() == 3
    assert set(Desk.objects.values_list("brand__code", flat=True)) == {"atlas", "nova"}
    assert all(desk.manager is not None for desk in Desk.objects.select_related("manager"))
    assert User.objects.count() >= 12
    # The support agent and the marketer are made by their apps' own demo loaders (support_seed_demo,
    # marketing_seed_demo; tests/support, tests/marketing), as make run loads them after this one.
    core_roles = set(RoleCode.values) - {RoleCode.SUPPORT_AGENT, RoleCode.MARKETING}
    assert set(User.objects.values_list("role__code", flat=True)) == core_roles
    assert {role for role, _, _ in logins(seeded)} == core_roles


def test_seed_demo_spreads_clients_over_every_stage_with_notes_tasks_and_events(seeded: str) -> None:
    assert Client.objects.count() == CLIENTS
    assert set(Client.objects.values_list("stage", flat=True)) == set(Stage.values)
    assert Client.objects.values("country").distinct().count() > 15
    assert Client.objects.values("language").distinct().count() > 5
    assert Client.objects.exclude(source="").count() > CLIENTS * 0.7
    assert Client.objects.exclude(referrer_code="").exists()
    assert Client.objects.exclude(tags=[]).exists()
    created = set(Event.objects.filter(name="client.created").values_list("client_id", flat=True))
    assert created == set(Client.objects.values_list("pk", flat=True))
    assert Event.objects.filter(name="client.stage_changed").exists()
    assert Note.objects.exists()
    now = timezone.now()
    assert Task.objects.filter(done_at__isnull=False).exists()
    # Clients arrived over the last months, not all at once.
    oldest = Client.objects.order_by("created_at").first()
    assert oldest is not None and oldest.created_at < now - timedelta(days=60)


def test_every_agent_has_overdue_tasks_and_tasks_due_today(seeded: str) -> None:
    now = timezone.now()
    agents = User.objects.filter(role__code__in=[RoleCode.SALES_AGENT, RoleCode.RETENTION_AGENT])
    for agent in agents:
        open_tasks = Task.objects.filter(assignee=agent, done_at__isnull=True)
        assert open_tasks.filter(due_at__lt=now).count() >= 2, agent.email
        assert open_tasks.filter(due_at__gte=now, due_at__lt=now + timedelta(days=1)).exists(), agent.email


def test_agents_find_the_composers_templates_and_an_email_they_wrote(seeded: str) -> None:
    for brand in Brand.objects.all():
        assert set(EmailTemplate.objects.filter(brand=brand).values_list("key", "language")) >= {
            ("follow_up", "en"), ("follow_up", "ar"), ("deposit_help", "en"), ("deposit_help", "ar")}
    agents = User.objects.filter(role__code__in=[RoleCode.SALES_AGENT, RoleCode.RETENTION_AGENT])
    for agent in agents:
        email = OutboundEmail.objects.select_related("client").get(author=agent)
        assert email.client.owner == agent and email.template_key == "follow_up"
        # Written in the client's language where the brand has it, with the variables filled in.
        assert email.language == ("ar" if email.client.language == "ar" else "en")
        assert "{{" not in email.subject and email.client.first_name in email.subject


def test_running_seed_demo_again_adds_nothing_and_prints_the_same_logins(seeded: str) -> None:
    counts = (Brand.objects.count(), User.objects.count(), Client.objects.count(), Event.objects.count())
    again = run_seed()
    assert (Brand.objects.count(), User.objects.count(), Client.objects.count(), Event.objects.count()) == counts
    assert "already present" in again
    assert logins(again) == logins(seeded)


def test_every_printed_login_authenticates(seeded: str) -> None:
    printed = logins(seeded)
    assert len(printed) >= 12
    factory = RequestFactory()
    for role, email, password in printed:
        request = factory.post("/login/", REMOTE_ADDR="127.0.0.1")
        user = authenticate(request, username=email, password=password)
        assert user is not None, email
        assert user.role_code == role


def test_demo_roles_need_no_authenticator_and_the_command_says_so(seeded: str) -> None:
    assert not Role.objects.filter(requires_2fa=True).exists()
    assert "NOTE: Two-factor login is OFF" in seeded


def test_seed_events_are_history_not_news_for_subscribers(seeded: str) -> None:
    assert not Event.objects.filter(dispatched_at__isnull=True).exists()
    assert not EventDelivery.objects.exists()


def _timeline_shape(client: Client) -> list[tuple[str, tuple[str, ...]]]:
    return [(e.name, tuple(sorted(e.data))) for e in Event.objects.filter(client=client).order_by("occurred_at", "id")]


def test_bulk_made_clients_have_the_same_timeline_and_history_as_service_made_ones(seeded: str) -> None:
    clients = list(Client.objects.order_by("id"))
    via_services, in_bulk = clients[:VIA_SERVICES], clients[VIA_SERVICES:]

    def shapes(group: list[Client]) -> dict[str, set[tuple[str, ...]]]:
        found: dict[str, set[tuple[str, ...]]] = {}
        for client in group:
            for name, keys in _timeline_shape(client):
                found.setdefault(name, set()).add(keys)
        return found

    service_shapes, bulk_shapes = shapes(via_services), shapes(in_bulk)
    for name in ("client.created", "client.stage_changed", "note.added", "task.created", "task.completed"):
        assert name in bulk_shapes
        if name in service_shapes:
            assert bulk_shapes[name] == service_shapes[name], name

    for client in [via_services[-1], in_bulk[-1], *via_services[:7], *in_bulk[:7]]:
        events = list(Event.objects.filter(client=client).order_by("occurred_at", "id"))
        assert events[0].name == "client.created"
        assert events[0].occurred_at == client.created_at
        changes = [e for e in events if e.name == "client.stage_changed"]
        history = list(client.history.order_by("history_date", "history_id"))
        # One history row per change, each showing the stage after it, dated when it happened.
        assert [h.history_type for h in history] == ["+"] + ["~"] * len(changes)
        assert [h.stage for h in history] == ["lead"] + [e.data["to"] for e in changes]
        assert [h.history_date for h in history] == [client.created_at] + [e.occurred_at for e in changes]
        assert client.stage == (changes[-1].data["to"] if changes else Stage.LEAD)
        for note in Note.objects.filter(client=client):
            assert client.created_at <= note.created_at <= timezone.now()


def test_stage_counts_follow_a_brokerage_funnel() -> None:
    plans = Planner(clients=2000, now=timezone.now()).plan()
    stages = Counter(plan.stage for plan in plans)
    assert stages[Stage.LEAD] > stages[Stage.REGISTERED] > stages[Stage.VERIFIED]
    assert stages[Stage.CLOSED] > 0 and stages[Stage.DORMANT] > 0
    assert len({plan.email for plan in plans}) == 2000
