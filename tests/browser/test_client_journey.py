"""A client's whole journey in a real browser, across the apps: the public form off shift leaves the lead
in the desk's queue; the desk manager gives it to an agent (the playbook's first call follows); a call
logged "Interested" moves the pipeline status; the brand's policy refuses a live account to a lead and
allows it once the client is registered; finance (with its second factor) deposits; the client trades
on the platform simulator; the agent sees the trades and the dealer the exposure."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.urls import reverse
from django.utils import timezone

from automation.services import automation_seed_playbook
from crm import events
from crm.lib.fieldcrypt import keyed_hash
from crm.models import Client, RoleCode, Stage, Task
from leads.models import AvailabilityStatus, Call, ClientPipeline, RoutingStrategy, RoutingTarget
from leads.pipeline import pipeline_defaults_ensure
from leads.services import agent_availability_set, routing_rule_save
from tests.browser.support import MARKS, PASSWORD, login
from tests.factories import make_brand, make_desk, make_user
from tests.trading.conftest import MANAGER_PASSWORD, start_simulator, stop_simulator
from tests.trading.crm_fixtures import server_values, sim_now
from tests.waiting import scaled_ms

BID, ASK = Decimal("1.10000"), Decimal("1.10010")

pytestmark = MARKS


@pytest.fixture
def sim(tmp_path):
    """The MT5 Web API simulator, a separate process, its clock on the CRM's."""
    from trading.registry import adapters_reset

    simulator = start_simulator(tmp_path / "mt5sim")
    try:
        offset = timezone.now() - sim_now(simulator)
        simulator.control("/_sim/clock_offset", {"seconds": int(offset.total_seconds())})
        simulator.control("/_sim/prices", {"quotes": {"EURUSD": {"bid": str(BID), "ask": str(ASK)}}})
        yield simulator
    finally:
        adapters_reset()
        stop_simulator(simulator)


@pytest.fixture
def broker(db, sim):
    """A brand whose only sales desk has nobody on shift now, its routing and pipeline, a server on the
    simulator, live accounts from "registered" on, and the staff of the journey."""
    from crm.staff_services import otp_device_start, otp_setup_confirm
    from leads.config import config_clear
    from trading.services import brand_trading_policy_set, leverage_cap_save, platform_server_save

    config_clear()
    brand = make_brand(code="alpha", name="Alpha Markets")
    manager = make_user(role_code=RoleCode.DESK_MANAGER, brand=brand, full_name="Mona Manager",
                        email="mona@staff.example.com", password=PASSWORD)
    desk = make_desk(brand=brand, name="London sales", manager=manager)
    agent = make_user(role_code=RoleCode.SALES_AGENT, desk=desk, full_name="Olivia Owner",
                      email="olivia@staff.example.com", password=PASSWORD)
    other = make_user(role_code=RoleCode.SALES_AGENT, desk=desk, full_name="Bruno Other",
                      email="bruno@staff.example.com", password=PASSWORD)
    # Both agents work 09:00-17:00 on one day that is neither today nor yesterday: off shift now.
    shift_day = (timezone.now().isoweekday() + 2) % 7 + 1
    for user in (agent, other):
        agent_availability_set(actor=None, user=user, status=AvailabilityStatus.AVAILABLE,
                               shift_start=dt.time(9), shift_end=dt.time(17), shift_days=[shift_day])
    routing_rule_save(actor=None, brand=brand, name="UK to London", countries=["GB"],
                      target_kind=RoutingTarget.DESK, target_desk=desk, strategy=RoutingStrategy.ROUND_ROBIN)
    routing_rule_save(actor=None, brand=brand, name="Everyone else", target_kind=RoutingTarget.DESK,
                      target_desk=desk, strategy=RoutingStrategy.ROUND_ROBIN, is_fallback=True)
    pipeline_defaults_ensure(brand=brand)
    automation_seed_playbook(brand=brand)

    server = platform_server_save(actor=None, manager_password=MANAGER_PASSWORD, **server_values(sim, brand))
    brand_trading_policy_set(actor=None, brand=brand, max_leverage_live=500, max_leverage_demo=500,
                             live_min_stage=Stage.REGISTERED, live_requires_verification=False)
    # The brand's own cap for its UK retail clients (a brand's rule wins over the FCA's default of 1:30):
    # this journey is not about caps.
    leverage_cap_save(actor=None, brand=brand, country="GB", classification="retail", max_leverage=500)

    finance = make_user(role_code=RoleCode.FINANCE, brand=brand, full_name="Fiona Finance",
                        email="fiona@staff.example.com", password=PASSWORD)
    device = otp_device_start(user=finance)
    # Enrolled with the previous step's code, so that the current one is still unused at login.
    from django_otp.oath import totp

    otp_setup_confirm(user=finance, device=device, token=f"{totp(device.bin_key, drift=-1):06d}")
    dealer = make_user(role_code=RoleCode.DEALER, brand=brand, full_name="Dan Dealer",
                       email="dan@staff.example.com", password=PASSWORD)
    yield SimpleNamespace(brand=brand, desk=desk, manager=manager, agent=agent, other=other, server=server,
                          finance=finance, dealer=dealer, sim=sim)
    config_clear()


def _page(browser):
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.set_default_timeout(scaled_ms(15_000))
    return page


def _text(page, selector):
    return re.sub(r"\s+", " ", page.locator(selector).inner_text())


def test_a_clients_journey_from_the_public_form_to_the_dealers_exposure(live_server, browser, broker):
    from django_otp.oath import totp

    from trading import sync
    from trading.models import BalanceOperation, Position, TradingAccount

    base, w = live_server.url, broker

    # 1. The prospect fills in the public form at night: nobody is on shift, the lead waits in the queue.
    prospect = _page(browser)
    prospect.goto(f"{base}{reverse('lead_form', args=['alpha'])}")
    prospect.fill("input[name=first_name]", "Amira")
    prospect.fill("input[name=last_name]", "Haddad")
    prospect.fill("input[name=email]", "amira.haddad@example.com")
    prospect.select_option("select[name=country]", "GB")
    prospect.fill("input[name=phone]", "+44 20 7183 8750")
    prospect.check("input[name=consent]")
    prospect.click("button[type=submit]")
    prospect.wait_for_url(re.compile(r"/lead/thanks/"))
    lead = Client.objects.get(email_hash=keyed_hash("amira.haddad@example.com", kind="email"))
    assert lead.owner is None and lead.desk == w.desk
    events.dispatch_pending()  # as the dispatcher does after each commit
    assert not Task.objects.filter(client=lead).exists()

    # 2. The desk manager gives it to Olivia from the lead queue.
    manager = _page(browser)
    login(manager, base, "mona@staff.example.com", home=False)
    manager.wait_for_url(f"{base}/")
    manager.goto(f"{base}{reverse('lead_assign')}?unassigned=1")
    row = manager.locator("tr", has_text="Amira Haddad")
    row.locator(".badge", has_text="unassigned").wait_for()
    row.locator("input[name=clients]").check()
    manager.select_option("select[name=owner]", str(w.agent.pk))
    manager.fill("input[name=reason]", "Nobody was on shift overnight")
    manager.click("button:has-text('Reassign the ticked leads')")
    manager.wait_for_selector(".message:has-text('1 lead reassigned.')")
    lead.refresh_from_db()
    assert lead.owner == w.agent
    events.dispatch_pending()
    task = Task.objects.get(client=lead)  # the playbook's first call follows a lead given by hand
    assert task.assignee == w.agent and task.title.startswith("First call"), task.title

    # 3. Olivia opens it from her leads and logs an interested call: the status follows the outcome.
    agent = _page(browser)
    login(agent, base, "olivia@staff.example.com", home=False)
    agent.wait_for_url(f"{base}/")
    agent.goto(f"{base}{reverse('lead_workspace')}")
    agent.locator("#workspace-table a", has_text="Amira Haddad").click()
    agent.wait_for_url(re.compile(rf"/clients/{lead.code}/\?tab=calls$"))
    agent.select_option("#call-form select[name=outcome]", "interested")
    agent.fill("#call-form input[name=duration]", "4:10")
    agent.fill("#call-form textarea[name=notes]", "Wants to trade EURUSD")
    agent.click("#call-form button[type=submit]")
    agent.wait_for_selector("#call-list td:has-text('Wants to trade EURUSD')")
    agent.wait_for_selector("#pipeline-current:has-text('Interested')")
    assert Call.objects.get(client=lead).outcome == "interested"
    assert ClientPipeline.objects.get(client=lead).status.key == "interested"

    # 4. A live account for a lead: the brand's policy refuses it, on the page.
    tab_url = f"{base}{reverse('client_detail', args=[lead.code])}?tab=trading"
    agent.goto(tab_url)
    agent.wait_for_selector(".message.warning:has-text('at least Registered')")
    agent.click("a:has-text('Open a trading account')")
    agent.wait_for_selector("[data-live-refusal]")
    plan = f"{w.server.code}:standard"
    agent.select_option("select[name=plan]", plan)
    agent.click("button:has-text('Open account')")
    refusal = "Live accounts at Alpha Markets need the client to be at least Registered; this client is Lead."
    agent.wait_for_selector(f".form-errors:has-text('{refusal}'), .message:has-text('{refusal}')")
    assert not TradingAccount.objects.filter(client=lead).exists()

    # ...registered through the stage form of the profile, the same request opens the account.
    agent.goto(f"{base}{reverse('client_detail', args=[lead.code])}?tab=overview")
    agent.select_option(".stage-form:not(.stage-override) select[name=stage]", Stage.REGISTERED)
    agent.click(".stage-form:not(.stage-override) button:has-text('Change stage')")
    agent.wait_for_selector(".stage-panel .message.success:has-text('is now Registered')")
    lead.refresh_from_db()
    assert lead.stage == Stage.REGISTERED
    agent.goto(tab_url)
    agent.click("a:has-text('Open a trading account')")
    agent.wait_for_selector("select[name=plan]")
    assert agent.locator("[data-live-refusal]").count() == 0
    agent.select_option("select[name=plan]", plan)
    agent.click("button:has-text('Open account')")
    agent.wait_for_url(re.compile(r"\?tab=trading$"))
    account = TradingAccount.objects.get(client=lead)
    assert not account.is_demo
    agent.wait_for_selector(f".card-header h3:has-text('{account.login}') .badge:has-text('live')")

    # 5. Finance, with its second factor, deposits 5,000 USD from the Trading tab.
    finance = _page(browser)
    login(finance, base, "fiona@staff.example.com", home=False)
    finance.wait_for_url(re.compile(r"/2fa/verify/"))
    finance.fill("input[name=token]", f"{totp(w.finance.totpdevice_set.get().bin_key):06d}")
    finance.click("button:has-text('Verify')")
    finance.wait_for_url(f"{base}/")
    finance.goto(tab_url)
    finance.click("a:has-text('Deposit / withdraw')")
    finance.select_option("select[name=direction]", "in")
    finance.fill("input[name=amount]", "5000")
    finance.fill("input[name=reason]", "Wire received")
    finance.click("button:has-text('Send to the platform')")
    finance.wait_for_url(re.compile(r"\?tab=trading$"))
    finance.wait_for_selector(".message:has-text('Applied')")
    op = BalanceOperation.objects.get(account=account)
    assert (op.state, op.amount, op.requested_by) == ("applied", Decimal("5000.00"), w.finance)
    on_platform = [a for a in w.sim.truth()["accounts"] if int(a["Login"]) == account.login]
    assert on_platform and Decimal(str(on_platform[0]["Balance"])) == Decimal("5000"), on_platform

    # 6. The client trades; the sync brings the deals and positions in.
    w.sim.control("/_sim/trade", {"login": account.login, "symbol": "EURUSD", "action": "buy", "volume": "0.50",
                                  "price": str(ASK)})
    w.sim.control("/_sim/trade", {"login": account.login, "symbol": "EURUSD", "action": "sell", "volume": "0.20",
                                  "price": str(BID)})
    assert sync.deals_sync(w.server.pk, force=True).status == "ok"
    assert sync.account_states_sync(w.server.pk, force=True).status == "ok"
    assert Position.objects.filter(account=account).count() == 2

    agent.goto(tab_url)
    body = f".card-header:has(h3:has-text('{account.login}')) + .card-body"
    agent.wait_for_selector(f"{body} h4:has-text('Open positions')")
    positions = agent.locator(f"{body} h4:has-text('Open positions') + .table-wrap tbody tr")
    rows = [re.sub(r"\s+", " ", t) for t in positions.all_inner_texts()]
    assert len(rows) == 2 and all("EURUSD" in r for r in rows), rows
    assert any(" buy 0.5 " in r for r in rows) and any(" sell 0.2 " in r for r in rows), rows
    summary = _text(agent, f"{body} dl.kv")
    assert "5,000.00" in summary and "2 trade deals, 0.70 lots" in summary, summary
    deals = _text(agent, "table:has(th:has-text('Deal'))")
    assert deals.count("EURUSD") == 2

    # 7. The dealer sees the client's net 0.30 lots long in EURUSD.
    dealer = _page(browser)
    login(dealer, base, "dan@staff.example.com", home=False)
    dealer.wait_for_url(f"{base}/")
    dealer.goto(f"{base}{reverse('trading_exposure')}")
    symbol_row = dealer.locator("#exposure-symbols tr", has_text="EURUSD")
    symbol_row.wait_for()
    assert "+0.30 long" in re.sub(r"\s+", " ", symbol_row.inner_text())
    client_row = dealer.locator("#exposure-clients tr", has_text="Amira Haddad")
    assert "EURUSD +0.30 long" in re.sub(r"\s+", " ", client_row.inner_text())
