"""The staff UI in a real browser (Playwright driving Debian's Chromium): htmx swaps, not just HTML."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from crm.models import AccessEvent, AccessKind, Note, RoleCode, Task
from tests.browser.support import MARKS, PASSWORD, login
from tests.factories import make_brand, make_client, make_desk, make_user
from tests.waiting import scaled_ms

pytestmark = MARKS


@pytest.fixture
def browser_page(browser):
    page = browser.new_page(viewport={"width": 1366, "height": 800})
    page.set_default_timeout(scaled_ms(10_000))
    return page


@pytest.fixture
def agent_with_client(db):
    desk = make_desk(brand=make_brand(name="Alpha Markets"), name="London sales")
    owner = make_user(role_code=RoleCode.SALES_AGENT, desk=desk, full_name="Olivia Owner",
                      email="olivia@staff.example.com", password=PASSWORD)
    manager = make_user(role_code=RoleCode.DESK_MANAGER, desk=desk, full_name="Mona Manager")
    client = make_client(actor=owner, first_name="Amira", last_name="Haddad", email="amira@example.com",
                         phone="+442071838750", country="GB")
    make_client(actor=owner, first_name="Bruno", last_name="Alves", country="PT")
    return {"owner": owner, "manager": manager, "client": client}


def test_agent_searches_opens_reveals_and_adds_a_note(live_server, browser_page, agent_with_client):
    page, base, client = browser_page, live_server.url, agent_with_client["client"]
    login(page, base, "olivia@staff.example.com")

    page.fill("#global-search", "hadd")
    page.locator("#search-results a", has_text="Amira Haddad").click()
    page.wait_for_url(re.compile(rf"/clients/{client.code}/$"))
    assert "Amira Haddad" in page.locator("h1").inner_text()
    assert page.locator("#contact-phone").inner_text().count("*") > 0

    page.locator("#contact-phone button", has_text="Reveal").click()
    page.wait_for_selector('#contact-phone a[href="tel:+442071838750"]')
    assert AccessEvent.objects.filter(client=client, kind=AccessKind.REVEAL_PHONE).count() == 1

    # The rest happens without leaving the page: a marker on window survives htmx swaps only.
    page.evaluate("window.__stayed = true")
    page.click("#tab-notes")
    page.wait_for_url(re.compile(r"\?tab=notes$"))
    page.fill("textarea[name=body]", "Prefers WhatsApp after 6pm")
    page.click("text=Add note")
    page.wait_for_selector(".note-body:has-text('Prefers WhatsApp after 6pm')")
    assert Note.objects.get(client=client).body == "Prefers WhatsApp after 6pm"

    page.fill("textarea[name=body]", "   ")  # blank once trimmed: the server's error shows inline
    page.click("text=Add note")
    page.wait_for_selector("text=Write something first.")
    assert Note.objects.filter(client=client).count() == 1

    page.click("#tab-timeline")
    page.wait_for_selector(".t-label:has-text('Note added')")
    assert page.evaluate("window.__stayed === true")


def test_agent_adds_a_task_and_completes_it_in_place(live_server, browser_page, agent_with_client):
    page, base, client = browser_page, live_server.url, agent_with_client["client"]
    login(page, base, "olivia@staff.example.com")
    page.goto(f"{base}{reverse('client_detail', args=[client.code])}?tab=tasks")
    page.fill("input[name=title]", "Send the platform link")
    page.select_option("select[name=assignee]", label="Mona Manager")
    page.click("text=Add task")
    row = page.locator(".task", has_text="Send the platform link")
    row.wait_for()
    assert "Mona Manager" in row.inner_text()
    row.locator(".task-toggle button").click()
    page.wait_for_selector(".task.is-done:has-text('Send the platform link')")
    assert Task.objects.get(client=client).done_at is not None


def test_client_list_filters_as_you_type_and_keeps_the_url(live_server, browser_page, agent_with_client):
    page, base = browser_page, live_server.url
    login(page, base, "olivia@staff.example.com")
    page.goto(f"{base}{reverse('client_list')}")
    assert page.locator("td.col-name").count() == 2
    page.evaluate("window.__stayed = true")
    page.fill("#id_q", "bru")
    page.wait_for_url(re.compile(r"/clients/\?q=bru$"))  # blank filters stay out of the URL
    page.wait_for_function("document.querySelectorAll('td.col-name').length === 1")
    assert "Alves" in page.locator("td.col-name").inner_text()
    page.click("th >> text=Name")
    page.wait_for_url(re.compile(r"sort=name"))
    assert page.evaluate("window.__stayed === true")


def test_new_notification_updates_the_bell_and_shows_a_toast(live_server, browser_page, agent_with_client):
    from crm.services import notification_send

    page, base = browser_page, live_server.url
    login(page, base, "olivia@staff.example.com")
    page.goto(f"{base}{reverse('client_list')}")  # moving between pages with nothing new: no toast
    page.wait_for_timeout(300)
    assert page.locator(".toast").count() == 0
    assert page.locator("#notification-bell .bell-count").count() == 0
    notification_send(user=agent_with_client["owner"], kind="test", title="Deposit of 500 USD received")
    # Run the bell's poll now rather than waiting 15 s for it.
    page.evaluate("htmx.ajax('GET', '/notifications/badge/', {source: '#notification-bell', "
                  "target: '#notification-bell', swap: 'outerHTML'})")
    page.wait_for_selector("#notification-bell .bell-count:has-text('1')")
    page.wait_for_selector(".toast:has-text('Deposit of 500 USD received')")


def test_arabic_layout_is_right_to_left_in_the_browser(live_server, browser_page, agent_with_client):
    page, base = browser_page, live_server.url
    login(page, base, "olivia@staff.example.com")
    page.goto(f"{base}{reverse('user_settings')}")
    page.select_option("select[name=language]", "ar")
    page.click("form[action='/settings/'] button[type=submit]")
    page.wait_for_selector("html[dir=rtl]")
    nav = page.locator("#sidenav").bounding_box()
    main = page.locator("#main").bounding_box()
    assert nav["x"] > main["x"]  # the navigation sits on the right


def test_a_refused_filter_value_is_named_in_the_region_htmx_swaps(live_server, browser_page):
    # A 400 from an htmx filter used to be dropped (a "Something went wrong" toast): it is shown.
    desk = make_desk(brand=make_brand(name="Alpha Markets"), name="Retention")
    make_user(role_code=RoleCode.RETENTION_AGENT, desk=desk, full_name="Rita Retention",
              email="rita@staff.example.com", password=PASSWORD)
    page, base = browser_page, live_server.url
    login(page, base, "rita@staff.example.com")
    page.goto(f"{base}{reverse('trading_retention')}")
    # The browser's own checks (min=1) are switched off: the server's refusal is what is under test, as
    # for the rules only the server knows.
    page.evaluate("document.getElementById('retention-filters').noValidate = true;"
                  "document.querySelector('#retention-filters input[name=drop]').removeAttribute('min')")
    page.fill("#retention-filters input[name=drop]", "0")
    page.dispatch_event("#retention-filters input[name=drop]", "change")
    page.wait_for_selector("#retention-table .message.error")
    assert "Give the equity drop as a whole percent from 1 to 100." in page.inner_text("#retention-table")
    assert page.locator("#toasts .toast").count() == 0
