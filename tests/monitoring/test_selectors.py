"""monitoring.selectors keep their own promise: each read gives the desk manager what they record or
may see, and nothing to the same manager once their role lacks the permission the read needs, to the
manager of another desk or to an agent, whatever the page calls it with (the pages re-check, so only a
test of the selector itself catches one that checks the wrong thing). A list cut at a number says how
many there were."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from crm.models import Brand, User
from monitoring import selectors, services
from monitoring.recording import ActivityRow, activity_write
from tests.factories import make_brand, make_desk, make_user

pytestmark = pytest.mark.django_db

DAY = date(2026, 3, 2)


@pytest.fixture
def desk() -> dict[str, Any]:
    brand = make_brand()
    manager = make_user(role_code="desk_manager", brand=brand)
    d = make_desk(brand=brand, manager=manager)
    other_manager = make_user(role_code="desk_manager", brand=brand)
    make_desk(brand=brand, manager=other_manager)
    outsider = make_user(role_code="desk_manager", brand=make_brand())
    make_desk(brand=outsider.brands.get(), manager=outsider)
    ana = make_user(role_code="sales_agent", desk=d, full_name="Ana Agent")
    bo = make_user(role_code="sales_agent", desk=d, full_name="Bo Agent")
    services.cover_set(actor=manager, agent=ana, covered=bo, starts_on=DAY, ends_on=DAY, note="")
    services.leave_set(actor=manager, agent=bo, starts_on=DAY, ends_on=DAY, note="")
    services.notice_enter(actor=manager, agent=ana, given_on=DAY, last_day=DAY + timedelta(days=30), note="")
    services.shift_set(actor=manager, agent=ana, start_hour=9, end_hour=18, starts_on=DAY)
    services.campaign_day_set(actor=manager, desk=d, day=DAY, note="")
    services.holiday_set(actor=manager, brand=brand, day=DAY, name="Spring")
    alert = services.raise_alert(brand=brand, subject_kind="agent", detector="agent.bulk_access", day=DAY,
                                 score=6.0, reasons=["opened 150 records"], evidence=[], agent=ana)
    start = datetime(DAY.year, DAY.month, DAY.day, 9, tzinfo=UTC)
    activity_write([ActivityRow(time=start + timedelta(minutes=i), agent_id=ana.pk, kind="search",
                                brand_id=brand.pk) for i in range(5)])
    return {"brand": brand, "manager": manager, "other_manager": other_manager, "outsider": outsider, "ana": ana, "bo": bo,
            "alert": alert}


def _without(user: User, perm: str) -> User:
    """`user` as they are once their role no longer grants `perm`."""
    assert user.role is not None and user.role.group is not None
    user.role.group.permissions.remove(Permission.objects.get(codename=perm.split(".", 1)[1],
                                                              content_type__app_label=perm.split(".", 1)[0]))
    return User.objects.get(pk=user.pk)


CONTEXT = sorted(selectors.CONTEXT_READS)


def _context(w: dict[str, Any], kind: str, user: User) -> list[Any]:
    return list(selectors.CONTEXT_READS[kind](user))


@pytest.mark.parametrize("kind", CONTEXT)
def test_each_context_read_gives_the_manager_their_desks_records_and_nobody_else_any(desk: dict[str, Any], kind: str) -> None:
    assert len(_context(desk, kind, desk["manager"])) == 1
    # holidays are the brand's: every desk of it records them; the rest are the desk's own
    assert len(_context(desk, kind, desk["other_manager"])) == (1 if kind == "holidays" else 0)
    assert _context(desk, kind, desk["outsider"]) == []
    assert _context(desk, kind, desk["ana"]) == []
    assert _context(desk, kind, _without(desk["manager"], "monitoring.add_cover")) == []


def test_a_notice_is_found_only_by_who_records_its_agents_context(desk: dict[str, Any]) -> None:
    notice = selectors.notices_for_user(desk["manager"]).get()
    assert selectors.notice_get_for_user(desk["manager"], notice.code) == notice
    assert selectors.notice_get_for_user(desk["other_manager"], notice.code) is None
    assert selectors.notice_get_for_user(_without(desk["manager"], "monitoring.add_cover"), notice.code) is None


def test_alerts_go_to_the_manager_never_to_their_subject_nor_without_the_permission(desk: dict[str, Any]) -> None:
    alert = desk["alert"]
    assert list(selectors.alerts_for_user(desk["manager"])) == [alert]
    assert list(selectors.alerts_for_user(desk["manager"], status="closed")) == []
    assert list(selectors.alerts_for_user(desk["other_manager"])) == []
    assert list(selectors.alerts_for_user(desk["ana"])) == []
    assert list(selectors.alerts_for_user(_without(desk["manager"], "monitoring.view_monitoringalert"))) == []


def test_an_agents_day_is_read_only_by_who_may_see_their_alerts(desk: dict[str, Any]) -> None:
    ana = desk["ana"]
    found = selectors.agent_for_activity(desk["manager"], ana.code)
    assert found == ana
    day = selectors.agent_day_activity(user=desk["manager"], agent=ana, day=DAY)
    assert (len(day.rows), day.total, day.is_cut) == (5, 5, False)
    assert selectors.agent_day_activity(user=desk["manager"], agent=ana, day=DAY, limit=2).total == 5
    assert selectors.agent_day_activity(user=desk["manager"], agent=ana, day=DAY, limit=2).is_cut
    for user in (desk["other_manager"], ana, _without(desk["manager"], "monitoring.view_monitoringalert")):
        assert selectors.agent_for_activity(user, ana.code) is None
        assert selectors.agent_day_activity(user=user, agent=ana, day=DAY).rows == []


def test_a_context_list_cut_at_its_limit_says_how_many_there_were(desk: dict[str, Any], client: Any) -> None:
    manager, brand = desk["manager"], desk["brand"]
    for n in range(3):
        services.holiday_set(actor=manager, brand=brand, day=DAY + timedelta(days=n + 1), name=f"Day {n}")
    cut = selectors.context_rows(user=manager, kind="holidays", limit=2)
    assert ([h.name for h in cut.rows], cut.total, cut.is_cut) == (["Day 2", "Day 1"], 4, True)
    assert not selectors.context_rows(user=manager, kind="holidays").is_cut
    client.force_login(manager)
    page = client.get(reverse("monitoring_context", args=["holidays"])).content.decode()
    assert 'id="context-cut"' not in page


def test_the_alert_list_is_paged_and_says_how_many_there_are(desk: dict[str, Any], client: Any) -> None:
    brand: Brand = desk["brand"]
    for n in range(55):
        services.raise_alert(brand=brand, subject_kind="agent", detector="agent.off_hours", day=DAY - timedelta(days=n + 1),
                             score=5.0, reasons=["late"], evidence=[], agent=desk["bo"])
    client.force_login(desk["manager"])
    first = client.get(reverse("monitoring_alerts")).content.decode()
    assert first.count("data-alert=") == 50 and "of 56" in first
    second = client.get(reverse("monitoring_alerts") + "?page=2").content.decode()
    assert second.count("data-alert=") == 6
