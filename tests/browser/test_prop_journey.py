"""A prop-trading challenge in a real browser, against the real pieces: the PSP simulator (its hosted
checkout and signed webhooks to the CRM's live server) and the MT5 Web API simulator (the challenge's
account, its trades and prices).

The client finds the wallet empty on the challenges page, deposits by card through the checkout (the
card's fee and the amount credited shown before paying, and on the receipt), buys the challenge with
the wallet; the account is opened and funded on the simulator, and its page waits for the platform's
first update instead of showing figures from an account nobody has read. The client trades
there and the market turns: the state sync (as beat runs it) finds the day's loss beyond the limit,
breaches the challenge and disables the account on the platform. The trader's room says why: which
rule, its limit, the equity that crossed it and when, and what was done to the account. A dealer
(who watches challenges) finds it from the challenge list and sees the same on the challenge page.
"""

from __future__ import annotations

import datetime as dt
import re
from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.lib.fieldcrypt import keyed_hash
from crm.lib.money import Money, money_format
from crm.models import RoleCode
from tests.browser.support import MARKS, PASSWORD, login
from tests.factories import make_brand, make_user
from tests.trading.conftest import MANAGER_PASSWORD, start_simulator, stop_simulator
from tests.trading.crm_fixtures import server_values, sim_now
from tests.waiting import scaled_ms
from tests.wallet.conftest import API_KEY, API_SECRET, WEBHOOK_SECRET, start_psp, stop_psp

pytestmark = MARKS

CLIENT_PASSWORD = "quartz-lantern-6620"
CLIENT_EMAIL = "nadia.prop@example.com"
BID, ASK = Decimal("1.10000"), Decimal("1.10010")
SETTLED_MS = 60_000


@pytest.fixture
def prop_world(db, settings, tmp_path):
    """A brand selling a 10,000 USD challenge (daily loss 5% of the day's starting balance, overall
    10% static) on the MT5 simulator, card deposits at 2.8% + 0.30 USD on the PSP simulator, a verified
    client with an empty wallet and a dealer."""
    from portal.models import ClientLogin, ConsentDocument, ConsentKind
    from portal.services import portal_email_verify, portal_register, verification_token
    from tests.wallet.withdrawal_support import kyc_approve
    from trading import prop
    from trading.registry import adapters_reset
    from trading.services import brand_trading_policy_set, platform_server_save
    from wallet.provider_services import CurrencyRule, payment_method_save, payment_provider_save

    settings.PORTAL_REGISTER_RATE_LIMIT = "1000/m"
    settings.PORTAL_LOGIN_RATE_LIMIT = "1000/m"
    settings.KYC_STORAGE_DIR = tmp_path / "kyc-private"
    mt5 = start_simulator(tmp_path / "mt5sim")
    psp = start_psp()
    try:
        offset = timezone.now() - sim_now(mt5)
        mt5.control("/_sim/clock_offset", {"seconds": int(offset.total_seconds())})
        mt5.control("/_sim/prices", {"quotes": {"EURUSD": {"bid": str(BID), "ask": str(ASK)}}})
        brand = make_brand(code="summit-p", name="Summit Prop", served_countries=["GB"])
        for kind in ConsentKind.values:
            ConsentDocument.objects.create(brand=brand, kind=kind, version="1", language="en", title=f"{kind} v1")
        server = platform_server_save(actor=None, manager_password=MANAGER_PASSWORD,
                                      **server_values(mt5, brand, name="Summit Evaluation"))
        brand_trading_policy_set(actor=None, brand=brand, max_leverage_live=500, max_leverage_demo=500,
                                 live_min_stage="registered", live_requires_verification=False)
        provider = payment_provider_save(code="psp-sim", name="PSP simulator", kind="simulator",
                                         base_url=psp.base_url, api_key=API_KEY, api_secret=API_SECRET,
                                         webhook_secret=WEBHOOK_SECRET)
        payment_method_save(brand=brand, method="card", direction="deposit", provider=provider, order=10,
                            currencies=[CurrencyRule("USD", Decimal("10"), Decimal("5000"), Decimal("0.30"),
                                                     Decimal("2.8"))])
        product = prop.challenge_product_save(
            actor=None, brand=brand, key="ten-k", name="10K Challenge", server=server, account_type="demo",
            currency="USD", account_size="10000", fee="99", daily_loss_pct="5", daily_loss_basis="balance",
            max_loss_pct="10", max_loss_mode="static", breach_action="disabled", profit_split_pct="80",
            phases=[{"name": "Phase 1", "profit_target_pct": "10", "min_trading_days": 3, "time_limit_days": 30}])
        portal_register(brand=brand, language="en", first_name="Nadia", last_name="Hassan", email=CLIENT_EMAIL,
                        phone="+442071838222", country="GB", date_of_birth=date(1990, 5, 2),
                        password=CLIENT_PASSWORD, accept_terms=True, accept_privacy=True)
        login_row = ClientLogin.objects.get(email_hash=keyed_hash(CLIENT_EMAIL, kind="email"))
        portal_email_verify(token=verification_token(login_row))
        kyc_approve(login_row.client)
        make_user(role_code=RoleCode.DEALER, brand=brand, full_name="Dan Dealer", email="dan@staff.example.com",
                  password=PASSWORD)
        yield type("PropWorld", (), {"brand": brand, "server": server, "product": product,
                                     "client": login_row.client, "mt5": mt5, "psp": psp})
    finally:
        adapters_reset()
        stop_psp(psp)
        stop_simulator(mt5)


def _new_page(browser, width: int = 1366, height: int = 900):
    page = browser.new_context(viewport={"width": width, "height": height}).new_page()
    page.set_default_timeout(scaled_ms(20_000))
    return page


def _text(page, selector: str) -> str:
    return re.sub(r"\s+", " ", page.locator(selector).inner_text())


def _usd(amount: str | Decimal) -> str:
    return re.sub(r"\s+", " ", money_format(Money(Decimal(amount), "USD")))


def test_a_trader_breaches_the_daily_loss_and_sees_why_and_a_dealer_sees_it_too(live_server, browser, prop_world,
                                                                               settings):
    from trading import prop, sync
    from trading.models import Challenge, ChallengeDecision
    from trading.prop_models import ChallengeState, DecisionKind
    from wallet.models import Deposit

    base, w = live_server.url, prop_world
    settings.CRM_PUBLIC_URL = base  # the PSP simulator posts its webhooks to the live server
    room = _new_page(browser, 390, 844)
    room.goto(f"{base}/portal/{w.brand.code}/login/")
    room.fill("input[name=email]", CLIENT_EMAIL)
    room.fill("input[name=password]", CLIENT_PASSWORD)
    room.click("button[type=submit]")
    room.wait_for_url(f"{base}/portal/")

    # 1. The wallet is empty: the challenge is offered with a deposit first, by card at the checkout.
    room.goto(f"{base}{reverse('portal:challenges')}")
    assert room.locator("button[data-buy]").count() == 0
    room.click("a:has-text('Deposit to buy')")
    room.wait_for_url(re.compile(re.escape(reverse("portal:wallet_deposit_new"))))
    room.fill("input[name=amount]", "150")
    # Before paying: the fee (2.8% of 150 + 0.30) and what the wallet gets.
    room.wait_for_selector("#deposit-quote dl")
    assert _text(room, "#deposit-fee") == _usd("4.50") and _text(room, "#deposit-net") == _usd("145.50")
    room.click("button:has-text('Continue to payment')")
    room.wait_for_selector("input[name=card_number]")
    assert room.url.startswith(w.psp.base_url)
    room.fill("input[name=card_number]", "4242 4242 4242 4242")
    room.click("button[type=submit]")
    deposit = Deposit.objects.get(client=w.client)
    room.wait_for_url(re.compile(re.escape(reverse("portal:wallet_deposit", args=[deposit.code]))))
    room.wait_for_selector("#deposit-status[data-status=succeeded]", timeout=scaled_ms(SETTLED_MS))
    receipt = _text(room, "#deposit-receipt")
    assert _usd("150") in receipt and _usd("4.50") in receipt and _usd("145.50") in receipt, receipt
    assert room.locator("#deposit-cancel").count() == 0  # paid: nothing left to cancel

    # 2. Bought with the wallet: the fee leaves it, the account is opened and funded on the platform.
    room.goto(f"{base}{reverse('portal:challenges')}")
    room.click("button[data-buy='ten-k']")
    challenge = Challenge.objects.get(client=w.client)
    room.wait_for_url(re.compile(re.escape(reverse("portal:challenge", args=[challenge.code]))))
    room.wait_for_selector("#challenge-state:has-text('In evaluation')")
    challenge.refresh_from_db()
    account = challenge.account
    assert account is not None and challenge.state == ChallengeState.ACTIVE, challenge.last_error
    assert str(account.login) in _text(room, "main")
    on_platform = next(a for a in w.mt5.truth()["accounts"] if int(a["Login"]) == account.login)
    assert Decimal(str(on_platform["Balance"])) == Decimal("10000")
    # Not read from the platform yet: no "Profit -10000.00", only that the first update is awaited.
    waiting = _text(room, "#progress-waiting")
    assert "Waiting for the first update" in waiting, waiting
    assert room.locator("#progress-figures").count() == 0 and "-10" not in _text(room, "main")
    room.goto(f"{base}{reverse('portal:wallet')}")
    assert _usd("46.50") in _text(room, "main")  # 145.50 credited, 99 paid for the challenge

    # 3. The client buys a lot of EURUSD on the platform; the syncs (beat's work) bring it in.
    w.mt5.control("/_sim/trade", {"login": account.login, "symbol": "EURUSD", "action": "buy", "volume": "1.00",
                                  "price": str(ASK)})
    assert sync.deals_sync(w.server.pk, force=True).status == "ok"
    assert sync.account_states_sync(w.server.pk, force=True).status == "ok"
    challenge.refresh_from_db()
    assert challenge.state == ChallengeState.ACTIVE and challenge.trading_days == 1
    room.goto(f"{base}{reverse('portal:challenge', args=[challenge.code])}")
    room.wait_for_selector("#challenge-state:has-text('In evaluation')")
    assert room.locator("#challenge-ended").count() == 0
    # Read now: the profit so far and the target (1,000, for an equity of 11,000), each under its own label.
    figures = _text(room, "#progress-figures")
    assert room.locator("#progress-waiting").count() == 0
    assert "Profit target " + _usd("1000") + " (equity of " + _usd("11000") + ")" in figures, figures
    assert _usd("11000") not in _text(room, "#progress-figures dd:nth-of-type(1)")

    # 4. The market falls 60 pips: equity about 9,400, 6% below the day's starting balance of 10,000.
    w.mt5.control("/_sim/prices", {"quotes": {"EURUSD": {"bid": "1.09410", "ask": "1.09420"}}})
    assert sync.account_states_sync(w.server.pk, force=True).status == "ok"
    challenge.refresh_from_db()
    assert challenge.state == ChallengeState.BREACHED and challenge.enforced_at is not None, challenge.last_error
    assert prop.adapter_for(w.server).get_account(account.login).access.value == "disabled"
    breach = ChallengeDecision.objects.get(challenge=challenge, kind=DecisionKind.BREACH)
    assert breach.rule == "daily_loss"
    equity = Decimal(breach.params["equity"])
    assert Decimal("9000") < equity < Decimal("9500"), equity
    when = breach.at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")

    # 5. The trader's room explains it: the rule, its limit, the equity that crossed it, when, and the account.
    room.reload()
    room.wait_for_selector("#challenge-state:has-text('Breached')")
    ended = _text(room, "#challenge-ended")
    assert "a rule was broken" in ended, ended
    assert _text(room, "[data-ending=rule]") == "Maximum daily loss"
    limit = _text(room, "[data-ending=limit]")
    assert "5%" in limit and _usd("10000") in limit and _usd("500") in limit and _usd("9500") in limit, limit
    crossed = _text(room, "[data-ending=crossed]")
    assert _usd(equity) in crossed and _usd(Decimal("10000") - equity) in crossed, crossed
    assert _text(room, "[data-ending=at]") == f"{when} UTC"
    assert f"Account {account.login} was disabled on the platform" in _text(room, "[data-ending=account]")
    assert f"Daily loss {breach.params['loss_pct'].rstrip('0').rstrip('.')}% at {when} UTC" in ended, ended
    history = _text(room, "#challenge-decisions")
    assert "Breach" in history and "Platform action" in history, history
    room.goto(f"{base}{reverse('portal:challenges')}")
    assert "Breached" in _text(room, "main")

    # 6. A dealer finds it among the breached challenges and sees the same, with the account's figures then.
    staff = _new_page(browser)
    login(staff, base, "dan@staff.example.com")
    staff.click("#sidenav a:has-text('Prop challenges')")
    staff.wait_for_url(re.compile(re.escape(reverse("trading_challenge_list"))))
    # The rows are swapped in by htmx: wait for them, or the click lands on the rows being replaced.
    with staff.expect_response(lambda r: f"state={ChallengeState.BREACHED}" in r.url):
        staff.select_option("select[name=state]", ChallengeState.BREACHED)
    staff.wait_for_load_state("networkidle")
    row = staff.locator("#challenge-rows tr", has_text="Nadia Hassan")
    row.locator(".badge", has_text="Breached").wait_for()
    row.locator("a", has_text="Nadia Hassan").click()
    staff.wait_for_url(re.compile(re.escape(reverse("trading_challenge_detail", args=[challenge.code]))))
    staff.wait_for_selector("#challenge-ending")
    assert _text(staff, "#challenge-live h2 .badge") == "Breached"
    assert _text(staff, "[data-ending=rule]") == "Maximum daily loss"
    assert _usd("9500") in _text(staff, "[data-ending=limit]")
    assert _usd(equity) in _text(staff, "[data-ending=crossed]")
    assert _text(staff, "[data-ending=at]") == f"{when} UTC"
    assert "was disabled on the platform" in _text(staff, "[data-ending=account]")
    snapshot = _text(staff, "[data-ending=snapshot]")
    assert "day started at balance 10000.00" in snapshot, snapshot
    assert f"Daily loss {breach.params['loss_pct'].rstrip('0').rstrip('.')}% at {when} UTC" in _text(
        staff, "#challenge-ended")
