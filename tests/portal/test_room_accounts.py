"""The trader's room's trading accounts, against the MT5 Web API simulator: the type the client
chose for their first live account, the dashboard while it is being set up, more live and demo
accounts (once per form, nothing stored on a platform failure), and leverage within the caps."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.core import mail
from django.urls import reverse
from django.utils import timezone

from crm import events
from tests.portal.conftest import sign_in
from tests.portal.room import form_token, other_client
from tests.portal.test_verification_account import approve, broker, live_accounts  # noqa: F401  (fixture)
from tests.trading.conftest import quiet_sim, shared_sim  # noqa: F401  (fixtures)
from tests.trading.crm_fixtures import _fresh_adapters  # noqa: F401  (fixture)


def key(server, account_type):
    return f"{server.code}:{account_type}"


def accounts(client):
    from trading.models import TradingAccount

    return list(TradingAccount.objects.filter(client=client).order_by("pk"))


def test_the_first_live_account_opens_with_the_type_the_client_chose(broker, http):  # noqa: F811
    sign_in(http, broker.brand)
    page = http.get(reverse("portal:home")).content.decode()
    assert 'id="account-choice"' in page and "Pro" in page
    journey = http.get(reverse("portal:kyc") + "?step=status").content.decode()
    assert 'id="account-choice-kyc"' in journey
    response = http.post(reverse("portal:account_choose"), {"offer": key(broker.server, "pro"), "next": "kyc"})
    assert response.status_code == 302 and response["Location"] == reverse("portal:kyc")
    page = http.get(reverse("portal:home")).content.decode()
    assert f'value="{key(broker.server, "pro")}" selected' in page
    approve(broker.client)
    events.dispatch_pending()
    [account] = live_accounts(broker.client)
    assert (account.account_type, account.leverage) == ("pro", 200)


def test_the_polled_status_takes_the_type_chooser_away_once_approved(broker, http):  # noqa: F811
    # Issue 58, item 6: the verification page, polled to "approved", still asked to "Save the account type".
    sign_in(http, broker.brand)
    assert 'id="account-choice-kyc"' in http.get(reverse("portal:kyc") + "?step=status").content.decode()
    approve(broker.client)
    polled = http.get(reverse("portal:kyc_status"), headers={"HX-Request": "true"}).content.decode()
    assert 'data-status="approved"' in polled
    assert '<div id="account-choice-kyc" hx-swap-oob="true" hidden></div>' in polled  # swapped in for the form
    assert "Save the account type" not in http.get(reverse("portal:kyc") + "?step=status").content.decode()


def test_a_demo_type_is_no_choice_for_the_live_account_and_the_default_opens(broker, http):  # noqa: F811
    sign_in(http, broker.brand)
    response = http.post(reverse("portal:account_choose"), {"offer": key(broker.server, "demo")}, follow=True)
    assert "Choose one of the account types on offer." in response.content.decode()
    approve(broker.client)
    events.dispatch_pending()
    [account] = live_accounts(broker.client)
    assert account.account_type == "standard"


def test_the_dashboard_says_the_account_is_being_set_up_until_it_appears(broker, http):  # noqa: F811
    sign_in(http, broker.brand)
    broker.sim.faults({"type": "http_error", "path": "/api/user/add", "count": 1, "status": 503})
    approve(broker.client)
    panel = http.get(reverse("portal:accounts_panel")).content.decode()
    assert 'data-state="setting_up"' in panel and "every 3s" in panel
    events.dispatch_pending()  # the platform fails: the delivery is retried later
    page = http.get(reverse("portal:home")).content.decode()
    assert 'data-state="retrying"' in page and 'hx-get="/portal/accounts/panel/"' in page
    assert events.retry_due(now=timezone.now() + timedelta(hours=1)) == 1
    [account] = live_accounts(broker.client)
    panel = http.get(reverse("portal:accounts_panel")).content.decode()
    assert str(account.login) in panel and "account-setup" not in panel and "every 3s" not in panel


def test_a_double_submit_opens_one_account_and_mails_its_password_link(broker, http,  # noqa: F811
                                                                          django_capture_on_commit_callbacks):
    approve(broker.client)
    events.dispatch_pending()
    sign_in(http, broker.brand)
    token = form_token(http.get(reverse("portal:account_new")).content.decode())
    mail.outbox.clear()
    data = {"kind": "live", "token": token, "offer": key(broker.server, "pro"), "leverage": "100"}
    with django_capture_on_commit_callbacks(execute=True):
        first = http.post(reverse("portal:account_new"), data)
        second = http.post(reverse("portal:account_new"), data)
    assert first.status_code == second.status_code == 302
    live = live_accounts(broker.client)
    assert len(live) == 2 and live[1].account_type == "pro" and live[1].leverage == 100
    logins_on_platform = [int(a["Login"]) for a in broker.sim.truth()["accounts"]]
    assert logins_on_platform.count(live[1].login) == 1
    page = http.get(reverse("portal:home")).content.decode()
    assert str(live[1].login) in page and "link to see its password" in page
    [welcome] = mail.outbox  # one password link, as for the first account
    assert str(live[1].login) in welcome.body


def test_a_platform_failure_is_said_plainly_and_stores_nothing(broker, http):  # noqa: F811
    from portal.models import AccountRequest

    approve(broker.client)
    events.dispatch_pending()
    sign_in(http, broker.brand)
    token = form_token(http.get(reverse("portal:account_new")).content.decode())
    broker.sim.faults({"type": "http_error", "path": "/api/user/add", "count": 1, "status": 503})
    data = {"kind": "live", "token": token, "offer": key(broker.server, "standard"), "leverage": "100"}
    response = http.post(reverse("portal:account_new"), data)
    assert response.status_code == 400
    assert "We could not open your account just now" in response.content.decode()
    assert len(live_accounts(broker.client)) == 1 and not AccountRequest.objects.exists()
    # Sent again once the platform is back: it opens.
    assert http.post(reverse("portal:account_new"), data).status_code == 302
    assert len(live_accounts(broker.client)) == 2


def test_an_unverified_client_may_open_a_demo_but_not_a_live_account(broker, http):  # noqa: F811
    sign_in(http, broker.brand)
    page = http.get(reverse("portal:account_new")).content.decode()
    assert "opens once your identity is verified" in page and 'name="token"' not in page
    refused = http.post(reverse("portal:account_new"), {
        "kind": "live", "token": "8f0b7f8e-5d1c-4a57-9a43-3f1a4f7e2a11", "offer": key(broker.server, "standard"),
        "leverage": "100"})
    assert refused.status_code == 400 and accounts(broker.client) == []

    token = form_token(http.get(reverse("portal:account_new") + "?kind=demo").content.decode())
    too_much = {"kind": "demo", "token": token, "offer": key(broker.server, "demo"), "leverage": "500",
                "demo_balance": "5000000"}
    response = http.post(reverse("portal:account_new"), too_much)
    assert response.status_code == 400 and "Choose a starting balance from 100 to 100,000" in response.content.decode()
    assert accounts(broker.client) == []
    response = http.post(reverse("portal:account_new"), {**too_much, "demo_balance": "5000"})
    assert response.status_code == 302
    [demo] = accounts(broker.client)
    assert demo.is_demo and demo.leverage == 500
    from trading.models import BalanceOperation

    [op] = BalanceOperation.objects.filter(account=demo)
    assert op.amount == Decimal("5000")


def test_leverage_changes_within_the_cap_and_is_refused_above_it(broker, http, register):  # noqa: F811
    from trading.services import leverage_cap_save

    approve(broker.client)
    events.dispatch_pending()
    [account] = live_accounts(broker.client)
    leverage_cap_save(actor=None, brand=broker.brand, country="GB", classification="", max_leverage=100)
    sign_in(http, broker.brand)
    url = reverse("portal:account_leverage", args=[account.code])
    page = http.get(url).content.decode()
    assert 'value="100"' in page and 'value="200"' not in page  # only what the cap allows is offered

    refused = http.post(url, {"leverage": "200"})
    assert refused.status_code == 400
    assert "Leverage 1:200 is refused" in refused.content.decode() and "1:100" in refused.content.decode()
    account.refresh_from_db()
    assert account.leverage == 500

    assert http.post(url, {"leverage": "100"}).status_code == 302
    account.refresh_from_db()
    on_platform = {int(a["Login"]): int(a["Leverage"]) for a in broker.sim.truth()["accounts"]}
    assert account.leverage == 100 and on_platform[account.login] == 100

    # Another client cannot open or change it.
    _login, stranger = other_client(broker.brand, register)
    assert stranger.get(url).status_code == 404
    assert stranger.post(url, {"leverage": "50"}).status_code == 404
    account.refresh_from_db()
    assert account.leverage == 100


def test_a_demo_starting_balance_has_its_currencys_decimals_and_is_refused_before_anything_opens(
        broker, http):  # noqa: F811
    """The starting balance once had two decimals in any currency: 0.12345678 BTC was refused, and
    5000.50 JPY opened the account on the platform before its balance operation refused the amount."""
    from tests.trading.crm_fixtures import ACCOUNT_TYPES, make_server
    from trading.models import BalanceOperation

    crypto = make_server(broker.sim, broker.brand, name="MT5 crypto", account_types={
        **ACCOUNT_TYPES,
        "btc": {"label": "Bitcoin demo", "group": "real\\btc", "leverages": [100], "demo": True, "currency": "BTC"},
        "jpy": {"label": "Yen demo", "group": "real\\jpy", "leverages": [100], "demo": True, "currency": "JPY"}})
    sign_in(http, broker.brand)
    on_platform = len(broker.sim.truth()["accounts"])

    def post(server, account_type, amount):
        token = form_token(http.get(reverse("portal:account_new") + "?kind=demo").content.decode())
        return http.post(reverse("portal:account_new"), {
            "kind": "demo", "token": token, "offer": key(server, account_type), "leverage": "100",
            "demo_balance": amount})

    refused = post(crypto, "jpy", "5000.50")
    assert refused.status_code == 400 and "JPY has no decimals: enter a whole amount." in refused.content.decode()
    refused = post(broker.server, "demo", "5000.005")
    assert refused.status_code == 400 and "USD has at most 2 decimals." in refused.content.decode()
    assert accounts(broker.client) == [] and len(broker.sim.truth()["accounts"]) == on_platform

    assert post(crypto, "btc", "100.12345678").status_code == 302
    [demo] = accounts(broker.client)
    [op] = BalanceOperation.objects.filter(account=demo)
    assert (demo.currency, op.currency, op.amount) == ("BTC", "BTC", Decimal("100.12345678"))
