"""Monitoring's settings page: the monitoring administrator sets, per brand, whose restriction needs two
reviewers (MonitoringSettings.restriction_four_eyes); the save is audited and the next restriction
follows it; nobody else has the page, and an unknown kind is refused naming the field."""

from __future__ import annotations

import pytest
from django.test import Client as HttpClient
from django.urls import reverse
from django.utils import timezone

from crm.exceptions import ValidationFailed
from crm.models import AuditLog, RoleCode
from monitoring.models import AlertStatus
from monitoring.review import services as review
from monitoring.services import monitoring_four_eyes_save, monitoring_settings_for, raise_alert
from tests.factories import make_brand, make_desk, make_user


@pytest.fixture
def floor(db):
    brand = make_brand(name="Alpha Markets")
    manager = make_user(role_code=RoleCode.DESK_MANAGER, brand=brand, full_name="Mona Manager")
    desk = make_desk(brand=brand, name="London", manager=manager)
    agent = make_user(role_code=RoleCode.SALES_AGENT, desk=desk, full_name="Olivia Owner")
    admin = make_user(role_code=RoleCode.ADMIN, full_name="Ada Admin")
    return {"brand": brand, "manager": manager, "agent": agent, "admin": admin}


def _browser(login_verified, user) -> HttpClient:
    browser = HttpClient()
    login_verified(browser, user)
    return browser


def test_the_administrator_lets_one_reviewer_restrict_agents_and_the_next_restriction_follows(floor, login_verified):
    browser = _browser(login_verified, floor["admin"])
    page = browser.get(reverse("monitoring_settings")).content.decode()
    # Absent settings: every kind needs two reviewers, and the page shows all three ticked.
    assert f'data-brand="{floor["brand"].code}"' in page and page.count("checked") >= 3

    response = browser.post(reverse("monitoring_settings"), {"brand": floor["brand"].code, "kinds": ["client"]})
    assert response.status_code == 302
    assert monitoring_settings_for(floor["brand"]).restriction_four_eyes == ["client"]
    row = AuditLog.objects.get(action="monitoring.restriction_four_eyes_saved")
    assert row.actor_id == floor["admin"].pk and row.before is None
    assert row.after == {"restriction_four_eyes": ["client"]}

    alert = raise_alert(brand=floor["brand"], subject_kind="agent", detector="bulk_access", day=timezone.localdate(),
                        score=7.5, reasons=["opened 150 records"], evidence=[], agent=floor["agent"])
    assert alert is not None
    decided = review.alert_restrict_now(actor=floor["manager"], alert=alert, reason="Bulk export of client records")
    assert decided.status == AlertStatus.RESTRICTED  # one reviewer, as the brand now says

    browser.post(reverse("monitoring_settings"), {"brand": floor["brand"].code, "kinds": ["agent", "partner"]})
    row = AuditLog.objects.filter(action="monitoring.restriction_four_eyes_saved").order_by("-at", "-id").first()
    assert row is not None and row.before == {"restriction_four_eyes": ["client"]}
    assert row.after == {"restriction_four_eyes": ["agent", "partner"]}


def test_only_the_monitoring_administrator_has_the_page(floor, login_verified):
    for user in (floor["manager"], floor["agent"]):
        browser = _browser(login_verified, user)
        assert browser.get(reverse("monitoring_settings")).status_code == 404
        browser.post(reverse("monitoring_settings"), {"brand": floor["brand"].code, "kinds": []})
    assert not AuditLog.objects.filter(action="monitoring.restriction_four_eyes_saved").exists()
    # Another brand's code (or none) is not a brand the page knows of.
    browser = _browser(login_verified, floor["admin"])
    assert browser.post(reverse("monitoring_settings"), {"brand": "no-such-brand"}).status_code == 404


def test_an_unknown_kind_is_refused_naming_the_field(floor, login_verified):
    with pytest.raises(ValidationFailed) as refused:
        monitoring_four_eyes_save(brand=floor["brand"], kinds=["agent", "robot"], actor=floor["admin"])
    assert "kinds" in refused.value.fields
    browser = _browser(login_verified, floor["admin"])
    response = browser.post(reverse("monitoring_settings"), {"brand": floor["brand"].code, "kinds": ["robot"]})
    assert response.status_code == 400 and "robot" in response.content.decode()
    assert monitoring_settings_for(floor["brand"]).pk is None
