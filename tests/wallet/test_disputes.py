"""Payment disputes (issue 60): a provider's chargeback, through its signed webhook and the one inbox,
opens a case for finance and holds the amount on the client's wallet; finance attaches evidence and
records the outcome on the pages; lost debits the wallet (the client's balance, the IB clawback
through the events, the compliance trail show it), won releases the hold. Built through the PSP
simulator, the services and the pages, nothing by writing rows."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
from decimal import Decimal

import django_rq
import pytest
from django.test import Client as HttpClient
from django.urls import reverse
from django.utils import timezone
from rq import SimpleWorker

from crm.events import dispatch_pending
from crm.lib.money import Money
from crm.models import Event, Job, RoleCode
from tests.factories import make_brand, make_client, make_user
from tests.wallet.conftest import API_KEY, API_SECRET, WEBHOOK_SECRET
from tests.wallet.support import checkout, signed_webhook
from wallet.deposits import deposit_create
from wallet.disputes import dispute_open, dispute_outcome_record
from wallet.ledger import (
    available,
    balance,
    clearing_account_for,
    client_debt_account_for,
    ledger_verify,
    system_account_for,
    wallet_account_for,
)
from wallet.models import AccountKind, DepositStatus, Dispute, DisputeKind, DisputeStatus
from wallet.provider_services import CurrencyRule, payment_method_save, payment_provider_save
from wallet.webhooks import webhook_receive

D = Decimal
CARD_OK = "4242424242424242"
RETURN = "https://crm.example.com/portal/wallet/deposit/return/"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
usd = lambda value: Money(value, "USD")  # noqa: E731


@pytest.fixture(autouse=True)
def _storage(settings, tmp_path):
    settings.WALLET_DISPUTE_STORAGE_DIR = tmp_path / "disputes"
    settings.KYC_STORAGE_DIR = tmp_path / "kyc"


def _provider(psp, brand):
    provider = payment_provider_save(code="psp-sim", name="PSP simulator", kind="simulator", base_url=psp.base_url,
                                     api_key=API_KEY, api_secret=API_SECRET, webhook_secret=WEBHOOK_SECRET)
    payment_method_save(brand=brand, method="card", direction="deposit", provider=provider, currencies=[
        CurrencyRule("USD", D("10"), D("5000"), D("0.50"))], order=10)
    return provider


class World:
    def __init__(self, psp, hooks, *, brand=None, client=None):
        self.psp, self.hooks = psp, hooks
        self.brand = brand or make_brand()
        self.provider = _provider(psp, self.brand)
        self.client = client or make_client(brand=self.brand, country="DE")
        self.finance = make_user(role_code=RoleCode.FINANCE, brand=self.brand)

    def pay(self, amount="100.00"):
        deposit = deposit_create(client=self.client, amount=usd(amount), method="card", return_url=RETURN)
        checkout(deposit.redirect_url, {"card_number": CARD_OK})
        assert self.deliver(deposit, 0) == "accepted"
        deposit.refresh_from_db()
        assert deposit.status == DepositStatus.SUCCEEDED
        return deposit

    def deliver(self, deposit, index):
        """The simulator's webhook number `index` about `deposit`, through the inbox as the endpoint takes
        it, then the domain events delivered to their handlers."""
        captured = self.hooks.wait_of(deposit.merchant_ref, index + 1, timeout=30)[index]
        outcome = webhook_receive(provider_code="psp-sim", headers=captured.headers, body=captured.body).outcome
        dispatch_pending()
        return outcome

    def charge_back(self, deposit, index=1):
        self.psp.control("/_sim/chargeback", {"payment_id": deposit.provider_ref, "reason": "fraudulent"})
        assert self.deliver(deposit, index) == "accepted"
        return Dispute.objects.get(deposit=deposit)

    def wallet(self):
        return wallet_account_for(client=self.client, currency="USD")

    def http(self, login_verified, user=None):
        browser = HttpClient()
        login_verified(browser, user or self.finance)
        return browser


@pytest.fixture
def world(db, psp, hooks, settings):
    settings.CRM_PUBLIC_URL = hooks.url.removesuffix("/hooks")
    return World(psp, hooks)


def _page(browser, dispute):
    return browser.get(reverse("wallet_dispute_detail", args=[dispute.code]))


# --- end to end: chargeback webhook → case → evidence → lost -----------------------------------------------

def _ib_world(psp, hooks):
    """tests.ib's Master → Sub → Leaf with a CPA plan (200 to Leaf, 50 to Sub for a first deposit of
    100 and a lot traded within 30 days); Leaf's client pays by card through the simulator."""
    from tests.ib.engine_world import make_world

    cpa = [{"code": "cpa", "kind": "cpa", "level_rates": ["200", "50"], "cpa_min_deposit": "100",
            "cpa_min_lots": "1", "cpa_within_days": 30}]
    ib = make_world(plan_rules=cpa)
    return ib, World(psp, hooks, brand=ib.brand, client=ib.client)


def _trail(officer, brand, client, capture):
    from compliance.trail import trail_export_request

    queue = django_rq.get_queue("default")
    queue.empty()
    today = timezone.localdate()
    with capture(execute=True):
        row = trail_export_request(actor=officer, brand=brand, client=client, start=today - dt.timedelta(days=1),
                                   end=today)
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    job = Job.objects.get(pk=row.job_id)
    assert job.status == "done", job.failure_reason
    with job.result_file.open("rb") as handle:
        zf = zipfile.ZipFile(io.BytesIO(handle.read()))
    return list(csv.DictReader(io.StringIO(zf.read("payment_disputes.csv").decode())))


def test_a_chargeback_webhook_opens_a_dispute_that_finance_loses_and_the_ledger_ib_and_trail_follow(
        db, psp, hooks, settings, login_verified, django_capture_on_commit_callbacks):
    from ib import commissions
    from ib.models import CommissionLine
    from tests.ib.engine_world import round_trip, store
    from tests.waiting import wait_until

    settings.CRM_PUBLIC_URL = hooks.url.removesuffix("/hooks")
    ib, w = _ib_world(psp, hooks)
    deposit = w.pay("250.00")
    # The client trades 1.2 lots after the deposit: the partners' CPA is earned.
    at = deposit.succeeded_at
    closed = at + dt.timedelta(seconds=2)
    store(ib, round_trip(ib.account, opened=at + dt.timedelta(seconds=1), closed=closed, volume="1.2"))
    wait_until(lambda: timezone.now() > closed, what="the close to be in the past")
    month = closed.astimezone(dt.UTC).date().replace(day=1)
    commissions.commission_run(actor=None, brand=ib.brand, period=month)
    assert balance(w.wallet()) == usd("249.50")  # 250 less the 0.50 fee

    # The provider's chargeback: a case for finance, the amount held, nothing debited yet, no clawback.
    dispute = w.charge_back(deposit)
    assert (dispute.kind, dispute.status, dispute.money) == (DisputeKind.CHARGEBACK, DisputeStatus.OPEN, usd("250"))
    assert dispute.reason_code == "fraudulent" and dispute.due_at > timezone.now()
    assert balance(w.wallet()) == usd("249.50") and available(w.wallet()) == usd("0")
    deposit.refresh_from_db()
    assert deposit.status == DepositStatus.SUCCEEDED
    assert Event.objects.filter(name="wallet.dispute_opened", client=w.client).count() == 1
    assert not Event.objects.filter(name="wallet.deposit_charged_back").exists()
    # The same notification again changes nothing.
    assert w.deliver(deposit, 1) == "duplicate"
    assert Dispute.objects.filter(deposit=deposit).count() == 1 and available(w.wallet()) == usd("0")

    # Finance works it on the pages: the queue, the case, a file, then the provider's decision: lost.
    browser = w.http(login_verified)
    assert str(dispute.code) in browser.get(reverse("wallet_dispute_queue")).content.decode()
    page = _page(browser, dispute).content.decode()
    assert "fraudulent" in page and reverse("client_detail", args=[w.client.code]) in page
    assert "KYC documents" in page and "Trading history" in page  # the generated evidence
    sent = browser.post(reverse("wallet_dispute_evidence", args=[dispute.code]),
                        {"title": "Signed terms and IP log", "file": io.BytesIO(PDF)}, format="multipart")
    assert sent.status_code == 302
    assert "Signed terms and IP log" in _page(browser, dispute).content.decode()
    browser.post(reverse("wallet_dispute_outcome", args=[dispute.code]), {"outcome": "lost", "note": "Issuer upheld"})
    dispute.refresh_from_db()
    deposit.refresh_from_db()
    assert dispute.status == DisputeStatus.LOST and deposit.status == DepositStatus.CHARGED_BACK
    dispatch_pending()

    # The ledger: the wallet debited, the 0.50 fee back, nothing left in the disputes' suspense account.
    assert balance(w.wallet()) == usd("0") and available(w.wallet()) == usd("0")
    suspense = system_account_for(kind=AccountKind.SUSPENSE, currency="USD", brand=w.brand, owner_ref="disputes")
    assert balance(suspense) == usd("0")
    assert balance(clearing_account_for(provider="psp-sim", currency="USD", brand=w.brand)) == usd("0")
    assert ledger_verify() == {}
    tab = browser.get(reverse("client_detail", args=[w.client.code]), {"tab": "wallet"}).content.decode()
    assert "Chargeback" in tab

    # The IB engine heard wallet.deposit_charged_back: the partners' CPA is clawed back.
    later = commissions.commission_run(actor=None, brand=ib.brand, period=timezone.now().date().replace(day=1))
    clawed = {line.beneficiary.display_name: line.amount for line in
              CommissionLine.objects.filter(run=later, source_kind="chargeback").select_related("beneficiary")}
    assert clawed == {"Leaf": D("-200"), "Sub": D("-50")}

    # The client's compliance trail has the case's whole history.
    officer = make_user(role_code=RoleCode.COMPLIANCE, brand=w.brand)
    rows = _trail(officer, w.brand, w.client, django_capture_on_commit_callbacks)
    assert [(r["dispute"], r["action"], r["status"]) for r in rows] == [
        (str(dispute.code), "opened", "open"), (str(dispute.code), "evidence_added", "evidence_gathering"),
        (str(dispute.code), "lost", "lost")]
    assert rows[-1]["by"] == w.finance.email and rows[0]["amount"] == "250.00"


# --- won, accepted, retrieval requests -------------------------------------------------------------------

def test_a_won_dispute_gives_the_held_amount_back_and_the_provider_returns_the_money(world):
    deposit = world.pay("100.00")
    dispute = world.charge_back(deposit)
    assert available(world.wallet()) == usd("0")
    dispute_outcome_record(dispute=dispute, outcome="won", note="Representment accepted", actor=world.finance)
    assert available(world.wallet()) == usd("99.50") and balance(world.wallet()) == usd("99.50")
    clearing = clearing_account_for(provider="psp-sim", currency="USD", brand=world.brand)
    assert balance(clearing) == usd("-100.00")  # the provider owes the payment again
    deposit.refresh_from_db()
    assert deposit.status == DepositStatus.SUCCEEDED
    dispatch_pending()
    assert Event.objects.get(name="wallet.dispute_decided").data["action"] == "won"
    assert not Event.objects.filter(name="wallet.deposit_charged_back").exists()
    assert ledger_verify() == {}


def test_a_chargeback_after_the_money_was_spent_holds_what_is_left_and_losing_makes_client_debt(world):
    from wallet.ledger import Leg, ledger_post

    deposit = world.pay("300.00")
    bank = system_account_for(kind=AccountKind.BANK, currency="USD", brand=world.brand)
    ledger_post(key="spend-1", kind="withdrawal", legs=[Leg(world.wallet(), usd("-250")), Leg(bank, usd("250"))])
    dispute = world.charge_back(deposit)
    assert dispute.hold is not None and dispute.hold.money == usd("49.50")
    dispute_outcome_record(dispute=dispute, outcome="lost", note="", actor=world.finance)
    assert balance(world.wallet()) == usd("0")
    assert balance(client_debt_account_for(client=world.client, currency="USD")) == usd("-250.00")
    assert ledger_verify() == {}


def test_a_retrieval_request_holds_nothing_and_the_chargeback_after_it_escalates_the_same_case(world):
    deposit = world.pay("100.00")
    headers, body = signed_webhook(WEBHOOK_SECRET, event_type="retrieval.created", merchant_ref=deposit.merchant_ref,
                                   data={"object": "retrieval", "id": "rr_1", "reason_code": "28",
                                         "reason_text": "Cardholder does not recognise", "status": "open",
                                         "respond_by": "2031-01-15T00:00:00Z", "sequence": 0})
    assert webhook_receive(provider_code="psp-sim", headers=headers, body=body).outcome == "accepted"
    dispute = Dispute.objects.get(deposit=deposit)
    assert (dispute.kind, dispute.reason_code, dispute.due_at.date()) == (DisputeKind.RETRIEVAL_REQUEST, "28",
                                                                          dt.date(2031, 1, 15))
    assert dispute.hold is None and available(world.wallet()) == usd("99.50")
    world.charge_back(deposit)
    dispute.refresh_from_db()
    assert dispute.kind == DisputeKind.CHARGEBACK and Dispute.objects.filter(deposit=deposit).count() == 1
    assert available(world.wallet()) == usd("0")
    assert [s.action for s in dispute.steps.order_by("id")] == ["opened", "escalated"]


def test_an_open_chargeback_holds_withdrawals_until_the_dispute_is_won(world):
    from wallet.selectors import client_risk_flags

    deposit = world.pay("100.00")
    dispute = world.charge_back(deposit)
    [flag] = [f for f in client_risk_flags(client=world.client) if f.kind == "chargeback"]
    assert flag.holds and "dispute is open" in flag.reason
    assert flag.url == reverse("wallet_dispute_detail", args=[dispute.code])
    dispute_outcome_record(dispute=dispute, outcome="won", note="", actor=world.finance)
    assert not [f for f in client_risk_flags(client=world.client) if f.kind == "chargeback"]


# --- the pages ----------------------------------------------------------------------------------------------

def test_the_queue_lists_overdue_disputes_first_then_by_the_days_left(world, login_verified):
    now = timezone.now()
    made = {}
    for name, days in (("later", 9), ("overdue", -2), ("soon", 2)):
        deposit = world.pay("50.00")
        made[name] = dispute_open(deposit=deposit, kind="retrieval_request", reason_code="28", reason=name,
                                  due_at=now + dt.timedelta(days=days, hours=1), actor=world.finance)
    html = world.http(login_verified).get(reverse("wallet_dispute_queue")).content.decode()
    order = re.findall(r'data-dispute="([0-9a-f-]+)"', html)
    assert order == [str(made["overdue"].code), str(made["soon"].code), str(made["later"].code)]
    assert "overdue" in html and "2 days left" in html and "9 days left" in html


def test_the_chargeback_ratio_counts_chargebacks_over_deposits_per_provider_and_method(world, login_verified):
    first = world.pay("100.00")
    world.pay("300.00")
    world.charge_back(first)
    html = world.http(login_verified).get(reverse("wallet_chargeback_ratio")).content.decode()
    row = html[html.index('data-ratio="psp-sim:card:USD"'):]
    row = row[:row.index("</tr>")]
    assert "50.00 %" in row and "25.00 %" in row  # 1 of 2 deposits; 100 of 400


def test_only_finance_works_disputes(world, login_verified):
    deposit = world.pay("100.00")
    dispute = world.charge_back(deposit)
    agent = HttpClient()
    agent.force_login(make_user(role_code=RoleCode.SALES_AGENT, brand=world.brand))
    assert agent.get(reverse("wallet_dispute_queue")).status_code == 403
    assert _page(agent, dispute).status_code == 403
    assert agent.post(reverse("wallet_dispute_outcome", args=[dispute.code]), {"outcome": "won"}).status_code == 403
    elsewhere = world.http(login_verified, make_user(role_code=RoleCode.FINANCE, brand=make_brand()))
    assert _page(elsewhere, dispute).status_code == 404
    assert str(dispute.code) not in elsewhere.get(reverse("wallet_dispute_queue")).content.decode()
    assert _page(world.http(login_verified), dispute).status_code == 200
    dispute.refresh_from_db()
    assert dispute.status == DisputeStatus.OPEN


def test_an_upload_without_a_file_and_an_outcome_on_a_closed_dispute_are_refused_clearly(world, login_verified):
    deposit = world.pay("100.00")
    dispute = world.charge_back(deposit)
    browser = world.http(login_verified)
    url = reverse("wallet_dispute_evidence", args=[dispute.code])
    empty = browser.post(url, {"title": "Terms"})
    assert empty.status_code == 400 and "Choose a file to attach" in empty.content.decode()
    wrong = browser.post(url, {"title": "Terms", "file": io.BytesIO(b"MZ\x90 not a document")}, format="multipart")
    assert wrong.status_code == 400 and "Only PDF, PNG and JPEG" in wrong.content.decode()
    assert not dispute.evidence.exists()

    browser.post(reverse("wallet_dispute_accept", args=[dispute.code]), {"note": "Fraud confirmed by the client"})
    dispute.refresh_from_db()
    assert dispute.status == DisputeStatus.ACCEPTED
    answer = browser.post(reverse("wallet_dispute_outcome", args=[dispute.code]), {"outcome": "won"}, follow=True)
    assert "This dispute is closed (accepted)" in answer.content.decode()
    dispute.refresh_from_db()
    assert dispute.status == DisputeStatus.ACCEPTED and balance(world.wallet()) == usd("0")
    represent = browser.post(reverse("wallet_dispute_represent", args=[dispute.code]), {"note": ""}, follow=True)
    assert "Note" in represent.content.decode() and "This field is required" in represent.content.decode()


def test_the_demo_opens_a_chargeback_and_a_retrieval_request_once(db):
    from django.core.management import call_command

    brand = make_brand()
    for _ in range(3):
        make_client(brand=brand, country="DE")
    call_command("wallet_seed_demo")
    call_command("wallet_seed_demo")
    disputes = Dispute.objects.filter(brand=brand).order_by("due_at")
    assert [(d.kind, d.status) for d in disputes] == [("retrieval_request", "open"), ("chargeback", "open")]
    assert disputes[0].due_at < timezone.now() < disputes[1].due_at  # one overdue, one with days left
    assert disputes[1].hold is not None and ledger_verify() == {}
