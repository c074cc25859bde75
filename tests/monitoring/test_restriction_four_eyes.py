"""A monitoring restriction through crm.lib.approvals (monitoring.review.services.RESTRICTION_APPROVAL):
where the brand's settings list the subject's kind (every kind by default) the first reviewer proposes,
the alert stays open with the proposal on its page, and a second, different reviewer approves it (the
agent or the client's trading is restricted, the alert decided by them) or sends it back with a reason.
Each step audited; the threshold is the brand's data."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client as HttpClient
from django.urls import reverse
from django.utils import timezone

from crm.exceptions import Conflict, ValidationFailed
from crm.models import AuditLog, RoleCode, User
from monitoring.exceptions import RestrictionFourEyesRefused
from monitoring.models import AlertStatus, MonitoringAlert, MonitoringSettings
from monitoring.review import services
from monitoring.services import raise_alert
from tests.factories import make_brand, make_client, make_desk, make_user

pytestmark = pytest.mark.django_db

REASON = "Opened and exported the book of a colleague after resigning"


@pytest.fixture
def floor(db):
    brand = make_brand(name="Alpha Markets")
    manager = make_user(role_code=RoleCode.DESK_MANAGER, brand=brand, full_name="Mona Manager")
    desk = make_desk(brand=brand, name="London", manager=manager)
    agent = make_user(role_code=RoleCode.SALES_AGENT, desk=desk, full_name="Olivia Owner")
    officer = make_user(role_code=RoleCode.COMPLIANCE, brand=brand, full_name="Cora Compliance")
    client = make_client(actor=agent, first_name="Bruno", last_name="Alves")
    return {"brand": brand, "manager": manager, "desk": desk, "agent": agent, "officer": officer, "client": client}


def _agent_alert(floor: dict[str, Any]) -> MonitoringAlert:
    alert = raise_alert(brand=floor["brand"], subject_kind="agent", detector="bulk_access",
                        day=timezone.localdate(), score=7.5, reasons=["opened 150 records"], evidence=[],
                        agent=floor["agent"])
    assert alert is not None
    return alert


def _client_alert(floor: dict[str, Any]) -> MonitoringAlert:
    alert = raise_alert(brand=floor["brand"], subject_kind="client", detector="multi_accounting",
                        day=timezone.localdate(), score=5.0, reasons=["shares a device with 3 clients"],
                        evidence=[], client=floor["client"])
    assert alert is not None
    return alert


def _http(login_verified: Any, user: User) -> HttpClient:
    http = HttpClient()
    login_verified(http, user)
    return http


def _restricted(user: User) -> bool:
    return User.objects.get(pk=user.pk).restricted_since is not None


def test_the_first_reviewer_only_proposes_and_cannot_approve_or_send_back_their_own(floor):
    alert = _agent_alert(floor)
    proposed = services.alert_restrict_now(actor=floor["manager"], alert=alert, reason=REASON)
    assert proposed.status == AlertStatus.OPEN and proposed.restriction_proposed_by == floor["manager"]
    assert not _restricted(floor["agent"])
    for attempt in (lambda: services.alert_restriction_approve(actor=floor["manager"], alert=alert),
                    lambda: services.alert_restriction_send_back(actor=floor["manager"], alert=alert, reason="no")):
        with pytest.raises(RestrictionFourEyesRefused) as refused:
            attempt()
        assert refused.value.code == "restriction_four_eyes"
    # While it waits, the alert takes no other decision (not even from the second reviewer).
    with pytest.raises(Conflict):
        services.alert_decide_benign(actor=floor["officer"], alert=alert, reason="fine")
    alert.refresh_from_db()
    assert alert.status == AlertStatus.OPEN and not _restricted(floor["agent"])
    row = AuditLog.objects.get(action="monitoring.restriction_proposed")
    assert row.actor_id == floor["manager"].pk and row.reason == REASON


def test_a_second_reviewer_approves_and_the_agent_is_restricted_by_them(floor):
    alert = _agent_alert(floor)
    services.alert_restrict_now(actor=floor["manager"], alert=alert, reason=REASON)
    decided = services.alert_restriction_approve(actor=floor["officer"], alert=alert)
    assert decided.status == AlertStatus.RESTRICTED and decided.decided_by == floor["officer"]
    assert decided.decision_reason == REASON and _restricted(floor["agent"])
    restriction = User.objects.get(pk=floor["agent"].pk).restrictions.get()
    assert restriction.started_by == floor["officer"] and restriction.origin == f"monitoring alert {alert.code}"
    row = AuditLog.objects.get(action="monitoring.alert_decided", object_id=str(alert.code))
    assert row.actor_id == floor["officer"].pk and row.after["proposed_by"]["code"] == str(floor["manager"].code)
    with pytest.raises(Conflict):  # decided once: nothing waits any more
        services.alert_restriction_approve(actor=floor["officer"], alert=alert)


def test_sending_back_clears_the_proposal_and_the_alert_is_open_for_any_decision(floor):
    alert = _agent_alert(floor)
    services.alert_restrict_now(actor=floor["manager"], alert=alert, reason=REASON)
    with pytest.raises(ValidationFailed):
        services.alert_restriction_send_back(actor=floor["officer"], alert=alert, reason=" ")
    back = services.alert_restriction_send_back(actor=floor["officer"], alert=alert, reason="HR handles it")
    assert back.status == AlertStatus.OPEN and back.restriction_proposed_by is None
    assert back.restriction_reason == "" and back.restriction_proposed_at is None and not _restricted(floor["agent"])
    row = AuditLog.objects.get(action="monitoring.restriction_sent_back")
    assert row.actor_id == floor["officer"].pk and row.reason == "HR handles it"
    assert row.after["proposed_by"] == str(floor["manager"].code)
    with pytest.raises(RestrictionFourEyesRefused):
        services.alert_restriction_approve(actor=floor["officer"], alert=alert)
    services.alert_decide_benign(actor=floor["manager"], alert=alert, reason="Explained by HR")
    alert.refresh_from_db()
    assert alert.status == AlertStatus.BENIGN


def test_the_threshold_is_the_brands_data_per_subject_kind(floor):
    settings = MonitoringSettings.objects.create(brand=floor["brand"], restriction_four_eyes=["client", "partner"])
    alert = _agent_alert(floor)
    decided = services.alert_restrict_now(actor=floor["manager"], alert=alert, reason=REASON)
    assert decided.status == AlertStatus.RESTRICTED and decided.decided_by == floor["manager"]
    assert _restricted(floor["agent"]) and decided.restriction_proposed_by is None
    assert not AuditLog.objects.filter(action="monitoring.restriction_proposed").exists()
    # The brand lists agents again: the next agent's restriction waits for a second reviewer.
    settings.restriction_four_eyes = ["agent"]
    settings.save()
    other = make_user(role_code=RoleCode.SALES_AGENT, desk=floor["desk"], full_name="Otto Other")
    second = raise_alert(brand=floor["brand"], subject_kind="agent", detector="bulk_access",
                         day=timezone.localdate(), score=7.5, reasons=["opened 90 records"], evidence=[], agent=other)
    assert second is not None
    waiting = services.alert_restrict_now(actor=floor["manager"], alert=second, reason=REASON)
    assert waiting.status == AlertStatus.OPEN and waiting.restriction_proposed_by == floor["manager"]
    assert not _restricted(other)


def test_a_client_alert_is_not_restricted_here_but_escalated(floor):
    alert = _client_alert(floor)
    admin = make_user(role_code=RoleCode.ADMIN, brand=floor["brand"])
    with pytest.raises(ValidationFailed):
        services.alert_restrict_now(actor=admin, alert=alert, reason="Multi-accounting ring")
    alert.refresh_from_db()
    assert alert.status == AlertStatus.OPEN and alert.restriction_proposed_by is None


def test_the_alert_page_shows_the_proposal_with_approve_and_send_back_to_another_reviewer(floor, login_verified):
    alert = _agent_alert(floor)
    url = reverse("monitoring_alert", args=[alert.code])
    decide = reverse("monitoring_review_decide", args=[alert.code])
    manager, officer = _http(login_verified, floor["manager"]), _http(login_verified, floor["officer"])
    done = manager.post(decide, {"decision": "restricted", "reason": REASON}, follow=True).content.decode()
    assert "Restriction proposed: it takes effect once a second reviewer approves it." in done
    own = manager.get(url).content.decode()
    assert 'id="restriction-proposal"' in own and REASON in own and 'id="restriction-approve"' not in own
    assert 'id="decision-form"' not in own and "You proposed it" in own
    refused = manager.post(decide, {"decision": "approve_restriction"}, follow=True).content.decode()
    assert "A second reviewer must approve this restriction." in refused and not _restricted(floor["agent"])

    theirs = officer.get(url).content.decode()
    assert 'id="restriction-approve"' in theirs and 'id="restriction-send-back"' in theirs
    officer.post(decide, {"decision": "approve_restriction"})
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESTRICTED and alert.decided_by == floor["officer"]
    assert _restricted(floor["agent"])
    page = officer.get(url).content.decode()
    assert 'data-status="restricted"' in page and "Proposed by Mona Manager" in page


def test_a_partner_alert_cannot_be_restricted_from_monitoring(floor):
    from ib.services import partner_create

    partner = partner_create(actor=None, brand=floor["brand"], display_name="Pat Partner",
                             email="pat.partner@example.com")
    alert = raise_alert(brand=floor["brand"], subject_kind="partner", detector="partner_anomaly",
                        day=timezone.localdate(), score=5.0, reasons=["odd"], evidence=[], partner_id=partner.pk)
    assert alert is not None
    admin = make_user(role_code=RoleCode.ADMIN, brand=floor["brand"])
    with pytest.raises(ValidationFailed):
        services.alert_restrict_now(actor=admin, alert=alert, reason="x")
    alert.refresh_from_db()
    assert alert.restriction_proposed_by is None
