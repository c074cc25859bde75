"""A new client's whole first journey in a real browser, across every app and on a port other than
8000 (the live server's), against the MT5 and PSP simulators (other processes):

a prospect sent by a partner fills in the public form at night; nobody is on shift, so the lead waits
in the desk's queue until the first agent comes on shift and the beat's sweep gives it to her; she
calls; the prospect registers in the trader's room with the same address (the link in the mail is on
this server's port), passes KYC, and the live account opens by itself; a card deposit is confirmed by
the simulator's signed webhook; the owner hears of the first deposit and her KPIs count it; the
client is Funded, then Active after trading; the trades show on the Trading tab; the client is in a
segment; and the partner earns its CPA for the client.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from types import SimpleNamespace

import pytest
import time_machine
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from crm.lib.fieldcrypt import keyed_hash
from crm.models import RoleCode
from tests.browser.support import MARKS, PASSWORD, login
from tests.factories import make_brand, make_desk, make_user
from tests.trading.conftest import MANAGER_PASSWORD, start_simulator, stop_simulator
from tests.trading.crm_fixtures import server_values, sim_now
from tests.waiting import scaled_ms, wait_until
from tests.wallet.conftest import API_KEY, API_SECRET, WEBHOOK_SECRET, start_psp, stop_psp

pytestmark = MARKS

CLIENT_PASSWORD = "amber-harbour-5821"
CPA = Decimal("250.00")


def _last_weekday_before(day: dt.date, weekday: int) -> dt.date:
    """The last `weekday` (Monday 0) strictly before `day`."""
    back = (day.weekday() - weekday) % 7 or 7
    return day - dt.timedelta(days=back)


@pytest.fixture
def world(db, settings, tmp_path):
    """A brand (GB served) on the MT5 simulator with card deposits on the PSP simulator; a desk whose
    agent works 09:00-17:00 on weekdays; the playbook; a partner with a tracking link and a CPA plan."""
    from automation.services import automation_seed_playbook
    from ib import commissions as cs
    from ib import services as ib_services
    from leads.config import config_clear
    from leads.models import AvailabilityStatus, RoutingStrategy, RoutingTarget
    from leads.pipeline import pipeline_defaults_ensure
    from leads.services import agent_availability_set, routing_rule_save
    from portal.models import ConsentDocument, ConsentKind
    from trading.registry import adapters_reset
    from trading.services import brand_trading_policy_set, leverage_cap_save, platform_server_save
    from wallet.provider_services import CurrencyRule, payment_method_save, payment_provider_save

    config_clear()
    settings.PORTAL_REGISTER_RATE_LIMIT = "1000/m"
    settings.PORTAL_LOGIN_RATE_LIMIT = "1000/m"
    settings.KYC_STORAGE_DIR = tmp_path / "kyc-private"
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    mt5 = start_simulator(tmp_path / "mt5sim", "--start-time", now.strftime("%Y-%m-%dT%H:%M:%SZ"))
    psp = start_psp()
    try:
        brand = make_brand(code="orbit", name="Orbit Markets", served_countries=["GB"])
        for kind in ConsentKind.values:
            ConsentDocument.objects.create(brand=brand, kind=kind, version="1", language="en", title=f"{kind} v1")
        manager = make_user(role_code=RoleCode.DESK_MANAGER, brand=brand, full_name="Maya Manager",
                            email="maya@staff.example.com", password=PASSWORD)
        desk = make_desk(brand=brand, name="UK sales", manager=manager)
        agent = make_user(role_code=RoleCode.SALES_AGENT, desk=desk, full_name="Olivia Owner",
                          email="olivia@staff.example.com", password=PASSWORD)
        agent_availability_set(actor=None, user=agent, status=AvailabilityStatus.AVAILABLE,
                               shift_start=dt.time(9), shift_end=dt.time(17), shift_days=[1, 2, 3, 4, 5])
        routing_rule_save(actor=None, brand=brand, name="Everyone", target_kind=RoutingTarget.DESK,
                          target_desk=desk, strategy=RoutingStrategy.ROUND_ROBIN, is_fallback=True)
        pipeline_defaults_ensure(brand=brand)
        automation_seed_playbook(brand=brand)

        server = platform_server_save(actor=None, manager_password=MANAGER_PASSWORD,
                                      **server_values(mt5, brand, name="Orbit Live"))
        brand_trading_policy_set(actor=None, brand=brand, max_leverage_live=500, max_leverage_demo=500,
                                 live_min_stage="registered", live_requires_verification=True)
        # The brand's own cap for its UK retail clients (a brand's rule wins over the FCA's default of 1:30):
        # this journey is not about caps.
        leverage_cap_save(actor=None, brand=brand, country="GB", classification="retail", max_leverage=500)
        provider = payment_provider_save(code="psp-sim", name="PSP simulator", kind="simulator",
                                         base_url=psp.base_url, api_key=API_KEY, api_secret=API_SECRET,
                                         webhook_secret=WEBHOOK_SECRET)
        payment_method_save(brand=brand, method="card", direction="deposit", provider=provider, order=10,
                            currencies=[CurrencyRule("USD", Decimal("10"), Decimal("5000"))])

        partner = ib_services.partner_create(actor=None, brand=brand, display_name="Harbor Traders",
                                             email="desk@harbor.example")
        link = ib_services.tracking_link_create(partner=partner, landing_url=f"/f/{brand.code}/lead/",
                                                campaign="Autumn")
        fx = cs.instrument_group_save(actor=None, brand=brand, code="fx", units_per_lot="100000")
        cs.instrument_save(actor=None, brand=brand, symbol="EURUSD", group=fx, contract_size="100000")
        plan = cs.plan_create(actor=None, brand=brand, name="CPA UK", currency="USD")
        since = now - dt.timedelta(days=30)
        cs.plan_version_record(actor=None, plan=plan, effective_from=since, recorded_at=since,
                               rules=[{"code": "cpa", "kind": "cpa", "level_rates": [str(CPA)],
                                       "cpa_min_deposit": "100", "cpa_min_lots": "0.1",
                                       "cpa_within_days": 30, "cpa_countries": ["GB"]}])
        cs.plan_assign(actor=None, plan=plan, partner=partner, effective_from=since)
        yield SimpleNamespace(brand=brand, desk=desk, manager=manager, agent=agent, server=server, mt5=mt5,
                              psp=psp, partner=partner, link=link)
    finally:
        adapters_reset()
        stop_psp(psp)
        stop_simulator(mt5)
        config_clear()


def _page(browser, width=1366):
    page = browser.new_context(viewport={"width": width, "height": 900}).new_page()
    page.set_default_timeout(scaled_ms(20_000))
    return page


def test_a_new_client_goes_from_the_public_form_at_night_to_active_trader_and_earns_the_partner_its_cpa(
        live_server, browser, world, settings):
    from crm import events
    from crm.models import Client, Notification, Stage
    from ib import commissions as cs
    from ib.models import CommissionLine
    from leads.models import Call
    from leads.segments import segment_clients, segment_save
    from leads.tasks import lead_queue_route
    from portal.models import ClientLogin
    from portal.tasks import portal_mail_send_task
    from tests.wallet.withdrawal_support import kyc_approve
    from trading.models import Deal, TradingAccount
    from trading.services import balance_operation_send
    from trading.sync import deals_sync
    from wallet.models import Deposit, Transfer

    w, base = world, live_server.url
    assert not base.endswith(":8000")
    # What make run does: the public URL is the address the web server serves on.
    settings.CRM_PUBLIC_URL = base

    # 1. At night (02:00 UTC on a Wednesday) the prospect follows the partner's link to the form.
    night = dt.datetime.combine(_last_weekday_before(dt.datetime.now(dt.UTC).date(), 2), dt.time(2), dt.UTC)
    with time_machine.travel(night, tick=True) as clock:
        prospect = _page(browser, 390)
        prospect.goto(f"{base}{reverse('ib_click', args=[w.link.code])}")
        prospect.wait_for_url(re.compile(re.escape(f"{base}/f/{w.brand.code}/lead/")))
        prospect.fill("input[name=first_name]", "Laila")
        prospect.fill("input[name=last_name]", "Rahman")
        prospect.fill("input[name=email]", "laila.rahman@example.com")
        prospect.select_option("select[name=country]", "GB")
        prospect.fill("input[name=phone]", "+44 20 7183 8751")
        prospect.check("input[name=consent]")
        prospect.click("button[type=submit]")
        prospect.wait_for_url(re.compile(r"/lead/thanks/"))
        lead = Client.objects.get(email_hash=keyed_hash("laila.rahman@example.com", kind="email"))
        assert lead.owner is None and lead.desk == w.desk  # nobody on shift: it waits in the queue
        events.dispatch_pending()  # as the dispatcher does after each commit (the attribution handler)

        # 2. At 09:00 the agent's shift begins and the beat's sweep gives her the lead.
        clock.move_to(night.replace(hour=9, minute=0, second=30))
        assert lead_queue_route()["routed"] == 1
        lead.refresh_from_db()
        assert lead.owner == w.agent
        events.dispatch_pending()

    # 3. She opens it from her leads and logs the call.
    agent = _page(browser)
    login(agent, base, w.agent.email, home=False)
    agent.wait_for_url(f"{base}/")
    agent.goto(f"{base}{reverse('lead_workspace')}")
    agent.locator("#workspace-table a", has_text="Laila Rahman").click()
    agent.wait_for_url(re.compile(rf"/clients/{lead.code}/\?tab=calls$"))
    agent.select_option("#call-form select[name=outcome]", "interested")
    agent.fill("#call-form input[name=duration]", "6:05")
    agent.fill("#call-form textarea[name=notes]", "Will register tonight")
    agent.click("#call-form button[type=submit]")
    agent.wait_for_selector("#call-list td:has-text('Will register tonight')")
    assert Call.objects.get(client=lead).outcome == "interested"

    # 4. The prospect registers in the trader's room with the same address: the same person.
    prospect.goto(f"{base}/portal/{w.brand.code}/register/")
    prospect.fill("input[name=first_name]", "Laila")
    prospect.fill("input[name=last_name]", "Rahman")
    prospect.fill("input[name=email]", "laila.rahman@example.com")
    prospect.fill("input[name=phone]", "+442071838751")
    prospect.select_option("select[name=country]", "GB")
    prospect.fill("input[name=date_of_birth]", "1991-02-14")
    prospect.fill("input[name=password]", CLIENT_PASSWORD)
    prospect.check("input[name=accept_terms]")
    prospect.check("input[name=accept_privacy]")
    prospect.click("button[type=submit]")
    prospect.wait_for_url(f"{base}/portal/{w.brand.code}/register/done/")
    login_row = ClientLogin.objects.get(email_hash=keyed_hash("laila.rahman@example.com", kind="email"))
    client = login_row.client
    assert client.pk == lead.pk and client.owner == w.agent and client.stage == Stage.REGISTERED

    # The verification mail (sent by the worker: here, as it would) links to this server, on its
    # port; the client follows it.
    portal_mail_send_task("verify", login_row.pk)
    verify = next(re.search(r"https?://\S+/portal/verify/\S+", m.body).group(0) for m in mail.outbox
                  if "laila.rahman@example.com" in m.to and "/portal/verify/" in m.body)
    assert verify.startswith(base + "/"), verify
    prospect.goto(verify)

    # 5. KYC: the checks approve; the live account opens by itself, of a type the client can open.
    kyc_approve(client)
    events.dispatch_pending()
    client.refresh_from_db()
    assert client.stage == Stage.VERIFIED
    account = TradingAccount.objects.get(client=client, is_demo=False)
    prospect.goto(f"{base}/portal/{w.brand.code}/login/")
    prospect.fill("input[name=email]", "laila.rahman@example.com")
    prospect.fill("input[name=password]", CLIENT_PASSWORD)
    prospect.click("button[type=submit]")
    prospect.wait_for_url(f"{base}/portal/")
    assert str(account.login) in prospect.inner_text("#accounts")

    # 6. A card deposit through the simulator's checkout, confirmed by its signed webhook to this server.
    prospect.goto(f"{base}{reverse('portal:wallet_deposit_new')}?currency=USD")
    prospect.fill("input[name=amount]", "500")
    prospect.click("button:has-text('Continue to payment')")
    prospect.wait_for_selector("input[name=card_number]")
    assert prospect.url.startswith(w.psp.base_url)
    prospect.fill("input[name=card_number]", "4242 4242 4242 4242")
    prospect.click("button[type=submit]")
    deposit = Deposit.objects.get(client=client)
    prospect.wait_for_url(re.compile(re.escape(reverse("portal:wallet_deposit", args=[deposit.code]))))
    prospect.wait_for_selector("#deposit-status[data-status=succeeded]", timeout=scaled_ms(90_000))
    events.dispatch_pending()

    # 7. The owner hears of it, her KPIs count the first deposit, and the client is Funded.
    client.refresh_from_db()
    assert client.stage == Stage.FUNDED
    assert Notification.objects.filter(user=w.agent, title__icontains="first deposit").exists()
    agent.goto(f"{base}/")
    agent.goto(f"{base}{reverse('sales_kpis')}?period=today")
    kpi_row = agent.locator("tr", has_text="Olivia Owner").first
    assert re.search(r"\b1\b", kpi_row.inner_text()), kpi_row.inner_text()

    # 8. The money goes to the live account; the client trades; the sync brings the deals: Active.
    prospect.goto(f"{base}{reverse('portal:wallet_transfer')}")
    prospect.select_option("select[name=source]", "wallet")
    prospect.select_option("select[name=target]", str(account.code))
    prospect.fill("input[name=amount]", "400")
    prospect.click("form[method=post] button.p-btn")
    prospect.wait_for_selector("tr[data-transfer]")
    transfer = Transfer.objects.get(client=client)
    assert balance_operation_send(operation_id=transfer.deposit_operation_id).state == "applied"
    events.dispatch_pending()
    # The simulator's clock (frozen at its start) moved on to now: the trade comes after the deposit.
    w.mt5.advance(seconds=int((timezone.now() - sim_now(w.mt5)).total_seconds()) + 1)
    position = w.mt5.control("/_sim/trade", {"login": account.login, "symbol": "EURUSD", "action": "buy",
                                             "volume": "0.50"})
    w.mt5.control("/_sim/close", {"position": int(position["Position"])})
    assert deals_sync(w.server.pk, force=True).status == "ok"
    events.dispatch_pending()
    client.refresh_from_db()
    assert client.stage == Stage.ACTIVE

    # 9. The agent sees the trades on the Trading tab.
    agent.goto(f"{base}{reverse('client_detail', args=[client.code])}?tab=trading")
    deals = re.sub(r"\s+", " ", agent.locator("table:has(th:has-text('Deal'))").inner_text())
    assert deals.count("EURUSD") == 2, deals

    # 10. The client is in the segment of active UK traders, on the segment's page too.
    segment = segment_save(actor=w.manager, brand=w.brand, name="Active UK traders",
                           definition={"stages": ["active"], "countries": ["GB"]})
    assert list(segment_clients(segment=segment)) == [client]

    # 11. The partner's CPA, qualified by the real deposit and the lots traded: the month's run (as the
    #     IB manager's Runs page starts it) once the closing deal is in the past.
    closing = Deal.objects.get(account=account, entry="out")
    wait_until(lambda: timezone.now() > closing.time, what="the closing deal to be in the past")
    run = cs.commission_run(actor=None, brand=w.brand, period=closing.time.date().replace(day=1))
    [line] = CommissionLine.objects.filter(run=run, beneficiary=w.partner, source_kind="cpa")
    assert (line.client_id, line.amount, line.currency) == (client.pk, CPA, "USD")
