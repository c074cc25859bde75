"""The permission matrix of what leaves the pages: the event feed and webhook subscriptions, for every
API scope and every event family, and the sales floor's view of a client compliance has restricted.

Compliance's and monitoring's events (a screening hit with the listed name, a case closed with a
suspicious-activity report, a risk band, a restriction's reason, an alert about an agent) reach an API
key or its webhooks only with their own scope, which only a compliance officer or an administrator may
give; a staff session reads them only with that permission. Personal data in any event needs the
personal-data scope. The sales floor sees that a client is restricted and from what, never why, never
a case, never a band; compliance's tasks are compliance's.

The state is built as the product builds it: a list loaded, the client screened, the hit confirmed by
an officer (which restricts the client and opens a case), the case reported with a second officer's
approval, the risk recomputed, an agent alert raised; everything read through the API with real keys
and the pages with signed-in staff.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from django.test import Client as HttpClient
from django.urls import reverse

from crm import events
from crm.celery import app as celery_app
from crm.events import catalogue
from crm.exceptions import ValidationFailed
from crm.models import RoleCode
from crm.registry import API_SCOPES
from integrations.services import apikey_create
from tests.crm.api_support import KeyClient, assert_error
from tests.factories import make_brand, make_client, make_desk, make_user

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parents[1] / "compliance" / "fixtures"
GUARDED = {"compliance.": "compliance:events", "monitoring.": "monitoring:events"}
# What the state below writes of each guarded family (the families every other scope must not see).
WRITTEN = {"compliance.hit_raised", "compliance.hit_confirmed", "compliance.case_opened", "compliance.case_closed",
           "compliance.risk_changed", "compliance.restriction_imposed", "monitoring.alert_raised"}
HIT_REASON = "Same passport number as the listed person"


def _guard(name: str) -> str | None:
    return next((scope for family, scope in GUARDED.items() if name.startswith(family)), None)


@pytest.fixture
def eager_celery():
    saved = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = True, True
    yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = saved


def _key(world: Any, *scopes: str) -> KeyClient:
    _key_row, raw = apikey_create(actor=world.admin, brand=world.brand, name="Integration", scopes=list(scopes))
    return KeyClient(raw)


def _subscribe(api: KeyClient, names: list[str]) -> Any:
    return api.post("/webhooks/subscribers", {"name": "Hook", "url": "https://hooks.example.com/crm",
                                              "event_types": names})


@pytest.fixture
def world(db, settings, tmp_path, eager_celery, django_capture_on_commit_callbacks):
    from compliance.cases import case_approve, case_decide, case_narrative_set, case_review_start
    from compliance.models import Case
    from compliance.services import client_screen, screening_hit_decide, watchlist_load
    from compliance.watchlists.parsers import SourceFile
    from crm.services import client_share, client_update
    from monitoring.services import raise_alert

    settings.COMPLIANCE_SCREENING_HIGH_SCORE = "2"  # one officer decides (four-eyes is screening's own test)
    settings.COMPLIANCE_CASE_STORAGE_DIR = tmp_path / "cases"
    brand = make_brand(code="home", name="Home Markets")
    admin = make_user(role_code=RoleCode.ADMIN, full_name="Ada Admin")
    manager = make_user(role_code=RoleCode.DESK_MANAGER, brand=brand, full_name="Mona Manager")
    desk = make_desk(brand=brand, name="London sales", manager=manager)
    agent = make_user(role_code=RoleCode.SALES_AGENT, desk=desk, full_name="Sam Sales")
    retention = make_user(role_code=RoleCode.RETENTION_AGENT, desk=desk, full_name="Rita Retention")
    officer = make_user(role_code=RoleCode.COMPLIANCE, brand=brand, full_name="Priya Officer")
    officer2 = make_user(role_code=RoleCode.COMPLIANCE, brand=brand, full_name="Second Officer")
    w = SimpleNamespace(brand=brand, admin=admin, manager=manager, desk=desk, agent=agent, retention=retention,
                        officer=officer, officer2=officer2)

    # Subscribers exist before anything happens: what each receives is what its key may have. Paused, so
    # that deliveries queue and stay in the log (nothing is sent from a test).
    w.hooks = {}
    declared = [e.name for e in catalogue.declared()]
    for label, scopes in (("plain", ("webhooks:manage",)),
                          ("compliance", ("webhooks:manage", "compliance:events"))):
        api = _key(w, *scopes)
        names = [n for n in declared if _guard(n) in (None, *scopes)]
        created = _subscribe(api, names)
        assert created.status_code == 201, created.content
        assert api.patch(f"/webhooks/subscribers/{created.json()['code']}", {"status": "paused"}).status_code == 200
        w.hooks[label] = api

    with django_capture_on_commit_callbacks(execute=False):  # no client yet: nothing to re-screen
        watchlist_load(name="OFAC SDN", fmt="ofac-csv",
                       files=[SourceFile(n, (FIXTURES / n).read_bytes()) for n in ("sdn.csv", "alt.csv", "add.csv")])
    client = make_client(actor=agent, brand=brand, first_name="Sergey", last_name="Petrov",
                         email="s.petrov@example.com", country="RU")
    client_share(actor=agent, client=client, user=retention)
    [hit] = client_screen(client_id=client.pk, trigger="details_changed")
    with django_capture_on_commit_callbacks(execute=True):
        screening_hit_decide(hit=hit, actor=officer, action="confirm", reason=HIT_REASON)
    with django_capture_on_commit_callbacks(execute=True):
        events.dispatch_pending()  # the case opens, the risk is recomputed
    case = Case.objects.get(client=client)
    case_review_start(case=case, actor=officer)
    case_narrative_set(case=case, actor=officer, narrative="Confirmed match on the OFAC list; funds frozen")
    case_decide(case=case, actor=officer, decision="report", reason="Sanctioned person")
    case_approve(case=case, actor=officer2)
    raise_alert(brand=brand, subject_kind="agent", detector="bulk_access", day=date(2026, 3, 2), score=7.5,
                reasons=["opened 150 records between 14:00 and 17:00"], evidence=[], agent=agent)
    client_update(actor=agent, client=client, first_name="Sergei")  # names: personal data
    with django_capture_on_commit_callbacks(execute=True):
        events.dispatch_pending()
    w.client, w.hit, w.case = client, hit, case
    return w


def _feed(http: Any, params: dict[str, Any] | None = None, *, key: bool = True) -> tuple[list[dict[str, Any]], str]:
    """Every event the caller reads (all pages) and the raw text of the answers."""
    items: list[dict[str, Any]] = []
    texts: list[str] = []
    cursor = None
    while True:
        query = {**(params or {}), "limit": 200, **({"cursor": cursor} if cursor else {})}
        response = http.get("/events", query) if key else http.get("/api/v1/events", query)
        assert response.status_code == 200, response.content[:300]
        texts.append(response.content.decode())
        body = response.json()
        items += body["items"]
        cursor = body["next_cursor"]
        if not cursor:
            return items, "".join(texts)


# --- the event feed, for every scope --------------------------------------------------------------------

def test_the_event_feed_gives_each_scope_its_families_and_personal_data_only_with_clients_read(world):
    everything = _key(world, *[str(s) for s in API_SCOPES.keys()])
    all_items, _text = _feed(everything)
    written = {i["name"] for i in all_items}
    assert written >= WRITTEN | {"client.created", "client.updated", "client.shared"}, written
    closed = next(i for i in all_items if i["name"] == "compliance.case_closed")
    assert closed["data"]["decision"] == "report"  # what only compliance:events may carry
    for scope in [str(s) for s in API_SCOPES.keys()]:
        held = {"events:read", scope}
        api = _key(world, *held)
        items, text = _feed(api)
        names = {i["name"] for i in items}
        expected = {n for n in written if _guard(n) in (None, *held)}
        assert names == expected, (scope, sorted(names ^ expected))
        if "clients:read" in held:
            hit = next(i for i in items if i["name"] == "compliance.hit_raised") if "compliance:events" in held else None
            assert hit is None or hit["data"]["matched_name"]
        else:
            # No name of the client (nor the listed name) in any event: left out, and said so.
            assert "petrov" not in text.lower() and "sergei" not in text.lower(), scope
            updated = next(i for i in items if i["name"] == "client.updated")
            assert "changes" not in updated["data"] and updated["redacted"] == ["changes"]
        # Asking for a guarded event by name gives nothing either (as for a name nobody has).
        reported, _ = _feed(api, {"name": "compliance.case_closed"})
        assert len(reported) == (1 if "compliance:events" in held else 0), scope
        if scope != "events:read":
            assert_error(_key(world, scope).get("/events"), 403, "missing_scope")


def test_a_staff_sessions_feed_has_compliance_matters_only_for_who_works_cases(world, login_verified):
    sessions: dict[str, Any] = {RoleCode.ADMIN: world.admin, RoleCode.COMPLIANCE: world.officer,
                RoleCode.DESK_MANAGER: world.manager, RoleCode.SALES_AGENT: world.agent,
                RoleCode.RETENTION_AGENT: world.retention}
    for role in RoleCode.values:  # every role: those without a client of their own here see nothing of it
        user = sessions.get(role) or make_user(role_code=role, brand=world.brand)
        http = HttpClient()
        login_verified(http, user)
        items, text = _feed(http, {"client": str(world.client.code)}, key=False)
        names = {i["name"] for i in items}
        if role in (RoleCode.ADMIN, RoleCode.COMPLIANCE):
            assert "compliance.restriction_imposed" in names, role
            assert "Compliance review" in text, role  # the reason, for who may read it
            continue
        assert not {n for n in names if _guard(n)}, (role, names)
        assert "Compliance review" not in text and str(world.hit.code)[:8] not in text, role
        if role in sessions:  # the sales roles see the client's own events, less compliance's
            assert "client.created" in names, role


# --- webhook subscriptions, for every scope and every family -------------------------------------------------

def test_a_subscription_takes_a_guarded_family_only_with_its_scope(db):
    brand = make_brand(code="subs", name="Subs Markets")
    w = SimpleNamespace(brand=brand, admin=make_user(role_code=RoleCode.ADMIN))
    declared = [e.name for e in catalogue.declared()]
    families = {n.split(".")[0] for n in declared}
    assert {"compliance", "monitoring", "client", "wallet", "trading"} <= families
    for scope in [None, *[str(s) for s in API_SCOPES.keys()]]:
        held = {"webhooks:manage", *([scope] if scope else [])}
        api = _key(w, *held)
        lacking = {s for s in GUARDED.values() if s not in held}
        refused = assert_error(_subscribe(api, declared), 422)
        message = " ".join(refused["fields"]["event_types"])
        assert all(s in message for s in lacking) and all(s not in message for s in set(GUARDED.values()) - lacking)
        allowed = [n for n in declared if _guard(n) in (None, *held)]
        created = _subscribe(api, allowed)
        assert created.status_code == 201, (scope, created.content)
        assert created.json()["event_types"] == sorted(allowed)
        if scope is None or scope in GUARDED.values():
            for name in ("compliance.case_closed", "monitoring.alert_raised"):
                single = _subscribe(api, [name])
                assert single.status_code == (201 if _guard(name) in held else 422), (scope, name, single.content)
            # Nor through a change of the subscription.
            changed = api.patch(f"/webhooks/subscribers/{created.json()['code']}", {"event_types": declared})
            assert_error(changed, 422)
    both = _key(w, "webhooks:manage", *GUARDED.values())
    assert _subscribe(both, declared).status_code == 201


def test_the_delivery_log_holds_compliance_events_only_for_a_key_with_their_scope(world):
    def bodies(api: KeyClient) -> list[dict[str, Any]]:
        log = api.get("/webhooks/deliveries", {"limit": 200}).json()["items"]
        return [json.loads(api.get(f"/webhooks/deliveries/{d['delivery_id']}").json()["body"])["event"] for d in log]

    plain = bodies(world.hooks["plain"])
    assert {"client.created", "client.updated"} <= {e["name"] for e in plain}
    assert not [e["name"] for e in plain if _guard(e["name"])]
    assert "Compliance review" not in json.dumps(plain)
    compliance = {e["name"]: e for e in bodies(world.hooks["compliance"])}
    assert compliance["compliance.case_closed"]["data"]["decision"] == "report"
    assert compliance["compliance.hit_raised"]["redacted"] == ["matched_name"]  # no personal_data scope
    assert "monitoring.alert_raised" not in compliance


# --- who may give a key those scopes --------------------------------------------------------------------

def test_only_a_compliance_officer_or_an_administrator_gives_a_key_the_compliance_scopes(db, login_verified):
    from django.contrib.auth.models import Permission

    brand = make_brand(code="grant", name="Grant Markets")
    may_make_keys = Permission.objects.get(content_type__app_label="crm", codename="add_apikey")
    manager = make_user(role_code=RoleCode.DESK_MANAGER, brand=brand)
    officer = make_user(role_code=RoleCode.COMPLIANCE, brand=brand)
    for user in (manager, officer):  # given the right to make keys by a superuser (Django's admin)
        user.user_permissions.add(may_make_keys)
    for scope in GUARDED.values():
        with pytest.raises(ValidationFailed) as refused:
            apikey_create(actor=manager, brand=brand, name="Leak", scopes=["events:read", scope])
        assert scope in " ".join(refused.value.fields["scopes"])
        assert apikey_create(actor=officer, brand=brand, name="Case feed", scopes=["events:read", scope])[0].pk
    assert apikey_create(actor=manager, brand=brand, name="Plain", scopes=["events:read"])[0].pk
    admin = HttpClient()
    login_verified(admin, make_user(role_code=RoleCode.ADMIN))
    page = admin.post(reverse("apikey_create"), {"name": "Case tool", "brand": brand.code,
                                                 "scopes": ["events:read", *GUARDED.values()]})
    assert page.status_code == 200 and b'data-testid="raw-key"' in page.content


# --- the sales floor's view of a restricted client -------------------------------------------------------------

def test_the_sales_floor_sees_that_a_client_is_restricted_never_why(world, login_verified):
    from compliance.models import RiskScore

    latest = RiskScore.objects.filter(client=world.client).first()
    assert latest is not None and latest.band == "high"  # the band the sales floor must not see
    secrets = ["Compliance review", str(world.hit.code)[:8], str(world.case.code), "Compliance case",
               "Enhanced due diligence", "Periodic review", HIT_REASON, "OFAC", "data-band", "High risk"]
    for user in (world.agent, world.retention, world.manager):
        http = HttpClient()
        login_verified(http, user)
        detail = reverse("client_detail", args=[world.client.code])
        timeline = http.get(f"{detail}?tab=timeline")
        tasks = http.get(f"{detail}?tab=tasks")
        own_tasks = http.get(reverse("task_list"), {"status": "all"})
        assert {timeline.status_code, tasks.status_code, own_tasks.status_code} == {200}, user.role_code
        page = timeline.content.decode()
        assert "Restriction imposed" in page and "Trading paused by compliance" in page, user.role_code
        for text in (page, tasks.content.decode(), own_tasks.content.decode()):
            leaked = [s for s in secrets if s in text]
            assert not leaked, (user.role_code, leaked)
    # Compliance's tasks are compliance's: the officers have them.
    officer = HttpClient()
    login_verified(officer, world.officer)
    mine = officer.get(reverse("task_list"), {"status": "all"})
    assert mine.status_code == 200
    assert "Compliance case: Sergey Petrov" in mine.content.decode()
    assert "Enhanced due diligence: Sergey Petrov" in mine.content.decode()
