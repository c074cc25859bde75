"""The IB issue's journey in a real browser, against the MT5 and PSP simulators (other processes):

A partner signs in to the partner portal and reads its tracking link; a prospect opens that link in
another browser, lands on the trader's room registration and registers; verified, they deposit by card
through the simulator's checkout, transfer it from the wallet to a live account, trade on the simulator; the
deals are synced, the commission engine runs, and the partner finds the line for the closing deal in
its earnings, with the explanation: the deal, the rule, the rate, the lots and the amount.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.urls import reverse

from crm.lib.fieldcrypt import keyed_hash
from portal.models import ClientLogin, ConsentDocument, ConsentKind
from tests.browser.support import MARKS
from tests.factories import make_brand
from tests.trading.conftest import MANAGER_PASSWORD, start_simulator, stop_simulator
from tests.trading.crm_fixtures import server_values
from tests.waiting import scaled_ms
from tests.wallet.conftest import API_KEY, API_SECRET, WEBHOOK_SECRET, start_psp, stop_psp

pytestmark = MARKS

PARTNER_PASSWORD = "Lantern-Orchid-5528"
CLIENT_PASSWORD = "silver-meadow-7364"
RATE = Decimal("7.50")  # USD per standard lot, the partner's own clients (level 0)
VOLUME = Decimal("0.40")  # lots traded on the simulator
SETTLED_MS = 90_000


@pytest.fixture
def ib_world(db, settings, tmp_path):
    """A brand on the MT5 simulator (its clock at the real now) with card deposits on the PSP
    simulator, and an active partner with a login, a tracking link to the registration and a plan
    paying a per-lot rebate on fx."""
    from ib import commissions as cs
    from ib import services
    from trading.registry import adapters_reset
    from trading.services import brand_trading_policy_set, leverage_cap_save, platform_server_save
    from wallet.provider_services import CurrencyRule, payment_method_save, payment_provider_save

    settings.PORTAL_REGISTER_RATE_LIMIT = "1000/m"
    settings.PORTAL_LOGIN_RATE_LIMIT = "1000/m"
    settings.KYC_STORAGE_DIR = tmp_path / "kyc-private"
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    mt5 = start_simulator(tmp_path / "mt5sim", "--start-time", now.strftime("%Y-%m-%dT%H:%M:%SZ"))
    psp = start_psp()
    brand = make_brand(code="atlas-ib", name="Atlas Partners", served_countries=["GB"])
    for kind in ConsentKind.values:
        ConsentDocument.objects.create(brand=brand, kind=kind, version="1", language="en", title=f"{kind} v1")
    server = platform_server_save(
        actor=None, manager_password=MANAGER_PASSWORD, **server_values(mt5, brand, name="Atlas Live")
    )
    brand_trading_policy_set(
        actor=None,
        brand=brand,
        max_leverage_live=500,
        max_leverage_demo=500,
        live_min_stage="registered",
        live_requires_verification=True,
    )
    # The brand's own cap for its UK retail clients (a brand's rule wins over the FCA's default of 1:30):
    # this journey is not about caps.
    leverage_cap_save(actor=None, brand=brand, country="GB", classification="retail", max_leverage=500)
    provider = payment_provider_save(
        code="psp-sim",
        name="PSP simulator",
        kind="simulator",
        base_url=psp.base_url,
        api_key=API_KEY,
        api_secret=API_SECRET,
        webhook_secret=WEBHOOK_SECRET,
    )
    payment_method_save(
        brand=brand,
        method="card",
        direction="deposit",
        provider=provider,
        order=10,
        currencies=[CurrencyRule("USD", Decimal("10"), Decimal("5000"))],
    )

    partner = services.partner_create(
        actor=None, brand=brand, display_name="Omar Haddad", email="omar.haddad@ib.example"
    )
    services.partner_login_set_password(partner=partner, password=PARTNER_PASSWORD)
    link = services.tracking_link_create(
        partner=partner, landing_url=f"/portal/{brand.code}/register/", campaign="Winter"
    )
    fx = cs.instrument_group_save(actor=None, brand=brand, code="fx", units_per_lot="100000")
    cs.instrument_save(actor=None, brand=brand, symbol="EURUSD", group=fx, contract_size="100000")
    plan = cs.plan_create(actor=None, brand=brand, name="Rebate", currency="USD")
    since = now - dt.timedelta(days=1)
    cs.plan_version_record(
        actor=None,
        plan=plan,
        effective_from=since,
        recorded_at=since,
        min_hold_seconds=60,
        rules=[{"code": "fx_rebate", "kind": "per_lot", "group": "fx", "level_rates": [str(RATE)]}],
    )
    cs.plan_assign(actor=None, plan=plan, partner=partner, effective_from=since)
    try:
        yield type(
            "IBWorld",
            (),
            {"brand": brand, "partner": partner, "link": link, "server": server, "mt5": mt5, "psp": psp},
        )
    finally:
        adapters_reset()
        stop_psp(psp)
        stop_simulator(mt5)


def test_a_partners_prospect_registers_deposits_trades_and_the_partner_sees_the_commission(
    live_server, browser, ib_world, settings
):
    from crm import events
    from ib import commissions as cs
    from ib.models import ClientAttribution, CommissionLine
    from portal.services import portal_email_verify, portal_first_live_account_open, verification_token
    from tests.wallet.withdrawal_support import kyc_approve
    from trading.models import Deal
    from trading.services import balance_operation_send
    from trading.sync import deals_sync
    from wallet.models import Deposit, Transfer

    w = ib_world
    base = live_server.url
    settings.CRM_PUBLIC_URL = base  # the PSP simulator posts its webhooks to the live server

    # 1. The partner signs in and reads its tracking link.
    partner_page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    partner_page.set_default_timeout(scaled_ms(20_000))
    partner_page.goto(f"{base}/partners/{w.brand.code}/login/")
    partner_page.fill("input[name=email]", "omar.haddad@ib.example")
    partner_page.fill("input[name=password]", PARTNER_PASSWORD)
    partner_page.click("button[type=submit]")
    partner_page.wait_for_url(f"{base}/partners/")
    shared = partner_page.inner_text(f"li[data-link='{w.link.code}'] .p-secret").strip()
    assert shared.endswith(reverse("ib_click", args=[w.link.code])), shared

    # 2. The prospect, in a browser of their own, opens it and registers.
    page = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    page.set_default_timeout(scaled_ms(20_000))
    page.goto(shared)
    page.wait_for_url(re.compile(re.escape(f"{base}/portal/{w.brand.code}/register/")))
    page.fill("input[name=first_name]", "Nadia")
    page.fill("input[name=last_name]", "Saleh")
    page.fill("input[name=email]", "nadia.saleh@example.com")
    page.fill("input[name=phone]", "+442071838612")
    page.select_option("select[name=country]", "GB")
    page.fill("input[name=date_of_birth]", "1990-05-21")
    page.fill("input[name=password]", CLIENT_PASSWORD)
    page.check("input[name=accept_terms]")
    page.check("input[name=accept_privacy]")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/portal/{w.brand.code}/register/done/")
    login_row = ClientLogin.objects.get(email_hash=keyed_hash("nadia.saleh@example.com", kind="email"))
    client = login_row.client
    assert client.referrer_code == w.link.code
    events.dispatch_pending()  # as the dispatcher does after each commit: the attribution handler
    attribution = ClientAttribution.objects.get(client=client, effective_to__isnull=True)
    assert attribution.partner_id == w.partner.pk

    # The long parts of onboarding (address verification, KYC) through the services.
    portal_email_verify(token=verification_token(login_row))
    kyc_approve(client)
    account = portal_first_live_account_open(client=client)
    assert account is not None

    # 3. A card deposit through the simulator's hosted checkout.
    page.goto(f"{base}/portal/{w.brand.code}/login/")
    page.fill("input[name=email]", "nadia.saleh@example.com")
    page.fill("input[name=password]", CLIENT_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/portal/")
    page.goto(f"{base}{reverse('portal:wallet_deposit_new')}?currency=USD")
    page.fill("input[name=amount]", "1000")
    page.click("button:has-text('Continue to payment')")
    page.wait_for_selector("input[name=card_number]")
    assert page.url.startswith(w.psp.base_url)
    page.fill("input[name=card_number]", "4242 4242 4242 4242")
    page.click("button[type=submit]")
    deposit = Deposit.objects.get(client=client)
    page.wait_for_url(re.compile(re.escape(reverse("portal:wallet_deposit", args=[deposit.code]))))
    page.wait_for_selector("#deposit-status[data-status=succeeded]", timeout=scaled_ms(SETTLED_MS))

    # The money goes on to the live account by a transfer from the wallet, in the browser; its
    # balance operation is sent and its event delivered here, as the worker and the dispatcher would.
    page.goto(f"{base}{reverse('portal:wallet_transfer')}")
    page.select_option("select[name=source]", "wallet")
    page.select_option("select[name=target]", str(account.code))
    page.fill("input[name=amount]", "900")
    page.click("form[method=post] button.p-btn")
    page.wait_for_selector("tr[data-transfer]")
    transfer = Transfer.objects.get(client=client)
    assert balance_operation_send(operation_id=transfer.deposit_operation_id).state == "applied"
    events.dispatch_pending()
    page.wait_for_selector(f"tr[data-transfer='{transfer.code}']:has-text('Completed')", timeout=scaled_ms(SETTLED_MS))
    truth = next(a for a in w.mt5.truth()["accounts"] if a["Login"] == str(account.login))
    assert Decimal(truth["Balance"]) == Decimal("900.00")

    # 4. A trade on the simulator, held past the plan's minimum, then closed; the sync reads the deals.
    position = w.mt5.control(
        "/_sim/trade", {"login": account.login, "symbol": "EURUSD", "action": "buy", "volume": str(VOLUME)}
    )
    w.mt5.advance(seconds=300)
    w.mt5.control("/_sim/close", {"position": int(position["Position"])})
    result = deals_sync(w.server.pk, force=True)
    assert result.status == "ok", result
    closing = Deal.objects.get(account=account, entry="out")

    # 5. The live commission refresh (the beat's task) for the deal's month.
    run = cs.commission_run_refresh(brand=w.brand, period=closing.time.date())
    assert run is not None
    line = CommissionLine.objects.get(run=run, beneficiary=w.partner, source_kind="deal")
    assert line.source_id == closing.pk
    lots = VOLUME * Decimal("100000") / Decimal("100000")  # volume × contract size ÷ units per lot
    expected = (lots * RATE).quantize(Decimal("0.01"))
    assert line.amount == expected

    # 6. The partner finds the line in its earnings and opens its explanation.
    partner_page.goto(f"{base}{reverse('partners:earnings')}")
    row_link = partner_page.locator(f"a[href='{reverse('partners:line', args=[line.key])}']")
    assert row_link.count() == 1
    assert "fx_rebate" in partner_page.inner_text("main")
    row_link.click()
    partner_page.wait_for_selector("[data-line]")
    text = partner_page.inner_text("[data-line]").replace("\xa0", " ")  # amount and code stay on one line
    assert partner_page.inner_text("[data-ticket]").strip() == f"#{closing.deal_id}"
    assert "Nadia" in text and "EURUSD" in text
    assert "fx_rebate" in text
    assert Decimal(partner_page.inner_text("[data-lots]").strip()) == lots
    assert partner_page.inner_text("[data-rate]").strip() == "7.5000 USD per lot"
    assert f"= {expected} USD" in text, text  # the amount at the currency's decimals, with its code

    # 7. The partner questions the amount; the IB manager answers beside the line's trace; the
    #    partner reads the answer.
    from crm.models import RoleCode
    from tests.browser.support import PASSWORD, login
    from tests.factories import make_user

    partner_page.fill("textarea[name=message]", "I expected the VIP rate on this client.")
    partner_page.click("form[action$='/dispute/'] button[type=submit]")
    partner_page.wait_for_selector("[data-dispute='open']")
    manager = make_user(role_code=RoleCode.IB_MANAGER, brand=w.brand, password=PASSWORD)
    staff_page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    staff_page.set_default_timeout(scaled_ms(20_000))
    login(staff_page, base, manager.email)
    staff_page.goto(f"{base}{reverse('ib_dispute_list')}")
    staff_page.click("table[data-disputes] a")
    staff_page.wait_for_selector("[data-trace]")
    assert f"#{closing.deal_id}" in staff_page.inner_text("[data-trace]")
    staff_page.select_option("select[name=outcome]", "rejected")
    staff_page.fill("textarea[name=answer]", "The client is on the standard plan; 7.50 a lot is right.")
    staff_page.click("[data-question] button[type=submit]")
    staff_page.wait_for_selector("[data-answer]")
    partner_page.reload()
    assert "7.50 a lot is right" in partner_page.inner_text("[data-answer]")
