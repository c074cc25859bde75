"""The sales journey in a real browser: a prospect fills in the public form, the lead lands in the
right agent's list with a notification, the agent logs a call and moves its pipeline status."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from crm.lib.fieldcrypt import keyed_hash
from crm.models import Client, Notification, RoleCode
from leads.models import Call, ClientPipeline, RoutingStrategy, RoutingTarget
from leads.pipeline import pipeline_defaults_ensure
from leads.services import routing_rule_save
from tests.browser.support import MARKS, PASSWORD
from tests.factories import make_brand, make_desk, make_user
from tests.leads.conftest import ALWAYS_OPEN
from tests.waiting import scaled_ms

pytestmark = MARKS


@pytest.fixture
def sales_floor(db):
    from leads.config import config_clear

    config_clear()
    brand = make_brand(code="alpha", name="Alpha Markets")
    desk = make_desk(brand=brand, name="London sales", **ALWAYS_OPEN)
    gb_agent = make_user(role_code=RoleCode.SALES_AGENT, desk=desk, full_name="Olivia Owner",
                         email="olivia@staff.example.com", password=PASSWORD)
    other = make_user(role_code=RoleCode.SALES_AGENT, desk=desk, full_name="Bruno Other",
                      email="bruno@staff.example.com", password=PASSWORD)
    routing_rule_save(actor=None, brand=brand, name="UK to Olivia", countries=["GB"],
                      target_kind=RoutingTarget.AGENT, target_agent=gb_agent)
    routing_rule_save(actor=None, brand=brand, name="Everyone else", target_kind=RoutingTarget.AGENT,
                      target_agent=other, strategy=RoutingStrategy.ROUND_ROBIN, is_fallback=True)
    pipeline_defaults_ensure(brand=brand)
    yield {"brand": brand, "agent": gb_agent, "other": other}
    config_clear()


def test_prospect_to_called_lead_with_a_new_status(live_server, browser, sales_floor):
    base = live_server.url
    prospect = browser.new_page()
    prospect.set_default_timeout(scaled_ms(10_000))
    prospect.goto(f"{base}{reverse('lead_form', args=['alpha'])}?utm_campaign=spring")
    prospect.fill("input[name=first_name]", "Amira")
    prospect.fill("input[name=last_name]", "Haddad")
    prospect.fill("input[name=email]", "amira.haddad@example.com")
    prospect.select_option("select[name=country]", "GB")
    prospect.fill("input[name=phone]", "+44 20 7183 8750")
    prospect.check("input[name=consent]")
    prospect.click("button[type=submit]")
    prospect.wait_for_url(re.compile(r"/lead/thanks/"))

    lead = Client.objects.get(email_hash=keyed_hash("amira.haddad@example.com", kind="email"))
    assert lead.owner == sales_floor["agent"]  # the UK rule, not the fallback
    assert Notification.objects.filter(user=sales_floor["agent"]).exists()
    assert not Notification.objects.filter(user=sales_floor["other"]).exists()

    page = browser.new_page(viewport={"width": 1366, "height": 800})
    page.set_default_timeout(scaled_ms(10_000))
    page.goto(f"{base}{reverse('login')}")
    page.fill("input[name=username]", "olivia@staff.example.com")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
    page.wait_for_selector("#notification-bell .bell-count:has-text('1')")

    page.goto(f"{base}{reverse('lead_workspace')}")
    page.locator("#workspace-table a", has_text="Amira Haddad").click()
    page.wait_for_url(re.compile(rf"/clients/{lead.code}/\?tab=calls$"))
    page.evaluate("window.__stayed = true")

    page.select_option("#call-form select[name=outcome]", "interested")
    page.fill("#call-form input[name=duration]", "3:20")
    page.fill("#call-form textarea[name=notes]", "Wants a demo account first")
    page.click("#call-form button[type=submit]")
    page.wait_for_selector("#call-list td:has-text('Wants a demo account first')")
    call = Call.objects.get(client=lead)
    assert (call.outcome, call.duration_seconds, call.agent) == ("interested", 200, sales_floor["agent"])

    page.select_option("#pipeline-form select[name=status]", "interested")
    page.click("#pipeline-form button[type=submit]")
    page.wait_for_selector("#pipeline-current:has-text('Interested')")
    assert ClientPipeline.objects.get(client=lead).status.key == "interested"
    assert page.evaluate("window.__stayed === true")

    page.goto(f"{base}{reverse('lead_workspace')}?status=interested")
    assert page.locator("#workspace-table td.col-name").count() == 1
