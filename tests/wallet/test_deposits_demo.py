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
