"""Issue 60's payment journey in a real browser, against the three providers' simulators (each its own
process, speaking the provider's documented protocol and posting its signed notifications to the CRM's
live server):

A client in the trader's room deposits by card through Praxis (the simulator's hosted cashier page), by
crypto through CoinsPaid (the address the deposit's page shows, paid from the simulator's test wallet
page) and by Skrill through Paysafe (the wallet's own login page); each is credited when the provider's
notification arrives, and the client sees it. Then the card payment is charged back at Praxis (the
simulator's operator sends the chargeback notification as Praxis would): it becomes a dispute case,
which a finance officer finds in the queue, attaches evidence to and records as lost. The client's
balance is debited, the ledger balances, the client's introducing broker loses the CPA the deposit
earned (the clawback line of the next commission run) and the compliance officer's trail export holds
the case's history.

Celery runs eagerly in the live server's thread, as a worker would a moment later (the events reach
the IB engine and compliance); the RQ job of the trail export is run here as the RQ worker would, and
the commission runs are the monthly job's service, called here. The partner, its plan and the client's
attribution are built through the IB services; nothing of the providers' side is written as rows.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import time
from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.lib.fieldcrypt import keyed_hash
from crm.models import Role, RoleCode
from tests.browser.support import MARKS, PASSWORD, login, trail_export
from tests.factories import make_brand, make_user
from tests.waiting import scaled, scaled_ms, wait_until

pytestmark = MARKS

CLIENT_EMAIL = "ines.moreau@example.com"
CLIENT_PASSWORD = "amber-harbour-4417"
SETTLED_MS = 30_000
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def pay_world(db, settings, tmp_path, live_server):
    """A brand taking cards through Praxis, crypto through CoinsPaid and Skrill through Paysafe (each
    configured through the provider services against its running simulator), a partner whose CPA plan
    pays 150 USD for a first deposit of 100 or more, a verified client registered in the trader's room
    and attributed to that partner, a finance officer and a compliance officer (password only)."""
    from celery import current_app

    from crm.staff_services import role_set_requires_2fa
    from ib import commissions, services
    from portal.models import ClientLogin, ConsentDocument, ConsentKind
    from portal.services import portal_email_verify, portal_register, verification_token
    from tests.simulators import simulator_stop
    from tests.wallet.connectors import (
        CoinsPaidConnector,
        PaysafeConnector,
        PraxisConnector,
        start_coinspaid,
        start_paysafe,
        start_praxis,
    )
    from tests.wallet.withdrawal_support import kyc_approve

    settings.PORTAL_REGISTER_RATE_LIMIT = "1000/m"
    settings.PORTAL_LOGIN_RATE_LIMIT = "1000/m"
    settings.KYC_STORAGE_DIR = tmp_path / "kyc-private"
    settings.WALLET_DISPUTE_STORAGE_DIR = tmp_path / "disputes"
    settings.CRM_PUBLIC_URL = live_server.url  # where the simulators post their notifications
    sims = []
    try:
        sims.append(praxis := start_praxis())
        sims.append(coinspaid := start_coinspaid())
        sims.append(paysafe := start_paysafe())
        brand = make_brand(code="atlas-p", name="Atlas Payments", served_countries=["GB"])
        for kind in ConsentKind.values:
            ConsentDocument.objects.create(brand=brand, kind=kind, version="1", language="en", title=f"{kind} v1")
        PraxisConnector(praxis).methods(brand)
        CoinsPaidConnector(coinspaid).methods(brand)
        PaysafeConnector(paysafe).methods(brand)

        partner = services.partner_create(actor=None, brand=brand, display_name="Harbour Partners",
                                          email="desk@harbour-partners.example")
        plan = commissions.plan_create(actor=None, brand=brand, name="CPA", currency="USD")
        since = timezone.now() - dt.timedelta(days=30)
        commissions.plan_version_record(actor=None, plan=plan, effective_from=since, recorded_at=since, rules=[
            {"code": "cpa", "kind": "cpa", "level_rates": ["150"], "cpa_min_deposit": "100"}])
        commissions.plan_assign(actor=None, plan=plan, partner=partner, effective_from=since)

        portal_register(brand=brand, language="en", first_name="Inès", last_name="Moreau", email=CLIENT_EMAIL,
                        phone="+442071838556", country="GB", date_of_birth=date(1985, 6, 2), password=CLIENT_PASSWORD,
                        accept_terms=True, accept_privacy=True)
        login_row = ClientLogin.objects.get(email_hash=keyed_hash(CLIENT_EMAIL, kind="email"))
        portal_email_verify(token=verification_token(login_row))
        client = login_row.client
        kyc_approve(client)
        services.client_attribution_import(actor=None, client=client, partner=partner)

        admin = make_user(role_code=RoleCode.ADMIN, full_name="Ada Admin")
        for code in (RoleCode.FINANCE, RoleCode.COMPLIANCE):
            role_set_requires_2fa(actor=admin, role=Role.objects.get(code=code), required=False)
        finance = make_user(role_code=RoleCode.FINANCE, brand=brand, full_name="Fiona Finance",
                            email="fiona@staff.example.com", password=PASSWORD)
        officer = make_user(role_code=RoleCode.COMPLIANCE, brand=brand, full_name="Olga Officer",
                            email="olga@staff.example.com", password=PASSWORD)
        saved = current_app.conf.task_always_eager, current_app.conf.task_eager_propagates
        current_app.conf.task_always_eager, current_app.conf.task_eager_propagates = True, True
        try:
            yield type("PayWorld", (), {"brand": brand, "client": client, "partner": partner, "finance": finance,
                                        "officer": officer, "praxis": praxis, "coinspaid": coinspaid,
                                        "paysafe": paysafe})
        finally:
            current_app.conf.task_always_eager, current_app.conf.task_eager_propagates = saved
    finally:
        for sim in sims:
            simulator_stop(sim.proc)


def _page(browser, *, wide: bool = True):
    size = {"width": 1366, "height": 900} if wide else {"width": 390, "height": 844}
    page = browser.new_context(viewport=size).new_page()
    page.set_default_timeout(scaled_ms(20_000))
    return page


def _start_deposit(room, base: str, method: str, amount: str) -> None:
    """The deposit form in USD: the method whose label starts with `method`, the amount, then on."""
    room.goto(f"{base}{reverse('portal:wallet_deposit_new')}?currency=USD")
    option = room.locator("select[name=method] option", has_text=method)
    room.select_option("select[name=method]", option.get_attribute("value"))
    room.fill("input[name=amount]", amount)
    room.click("button:has-text('Continue to payment')")


def _credited(room, deposit) -> str:
    """The deposit's own page, once the provider's notification has credited it (the page polls)."""
    room.wait_for_url(re.compile(re.escape(reverse("portal:wallet_deposit", args=[deposit.code]))))
    room.wait_for_selector("#deposit-status[data-status=succeeded]", timeout=scaled_ms(SETTLED_MS))
    return room.inner_text("#deposit-status")


def _until(page, url: str, selector: str, what: str) -> None:
    """Reload `url` until `selector` shows (the provider's notification comes from another process)."""
    started = time.monotonic()
    while time.monotonic() - started < scaled(SETTLED_MS / 1000):
        page.goto(url)
        if page.locator(selector).count():
            return
        page.wait_for_timeout(500)
    pytest.fail(f"{what} did not show within {time.monotonic() - started:.0f} s")


def test_a_client_pays_by_card_crypto_and_skrill_and_a_lost_chargeback_reaches_ledger_ib_and_trail(
        live_server, browser, pay_world, tmp_path):

    from crm.events import dispatch_pending
    from crm.models import Event
    from ib import commissions
    from ib.models import CommissionLine
    from wallet.ledger import ledger_verify
    from wallet.models import Deposit, Dispute, WebhookDelivery

    base, w = live_server.url, pay_world
    room = _page(browser, wide=False)
    room.goto(f"{base}/portal/{w.brand.code}/login/")
    room.fill("input[name=email]", CLIENT_EMAIL)
    room.fill("input[name=password]", CLIENT_PASSWORD)
    room.click("button[type=submit]")
    room.wait_for_url(f"{base}/portal/")

    # 1. 300 USD by card on Praxis's hosted cashier page; Praxis's notification credits it.
    _start_deposit(room, base, "Card", "300")
    room.wait_for_selector("input[name=card_number]")
    assert room.url.startswith(w.praxis.base_url)
    room.fill("input[name=card_holder]", "Ines Moreau")
    room.fill("input[name=card_number]", "4111 1111 1111 1111")
    room.click("button[type=submit]")
    card = Deposit.objects.get(client=w.client, method="card")
    assert "300.00" in _credited(room, card)

    # 2. Crypto through CoinsPaid: the deposit's page shows the address; the client sends 0.004 BTC to it
    # from the simulator's test wallet; CoinsPaid's callback credits what arrived (0.004 BTC at 50,000).
    _start_deposit(room, base, "Crypto", "150")
    room.wait_for_selector("[data-crypto-address]")
    crypto = Deposit.objects.get(client=w.client, method="crypto")
    address = room.inner_text("[data-crypto-address] code").strip()
    assert address == crypto.instructions["address"] and "BTC" in room.inner_text("[data-crypto-address]")
    deposit_page = room.url
    wallet_app = _page(browser, wide=False)
    wallet_app.goto(f"{w.coinspaid.base_url}/wallet")
    wallet_app.fill("input[name=address]", address)
    wallet_app.fill("input[name=amount]", "0.004")
    wallet_app.select_option("select[name=scenario]", "confirm")
    wallet_app.click("button:has-text('Send')")
    wallet_app.wait_for_selector("[role=status]:has-text('Sent 0.004')")
    room.goto(deposit_page)
    assert "200.00" in _credited(room, crypto)

    # 3. 100 USD by Skrill: Paysafe's wallet page, the client's wallet login, back to the deposit.
    _start_deposit(room, base, "Skrill", "100")
    room.wait_for_selector("input[name=account]")
    assert room.url.startswith(w.paysafe.base_url)
    room.fill("input[name=account]", "approve@wallet.test")
    room.fill("input[name=password]", "any")
    room.click("button[type=submit]")
    skrill = Deposit.objects.get(client=w.client, method="skrill")
    assert "100.00" in _credited(room, skrill)
    room.goto(f"{base}{reverse('portal:wallet')}")
    assert "600.00" in room.inner_text("[data-wallet-balance=USD]")
    assert all("Succeeded" in room.inner_text(f"tr[data-deposit='{d.code}']") for d in (card, crypto, skrill))
    # Each was credited by its provider's own notification, taken by the CRM's webhook endpoint.
    taken = set(WebhookDelivery.objects.filter(outcome="accepted").values_list("provider_code", "merchant_ref"))
    assert {("praxis", card.merchant_ref), ("coinspaid", crypto.merchant_ref), ("paysafe", skrill.merchant_ref)} <= taken

    # The partner's CPA for the first deposit, in this month's run (the monthly job's service), once the
    # events are delivered as the worker delivers them: a kick queued before Celery turned eager (the
    # fixture's registration) holds the next ones back for a few seconds (crm.events.KICK_PENDING_MS).
    # A dispatcher in the live server's thread may hold some of them (dispatchers skip each other's
    # locked rows): wait until every event is dispatched, by whichever.
    def all_dispatched() -> None:
        wait_until(lambda: dispatch_pending() >= 0 and not Event.objects.filter(dispatched_at__isnull=True).exists(),
                   timeout=30, what="every event dispatched")

    all_dispatched()
    month = timezone.localdate().replace(day=1)
    run = commissions.commission_run(actor=None, brand=w.brand, period=month)
    earned = CommissionLine.objects.filter(run=run, beneficiary=w.partner).exclude(source_kind="chargeback")
    assert sum(line.amount for line in earned) == Decimal("150")

    # 4. Praxis reports a chargeback of the card payment: a case in finance's queue.
    w.praxis.control("/_sim/chargeback", {"order_id": card.merchant_ref})
    fiona = _page(browser)
    login(fiona, base, "fiona@staff.example.com")
    _until(fiona, f"{base}{reverse('wallet_dispute_queue')}", "tr[data-dispute]", "the chargeback's case")
    dispute = Dispute.objects.get(deposit=card)
    # The client's wallet sets the disputed amount aside until the case is decided.
    room.goto(f"{base}{reverse('portal:wallet')}")
    held = room.inner_text("[data-wallet-balance=USD]")
    assert re.search(r"\(300\.00\sUSD set aside\)", held), held
    row = fiona.locator(f"tr[data-dispute='{dispute.code}']")
    assert "Inès Moreau" in row.inner_text() and "300.00" in row.inner_text() and "Praxis" in row.inner_text()
    assert "Chargeback: fraud (reason 10.4)" in row.inner_text()  # Praxis's words for the reason
    row.locator("a").click()
    fiona.wait_for_selector(f"[data-dispute='{dispute.code}']")
    evidence = tmp_path / "terms.pdf"
    evidence.write_bytes(PDF)
    fiona.fill("input[name=title]", "Signed terms and the deposit's IP log")
    fiona.set_input_files("input[name=file]", str(evidence))
    fiona.click("button:has-text('Attach')")
    fiona.wait_for_selector("[data-evidence] >> text=Signed terms and the deposit's IP log")
    fiona.select_option("select[name=outcome]", "lost")
    fiona.fill("input[name=note]", "Issuer upheld the chargeback")
    fiona.click("button:has-text(\"Record the provider's outcome\")")
    fiona.wait_for_selector("[data-outcome]")
    assert "Lost" in fiona.inner_text("[data-status]")

    # The ledger: the client's wallet debited by the card payment, the books balanced.
    room.goto(f"{base}{reverse('portal:wallet')}")
    balance = room.inner_text("[data-wallet-balance=USD]")
    assert "300.00" in balance and "set aside" not in balance, balance
    assert "Charged back" in room.inner_text(f"tr[data-deposit='{card.code}']")
    assert ledger_verify() == {}
    fiona.goto(f"{base}{reverse('client_detail', args=[w.client.code])}?tab=wallet")
    assert "Chargeback" in fiona.inner_text("main")

    # The partner's CPA clawed back in the month's next run.
    all_dispatched()
    later = commissions.commission_run(actor=None, brand=w.brand, period=month)
    clawed = CommissionLine.objects.filter(run=later, beneficiary=w.partner, source_kind="chargeback")
    assert [line.amount for line in clawed] == [Decimal("-150")]

    # The compliance officer's trail export of the client holds the case's whole history.
    olga = _page(browser)
    login(olga, base, "olga@staff.example.com")
    zf = trail_export(olga, base, brand=w.brand.code, client=str(w.client.code),
                      day=timezone.localdate().isoformat())
    rows = list(csv.DictReader(io.StringIO(zf.read("payment_disputes.csv").decode())))
    assert [(r["dispute"], r["action"], r["status"]) for r in rows] == [
        (str(dispute.code), "opened", "open"), (str(dispute.code), "evidence_added", "evidence_gathering"),
        (str(dispute.code), "lost", "lost")]
    assert rows[-1]["by"] == "fiona@staff.example.com" and rows[0]["amount"] == "300.00"
