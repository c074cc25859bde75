"""Four eyes in a real browser (issue 58, item 8): the administrator sets the brand's four-eyes
threshold on the withdrawal policy's page; a withdrawal above it waits for a second approver in
finance's queue; the person who approved first is refused a second time, and a colleague approves it."""

from __future__ import annotations

import pytest
from django.urls import reverse

from crm.lib.money import Money
from crm.models import Role, RoleCode
from tests.browser.support import MARKS, PASSWORD, login
from tests.factories import make_user
from tests.waiting import scaled_ms
from tests.wallet.withdrawal_support import CARD, build_world

pytestmark = MARKS


@pytest.fixture
def four_eyes(db):
    """A brand paying out by card with a funded, verified client; an administrator and two finance
    officers who sign in with a password alone (the demo's way: the second factor is the login tests')."""
    from crm.staff_services import role_set_requires_2fa

    world = build_world(fund="5000.00")
    world.admin = make_user(role_code=RoleCode.ADMIN, full_name="Ada Admin", email="ada@staff.example.com",
                            password=PASSWORD)
    for code in (RoleCode.ADMIN, RoleCode.FINANCE):
        role_set_requires_2fa(actor=world.admin, role=Role.objects.get(code=code), required=False)
    world.first = make_user(role_code=RoleCode.FINANCE, brand=world.brand, full_name="Fay First",
                            email="fay@staff.example.com", password=PASSWORD)
    world.second = make_user(role_code=RoleCode.FINANCE, brand=world.brand, full_name="Sam Second",
                             email="sam@staff.example.com", password=PASSWORD)
    return world


def _page(browser, base: str, email: str):
    page = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
    page.set_default_timeout(scaled_ms(15_000))
    login(page, base, email)
    return page


def test_the_administrator_sets_four_eyes_and_a_withdrawal_above_it_needs_two_different_people(
        live_server, browser, four_eyes):
    from wallet.models import Withdrawal, WithdrawalState
    from wallet.withdrawals import withdrawal_request

    base, brand = live_server.url, four_eyes.brand
    admin = _page(browser, base, "ada@staff.example.com")
    admin.goto(f"{base}{reverse('wallet_withdrawal_policy_list')}")
    admin.click(f"tr[data-brand='{brand.code}'] a")
    admin.fill("input[name=four_eyes_USD]", "1000")
    admin.click("button:has-text('Save')")
    admin.wait_for_selector("text=The withdrawal policy of")
    assert admin.locator("#policy-changes [data-change]").count() == 1

    w = withdrawal_request(client=four_eyes.client, amount=Money("2500", "USD"), method=four_eyes.card,
                           destination=CARD)
    assert w.needs_two_approvals

    first = _page(browser, base, "fay@staff.example.com")
    first.goto(f"{base}{reverse('wallet_withdrawal_queue')}")
    row = first.locator("tr", has_text=four_eyes.client.full_name)
    assert row.locator("text=two approvers").count() == 1
    row.locator("button:has-text('Approve')").click()
    first.wait_for_selector("text=First approval recorded; a second person must approve.")
    first.locator("tr", has_text=four_eyes.client.full_name).locator("button:has-text('Second approval')").click()
    first.wait_for_selector("text=A second person must approve this withdrawal.")
    w.refresh_from_db()
    assert w.state == WithdrawalState.REQUESTED and w.first_approved_by == four_eyes.first

    second = _page(browser, base, "sam@staff.example.com")
    second.goto(f"{base}{reverse('wallet_withdrawal_queue')}")
    second.locator("tr", has_text=four_eyes.client.full_name).locator("button:has-text('Second approval')").click()
    second.wait_for_selector("text=Approved.")
    w = Withdrawal.objects.get(pk=w.pk)
    assert w.state != WithdrawalState.REQUESTED and w.second_approved_by == four_eyes.second
