"""Internal transfers against the MT5 simulator (one process for the module): wallet -> account,
account -> wallet and account -> account, the ledger moving only when the platform applied the
operation, a failed deposit compensated, an unknown outcome resolved later, a repeated event doing
nothing, the refusals, and the trader's room page with its permission trio."""
# ruff: noqa: F811 - pytest fixtures imported from other test modules are redefined as test arguments

from __future__ import annotations

import uuid
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.test import Client as HttpClient
from django.urls import reverse

from crm import events
from crm.exceptions import Conflict
from crm.lib.fieldcrypt import keyed_hash
from crm.lib.money import Money
from crm.models import Event
from portal.models import ClientLogin
from portal.services import portal_email_verify, verification_token
from tests.factories import make_brand, make_client, make_user
from tests.portal.conftest import (  # noqa: F401 - fixtures
    _portal_budgets,
    brand,
    eager_celery,
    http,
    ip,
    register,
    sign_in,
)
from tests.trading.conftest import quiet_sim, shared_sim  # noqa: F401 - fixtures
from tests.trading.crm_fixtures import _fresh_adapters, make_server, open_account, world  # noqa: F401 - fixtures
from tests.wallet.withdrawal_support import deposit
from trading.models import BalanceOperation, BalanceState
from trading.services import balance_operation_resolve, balance_operation_send, leverage_cap_save
from wallet.ledger import available, balance, ledger_verify, mirror_account_for, wallet_account_for
from wallet.models import LedgerTransaction, Transfer, TransferState
from wallet.transfers import TransferRefused, transfer_operation_settled, transfer_request

S = TransferState
USD = "USD"


def usd(value: str) -> Money:
    return Money(value, USD)


def key() -> str:
    return f"test:{uuid.uuid4()}"


def platform_balance(sim, account) -> Decimal:
    row = next(a for a in sim.truth()["accounts"] if a["Login"] == str(account.login))
    return Decimal(row["Balance"])


def send_and_dispatch(op: BalanceOperation) -> BalanceOperation:
    """What the worker does after commit: send the operation, then deliver the events."""
    op = balance_operation_send(operation_id=op.pk)
    events.dispatch_pending()
    return op


def step(t: Transfer) -> Transfer:
    """Send whichever operation of the transfer is still pending, until none is."""
    while True:
        t.refresh_from_db()
        pending = [op for op in (t.withdraw_operation, t.deposit_operation, t.compensation_operation)
                   if op is not None and BalanceOperation.objects.get(pk=op.pk).state == BalanceState.PENDING]
        if not pending:
            return t
        send_and_dispatch(pending[0])


@pytest.fixture
def funded(world):
    """The client with 1,000.00 USD in the wallet and two live accounts (10,000 and 0 on the platform)."""
    deposit(world.client, "1000.00")
    world.a = open_account(world)
    world.b = open_account(world, deposit=None)
    world.wallet = wallet_account_for(client=world.client, currency=USD)
    return world


def test_wallet_to_account_holds_then_posts_when_the_platform_applied(funded):
    w = funded
    t = transfer_request(actor=None, client=w.client, source=None, target=w.b, amount=usd("250.00"), key=key())
    assert t.state == S.SENT and t.deposit_operation.state == BalanceState.PENDING
    assert available(w.wallet) == usd("750") and balance(w.wallet) == usd("1000")  # held, not moved
    assert not LedgerTransaction.objects.filter(ref_kind="transfer").exists()

    t = step(t)
    assert t.state == S.COMPLETED
    assert balance(w.wallet) == usd("750") and available(w.wallet) == usd("750")
    assert balance(mirror_account_for(trading_account=w.b)) == usd("250")
    assert platform_balance(w.sim, w.b) == Decimal("250.00")
    assert Event.objects.filter(name="wallet.transfer_completed", data__transfer=str(t.code)).count() == 1
    assert list(t.changes.values_list("to_state", flat=True)) == [S.SENT, S.COMPLETED]
    assert ledger_verify() == {}


def test_account_to_wallet_credits_the_wallet_once_even_when_the_event_repeats(funded):
    w = funded
    t = step(transfer_request(actor=None, client=w.client, source=w.a, target=None, amount=usd("400"), key=key()))
    assert t.state == S.COMPLETED
    assert balance(w.wallet) == usd("1400") and platform_balance(w.sim, w.a) == Decimal("9600.00")

    # The event again (a redelivery, another handler's retry): nothing posts twice.
    transfer_operation_settled(operation=t.withdraw_operation)
    events.deliver_event(Event.objects.filter(name="trading.balance_applied",
                                              data__operation=str(t.withdraw_operation.code)).get())
    assert balance(w.wallet) == usd("1400")
    assert LedgerTransaction.objects.filter(ref_kind="transfer", ref_code=str(t.code)).count() == 1
    assert ledger_verify() == {}


def test_account_to_account_moves_through_transit_and_completes(funded):
    w = funded
    t = transfer_request(actor=None, client=w.client, source=w.a, target=w.b, amount=usd("1500.50"), key=key())
    send_and_dispatch(t.withdraw_operation)
    t.refresh_from_db()
    assert t.state == S.SENT and t.deposit_operation is not None  # the money left a; the deposit to b is out
    t = step(t)
    assert t.state == S.COMPLETED
    assert platform_balance(w.sim, w.a) == Decimal("8499.50") and platform_balance(w.sim, w.b) == Decimal("1500.50")
    assert balance(mirror_account_for(trading_account=w.b)) == usd("1500.50")
    assert balance(w.wallet) == usd("1000")  # the wallet never saw it
    assert ledger_verify() == {}


def test_a_failed_deposit_to_the_target_is_compensated_back_to_the_source(funded):
    w = funded
    t = transfer_request(actor=None, client=w.client, source=w.a, target=w.b, amount=usd("300"), key=key())
    send_and_dispatch(t.withdraw_operation)
    t.refresh_from_db()
    w.sim.faults({"type": "retcode", "retcode": "10019 Not enough money", "path": "/api/trade/balance", "count": 1})
    send_and_dispatch(t.deposit_operation)
    t.refresh_from_db()
    assert t.state == S.COMPENSATING and t.compensation_operation.amount == Decimal("300")
    t = step(t)
    assert t.state == S.FAILED and "went back to the source account" in t.reason
    assert platform_balance(w.sim, w.a) == Decimal("10000.00") and platform_balance(w.sim, w.b) == Decimal("0.00")
    assert balance(mirror_account_for(trading_account=w.a)) == usd("0")
    assert Event.objects.filter(name="wallet.transfer_failed", data__transfer=str(t.code)).count() == 1
    assert ledger_verify() == {}


def test_a_refused_deposit_from_the_wallet_releases_the_hold(funded):
    w = funded
    w.sim.faults({"type": "retcode", "retcode": "10019 Not enough money", "path": "/api/trade/balance", "count": 1})
    t = step(transfer_request(actor=None, client=w.client, source=None, target=w.b, amount=usd("100"), key=key()))
    assert t.state == S.FAILED
    assert available(w.wallet) == usd("1000") and t.hold.state == "released"
    assert not LedgerTransaction.objects.filter(ref_kind="transfer").exists()


def test_an_unknown_outcome_waits_blocks_the_account_and_completes_once_resolved(funded):
    w = funded
    w.sim.faults({"type": "timeout_after_apply", "path": "/api/trade/balance", "mode": "drop", "count": 1})
    t = step(transfer_request(actor=None, client=w.client, source=None, target=w.b, amount=usd("100"), key=key()))
    assert t.state == S.UNKNOWN and balance(w.wallet) == usd("1000") and available(w.wallet) == usd("900")

    with pytest.raises(TransferRefused) as refused:
        transfer_request(actor=None, client=w.client, source=w.b, target=None, amount=usd("10"), key=key())
    assert refused.value.code == "balance_operation_unknown" and "source" in refused.value.fields

    balance_operation_resolve(operation_id=t.deposit_operation_id)
    events.dispatch_pending()
    t.refresh_from_db()
    assert t.state == S.COMPLETED and balance(w.wallet) == usd("900")
    assert list(t.changes.values_list("to_state", flat=True)) == [S.SENT, S.UNKNOWN, S.SENT, S.COMPLETED]


def test_it_refuses_what_may_not_be_transferred_and_names_the_problem(funded):
    w = funded
    demo = open_account(w, account_type="demo", deposit=None)
    stranger = open_account(w, make_client(brand=w.brand, email="other@example.com", stage="funded"), deposit=None)

    def refused(**kwargs):
        args = {"actor": None, "client": w.client, "source": None, "target": w.b, "amount": usd("10"), "key": key()}
        with pytest.raises(TransferRefused) as error:
            transfer_request(**(args | kwargs))
        return error.value.code, next(iter(error.value.fields))

    assert refused(target=stranger) == ("transfer_not_own_account", "target")
    assert refused(source=stranger, target=None) == ("transfer_not_own_account", "source")
    assert refused(target=demo) == ("transfer_demo_account", "target")
    assert refused(amount=usd("0")) == ("transfer_amount_invalid", "amount")
    assert refused(amount=usd("-5")) == ("transfer_amount_invalid", "amount")
    assert refused(amount=Money("10.005", USD)) == ("transfer_amount_precision", "amount")
    assert refused(amount=Money("10", "EUR")) == ("transfer_currency_mismatch", "amount")
    assert refused(amount=usd("1000.01")) == ("insufficient_funds", "amount")
    assert refused(source=w.b, target=w.b) == ("transfer_same_account", "target")
    assert refused(target=None) == ("transfer_no_account", "target")
    assert not Transfer.objects.exists() and available(w.wallet) == usd("1000")

    same = key()
    first = transfer_request(actor=None, client=w.client, source=None, target=w.b, amount=usd("10"), key=same)
    again = transfer_request(actor=None, client=w.client, source=None, target=w.b, amount=usd("10"), key=same)
    assert first.pk == again.pk and available(w.wallet) == usd("990")
    with pytest.raises(Conflict):
        transfer_request(actor=None, client=w.client, source=None, target=w.b, amount=usd("11"), key=same)


def test_money_leaves_an_account_only_within_its_free_margin_as_last_read(funded):
    w = funded
    from trading.sync import account_states_sync

    account_states_sync(w.server.pk, force=True)
    w.a.refresh_from_db()
    assert w.a.state_observed_at is not None and w.a.free_margin == Decimal("10000.00")

    with pytest.raises(TransferRefused) as error:
        transfer_request(actor=None, client=w.client, source=w.a, target=None, amount=usd("10000.01"), key=key())
    assert error.value.code == "transfer_above_free_margin" and "10,000.00" in str(error.value.fields["amount"])
    assert not Transfer.objects.exists()
    t = step(transfer_request(actor=None, client=w.client, source=w.a, target=None, amount=usd("10000.00"), key=key()))
    assert t.state == S.COMPLETED and balance(w.wallet) == usd("11000")


def test_a_deposit_made_for_a_trading_account_goes_on_to_it(funded):
    from wallet.deposits import deposit_create, deposit_webhook_apply
    from wallet.provider_services import CurrencyRule, payment_method_save, payment_provider_save
    from wallet.providers.base import WebhookKind, WebhookMessage

    w = funded
    wire = payment_provider_save(code=f"wire-{uuid.uuid4().hex[:6]}", name="Bank wire", kind="bank_wire", settings={
        "beneficiary": "Test Brokerage Ltd", "iban": "CY17002001280000001200527600", "bic": "BCYPCY2N",
        "bank_name": "Test Bank", "bank_address": "1 Test Street"})
    payment_method_save(brand=w.brand, method="bank_wire", direction="deposit", provider=wire,
                        currencies=[CurrencyRule(USD, Decimal("10"), None)], order=10)
    made = deposit_create(client=w.client, amount=usd("300.00"), method="bank_wire", trading_account=w.b)
    message = WebhookMessage(kind=WebhookKind.DEPOSIT_SUCCEEDED, event_id=f"evt-{made.merchant_ref}",
                             provider_ref=made.provider_ref, merchant_ref=made.merchant_ref, amount=usd("300.00"),
                             fee=None, occurred_at=None, sequence=1)
    for _ in range(2):  # the provider repeats itself: one credit, one transfer
        deposit_webhook_apply(wire, message, None)
        events.dispatch_pending()

    t = step(Transfer.objects.get())
    assert t.state == S.COMPLETED and t.target_account == w.b and t.money == usd("300.00")
    assert balance(w.wallet) == usd("1000") and platform_balance(w.sim, w.b) == Decimal("300.00")
    assert ledger_verify() == {}


# --- the trader's room ---------------------------------------------------------------------------------

def _registered(register, brand, email, **fields):
    response = register(brand, email=email, **fields)
    assert response.status_code == 302, response.content.decode()[:1000]
    login = ClientLogin.objects.get(email_hash=keyed_hash(email, kind="email"))
    portal_email_verify(token=verification_token(login))
    return login


def test_the_transfer_page_serves_its_owner_only(brand, register, http, quiet_sim):
    owner = _registered(register, brand, "nadia.hassan@example.com")
    other = _registered(register, brand, "omar.other@example.com", first_name="Omar", last_name="Other",
                        phone="+442071838222")
    server = make_server(quiet_sim, brand)
    # The brand's own cap for UK retail clients (without one, the FCA default 1:30 applies).
    leverage_cap_save(actor=None, brand=brand, country="GB", classification="retail", max_leverage=500)
    world = SimpleNamespace(client=owner.client, server=server, sim=quiet_sim)
    mine = open_account(world, deposit=None)
    theirs = open_account(world, other.client, deposit=None)
    deposit(owner.client, "500.00")
    url = reverse("portal:wallet_transfer")

    # Not signed in (a staff member without a client session, too): the portal's login.
    staff = make_user(role_code="finance", brand=brand)
    staff_http = HttpClient()
    staff_http.force_login(staff)
    assert staff_http.get(url).status_code == 302

    assert sign_in(http, brand).status_code == 302
    page = http.get(url)
    assert page.status_code == 200 and str(mine.login).encode() in page.content
    assert str(theirs.login).encode() not in page.content
    home = http.get(reverse("portal:wallet"))
    assert url.encode() in home.content

    form_key = page.context["form"].initial["key"]
    response = http.post(url, {"source": "wallet", "target": str(mine.code), "amount": "120.00", "key": form_key})
    assert response.status_code == 302
    t = Transfer.objects.get(client=owner.client)
    assert t.state == S.SENT and t.requested_by is None
    assert http.post(url, {"source": "wallet", "target": str(mine.code), "amount": "120.00",
                           "key": form_key}).status_code == 302
    assert Transfer.objects.filter(client=owner.client).count() == 1  # a double submit is one transfer
    history = http.get(url)
    assert b"120.00" in history.content and b"Sent to the platform" in history.content
    # While it is open the list polls itself; once the platform applied it, it shows so and stops.
    assert b'hx-trigger="every 2s"' in history.content
    step(t)
    listed = http.get(url, {"part": "list"}).content
    assert b"Completed" in listed and b"hx-get" not in listed and b"<form" not in listed

    # Another client's account: as if it did not exist.
    assert http.post(url, {"source": str(theirs.code), "target": "wallet", "amount": "1",
                           "key": key()}).status_code == 404
    refused = http.post(url, {"source": "wallet", "target": str(mine.code), "amount": "9999", "key": key()})
    assert refused.status_code == 400 and b"available to transfer" in refused.content


# --- finance's action on the client's Wallet tab ---------------------------------------------------------

def test_finance_transfers_from_the_wallet_tab_and_others_may_not(funded, login_verified):
    w = funded
    url = reverse("wallet_client_transfer", args=[w.client.code])
    finance = HttpClient()
    login_verified(finance, w.finance)
    tab = finance.get(reverse("client_detail", args=[w.client.code]), {"tab": "wallet"})
    assert tab.status_code == 200 and b"data-transfer-form" in tab.content
    response = finance.post(url, {"source": str(w.a.code), "target": "wallet", "amount": "75", "key": "k1"})
    assert response.status_code == 302
    t = step(Transfer.objects.get(client=w.client))
    assert t.state == S.COMPLETED and t.requested_by == w.finance and balance(w.wallet) == usd("1075")

    owner = HttpClient()
    login_verified(owner, w.owner)  # the client's own agent: sees the client, may not move money
    assert owner.post(url, {"source": str(w.a.code), "target": "wallet", "amount": "5", "key": "k2"}).status_code == 404
    assert b"data-transfer-form" not in owner.get(reverse("client_detail", args=[w.client.code]),
                                                  {"tab": "wallet"}).content
    other = HttpClient()
    login_verified(other, make_user(role_code="finance", brand=make_brand()))
    assert other.post(url, {"source": str(w.a.code), "target": "wallet", "amount": "5", "key": "k3"}).status_code == 404
    assert Transfer.objects.filter(client=w.client).count() == 1
