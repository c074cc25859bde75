"""The demo's deposits: made through the services, confirmed through the webhook handler, once."""

from __future__ import annotations

from django.core.management import call_command

from crm.models import Event
from tests.factories import make_brand, make_client
from wallet.ledger import ledger_verify, wallet_balances_for_client
from wallet.models import Deposit, DepositStatus


def test_the_demo_seed_posts_confirmed_deposits_once(db):
    brand = make_brand()
    clients = [make_client(brand=brand, country="DE") for _ in range(3)]

    call_command("wallet_seed_demo")
    count = Deposit.objects.count()
    call_command("wallet_seed_demo")

    assert count >= 3 and Deposit.objects.count() == count
    succeeded = Deposit.objects.filter(status=DepositStatus.SUCCEEDED)
    assert succeeded.exists()
    funded = {d.client_id for d in succeeded}
    assert Event.objects.filter(name="wallet.first_deposit").count() == len(funded)
    for client in clients:
        total = sum((d.credited.amount for d in succeeded if d.client_id == client.pk), start=0)
        balances = wallet_balances_for_client(client)
        assert (balances[0].balance.amount if balances else 0) == total
    assert ledger_verify() == {}


def test_the_demo_closes_the_previous_month_once(db):
    import datetime as dt

    from django.utils import timezone

    from crm.models import RoleCode
    from tests.factories import make_user
    from wallet.close import month_figures
    from wallet.models import MonthClose

    brand = make_brand()
    for _ in range(12):
        make_client(brand=brand, country="DE")
    make_user(role_code=RoleCode.FINANCE, brand=brand)

    call_command("wallet_seed_demo")
    call_command("wallet_seed_demo")

    last_month = (timezone.localdate().replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    closed = MonthClose.objects.get()
    assert closed.period == last_month and closed.currency == "USD"
    current = month_figures(provider=closed.provider, currency="USD", period=timezone.localdate())
    assert current.closed is None and current.opening == closed.closing_money and current.ties
    # The bank's statement was reconciled once: the wire that arrived short and the one not on it yet.
    from wallet.models import ReconciliationBreak, SettlementImport

    assert SettlementImport.objects.get().status == "done"
    kinds = sorted(ReconciliationBreak.objects.filter(status="open").values_list("kind", flat=True))
    assert kinds == ["amount_mismatch", "missing_at_provider"]


def test_the_demo_funds_only_clients_verified_through_the_kyc_services_so_each_may_have_a_live_account(db):
    """Nova FX's funded demo clients Paul Richter and Lorenzo Bruno had no live account: the wallet's
    demo funded a brand's first clients whatever their verification, two of them the KYC demo's
    refusals. A funded client is verified: one never asked is verified through the KYC services; a
    client the KYC demo left refused or in review, or a closed one, is not funded."""
    from crm.models import Client
    from crm.selectors import client_verified
    from kyc.models import Submission, SubmissionStatus
    from kyc.selectors import kyc_status
    from kyc.services import kyc_profile_save, submission_checks_record, submission_create
    from tests.kyc.conftest import documents, report
    from trading.policy import live_account_refusal
    from trading.services import brand_trading_policy_set

    brand = make_brand()
    brand_trading_policy_set(actor=None, brand=brand, max_leverage_live=200, max_leverage_demo=500,
                             live_requires_verification=True)  # as Nova FX's
    never_asked = make_client(brand=brand, country="AT")

    def checked(decision: str) -> Client:
        client = make_client(brand=brand, country="IT", stage="registered")
        kyc_profile_save(client=client, actor=None, address_line1="1 Via Roma", city="Milano", postcode="20100",
                         country="IT")
        submission_checks_record(submission=submission_create(client=client, documents=documents(str(client.pk))),
                                 report=report(decision=decision))
        return client

    refused, in_review = checked("reject"), checked("review")
    closed = make_client(brand=brand, country="DE", stage="closed")

    call_command("wallet_seed_demo")

    funded = set(Deposit.objects.filter(brand=brand).values_list("client_id", flat=True))
    assert never_asked.pk in funded
    assert funded.isdisjoint({refused.pk, in_review.pk, closed.pk})
    for client in Client.objects.filter(pk__in=funded):
        assert client_verified(client=client) and kyc_status(client=client) == "approved"
        assert live_account_refusal(client=client, brand=brand) is None
    [approval] = Submission.objects.filter(client=never_asked)
    assert approval.status == SubmissionStatus.APPROVED and approval.reviewer is None  # by the checks
    assert kyc_status(client=refused) == "rejected" and kyc_status(client=in_review) == "pending"


def test_the_demos_deposits_count_on_the_day_the_bank_confirmed_them_in_the_daily_money_report(db):
    """Not all on the day the demo was loaded (issue 58, item 11)."""
    import datetime as dt
    from decimal import Decimal

    from django.utils import timezone

    from crm.lib.money import Money
    from reports.models import DailyFigure
    from reports.readmodel import rebuild
    from wallet.demo import demo_wire_deposit, demo_wire_methods, demo_wire_provider

    brand = make_brand()
    client = make_client(brand=brand, country="DE")
    wire = demo_wire_provider()
    demo_wire_methods(brand=brand, wire=wire)
    then = timezone.now() - dt.timedelta(days=12)
    deposit = demo_wire_deposit(provider=wire, client=client, amount=Money("750", "USD"), at=then, n=0)
    deposit.refresh_from_db()
    assert deposit.succeeded_at == then
    assert Event.objects.get(name="wallet.deposit_succeeded", client=client).occurred_at == then
    rebuild(start=then.date() - dt.timedelta(days=1), end=timezone.localdate())
    days = {row.day: row.amount for row in DailyFigure.objects.filter(metric="deposits", dimension="provider")}
    assert days == {timezone.localtime(then).date(): Decimal("750")}
