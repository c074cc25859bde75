from __future__ import annotations

from datetime import date

import pytest
from django.urls import reverse

from crm.models import AuditLog
from monitoring.models import Cover, Notice, Shift
from monitoring.services import raise_alert
from tests.factories import make_brand, make_desk, make_user

pytestmark = pytest.mark.django_db

DAY = date(2026, 3, 2)


@pytest.fixture
def desk():
    brand = make_brand()
    manager = make_user(role_code="desk_manager", brand=brand)
    d = make_desk(brand=brand, manager=manager)
    return {"brand": brand, "manager": manager, "desk": d,
            "ana": make_user(role_code="sales_agent", desk=d, full_name="Ana Agent"),
            "bo": make_user(role_code="sales_agent", desk=d, full_name="Bo Agent"),
            "stranger": make_user(role_code="sales_agent", desk=make_desk(brand=brand), full_name="Stranger")}


def _alert(brand, agent):
    return raise_alert(brand=brand, subject_kind="agent", detector="agent.bulk_access", day=DAY, score=6.0,
                       reasons=["opened 150 records between 14:00 and 17:00; own 95th percentile 22"],
                       evidence=[{"label": "All activity", "url": "/monitoring/"}], agent=agent)


def test_a_manager_records_cover_and_it_is_audited(client, desk):
    client.force_login(desk["manager"])
    response = client.post(reverse("monitoring_context", args=["cover"]), {
        "agent": desk["ana"].code, "covered": desk["bo"].code, "starts_on": "2026-03-02", "ends_on": "2026-03-09"})
    assert response.status_code == 302
    cover = Cover.objects.get()
    assert (cover.agent, cover.covered, cover.set_by) == (desk["ana"], desk["bo"], desk["manager"])
    assert AuditLog.objects.filter(action="monitoring.cover_set", object_id=str(cover.code)).exists()
    page = client.get(reverse("monitoring_context", args=["cover"])).content.decode()
    assert "Ana Agent" in page and "Bo Agent" in page


@pytest.mark.parametrize(("kind", "data", "field", "message"), [
    ("cover", {"starts_on": "2026-03-09", "ends_on": "2026-03-02"}, "ends_on", "The last day is before the first day."),
    ("leave", {"starts_on": "2026-03-01", "ends_on": "2027-06-01"}, "ends_on", "A period is at most a year long."),
    ("notice", {"given_on": "2026-03-10", "last_day": "2026-03-01"}, "last_day", "The last day is before the first day."),
    ("shifts", {"start_hour": "9", "end_hour": "9", "starts_on": "2026-03-01"}, "end_hour", "The shift ends when it starts"),
    ("holidays", {"day": "2026-12-25", "name": "Christmas", "country": "G1"}, "country", "two-letter country code"),
])
def test_bad_context_input_is_refused_naming_the_field(client, desk, kind, data, field, message):
    client.force_login(desk["manager"])
    payload = {**data}
    if kind in ("cover", "leave", "notice", "shifts"):
        payload["agent"] = desk["ana"].code
    if kind == "cover":
        payload["covered"] = desk["bo"].code
    if kind == "holidays":
        payload["brand"] = desk["brand"].code
    response = client.post(reverse("monitoring_context", args=[kind]), payload)
    assert response.status_code == 400
    form = response.context["form"]
    assert any(message in e for e in form.errors.get(field, [])), form.errors
    assert not Cover.objects.exists() and not Notice.objects.exists() and not Shift.objects.exists()


def test_a_manager_cannot_record_context_for_another_desks_agent(client, desk):
    client.force_login(desk["manager"])
    response = client.post(reverse("monitoring_context", args=["leave"]), {
        "agent": desk["stranger"].code, "starts_on": "2026-03-02", "ends_on": "2026-03-03"})
    assert response.status_code == 400
    assert "Choose an agent of a desk you manage." in response.context["form"].errors["agent"]


def test_agents_see_no_monitoring_page(client, desk):
    client.force_login(desk["ana"])
    alert = _alert(desk["brand"], desk["bo"])
    for url in (reverse("monitoring_context", args=["cover"]), reverse("monitoring_alerts"),
                reverse("monitoring_alert", args=[alert.code])):
        assert client.get(url).status_code in (403, 404), url


def test_the_manager_sees_the_alert_its_reasons_and_evidence_and_the_view_is_audited(client, desk):
    alert = _alert(desk["brand"], desk["ana"])
    client.force_login(desk["manager"])
    listing = client.get(reverse("monitoring_alerts")).content.decode()
    assert str(alert.code) in listing
    page = client.get(reverse("monitoring_alert", args=[alert.code])).content.decode()
    assert "opened 150 records between 14:00 and 17:00; own 95th percentile 22" in page
    assert 'id="alert-decision"' in page
    assert AuditLog.objects.filter(action="monitoring.alert_view", object_id=str(alert.code),
                                   actor=desk["manager"]).exists()


def test_nobody_sees_an_alert_about_themselves(client, desk, login_verified):
    """The permission matrix: the subject never, whatever their role; their reviewer and compliance do."""
    brand = desk["brand"]
    officer = make_user(role_code="compliance", brand=brand)
    other_officer = make_user(role_code="compliance", brand=brand)
    about_officer = raise_alert(brand=brand, subject_kind="agent", detector="agent.off_hours", day=DAY, score=5.0,
                                reasons=["12 actions outside own hours"], evidence=[], agent=officer)
    about_manager = _alert(brand, desk["manager"])
    matrix = [(officer, about_officer, False), (other_officer, about_officer, True),
              (desk["manager"], about_manager, False), (officer, about_manager, True)]
    for viewer, alert, sees in matrix:
        login_verified(client, viewer)
        listed = str(alert.code) in client.get(reverse("monitoring_alerts")).content.decode()
        status = client.get(reverse("monitoring_alert", args=[alert.code])).status_code
        assert (listed, status == 200) == (sees, sees), (viewer.role_code, alert.detector)


def test_the_evidence_page_of_ones_own_day_is_refused(client, desk):
    manager = desk["manager"]
    manager.desk = desk["desk"]
    manager.save(update_fields=["desk"])
    client.force_login(manager)
    own = client.get(reverse("monitoring_agent_day", args=[manager.code, "2026-03-02"]))
    theirs = client.get(reverse("monitoring_agent_day", args=[desk["ana"].code, "2026-03-02"]))
    assert own.status_code == 404 and theirs.status_code == 200
    assert AuditLog.objects.filter(action="monitoring.activity_view", object_id=str(desk["ana"].code)).exists()


def test_the_evidence_page_of_a_day_that_has_no_next_day_or_is_no_day_is_a_404(client, desk):
    client.force_login(desk["manager"])
    for day in ("9999-12-31", "0000-00-00", "2026-02-30", "x"):
        assert client.get(reverse("monitoring_agent_day", args=[desk["ana"].code, day])).status_code == 404, day
    assert client.get(reverse("monitoring_agent_day", args=[desk["ana"].code, "0001-01-01"])).status_code == 200


@pytest.mark.parametrize(("page", "query"), [("monitoring_budget", "desk=x"), ("monitoring_performance", "desk=x"),
                                           ("monitoring_performance", "agent=x"), ("monitoring_performance", "agent=1e3")])
def test_a_desk_or_agent_that_is_no_code_is_a_404_on_the_desk_pages(client, desk, page, query):
    client.force_login(desk["manager"])
    assert client.get(f"{reverse(page)}?{query}").status_code == 404
    assert client.get(f"{reverse(page)}?desk={desk['desk'].code}").status_code == 200
