"""Staff restriction: restricted now, a member of staff can read but not reveal, export or change
anything from their next request until a manager lifts it; each step is audited and kept."""

from __future__ import annotations

import django_rq
import pytest
from django.test import Client as HttpClient
from django.urls import reverse
from rq import SimpleWorker

from crm import services
from crm.exceptions import Conflict, NotAllowed, ValidationFailed
from crm.jobs import job_can_download
from crm.models import AccessEvent, AuditLog, Job, JobStatus, RoleCode, StaffRestriction, User
from crm.permissions import user_can
from tests.factories import make_brand, make_client, make_desk, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def desk(db):
    brand = make_brand(name="Alpha Markets")
    manager = make_user(role_code=RoleCode.DESK_MANAGER, brand=brand, full_name="Mona Manager")
    london = make_desk(brand=brand, name="London", manager=manager)
    agent = make_user(role_code=RoleCode.SALES_AGENT, desk=london, full_name="Olivia Owner")
    colleague_manager = make_user(role_code=RoleCode.DESK_MANAGER, brand=brand, full_name="Paul Paris")
    make_desk(brand=brand, name="Paris", manager=colleague_manager)
    client = make_client(actor=agent, first_name="Bruno", last_name="Alves", email="bruno@example.com",
                         phone="+442071838750")
    return {"brand": brand, "manager": manager, "agent": agent, "client": client,
            "other_manager": colleague_manager}


def _http(user: User) -> HttpClient:
    http = HttpClient()
    http.force_login(user)
    return http


def _fresh(user: User) -> User:
    return User.objects.get(pk=user.pk)


def test_a_restricted_agents_next_reveal_is_refused_with_a_clear_message(desk):
    http = _http(desk["agent"])
    url = reverse("client_reveal", args=[desk["client"].code])
    assert http.post(url, {"field": "phone"}).status_code == 200  # before: allowed

    services.staff_restrict(actor=desk["manager"], user=desk["agent"], reason="Copying the book before leaving")

    response = http.post(url, {"field": "phone"})  # the same session, the next request
    assert response.status_code == 403
    assert "Your access is restricted" in response.content.decode()
    assert "+442071838750" not in response.content.decode()
    assert AccessEvent.objects.filter(user=desk["agent"], kind__startswith="reveal").count() == 1
    with pytest.raises(NotAllowed, match="restricted"):
        services.client_contact_reveal(actor=_fresh(desk["agent"]), client=desk["client"], field="email")


def test_a_restricted_agents_next_export_is_refused_and_a_queued_one_does_not_run(desk, django_capture_on_commit_callbacks):
    queue = django_rq.get_queue("default")
    queue.empty()
    agent = desk["agent"]
    services.staff_restrict(actor=None, user=desk["manager"], reason="test")  # a manager exports; restrict them
    services.staff_restriction_lift(actor=None, user=desk["manager"], reason="done")
    http = _http(desk["manager"])
    with django_capture_on_commit_callbacks(execute=True):
        assert http.post(reverse("client_export"), {"format": "csv"}).status_code == 302
    queued = Job.objects.get(kind="crm.client_export")
    # Restricted after asking, before the worker took it:
    services.staff_restrict(actor=None, user=desk["manager"], reason="Bulk export out of book")
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    queued.refresh_from_db()
    assert queued.status == JobStatus.FAILED and "restricted" in queued.failure_reason
    assert not AccessEvent.objects.filter(kind="export").exists()

    response = http.post(reverse("client_export"), {"format": "csv"})
    assert response.status_code == 403 and "Your access is restricted" in response.content.decode()
    assert Job.objects.filter(kind="crm.client_export").count() == 1
    assert AuditLog.objects.filter(action="staff.restricted_refused", actor=desk["manager"]).exists()
    assert agent.pk  # the agent untouched


def test_restricted_is_read_only_but_may_read_and_sign_out(desk):
    http = _http(desk["agent"])
    services.staff_restrict(actor=desk["manager"], user=desk["agent"], reason="Under review")
    assert http.get(reverse("client_detail", args=[desk["client"].code])).status_code == 200
    response = http.post(reverse("client_note_add", args=[desk["client"].code]), {"body": "hello"})
    assert response.status_code == 403
    assert not desk["client"].notes.exists()
    agent = _fresh(desk["agent"])
    assert user_can(agent, "crm.view_client") and not user_can(agent, "crm.change_client")
    assert not user_can(agent, "crm.reveal_contact") and not user_can(agent, "crm.add_note")
    assert http.post(reverse("logout")).status_code in (200, 302)


def test_lifting_gives_the_rights_back_and_keeps_the_history(desk):
    agent = desk["agent"]
    first = services.staff_restrict(actor=desk["manager"], user=agent, reason="Night exports")
    with pytest.raises(Conflict):
        services.staff_restrict(actor=desk["manager"], user=agent, reason="again")
    services.staff_restriction_lift(actor=desk["manager"], user=agent, reason="Explained: month-end report")
    assert user_can(_fresh(agent), "crm.reveal_contact")
    with pytest.raises(Conflict):
        services.staff_restriction_lift(actor=desk["manager"], user=agent, reason="twice")
    services.staff_restrict(actor=desk["manager"], user=agent, reason="Again at night")
    rows = list(StaffRestriction.objects.filter(user=agent).order_by("started_at", "id"))
    assert [r.reason for r in rows] == ["Night exports", "Again at night"]
    first.refresh_from_db()
    assert first.lifted_by == desk["manager"] and first.lift_reason == "Explained: month-end report"
    assert rows[1].lifted_at is None
    actions = list(AuditLog.objects.filter(object_id=str(agent.code), action__startswith="staff.").order_by("id").values_list("action", flat=True))
    assert actions == ["staff.restrict", "staff.restriction_lift", "staff.restrict"]


def test_only_the_agents_own_desk_manager_compliance_or_an_admin_may_restrict(desk):
    agent = desk["agent"]
    with pytest.raises(NotAllowed):
        services.staff_restrict(actor=desk["other_manager"], user=agent, reason="not my desk")
    colleague = make_user(role_code=RoleCode.SALES_AGENT, desk=agent.desk)
    with pytest.raises(NotAllowed):
        services.staff_restrict(actor=colleague, user=agent, reason="peer")
    with pytest.raises(NotAllowed):
        services.staff_restrict(actor=desk["manager"], user=desk["manager"], reason="myself")
    compliance = make_user(role_code=RoleCode.COMPLIANCE, brand=desk["brand"])
    services.staff_restrict(actor=compliance, user=agent, reason="AML case")
    with pytest.raises(ValidationFailed):
        services.staff_restriction_lift(actor=compliance, user=agent, reason="   ")
    assert _fresh(agent).restricted_since is not None


def test_the_restriction_page_restricts_and_lifts_for_the_manager_and_is_missing_for_others(desk):
    agent = desk["agent"]
    url = reverse("staff_restriction", args=[agent.code])
    assert _http(desk["other_manager"]).get(url).status_code == 404
    assert _http(agent).get(url).status_code == 404
    manager = _http(desk["manager"])
    assert manager.post(url, {"action": "restrict", "reason": ""}).status_code == 302
    assert _fresh(agent).restricted_since is None  # no reason, nothing done
    manager.post(url, {"action": "restrict", "reason": "Bulk opens"})
    page = manager.get(url).content.decode()
    assert "Bulk opens" in page and 'id="restriction-state"' in page and "restricted" in page
    manager.post(url, {"action": "lift", "reason": "Reviewed"})
    assert _fresh(agent).restricted_since is None


def test_a_restricted_user_may_not_download_an_earlier_export(desk):
    manager = desk["manager"]
    job = Job.objects.create(kind="crm.client_export", title="x", started_by=manager, func="x")
    assert job_can_download(manager, job)
    services.staff_restrict(actor=None, user=manager, reason="Under review")
    assert not job_can_download(_fresh(manager), job)


def test_the_session_api_is_read_only_too_with_the_reason_in_its_error_shape(desk):
    import json

    http = _http(desk["agent"])
    services.staff_restrict(actor=desk["manager"], user=desk["agent"], reason="Under review")
    response = http.post("/api/v1/tasks", json.dumps({"title": "Call back", "assignee": str(desk["agent"].code)}),
                         content_type="application/json")
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden" and "restricted" in response.json()["message"]
    assert http.get(f"/api/v1/clients/{desk['client'].code}").status_code == 200
