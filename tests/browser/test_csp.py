"""The Content-Security-Policy in a real browser: the pages that run script (htmx, Chart.js, Swagger UI,
drag-and-drop, the email preview's frame) still work under it, and Chromium reports no violation."""

from __future__ import annotations

from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client as HttpClient
from django.urls import reverse

from crm.models import Brand, Client, Desk, RoleCode, User
from leads.models import RoutingRule, RoutingTarget
from leads.services import routing_rule_save
from tests.browser.support import MARKS
from tests.waiting import scaled_ms

pytestmark = MARKS

# Every violation the page sees, from before its first script runs (an init script is not subject to
# the page's policy).
LISTEN = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__csp.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " " + (e.sourceFile || ""));
});
"""


@pytest.fixture
def admin_page(live_server, login_verified, browser):
    call_command("seed_demo", clients=30, via_services=10, stdout=StringIO(), stderr=StringIO())
    admin = User.objects.filter(role__code=RoleCode.ADMIN, is_active=True).order_by("pk").first()
    http = HttpClient()
    login_verified(http, admin)  # the second factor proven, as the browser's session
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "url": live_server.url,
                          "value": http.cookies[settings.SESSION_COOKIE_NAME].value}])
    context.add_init_script(LISTEN)
    page = context.new_page()
    page.set_default_timeout(scaled_ms(10_000))
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text) if "Content Security Policy" in m.text else None)
    yield page, live_server.url, console
    context.close()


def violations(page, console) -> list[str]:
    return page.evaluate("window.__csp") + console


def test_script_driven_pages_work_under_the_policy(admin_page):
    page, base, console = admin_page
    client = Client.objects.order_by("pk").first()
    seen: dict[str, list[str]] = {}

    # htmx: the search dropdown, then a client's tabs.
    page.goto(f"{base}/")
    page.fill("#global-search", client.last_name[:4])
    page.wait_for_selector("#search-results a")
    seen["search"] = violations(page, console)
    page.goto(f"{base}{reverse('client_detail', args=[client.code])}")
    page.click("#tab-notes")
    page.wait_for_selector("textarea[name=body]")
    seen["profile"] = violations(page, console)

    # Chart.js draws the KPI charts from static files.
    page.goto(f"{base}{reverse('sales_kpis')}")
    page.wait_for_function("document.getElementById('kpi-daily') && document.getElementById('kpi-daily').width > 0"
                           " && typeof Chart !== 'undefined' && Chart.getChart('kpi-daily') !== undefined")
    seen["kpis"] = violations(page, console)

    # The automation builder removes a condition row without an inline handler.
    page.goto(f"{base}{reverse('automation_rule_create')}?brand={Brand.objects.order_by('pk').first().code}")
    rows = page.locator(".builder-row:not(.action-row)")
    if rows.count():
        before = rows.count()
        rows.first.locator("[data-dismiss]").click()
        assert rows.count() == before - 1
    seen["automation"] = violations(page, console)

    # Swagger UI, vendored, renders the operations.
    page.goto(f"{base}/api/v1/docs")
    page.wait_for_selector(".opblock", timeout=scaled_ms(20_000))
    seen["api docs"] = violations(page, console)

    # The public lead form, as an embedding site would show it.
    page.goto(f"{base}/f/{Brand.objects.order_by('pk').first().code}/lead/")
    page.wait_for_selector("form")
    seen["lead form"] = violations(page, console)

    assert not any(seen.values()), seen


def test_routing_rules_reorder_by_drag_and_drop(admin_page):
    page, base, console = admin_page
    brand = Brand.objects.order_by("pk").first()
    desk = Desk.objects.filter(brand=brand).order_by("pk").first()
    for name, country in (("Gulf first", "AE"), ("Then Germany", "DE")):
        routing_rule_save(actor=None, brand=brand, name=name, countries=[country],
                          target_kind=RoutingTarget.DESK, target_desk=desk)
    rules = list(RoutingRule.objects.filter(brand=brand, is_fallback=False).order_by("order"))
    page.goto(f"{base}{reverse('lead_routing_list')}?brand={brand.code}")
    first = page.locator(f'[data-sortable] li[data-code="{rules[0].code}"]')
    last = page.locator(f'[data-sortable] li[data-code="{rules[-1].code}"]')
    with page.expect_navigation():
        first.drag_to(last, target_position={"x": 5, "y": 30})
    order = list(RoutingRule.objects.filter(brand=brand, is_fallback=False).order_by("order")
                 .values_list("code", flat=True))
    assert order.index(rules[0].code) > order.index(rules[-1].code), "the dragged rule moved down"
    assert not violations(page, console)


def test_the_email_preview_shows_the_mail_in_its_sandboxed_frame(admin_page):
    page, base, console = admin_page
    brand = Brand.objects.order_by("pk").first()
    page.goto(f"{base}{reverse('email_template_create')}?brand={brand.code}")
    page.fill("[name=subject]", "Welcome aboard")
    page.fill("[name=body]", "Dear {{ client.first_name }}, your account is ready.")
    page.click("button:has-text('Preview')")
    page.wait_for_selector("iframe.mail-preview")
    frame = page.frame_locator("iframe.mail-preview")
    frame.locator("body").wait_for(state="attached")
    assert "your account is ready" in frame.locator("body").inner_text()
    assert not violations(page, console)


def test_the_calls_tab_reports_no_violation(admin_page):
    # Reported: six violations for inline styles on a client's Calls tab. The notes box, made taller
    # by its corner handle (the browser sets its style, which the policy allows), kept its id in the
    # panel htmx swaps in after "Log call", and htmx copied the style attribute across, which it
    # does not allow.
    page, base, console = admin_page
    client = Client.objects.exclude(phone_hash="").order_by("pk").first()
    url = f"{base}{reverse('client_detail', args=[client.code])}"
    page.goto(url)
    page.click("#tab-calls")
    page.wait_for_selector("#call-form")
    for form in ("#call-form", "#pipeline-form"):
        page.evaluate(f"document.querySelectorAll('{form} textarea, {form} input[type=text]')"
                      ".forEach(function (box) {{ box.style.height = '120px'; box.style.width = '90%'; }})")
    page.select_option("#call-form select[name=outcome]", index=1)
    page.fill("#call-form textarea[name=notes]", "Called about the deposit.")
    page.click("#call-form button[type=submit]")
    page.wait_for_selector("#call-list")
    page.wait_for_timeout(500)  # htmx settles the swapped panel after 20 ms
    seen = {"after logging a call": violations(page, console)}
    page.goto(f"{url}?tab=calls")
    page.wait_for_selector("#calls-panel")
    seen["by its address"] = violations(page, console)
    assert not any(seen.values()), seen
