"""Settlement: settled commission posted to the partners' payable accounts in the wallet's ledger
(once; a recalculation posts only its difference, negative ones claw back), each partner's
settlement schedule, payouts (to a linked client's wallet, or held for finance), and the IB
manager's and finance's pages with their permission trio."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal

import pytest
import time_machine
from django.test import Client as HttpClient

from crm.exceptions import Conflict, ValidationFailed
from crm.lib.money import Money
from crm.models import Event
from ib import commissions as cs
from ib import settlement as st
from ib.models import CommissionSettlement, PartnerPayout, PayoutSchedule, PayoutState
from tests.factories import make_brand, make_client, make_user
from tests.ib.engine_world import MARCH, make_world, round_trip, store, t
from wallet.ledger import available, balance, ledger_verify, wallet_account_for

pytestmark = pytest.mark.django_db
D = Decimal
PASSWORD = "Amber-Falcon-5521"  # noqa: S105 - a test password


def usd(text: str) -> Money:
    return Money(text, "USD")


def payable(partner) -> Money:
    return balance(st.payable_account_for(partner=partner, currency="USD"))


@pytest.fixture
def world():
    """Master → Sub → Leaf; the Leaf's client traded 1 lot on 4 March and March was computed
    (per lot: Leaf 5, Sub 2, Master 1), not settled."""
    w = make_world()
    w.opened, w.closed = round_trip(w.account, opened=t(4, 10), closed=t(4, 11))
    store(w, [w.opened, w.closed])
    w.run = cs.commission_run(actor=None, brand=w.brand, period=MARCH)
    return w


def settled_world(w):
    st.commission_run_settle_post(actor=None, run=w.run)
    return w


# --- posting -------------------------------------------------------------------------------------------

def test_settling_posts_each_partners_payable_to_its_ledger_account_exactly_once(world):
    rows = st.commission_run_settle_post(actor=None, run=world.run)
    assert {r.partner_id: r.amount for r in rows} == {world.leaf.pk: D("5"), world.sub.pk: D("2"),
                                                      world.master.pk: D("1")}
    assert (payable(world.leaf), payable(world.sub), payable(world.master)) == (usd("5"), usd("2"), usd("1"))
    assert balance(st.expense_account_for(brand=world.brand, currency="USD")) == usd("-8")
    assert all(r.posted_at is not None for r in CommissionSettlement.objects.all())
    # Posting again posts nothing: the rows are marked and the key posts once.
    assert st.settlements_post_due() == 0
    assert st.settlement_post(settlement=rows[0]) is None
    assert payable(world.leaf) == usd("5")
    events = Event.objects.filter(name="ib.commission_settled")
    assert events.count() == 3
    assert {e.data["amount"] for e in events} == {"5.00", "2.00", "1.00"}
    with pytest.raises(Conflict):
        st.commission_run_settle_post(actor=None, run=world.run)
    assert ledger_verify() == {}


def test_a_recalculated_run_settles_only_the_difference_and_a_smaller_one_claws_back(world):
    settled_world(world)
    # The platform edits the closing deal to 0.4 lots: Leaf 2, Sub 0.80, Master 0.40.
    store(world, [replace(world.closed, volume=D("0.4"))])
    second = cs.commission_run(actor=None, brand=world.brand, period=MARCH)
    rows = st.commission_run_settle_post(actor=None, run=second)
    assert {r.partner_id: r.amount for r in rows} == {world.leaf.pk: D("-3"), world.sub.pk: D("-1.2"),
                                                      world.master.pk: D("-0.6")}
    assert (payable(world.leaf), payable(world.sub), payable(world.master)) == (usd("2"), usd("0.80"), usd("0.40"))
    assert balance(st.expense_account_for(brand=world.brand, currency="USD")) == usd("-3.20")
    # An unchanged third run settles zeros: nothing moves.
    third = cs.commission_run(actor=None, brand=world.brand, period=MARCH)
    zero = st.commission_run_settle_post(actor=None, run=third)
    assert {r.amount for r in zero} == {D("0")} and payable(world.leaf) == usd("2")
    assert ledger_verify() == {}


# --- schedules -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("schedule", "last", "today", "due"), [
    (PayoutSchedule.DAILY, None, dt.date(2024, 4, 3), True),
    (PayoutSchedule.DAILY, dt.date(2024, 4, 3), dt.date(2024, 4, 3), False),
    (PayoutSchedule.DAILY, dt.date(2024, 4, 2), dt.date(2024, 4, 3), True),
    (PayoutSchedule.WEEKLY, dt.date(2024, 4, 1), dt.date(2024, 4, 7), False),  # Monday and Sunday of a week
    (PayoutSchedule.WEEKLY, dt.date(2024, 4, 7), dt.date(2024, 4, 8), True),
    (PayoutSchedule.WEEKLY, dt.date(2024, 12, 30), dt.date(2025, 1, 2), False),  # ISO week 1 of 2025
    (PayoutSchedule.MONTHLY, dt.date(2024, 4, 1), dt.date(2024, 4, 30), False),
    (PayoutSchedule.MONTHLY, dt.date(2024, 4, 30), dt.date(2024, 5, 1), True),
    (PayoutSchedule.MONTHLY, dt.date(2024, 12, 1), dt.date(2025, 1, 1), True),
])
def test_a_schedule_is_due_once_per_day_iso_week_or_month(schedule, last, today, due):
    assert st.schedule_due(schedule=schedule, today=today, last=last) is due


def test_the_beat_settles_a_closed_period_for_the_partners_whose_schedule_is_due(world):
    st.partner_settlement_set(actor=None, partner=world.leaf, schedule=PayoutSchedule.DAILY, client=None)
    st.partner_settlement_set(actor=None, partner=world.sub, schedule=PayoutSchedule.WEEKLY, client=None)
    with time_machine.travel(t(25, 5), tick=False):  # March is still open: nothing
        assert st.settlements_run_due() == []
    with time_machine.travel(t(2, 5, month=4), tick=False):  # a Tuesday: everyone's first settlement
        assert len(st.settlements_run_due()) == 3
    assert (payable(world.leaf), payable(world.sub), payable(world.master)) == (usd("5"), usd("2"), usd("1"))
    # A late deal of March: a recalculation adds Leaf 5, Sub 2, Master 1.
    store(world, round_trip(world.account, opened=t(30, 10), closed=t(30, 11)))
    cs.commission_run(actor=None, brand=world.brand, period=MARCH)  # as of now: it sees every deal stored
    with time_machine.travel(t(3, 4, month=4), tick=False):
        rows = st.settlements_run_due()  # Wednesday: the daily Leaf only
    assert [r.partner_id for r in rows] == [world.leaf.pk]
    assert (payable(world.leaf), payable(world.sub), payable(world.master)) == (usd("10"), usd("2"), usd("1"))
    with time_machine.travel(t(8, 5, month=4), tick=False):  # a new week: the weekly Sub
        assert [r.partner_id for r in st.settlements_run_due()] == [world.sub.pk]
    with time_machine.travel(t(1, 5, month=5), tick=False):  # a new month: the monthly Master
        assert [r.partner_id for r in st.settlements_run_due()] == [world.master.pk]
    assert (payable(world.leaf), payable(world.sub), payable(world.master)) == (usd("10"), usd("4"), usd("2"))
    with time_machine.travel(t(2, 5, month=5), tick=False):
        assert st.settlements_run_due() == []


# --- payouts -------------------------------------------------------------------------------------------

def test_a_payout_goes_to_the_partners_linked_client_wallet_at_once(world):
    settled_world(world)
    own = make_client(brand=world.brand, first_name="Lea", email="lea.partner@example.com")
    st.partner_settlement_set(actor=None, partner=world.leaf, schedule=PayoutSchedule.MONTHLY, client=own)
    payout = st.payout_request(partner=world.leaf, amount="3.00", currency="USD")
    assert payout.state == PayoutState.PAID and payout.client == own and payout.transaction is not None
    assert available(wallet_account_for(client=own, currency="USD")) == usd("3")
    assert payable(world.leaf) == usd("2")
    assert Event.objects.filter(name="ib.payout_requested").count() == 1
    assert ledger_verify() == {}


@pytest.mark.parametrize(("amount", "message"), [
    ("5.01", "You can ask for at most"),
    ("0", "Enter an amount above zero."),
    ("-1", "Enter an amount above zero."),
    ("1.005", "at most 2 decimals"),
    ("lots", "Enter an amount"),
])
def test_a_payout_is_refused_above_the_available_balance_or_malformed(world, amount, message):
    settled_world(world)
    with pytest.raises(ValidationFailed) as caught:
        st.payout_request(partner=world.leaf, amount=amount, currency="USD")
    assert message in str(caught.value.fields["amount"])
    assert not PartnerPayout.objects.exists() and payable(world.leaf) == usd("5")


def test_a_payout_without_a_client_is_held_until_finance_pays_or_rejects_it(world):
    settled_world(world)
    finance = make_user(role_code="finance", brand=world.brand)
    first = st.payout_request(partner=world.leaf, amount="4", currency="USD")
    account = st.payable_account_for(partner=world.leaf, currency="USD")
    assert first.state == PayoutState.REQUESTED and available(account) == usd("1")
    with pytest.raises(ValidationFailed):  # what is held cannot be asked for twice
        st.payout_request(partner=world.leaf, amount="2", currency="USD")
    st.payout_pay(actor=finance, payout=first)
    assert balance(account) == usd("1") and available(account) == usd("1")
    second = st.payout_request(partner=world.leaf, amount="1", currency="USD")
    st.payout_reject(actor=finance, payout=second, reason="Bank details missing")
    assert available(account) == usd("1")
    with pytest.raises(Conflict):
        st.payout_pay(actor=finance, payout=second)
    assert ledger_verify() == {}


# --- pages ---------------------------------------------------------------------------------------------

def _staff(user, login_verified) -> HttpClient:
    http = HttpClient()
    login_verified(http, user)
    return http


def test_the_ib_manager_lists_runs_opens_one_and_settles_it(world, login_verified):
    manager = make_user(role_code="ib_manager", brand=world.brand)
    http = _staff(manager, login_verified)
    listing = http.get("/ib/runs/")
    assert listing.status_code == 200 and "2024-03" in listing.content.decode()
    page = http.get(f"/ib/runs/{world.run.code}/")
    assert page.status_code == 200 and "Leaf" in page.content.decode() and "hx-confirm" in page.content.decode()
    response = http.post(f"/ib/runs/{world.run.code}/settle/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and response["HX-Redirect"] == f"/ib/runs/{world.run.code}/"
    assert payable(world.leaf) == usd("5")


def test_runs_of_another_brand_and_staff_without_the_right_get_not_found(world, login_verified):
    outsider = make_user(role_code="ib_manager", brand=make_brand())
    agent = make_user(role_code="sales_agent", brand=world.brand)
    for user in (outsider, agent):
        http = _staff(user, login_verified)
        assert http.get(f"/ib/runs/{world.run.code}/").status_code == 404
        assert http.post(f"/ib/runs/{world.run.code}/settle/").status_code == 404
    assert "2024-03" not in _staff(outsider, login_verified).get("/ib/runs/").content.decode()
    assert not CommissionSettlement.objects.exists()


def test_finance_pays_from_its_list_and_finance_of_another_brand_cannot(world, login_verified):
    settled_world(world)
    payout = st.payout_request(partner=world.leaf, amount="2", currency="USD")
    other = _staff(make_user(role_code="finance", brand=make_brand()), login_verified)
    assert str(payout.code) not in other.get("/ib/payouts/").content.decode()
    assert other.post(f"/ib/payouts/{payout.code}/pay/").status_code == 404
    assert _staff(make_user(role_code="ib_manager", brand=world.brand), login_verified).get(
        "/ib/payouts/").status_code == 404
    http = _staff(make_user(role_code="finance", brand=world.brand), login_verified)
    assert "Leaf" in http.get("/ib/payouts/").content.decode()
    assert http.post(f"/ib/payouts/{payout.code}/pay/").status_code == 302
    payout.refresh_from_db()
    assert payout.state == PayoutState.PAID


def _partner_http(w, partner) -> HttpClient:
    w.services.partner_login_set_password(partner=partner, password=PASSWORD)
    http = HttpClient()
    response = http.post(f"/partners/{w.brand.code}/login/", {"email": partner.contact_email, "password": PASSWORD})
    assert response.status_code == 302
    return http


def test_a_partner_asks_for_a_payout_in_the_portal_and_sees_only_its_own_balance(world):
    settled_world(world)
    http = _partner_http(world, world.leaf)
    too_much = http.post("/partners/payouts/", {"currency": "USD", "amount": "9"})
    assert too_much.status_code == 400 and "You can ask for at most" in too_much.content.decode()
    assert http.post("/partners/payouts/", {"currency": "USD", "amount": "1.50"}).status_code == 302
    assert PartnerPayout.objects.get().partner == world.leaf
    page = http.get("/partners/payouts/").content.decode()
    assert "3.50" in page
    # The Sub sees its own 2.00, nothing of the Leaf's request.
    sub_page = _partner_http(world, world.sub).get("/partners/payouts/").content.decode()
    assert "2.00" in sub_page and "3.50" not in sub_page and "1.50" not in sub_page
    # Staff and visitors are sent to the partner login.
    assert HttpClient().get("/partners/payouts/")["Location"].startswith("/partners/login/")


def test_the_ib_manager_sets_a_partners_schedule_and_linked_client_on_its_page(world, login_verified):
    own = make_client(brand=world.brand, first_name="Lea", email="lea.partner@example.com")
    foreign = make_client(brand=make_brand(), email="someone.else@example.com")
    http = _staff(make_user(role_code="ib_manager", brand=world.brand), login_verified)
    refused = http.post(f"/ib/partners/{world.leaf.code}/settlement/", {"schedule": "weekly",
                                                                        "client": foreign.email})
    assert refused.status_code == 400 and "No client of this brand" in refused.content.decode()
    response = http.post(f"/ib/partners/{world.leaf.code}/settlement/", {"schedule": "weekly",
                                                                         "client": "LEA.partner@example.com"})
    assert response.status_code == 302
    world.leaf.refresh_from_db()
    assert (world.leaf.schedule, world.leaf.client) == (PayoutSchedule.WEEKLY, own)
    page = http.get(f"/ib/partners/{world.leaf.code}/").content.decode()
    assert "Lea" in page
    # Staff who may only read partners (compliance) get no form and cannot post it.
    reader = _staff(make_user(role_code="compliance", brand=world.brand), login_verified)
    assert reader.post(f"/ib/partners/{world.leaf.code}/settlement/", {"schedule": "daily"}).status_code == 404
