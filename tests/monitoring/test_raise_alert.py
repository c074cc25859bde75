from __future__ import annotations

from datetime import date, timedelta

import pytest

from crm.exceptions import ValidationFailed
from crm.models import Event
from monitoring.models import AlertStatus, MonitoringAlert, MonitoringSettings, RouteTo
from monitoring.services import raise_alert
from tests.factories import make_brand, make_desk, make_user

pytestmark = pytest.mark.django_db

DAY = date(2026, 3, 2)


def _desk():
    brand = make_brand()
    manager = make_user(role_code="desk_manager", brand=brand)
    desk = make_desk(brand=brand, manager=manager)
    agent = make_user(role_code="sales_agent", desk=desk)
    return brand, manager, agent


def _raise(brand, agent, *, day=DAY, detector="agent_behaviour"):
    return raise_alert(brand=brand, subject_kind="agent", detector=detector, day=day, score=7.5,
                       reasons=["opened 150 records between 14:00 and 17:00; own 95th percentile 22"],
                       evidence=[{"label": "opens", "url": "/x"}], agent=agent)


def test_it_routes_to_the_desk_manager_and_emits_the_event():
    brand, manager, agent = _desk()
    alert = _raise(brand, agent)
    assert alert is not None and alert.routed_to == manager and alert.status == AlertStatus.OPEN
    event = Event.objects.get(name="monitoring.alert_raised")
    assert event.data["alert"] == str(alert.code) and event.data["routed_to"]["code"] == str(manager.code)
    assert event.client_id is None  # never on the client's timeline


def test_raising_twice_the_same_day_keeps_one_alert():
    brand, _, agent = _desk()
    first = _raise(brand, agent)
    assert _raise(brand, agent) == first
    assert MonitoringAlert.objects.count() == 1
    assert Event.objects.filter(name="monitoring.alert_raised").count() == 1
    assert _raise(brand, agent, detector="call_padding") != first


def test_a_benign_decision_keeps_the_pattern_quiet_until_its_end():
    brand, manager, agent = _desk()
    first = _raise(brand, agent)
    MonitoringAlert.objects.filter(pk=first.pk).update(status=AlertStatus.BENIGN, decided_by=manager,
                                                       quiet_until=DAY + timedelta(days=14))
    assert _raise(brand, agent, day=DAY + timedelta(days=14)) is None
    assert _raise(brand, agent, day=DAY + timedelta(days=3), detector="call_padding") is not None
    assert _raise(brand, agent, day=DAY + timedelta(days=15)) is not None


def test_the_brand_may_route_to_its_reporting_officer():
    brand, _, agent = _desk()
    officer = make_user(role_code="compliance", brand=brand)
    MonitoringSettings.objects.create(brand=brand, route_to=RouteTo.REPORTING_OFFICER, reporting_officer=officer)
    assert _raise(brand, agent).routed_to == officer


def test_a_manager_is_never_routed_an_alert_about_themselves():
    brand, manager, _ = _desk()
    manager.desk = manager.managed_desks.get()
    manager.save(update_fields=["desk"])
    assert _raise(brand, manager).routed_to is None


def test_it_refuses_an_alert_without_reasons_or_subject():
    brand, _, agent = _desk()
    with pytest.raises(ValidationFailed) as refused:
        raise_alert(brand=brand, subject_kind="agent", detector="x", day=DAY, score=1.0, reasons=[],
                    evidence=[], agent=None)
    assert set(refused.value.fields) == {"agent", "reasons"}
    assert not MonitoringAlert.objects.exists()
