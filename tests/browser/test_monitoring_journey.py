"""Issue 36's journey in a real browser: an agent whose resignation notice was entered opens dozens of
records of a colleague's book (shared with them, untouched for months) and exports the list; the
activity is recorded and scored (what Celery does each hour, run here by the test); the desk manager
is notified, opens the alert with its reasons, opens the evidence (audited) and restricts the agent
now; the agent's next export is refused, with the reason in words."""

from __future__ import annotations

import re
from datetime import UTC, timedelta

import django_rq
import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone
from rq import SimpleWorker

from crm import events
from crm.models import AuditLog, Job, RoleCode, User
from crm.services import client_share
from monitoring import scenarios
from monitoring.models import MonitoringAlert, MonitoringSettings
from monitoring.pipeline import brand_rescore
from monitoring.recording import ActivityRow, activity_flush, activity_write_many
from monitoring.services import notice_enter
from tests.browser.support import MARKS, PASSWORD, login
from tests.factories import make_brand, make_client, make_desk, make_user
from tests.waiting import scaled_ms

pytestmark = MARKS

OPENED = 40      # records of the colleague's book the agent opens in the browser
HISTORY_DAYS = 90


@pytest.fixture
def desk(db):
    """A desk with eight agents and 90 days of their usual activity (the synthetic desk's, without
    injections), a colleague's book shared with the agent who is leaving, and the notice entered."""
    brand = make_brand(code="atlas-m", name="Atlas Monitoring")
    manager = make_user(role_code=RoleCode.DESK_MANAGER, brand=brand, full_name="Mona Manager",
                        email="mona@staff.example.com", password=PASSWORD)
    desk = make_desk(brand=brand, name="London", manager=manager)
    today = timezone.now().astimezone(UTC).date()
    scenario = scenarios.generate(agents=8, days=HISTORY_DAYS, seed=3, injections_per_kind=0,
                                  start=today - timedelta(days=HISTORY_DAYS))
    users: dict[str, User] = {}
    for n, spec in enumerate(scenario.context["agents"]):
        leaving = n == 0
        users[spec["id"]] = make_user(
            role_code=RoleCode.SALES_AGENT, desk=desk, full_name="Liam Leaving" if leaving else f"Agent {n}",
            email="liam@staff.example.com" if leaving else f"agent{n}@staff.example.com", password=PASSWORD)
    activity_write_many([
        ActivityRow(time=e.time, agent_id=users[e.agent].pk, kind=e.kind, brand_id=brand.pk,
                    client_owner_id=users[e.client_owner].pk if e.client_owner in users else None,
                    client_high_value=e.client_high_value, rows=e.rows or None,
                    duration_s=int(e.duration_s) if e.kind == "call" else None, ref=f"history:{e.ref}")
        for e in scenario.events if e.time.date() < today])
    # The day partitions the history needed were created by monitoring's SECURITY DEFINER function as
    # the owner; the application role reads them only through the parent table, but the scoring's
    # history_start reads the partitions by name: until monitoring grants on the partitions it makes,
    # the owner's post-migrate grants are run again here (as after a deploy).
    from crm.audit import app_privileges_grant
    from crm.lib.dbroles import as_owner

    with as_owner():
        app_privileges_grant()
    leaver, colleague = users[scenario.context["agents"][0]["id"]], users[scenario.context["agents"][1]["id"]]
    # This brokerage lets its agents export their list (a permission granted to the agent directly).
    leaver.user_permissions.add(Permission.objects.get(codename="export_client", content_type__app_label="crm"))
    book = [make_client(actor=colleague, first_name=f"Book{n:02d}", last_name="Client") for n in range(OPENED)]
    for client in book:
        client_share(actor=manager, client=client, user=leaver)
    notice_enter(actor=manager, agent=leaver, given_on=today - timedelta(days=2), last_day=today + timedelta(days=14),
                 note="Resigned: joining a competitor.")
    # This brokerage lets the desk manager restrict an agent alone (the brand's data; by default a second
    # reviewer approves it: tests/monitoring/test_restriction_four_eyes.py).
    MonitoringSettings.objects.create(brand=brand, restriction_four_eyes=["client", "partner"])
    return type("Desk", (), {"brand": brand, "manager": manager, "leaver": leaver, "book": book, "today": today})


# Every content-security-policy violation the page sees (an init script is not subject to the policy).
LISTEN = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__csp.push(e.violatedDirective + " " + (e.blockedURI || "inline"));
});
"""
DRAWN = ("Array.from(document.querySelectorAll('canvas[data-chart]')).length > 0 && typeof Chart !== 'undefined'"
         " && Array.from(document.querySelectorAll('canvas[data-chart]')).every(c => Chart.getChart(c) !== undefined)")


def _page(browser, base: str, user: User):
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    context.add_init_script(LISTEN)
    page = context.new_page()
    page.set_default_timeout(scaled_ms(20_000))
    login(page, base, user.email)
    return page


def _export(page, base: str) -> None:
    page.goto(f"{base}{reverse('client_list')}")
    page.click("form[action*='/clients/export/'] button[value=csv]")


def test_a_departing_agents_bulk_access_is_alerted_and_restricted_by_the_manager(live_server, browser, desk):
    base = live_server.url
    agent = _page(browser, base, desk.leaver)
    for client in desk.book:  # the colleague's book, one record after another
        agent.goto(f"{base}{reverse('client_detail', args=[client.code])}")
        agent.wait_for_selector("h1")
    queue = django_rq.get_queue("default")
    queue.empty()
    _export(agent, base)
    agent.wait_for_url(re.compile(r"/jobs/"))
    SimpleWorker([queue], connection=queue.connection).work(burst=True)  # the RQ worker writes the file
    exports = Job.objects.filter(kind="crm.client_export", started_by=desk.leaver).count()
    assert exports == 1
    agent.goto(f"{base}{reverse('client_list')}")  # back on the list, its Export buttons on screen

    # What Celery does: the activity buffer flushed, the day scored, the alert's event delivered.
    assert activity_flush() >= OPENED
    brand_rescore(desk.brand.pk, today=desk.today, raise_since=desk.today)
    alert = MonitoringAlert.objects.get(agent=desk.leaver, day=desk.today)
    assert alert.routed_to == desk.manager
    events.dispatch_pending()

    manager = _page(browser, base, desk.manager)
    manager.goto(f"{base}{reverse('notification_list')}")
    manager.click("text=Monitoring alert to review")
    manager.wait_for_url(f"{base}{reverse('monitoring_alert', args=[alert.code])}")
    reasons = manager.locator("#alert-reasons").inner_text()
    assert "records" in reasons or "exported" in reasons, reasons
    manager.click("#alert-evidence a >> nth=0")  # every activity of the agent that day
    manager.wait_for_url(re.compile(r"/monitoring/agents/"))
    assert "client_open" in manager.content() or "client open" in manager.content()
    manager.go_back()
    manager.check("input[name=decision][value=restricted]")
    manager.fill("#decision-reason", "Opened and exported a colleague's book after resigning.")
    manager.click("#decision-submit")
    manager.wait_for_selector("#alert-decision[data-status=restricted]")

    # The agent's very next request: Export on the list they had open before the restriction.
    agent.click("form[action*='/clients/export/'] button[value=csv]")
    agent.wait_for_selector("text=Your access is restricted")
    assert Job.objects.filter(kind="crm.client_export", started_by=desk.leaver).count() == exports
    actions = set(AuditLog.objects.filter(actor=desk.manager).values_list("action", flat=True))
    assert {"monitoring.alert_view", "monitoring.activity_view", "staff.restrict", "monitoring.alert_decided"} <= actions
    assert User.objects.get(pk=desk.leaver.pk).restricted_since is not None
    # The desk's budget and performance pages draw their charts from the page's JSON under the policy.
    manager.goto(f"{base}{reverse('monitoring_budget')}")
    manager.wait_for_function(DRAWN)
    assert manager.locator("#budget-cost [data-recall=all]").count() == 1
    manager.goto(f"{base}{reverse('monitoring_performance')}?agent={desk.leaver.code}"
                 f"&desk={desk.leaver.desk.code}")
    manager.wait_for_function(DRAWN)
    assert "Liam Leaving" in manager.locator("#performance-table").inner_text()
    assert manager.evaluate("window.__csp") == []
    # The agent under review never sees the alert.
    agent.goto(f"{base}{reverse('monitoring_alert', args=[alert.code])}")
    assert "Opened and exported" not in agent.content() and alert.reasons[0] not in agent.content()
