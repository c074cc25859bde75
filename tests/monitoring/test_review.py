"""Reviewing a monitoring alert: each decision through the page a reviewer uses, what it leaves
behind (quiet period, coaching task, compliance's task, the restriction), the audit of every look
at the evidence and every decision, and who may see and decide an alert at all."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from django.test import Client as HttpClient
from django.urls import reverse
from django.utils import timezone

from crm import events
from crm.models import AuditLog, Event, Notification, RoleCode, Task, User
from crm.services import staff_restriction_lift
from monitoring.models import AlertStatus, MonitoringAlert, MonitoringSettings, RouteTo
from monitoring.review import services
from monitoring.services import raise_alert
from tests.factories import make_brand, make_client, make_desk, make_user

pytestmark = pytest.mark.django_db

REASON = "opened 150 records between 14:00 and 17:00; own 95th percentile 22; 131 of them untouched for 90 days"


@pytest.fixture
def floor(db):
    brand = make_brand(name="Alpha Markets")
    manager = make_user(role_code=RoleCode.DESK_MANAGER, brand=brand, full_name="Mona Manager")
    desk = make_desk(brand=brand, name="London", manager=manager)
    agent = make_user(role_code=RoleCode.SALES_AGENT, desk=desk, full_name="Olivia Owner")
    colleague = make_user(role_code=RoleCode.SALES_AGENT, desk=desk, full_name="Carl Colleague")
    officer = make_user(role_code=RoleCode.COMPLIANCE, brand=brand, full_name="Cora Compliance")
    client = make_client(actor=agent, first_name="Bruno", last_name="Alves")
    return {"brand": brand, "manager": manager, "desk": desk, "agent": agent, "colleague": colleague,
            "officer": officer, "client": client}


def _alert(floor, *, day: date | None = None, detector: str = "bulk_access", agent: User | None = None):
    alert = raise_alert(brand=floor["brand"], subject_kind="agent", detector=detector,
                        day=day or timezone.localdate(), score=7.5, reasons=[REASON],
                        evidence=[{"label": "client opened", "url": reverse("client_detail", args=[floor["client"].code])}],
                        agent=agent or floor["agent"])
    assert alert is not None
    return alert


_LOGIN: dict[str, Any] = {}


@pytest.fixture(autouse=True)
def _login(login_verified):
    _LOGIN["login"] = login_verified


def _http(user: User) -> HttpClient:
    """A browser session of `user`, the second factor proven where their role needs it."""
    http = HttpClient()
    _LOGIN["login"](http, user)
    return http


def _decide(user: User, alert: MonitoringAlert, decision: str, reason: str, **extra: str):
    return _http(user).post(reverse("monitoring_review_decide", args=[alert.code]),
                            {"decision": decision, "reason": reason, **extra})


def test_the_routed_manager_is_notified_and_sees_the_reasons(floor):
    alert = _alert(floor)
    events.dispatch_pending()
    note = Notification.objects.get(user=floor["manager"], kind="monitoring_alert")
    assert note.url == reverse("monitoring_alert", args=[alert.code])
    assert not Notification.objects.filter(user=floor["agent"], kind="monitoring_alert").exists()
    page = _http(floor["manager"]).get(note.url)
    assert page.status_code == 200 and "131 of them untouched for 90 days" in page.content.decode()


def test_the_agent_under_review_and_a_colleague_never_see_the_alert(floor):
    alert = _alert(floor)
    for user in (floor["agent"], floor["colleague"]):
        http = _http(user)
        assert http.get(reverse("monitoring_alert", args=[alert.code])).status_code == 404
        assert _decide(user, alert, "benign", "nothing to see").status_code == 404
    alert.refresh_from_db()
    assert alert.status == AlertStatus.OPEN


def test_every_look_at_the_alert_and_its_evidence_is_audited_and_the_decision_block_is_on_it(floor):
    alert = _alert(floor)
    http = _http(floor["manager"])
    for _ in range(2):
        response = http.get(reverse("monitoring_alert", args=[alert.code]))
        page = response.content.decode()
        assert response.status_code == 200 and reverse("client_detail", args=[floor["client"].code]) in page
        assert 'id="decision-form"' in page and 'value="restricted"' in page
    rows = AuditLog.objects.filter(action="monitoring.alert_view", object_id=str(alert.code))
    assert rows.count() == 2 and {r.actor_id for r in rows} == {floor["manager"].pk}


def test_benign_needs_a_reason_and_keeps_the_same_pattern_quiet_for_n_days(floor):
    today = timezone.localdate()
    alert = _alert(floor, day=today)
    _decide(floor["manager"], alert, "benign", "")
    alert.refresh_from_db()
    assert alert.status == AlertStatus.OPEN  # no reason, no decision
    _decide(floor["manager"], alert, "benign", "Month-end report for the desk", quiet_days="10")
    alert.refresh_from_db()
    assert alert.status == AlertStatus.BENIGN and alert.quiet_until == today + timedelta(days=10)
    assert alert.decided_by == floor["manager"] and alert.decision_reason == "Month-end report for the desk"
    assert _alert_or_none(floor, today + timedelta(days=10)) is None          # quiet
    assert _alert_or_none(floor, today + timedelta(days=3), detector="call_padding") is not None  # another pattern
    assert _alert_or_none(floor, today + timedelta(days=11)) is not None      # quiet no more
    audit = AuditLog.objects.get(action="monitoring.alert_decided", object_id=str(alert.code))
    assert audit.actor == floor["manager"] and (audit.after or {}).get("status") == "benign"


def _alert_or_none(floor, day, detector="bulk_access"):
    return raise_alert(brand=floor["brand"], subject_kind="agent", detector=detector, day=day, score=7.0,
                       reasons=[REASON], evidence=[], agent=floor["agent"])


def test_a_decided_alert_cannot_be_decided_again(floor):
    alert = _alert(floor)
    _decide(floor["manager"], alert, "benign", "Explained")
    response = _decide(floor["manager"], alert, "restricted", "Changed my mind")
    assert response.status_code == 302
    alert.refresh_from_db()
    assert alert.status == AlertStatus.BENIGN
    assert User.objects.get(pk=floor["agent"].pk).restricted_since is None


def test_coaching_gives_the_desk_manager_a_task_the_agent_does_not_see(floor):
    alert = _alert(floor)
    _decide(floor["officer"], alert, "coaching", "Walk through the data-handling policy")
    alert.refresh_from_db()
    assert alert.status == AlertStatus.COACHING
    task = Task.objects.get(assignee=floor["manager"])
    assert "Olivia Owner" in task.title and "Walk through the data-handling policy" in task.description
    assert REASON in task.description
    assert not Task.objects.filter(assignee=floor["agent"]).exists()


def test_escalating_gives_compliance_a_task_through_the_event(floor):
    alert = _alert(floor)
    _decide(floor["manager"], alert, "escalated", "Copying the book before a move to a competitor")
    alert.refresh_from_db()
    assert alert.status == AlertStatus.ESCALATED
    event = Event.objects.get(name="monitoring.alert_escalated")
    assert event.client_id is None and event.data["alert"] == str(alert.code)
    events.dispatch_pending()
    task = Task.objects.get(assignee=floor["officer"])
    assert "Monitoring alert escalated" in task.title and "Copying the book" in task.description
    assert reverse("monitoring_alert", args=[alert.code]) in task.description
    # The officer may open it (compliance reviews alerts of its brand).
    assert _http(floor["officer"]).get(reverse("monitoring_alert", args=[alert.code])).status_code == 200


def test_escalating_goes_to_the_reporting_officer_when_the_brand_has_one(floor):
    second = make_user(role_code=RoleCode.COMPLIANCE, brand=floor["brand"], full_name="Aaron Officer")
    MonitoringSettings.objects.create(brand=floor["brand"], route_to=RouteTo.DESK_MANAGER, reporting_officer=floor["officer"])
    alert = _alert(floor)
    services.alert_escalate(actor=floor["manager"], alert=alert, reason="Needs a look")
    events.dispatch_pending()
    assert Task.objects.filter(assignee=floor["officer"], title__startswith="Monitoring alert escalated").exists()
    assert not Task.objects.filter(assignee=second).exists()


def test_restrict_now_refuses_the_agents_next_export_and_reveal_until_lifted(floor):
    # A brand that lets one reviewer restrict an agent (tests/monitoring/test_restriction_four_eyes.py: two).
    MonitoringSettings.objects.create(brand=floor["brand"], restriction_four_eyes=["client"])
    alert = _alert(floor)
    agent_http = _http(floor["agent"])
    _decide(floor["manager"], alert, "restricted", "Bulk opens of stale records after notice")
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESTRICTED
    agent = User.objects.get(pk=floor["agent"].pk)
    assert agent.restricted_since is not None
    reveal = agent_http.post(reverse("client_reveal", args=[floor["client"].code]), {"field": "phone"})
    assert reveal.status_code == 403 and "Your access is restricted" in reveal.content.decode()
    restriction = agent.restrictions.get()
    assert restriction.origin == f"monitoring alert {alert.code}" and restriction.started_by == floor["manager"]
    staff_restriction_lift(actor=floor["manager"], user=agent, reason="Reviewed with HR")
    assert agent_http.post(reverse("client_reveal", args=[floor["client"].code]), {"field": "phone"}).status_code == 200


def test_only_an_agent_alert_can_be_coached(floor):
    alert = raise_alert(brand=floor["brand"], subject_kind="client", detector="multi_accounting",
                        day=timezone.localdate(), score=5.0, reasons=["shares a device with 3 clients"],
                        evidence=[], client=floor["client"])
    assert alert is not None
    admin = make_user(role_code=RoleCode.ADMIN, brand=floor["brand"])
    from crm.exceptions import ValidationFailed

    with pytest.raises(ValidationFailed):
        services.alert_decide_coaching(actor=admin, alert=alert, note="x")
