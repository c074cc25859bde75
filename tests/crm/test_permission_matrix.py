"""The permission matrix: every write endpoint there is (every page a form can post to, every API
operation that is not a GET), for every role, against targets in and out of the caller's scope.

The endpoints come from the URL conf and the OpenAPI schema, so one added later is walked the day
it is added. A path naming an object (`clients/<code>/...`) gets the code of an object of another
brand: the answer must look like "not found" and nothing may be written. Every body names staff the
caller may not give work to (an agent of another brand, an agent of a desk the caller does not
run), and afterwards no client, task or notification of ours may have reached them.
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import cache
from types import SimpleNamespace
from typing import Any

import pytest
from django.db import connection
from django.test import Client as HttpClient
from django.urls import URLPattern, URLResolver, get_resolver

from crm.models import Client, Event, Note, Notification, RoleCode, Task, User
from crm.services import note_add, task_create
from integrations.assembly import api
from tests.factories import make_brand, make_client, make_desk, make_user

pytestmark = pytest.mark.django_db

ROLES = [r for r in RoleCode.values if r != RoleCode.ADMIN]  # administrators have no "out of scope"
# Which object a path's code names, by the path segment before it. A path with a code whose segment
# is not here fails the matrix: declare what it names, so the matrix can aim at a foreign one.
SEGMENT_MODEL = {
    "clients": "client", "tasks": "task", "staff": "user", "desks": "desk", "automation": "other",
    "email-templates": "other", "imports": "other", "segments": "other", "jobs": "other",
    "availability": "user", "routing": "other", "scoring": "other", "sla": "desk", "servers": "other",
    "accounts": "other", "leverage-caps": "other", "trading-accounts": "other",
    "conflicts": "other", "partners": "other", "links": "other", "submissions": "other", "documents": "other",
    "policies": "other", "questionnaires": "other", "versions": "other", "deposits": "other", "withdrawals": "other",
    "runs": "other", "payouts": "other", "banners": "other", "disputes": "other", "plans": "other",
    "applications": "other", "hits": "other", "restrictions": "other", "webhooks": "other", "subscribers": "other",
    "deliveries": "other", "challenges": "other", "cases": "other", "files": "other", "schedules": "other",
    "alerts": "other", "rules": "other", "agents": "user", "notice": "other",
    # a requester's ticket file (portal/support/<reference>/files/<code>/, partners/support/...)
    "support": "other",
    # a ticket's file on the staff desk (support/tickets/<reference>/files/<code>/)
    "tickets": "other",
    # a data-subject request (compliance/data-requests/<code>/...) and a client's own (portal/my-data/<code>/...)
    "data-requests": "other", "my-data": "other",
    # a marketing campaign (marketing/campaigns/<code>/...)
    "campaigns": "other",
    # a marketing sequence (marketing/sequences/<code>/...)
    "sequences": "other",
}
# Pages the matrix does not post to, each with why.
SKIPPED = {
    "logout/": "ends the session the matrix runs in",
}
SKIPPED_PREFIXES = ("admin/", "django-rq/", "static/", "media/")  # Django's and django-rq's own, superusers only


def _walk(patterns: list[Any], prefix: str = "") -> list[str]:
    out: list[str] = []
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            out += _walk(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern) and not route.startswith("^"):
            out.append(route)
    return out


def page_routes() -> list[str]:
    return sorted({r for r in _walk(get_resolver().url_patterns)
                   if not r.startswith(("api/", *SKIPPED_PREFIXES)) and r not in SKIPPED})


@cache
def api_writes() -> list[tuple[str, str]]:
    """Made once per test process (the OpenAPI schema takes seconds to make)."""
    schema = api.get_openapi_schema()
    return sorted((method.upper(), path) for path, item in schema["paths"].items() for method in item
                  if method.upper() in {"POST", "PUT", "PATCH", "DELETE"})


def _model_of(route: str, name: str) -> str:
    before = re.split(r"[<{]", route.split(f"<uuid:{name}>")[0].split(f"{{{name}}}")[0])[0].rstrip("/")
    segment = before.rsplit("/", 1)[-1]
    assert segment in SEGMENT_MODEL, f"declare in SEGMENT_MODEL what the code after '{segment}/' in {route} names"
    return SEGMENT_MODEL[segment]


def _build_world() -> SimpleNamespace:
    home = make_brand(code="home", name="Home Markets")
    away = make_brand(code="away", name="Away Markets")
    manager = make_user(role_code=RoleCode.DESK_MANAGER, brand=home)
    desk = make_desk(brand=home, name="Home desk", manager=manager)
    other_desk = make_desk(brand=home, name="Someone else's desk")
    agent = make_user(role_code=RoleCode.SALES_AGENT, desk=desk)
    stranger_here = make_user(role_code=RoleCode.SALES_AGENT, desk=other_desk)  # same brand, unmanaged desk
    away_desk = make_desk(brand=away, name="Away desk")
    stranger = make_user(role_code=RoleCode.SALES_AGENT, desk=away_desk)
    mine = make_client(actor=agent, first_name="Mine", phone="+442071838750", email="mine@example.com")
    foreign = make_client(actor=stranger, first_name="Foreign", phone="+442071838751", email="away@example.com")
    foreign_task = task_create(actor=stranger, title="Theirs", assignee=stranger, client=foreign)
    note_add(actor=stranger, client=foreign, body="their note")
    staff = {role: (manager if role == RoleCode.DESK_MANAGER else agent if role == RoleCode.SALES_AGENT
                    else make_user(role_code=role, brand=home, desk=desk if "agent" in role else None))
             for role in ROLES}
    return SimpleNamespace(home=home, away=away, desk=desk, other_desk=other_desk, away_desk=away_desk,
                           agent=agent, stranger=stranger, stranger_here=stranger_here, mine=mine,
                           foreign=foreign, foreign_task=foreign_task, staff=staff)


@pytest.fixture(scope="module")
def built_world(django_db_setup, django_db_blocker):
    """The world, built once for the module rather than for each test (about a second each time, for
    every role of every sweep): in a transaction of the module's own that each test runs inside, in a
    savepoint rolled back after it, as Django's TestCase.setUpTestData does; rolled back at the end."""
    from django.db import transaction

    outer = transaction.atomic()
    with django_db_blocker.unblock():
        outer.__enter__()
        try:
            built = _build_world()
        except BaseException:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)
            raise
    yield built
    with django_db_blocker.unblock():
        transaction.set_rollback(True)
        outer.__exit__(None, None, None)


@pytest.fixture
def world(db, built_world):
    """The module's world inside this test's savepoint, its objects copied (as setUpTestData's are), so a
    test that refreshes one from what it changed leaves the next test the objects as built."""
    import copy

    return copy.deepcopy(built_world)


def _foreign_code(world: Any, model: str) -> str:
    return str({"client": world.foreign.code, "task": world.foreign_task.code, "user": world.stranger.code,
                "desk": world.away_desk.code}.get(model) or "00000000-0000-4000-8000-000000000000")


def _concrete(world: Any, route: str) -> str:
    def fill(match: re.Match[str]) -> str:
        converter, name = match.group(1) or "str", match.group(2)
        if converter in {"uuid", "uuidstr"}:
            return _foreign_code(world, _model_of(route, name))
        return {"int": "1", "slug": "away" if "brand" in name else "x"}.get(converter, "x")

    path = re.sub(r"<(?:(\w+):)?(\w+)>", fill, route)
    return "/" + re.sub(r"\{(\w+)\}", lambda m: _foreign_code(world, _model_of(route, m.group(1))), path).lstrip("/")


def _foreign_state(world: Any) -> str:
    """A fingerprint of everything of the other brand, and of where our own clients and tasks point."""
    rows = [
        list(Client.objects.filter(brand=world.away).order_by("pk").values()),
        list(Task.objects.filter(client__brand=world.away).order_by("pk").values()),
        list(Note.objects.filter(client__brand=world.away).order_by("pk").values("pk", "body")),
        Event.objects.filter(client__brand=world.away).count(),
        list(User.objects.filter(pk=world.stranger.pk).values()),
        Notification.objects.filter(user=world.stranger).count(),
        # Our clients stay on the desks and brand they were (a colleague of another desk of the brand
        # may be given a task, not a client).
        list(Client.objects.filter(brand=world.home).order_by("pk").values("pk", "owner_id", "desk_id", "brand_id")),
        list(Task.objects.filter(assignee=world.stranger).values("pk")),
    ]
    return hashlib.sha256(json.dumps(rows, default=str, sort_keys=True).encode()).hexdigest()


# The tables _foreign_state reads (a table partitioned by month with its partitions).
_WATCHED_TABLES = [model._meta.db_table for model in (Client, Task, Note, Event, User, Notification)]
_WRITES_SQL = (
    "SELECT coalesce(sum(pg_stat_get_xact_tuples_inserted(t.rel) + pg_stat_get_xact_tuples_updated(t.rel)"
    " + pg_stat_get_xact_tuples_deleted(t.rel)), 0) FROM ("
    "SELECT rel FROM unnest(%(tables)s::regclass[]) AS watched(rel) UNION SELECT part.relid"
    " FROM unnest(%(tables)s::regclass[]) AS watched(rel), LATERAL pg_partition_tree(watched.rel) AS part) AS t(rel)"
)


def _writes_to_watched_tables() -> int:
    """Rows this test's transaction has inserted, updated or deleted so far in the tables
    _foreign_state reads (PostgreSQL's own count, savepoints included): one query."""
    with connection.cursor() as cursor:
        cursor.execute(_WRITES_SQL, {"tables": _WATCHED_TABLES})
        return int(cursor.fetchone()[0])


class ForeignWatch:
    """_foreign_state taken once, and taken again only when a row of the tables it reads was written
    since the last look: a request that wrote none of them cannot have changed it. (The sweeps look
    after every endpoint; the eight queries of the fingerprint each time were most of their time.)"""

    def __init__(self, world: Any) -> None:
        self.world = world
        self.writes = _writes_to_watched_tables()
        self.fingerprint = _foreign_state(world)

    def unchanged(self) -> bool:
        writes = _writes_to_watched_tables()
        if writes != self.writes:
            if _foreign_state(self.world) != self.fingerprint:
                return False
            self.writes = writes  # rows written that the fingerprint does not read (or put back as they were)
        return True


def _bodies(world: Any) -> list[dict[str, Any]]:
    """What a caller might send to move work where it may not go: a client to an agent of a desk
    the caller does not run, a task to staff of another brand."""
    return [{"owner": str(world.stranger_here.code), "assignee": str(world.stranger.code), "title": "Over the wall",
             "body": "note", "desk": str(world.other_desk.code), "reason": "probe", "client": str(world.mine.code),
             "user": str(world.stranger.code), "field": "phone", "brand": world.away.code, "stage": "funded"}]


def _session(user: User, login_verified: Any) -> HttpClient:
    http = HttpClient()
    login_verified(http, user)
    return http


def test_the_matrix_finds_the_write_endpoints_there_are():
    pages, writes = page_routes(), api_writes()
    assert "clients/<uuid:code>/tasks/" in pages and "leads/assign/" in pages
    assert ("PATCH", "/api/v1/clients/{code}") in writes and ("POST", "/api/v1/tasks") in writes


@pytest.mark.parametrize("role", ROLES)
def test_no_page_lets_a_role_write_outside_its_scope(world, role, login_verified):
    http = _session(world.staff[role], login_verified)
    before = _foreign_state(world)
    watch = ForeignWatch(world)
    for route in page_routes():
        path = _concrete(world, route)
        for body in _bodies(world):
            response = http.post(path, {k: v for k, v in body.items() if not (k == "client" and "clients/" in route)})
            assert response.status_code < 500, (role, path, response.status_code)
            if "<uuid:" in route and _model_of(route, re.search(r"<uuid:(\w+)>", route).group(1)) != "other":
                # A foreign object: "not found", like a missing one (or no page at all for the role).
                assert response.status_code in {302, 403, 404, 405}, (role, path, response.status_code)
        assert watch.unchanged(), (role, path)
    assert _foreign_state(world) == before, role


@pytest.mark.parametrize("role", ROLES)
def test_no_api_operation_lets_a_role_write_outside_its_scope(world, role, login_verified):
    http = _session(world.staff[role], login_verified)
    home_task = task_create(actor=world.agent, title="Ours", assignee=world.agent, client=world.mine)
    before = _foreign_state(world)
    watch = ForeignWatch(world)
    for method, route in api_writes():
        targets = [(_concrete(world, route), "foreign")]
        if "{code}" in route:  # and the caller's own object, which it may change but not give away
            own = {"client": world.mine.code, "task": home_task.code}.get(_model_of(route, "code"))
            if own is not None:
                targets.append((route.replace("{code}", str(own)), "own"))
        for path, target in targets:
            for payload in ({"owner": str(world.stranger_here.code)}, {"owner": str(world.stranger.code)},
                            {"desk": str(world.other_desk.code)}, {"assignee": str(world.stranger.code), "title": "t"},
                            {"assignee": str(world.stranger.code), "title": "t", "client": str(world.mine.code)}):
                response = http.generic(method, path, json.dumps(payload), content_type="application/json")
                assert response.status_code < 500, (role, method, path, payload, response.status_code)
                if target == "foreign" and "{code}" in route and _model_of(route, "code") != "other":
                    # Not found, or input refused before the object is looked up (the same answer a
                    # code nobody has gets, so it tells nothing either).
                    assert response.status_code in {401, 403, 404, 405, 422}, (role, method, path,
                                                                               response.status_code)
            # Whatever was answered: nothing of ours went to someone the caller may not give work
            # to, and nothing of the other brand changed.
            assert watch.unchanged(), (role, method, path)
    assert _foreign_state(world) == before, role


def test_the_sweeps_see_a_write_to_what_they_watch(world):
    """The shortcut of ForeignWatch: a row written to the other brand's data is seen, in a savepoint
    (as a request writes) and after it."""
    from django.db import transaction

    watch = ForeignWatch(world)
    assert watch.unchanged()
    with transaction.atomic():
        note_add(actor=world.stranger, client=world.foreign, body="another note")
        assert not watch.unchanged()
    assert not watch.unchanged()
    watch = ForeignWatch(world)
    make_user(role_code=RoleCode.SALES_AGENT, desk=world.desk)  # a row the fingerprint does not read
    assert watch.unchanged()
    Task.objects.filter(pk=world.foreign_task.pk).update(title="Changed")
    assert not watch.unchanged()


# --- the two holes the probe found, as a user would meet them ------------------------------------------


def test_a_desk_manager_cannot_move_a_client_to_another_desk_through_the_api(world, login_verified):
    http = _session(world.staff[RoleCode.DESK_MANAGER], login_verified)
    response = http.patch(f"/api/v1/clients/{world.mine.code}", json.dumps({"owner": str(world.stranger_here.code)}),
                          content_type="application/json")
    assert response.status_code == 422 and "owner" in response.json()["fields"]
    world.mine.refresh_from_db()
    assert (world.mine.owner, world.mine.desk) == (world.agent, world.desk)
    assert not Event.objects.filter(client=world.mine, name="client.assigned").exists()


def test_the_same_move_is_refused_on_the_assignment_page_with_the_same_words(world, login_verified):
    from crm.exceptions import ValidationFailed
    from leads.services import lead_reassign

    with pytest.raises(ValidationFailed) as caught:
        lead_reassign(actor=world.staff[RoleCode.DESK_MANAGER], client=world.mine, owner=world.stranger_here,
                      reason="probe")
    http = _session(world.staff[RoleCode.DESK_MANAGER], login_verified)
    api_words = http.patch(f"/api/v1/clients/{world.mine.code}", json.dumps({"owner": str(world.stranger_here.code)}),
                           content_type="application/json").json()["fields"]["owner"]
    assert caught.value.fields["owner"] == api_words


def test_a_desk_manager_still_moves_clients_between_the_desks_they_run(world, login_verified):
    run_too = make_desk(brand=world.home, name="Second desk", manager=world.staff[RoleCode.DESK_MANAGER])
    colleague = make_user(role_code=RoleCode.SALES_AGENT, desk=run_too)
    http = _session(world.staff[RoleCode.DESK_MANAGER], login_verified)
    response = http.patch(f"/api/v1/clients/{world.mine.code}", json.dumps({"owner": str(colleague.code)}),
                          content_type="application/json")
    assert response.status_code == 200
    world.mine.refresh_from_db()
    assert (world.mine.owner, world.mine.desk) == (colleague, run_too)


def test_an_agent_cannot_give_a_task_to_staff_of_another_brand(world, login_verified):
    http = _session(world.agent, login_verified)
    response = http.post("/api/v1/tasks", json.dumps({"title": "Call them", "assignee": str(world.stranger.code)}),
                         content_type="application/json")
    assert response.status_code == 422 and "assignee" in response.json()["fields"]
    assert not Task.objects.filter(assignee=world.stranger, title="Call them").exists()
    assert not Notification.objects.filter(user=world.stranger, kind="task_assigned").exclude(
        body="Theirs").exists()


def test_an_agent_still_gives_tasks_to_colleagues_of_their_brand(world, login_verified):
    http = _session(world.agent, login_verified)
    response = http.post("/api/v1/tasks", json.dumps({"title": "Cover me", "assignee": str(world.stranger_here.code)}),
                         content_type="application/json")
    assert response.status_code == 201
    assert Task.objects.get(title="Cover me").assignee == world.stranger_here


# --- tipping off: nothing of a compliance case reaches anyone who does not work cases ---------------------


@pytest.mark.parametrize("role", ROLES)
def test_nothing_of_a_compliance_case_reaches_a_role_that_does_not_work_cases(world, role, login_verified):
    from django.urls import reverse

    from compliance.cases import case_item_attach, case_narrative_set

    officer = make_user(role_code=RoleCode.COMPLIANCE, brand=world.home)
    case = case_item_attach(client=world.mine, kind="aml_alert", ref_id=991, summary="Structuring rule v3",
                            score=80).case
    case_narrative_set(case=case, actor=officer, narrative="Nine deposits under the threshold")
    http = _session(world.staff[role], login_verified)
    pages = [reverse("compliance_case_queue"), reverse("compliance_case_detail", args=[case.code]),
             reverse("compliance_case_sar", args=[case.code]), "/api/v1/compliance/cases",
             f"/api/v1/compliance/cases/{case.code}"]
    answers = {path: http.get(path) for path in pages}
    profile = http.get(reverse("client_detail", args=[world.mine.code]) + "?tab=compliance").content.decode()
    timeline = http.get(reverse("client_detail", args=[world.mine.code])).content.decode()
    if role == RoleCode.COMPLIANCE:
        assert all(r.status_code == 200 for r in answers.values()), {p: r.status_code for p, r in answers.items()}
        return
    assert all(r.status_code in {403, 404} for r in answers.values()), {p: r.status_code for p, r in answers.items()}
    for page in (profile, timeline):
        assert "Structuring rule v3" not in page and "Nine deposits" not in page and str(case.code) not in page
    post = http.post(reverse("compliance_case_action", args=[case.code, "review"]))
    assert post.status_code in {403, 404}
    case.refresh_from_db()
    assert case.status == "open"


# --- agent monitoring: the agent under review never sees the alert ------------------------------------


def test_a_monitoring_alert_is_seen_and_decided_only_by_its_reviewers(world, login_verified):
    """An alert about an agent, routed to their desk manager: the manager and compliance open it and
    its evidence; the agent it is about, another agent and a client (their trader's-room session)
    get nothing, not even a sign it exists, and cannot decide it."""
    from datetime import date

    from django.urls import reverse

    from monitoring.models import AlertStatus
    from monitoring.services import raise_alert
    from portal.services import portal_email_verify, portal_register, verification_token

    alert = raise_alert(brand=world.home, subject_kind="agent", detector="bulk_access", day=date(2026, 3, 2),
                        score=7.5, reasons=["opened 150 records between 14:00 and 17:00; own 95th percentile 22"],
                        evidence=[{"label": "opens", "url": reverse("client_detail", args=[world.mine.code])}],
                        agent=world.agent)
    assert alert is not None and alert.routed_to == world.staff[RoleCode.DESK_MANAGER]
    pages = [reverse("monitoring_alert", args=[alert.code]), reverse("monitoring_alerts"),
             reverse("monitoring_agent_day", args=[world.agent.code, "2026-03-02"])]
    decide = reverse("monitoring_review_decide", args=[alert.code])

    compliance = make_user(role_code=RoleCode.COMPLIANCE, brand=world.home)
    reviewers = {"manager": world.staff[RoleCode.DESK_MANAGER], "compliance": compliance}
    for who, user in reviewers.items():
        http = _session(user, login_verified)
        assert all(http.get(p).status_code == 200 for p in pages), who

    registration = portal_register(brand=world.home, language="en", first_name="Nadia", last_name="Hassan",
                                   email="nadia.hassan@example.com", phone="+442071838111", country="GB",
                                   date_of_birth=date(1990, 4, 2), password="quiet-lagoon-7319", accept_terms=True,
                                   accept_privacy=True)
    portal_email_verify(token=verification_token(registration.login))
    trader = HttpClient()
    trader.post(reverse("portal:login_brand", args=[world.home.code]),
                {"email": "nadia.hassan@example.com", "password": "quiet-lagoon-7319"})
    outsiders = {"the agent under review": _session(world.agent, login_verified),
                 "another agent": _session(world.stranger_here, login_verified), "a client": trader}
    for who, http in outsiders.items():
        for path in pages:
            response = http.get(path)
            assert response.status_code in {302, 404}, (who, path, response.status_code)
            if response.status_code == 302:  # the trader: sent to the staff login, as for any staff page
                assert response["Location"].startswith(reverse("login")), who
            assert "150 records" not in response.content.decode() and str(alert.code) not in response.content.decode(), who
        response = http.post(decide, {"decision": "benign", "reason": "nothing", "quiet_days": "30"})
        assert response.status_code in {302, 404}, (who, response.status_code)
        alert.refresh_from_db()
        assert alert.status == AlertStatus.OPEN, who


# --- the support API: every operation, every role, a ticket of ours and one of the other brand -----------

# Per role, for a ticket about our client (`mine`, the sales agent's, on the managed desk): whether the
# role reads it, and whether it may answer and move it. The other brand's ticket is missing for all.
SUPPORT_API_READS = {RoleCode.DESK_MANAGER, RoleCode.SALES_AGENT, RoleCode.SUPPORT_AGENT, RoleCode.COMPLIANCE,
                     RoleCode.FINANCE, RoleCode.IB_MANAGER}
SUPPORT_API_WORKS = {RoleCode.DESK_MANAGER, RoleCode.SALES_AGENT, RoleCode.SUPPORT_AGENT, RoleCode.COMPLIANCE}
# Who reads a compliance-sensitive ticket's internal notes (those who work compliance cases).
SUPPORT_API_REASONS = {RoleCode.COMPLIANCE}


@cache
def support_api_operations() -> list[tuple[str, str]]:
    schema = api.get_openapi_schema()
    return sorted((method.upper(), path) for path, item in schema["paths"].items() for method in item
                  if path.startswith("/api/v1/support/"))


def _support_world(world: Any) -> SimpleNamespace:
    from support import services as support

    admin = make_user(role_code=RoleCode.ADMIN)
    for brand in (world.home, world.away):
        support.desk_save(actor=admin, brand=brand, name=f"{brand.name} support", code="main", time_zone="UTC",
                          business_hours={d: [["09:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")})
    ours = support.ticket_open(brand=world.home, category="withdrawal", subject="Where is my money", channel="portal",
                               body="Ten days now.", client=world.mine)
    theirs = support.ticket_open(brand=world.away, category="withdrawal", subject="Away money", channel="portal",
                                 body="Twelve days now.", client=world.foreign)
    officer = make_user(role_code=RoleCode.COMPLIANCE, brand=world.home)
    support.ticket_mark_sensitive(ticket=ours, sensitive=True, actor=officer)
    support.ticket_note(ticket=ours, body="Frozen under case C-17 (structuring)", actor=officer)
    return SimpleNamespace(ours=ours, theirs=theirs)


def _support_state(brand: Any) -> str:
    from support.models import Ticket, TicketMessage

    rows = [list(Ticket.objects.filter(brand=brand).order_by("pk").values()),
            list(TicketMessage.objects.filter(ticket__brand=brand).order_by("pk").values("pk", "kind", "body_text"))]
    return hashlib.sha256(json.dumps(rows, default=str, sort_keys=True).encode()).hexdigest()


def test_the_matrix_finds_the_support_api_operations():
    assert set(support_api_operations()) >= {
        ("GET", "/api/v1/support/tickets"), ("POST", "/api/v1/support/tickets"),
        ("GET", "/api/v1/support/tickets/{reference}"), ("PATCH", "/api/v1/support/tickets/{reference}"),
        ("POST", "/api/v1/support/tickets/{reference}/messages")}


@pytest.mark.parametrize("role", ROLES)
def test_every_support_api_operation_keeps_each_role_to_its_tickets(world, role, login_verified):
    tickets = _support_world(world)
    http = _session(world.staff[role], login_verified)
    away_before = _support_state(world.away)
    reads, works = role in SUPPORT_API_READS, role in SUPPORT_API_WORKS
    bodies = {"POST": {"body": "Matrix probe", "key": f"matrix-{role}"}, "PATCH": {"status": "on_hold"}}
    for method, route in support_api_operations():
        if route == "/api/v1/support/tickets":
            if method == "GET":  # the list: our ticket for who reads it, never theirs
                response = http.get(route)
                listed = {t["reference"] for t in response.json().get("items", [])}
                assert tickets.theirs.reference not in listed, role
                assert (tickets.ours.reference in listed) == reads, (role, response.status_code)
            else:  # opening, for the other brand's client: refused naming it, nothing opened
                body = {"client": str(world.foreign.code), "category": "other", "subject": "Probe", "body": "x",
                        "key": f"open-{role}"}
                response = http.post(route, json.dumps(body), content_type="application/json")
                assert response.status_code in {404, 422}, (role, response.status_code)
            assert "C-17" not in response.content.decode() or role in SUPPORT_API_REASONS, role
            continue
        foreign = route.replace("{reference}", tickets.theirs.reference)
        response = http.generic(method, foreign, json.dumps(bodies.get(method, {})), content_type="application/json")
        assert response.status_code == 404, (role, method, foreign, response.status_code)
        own = route.replace("{reference}", tickets.ours.reference)
        response = http.generic(method, own, json.dumps(bodies.get(method, {})), content_type="application/json")
        if method == "GET":
            assert response.status_code == (200 if reads else 404), (role, own, response.status_code)
        else:
            expected = {200, 201} if works else ({403} if reads else {404})
            assert response.status_code in expected, (role, method, own, response.status_code, response.content)
        # Compliance's reasons reach only who works cases; never a sales role.
        assert "C-17" not in response.content.decode() or role in SUPPORT_API_REASONS, (role, method, own)
    assert _support_state(world.away) == away_before, role
    from support.models import TicketMessage

    probes = TicketMessage.objects.filter(ticket=tickets.ours, body_text="Matrix probe").count()
    assert probes == (1 if works else 0), role
