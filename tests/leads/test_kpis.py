"""Sales KPIs and marketing ROI computed from a known set of events and calls; who sees whose figures."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from crm.events import emit
from crm.exceptions import NotAllowed, ValidationFailed
from crm.models import RoleCode
from crm.services import client_stage_change, client_stage_prove
from kyc.event_types import KYC_APPROVAL
from leads.calls import call_log
from leads.kpis import campaign_cost_add, marketing_roi, period_bounds, sales_kpis
from leads.models import CallOutcome, Channel, RoutingTarget
from leads.services import campaign_save, lead_intake, routing_rule_save
from tests import event_payloads as payloads
from tests.factories import make_desk, make_user
from tests.leads.conftest import ALWAYS_OPEN, lead_data

pytestmark = pytest.mark.django_db
DAY = datetime(2025, 3, 5, 9, 0, tzinfo=UTC)


@pytest.fixture
def known(world):
    """Agent A gets three leads (all from campaign spring/google), agent B one (no campaign).
    A calls lead 1 after 10 minutes (answered) and lead 2 after 30 (answered) and lead 3 (no answer);
    lead 1 registers and verifies and makes a first deposit of 250.50 USD."""
    a, b = world.agents[0], world.agents[1]
    campaign = campaign_save(actor=world.admin, brand=world.brand, code="spring", name="Spring promo", source="google")
    routing_rule_save(actor=world.admin, brand=world.brand, name="Spring to A", campaigns=["spring"],
                      target_kind=RoutingTarget.AGENT, target_agent=a)
    routing_rule_save(actor=world.admin, brand=world.brand, name="Rest to B", sources=["organic"],
                      target_kind=RoutingTarget.AGENT, target_agent=b)
    with time_machine.travel(DAY, tick=False) as clock:
        leads = [lead_intake(brand=world.brand, channel=Channel.API,
                             data=lead_data(n, campaign="spring", source="google")).client for n in (1, 2, 3)]
        other = lead_intake(brand=world.brand, channel=Channel.API, data=lead_data(4, source="organic")).client
        assert [c.owner for c in leads] == [a, a, a] and other.owner == b
        clock.move_to(DAY + timedelta(minutes=10))
        call_log(actor=a, client=leads[0], outcome=CallOutcome.INTERESTED, duration_seconds=0)
        clock.move_to(DAY + timedelta(minutes=30, seconds=120))
        call_log(actor=a, client=leads[1], outcome=CallOutcome.CALLBACK, duration_seconds=120)
        call_log(actor=a, client=leads[2], outcome=CallOutcome.NO_ANSWER, duration_seconds=20)
        clock.move_to(DAY + timedelta(hours=2))
        client_stage_change(actor=a, client=leads[0], stage="registered")
        client_stage_prove(client=leads[0], proof=KYC_APPROVAL)
        emit("wallet.first_deposit", client=leads[0], actor=None,
             data=payloads.first_deposit(amount="250.50", currency="USD"))
    campaign_cost_add(actor=world.admin, campaign=campaign, period_start=date(2025, 3, 1), period_end=date(2025, 3, 31),
                      amount=Decimal("300.00"), currency="USD")
    return world, a, b, leads


def _week():
    return period_bounds(period="7d", tz=UTC, today=date(2025, 3, 7))


def test_kpis_per_agent_desk_and_total_from_known_events(known):
    world, a, b, leads = known
    start, end, _first, _last = _week()
    report = sales_kpis(user=world.admin, start=start, end=end, tz=UTC)
    row_a = next(r for r in report.agents if r.key == str(a.code))
    assert (row_a.received, row_a.contacted, row_a.contact_rate) == (3, 2, 66.7)
    assert row_a.median_minutes == 20.0  # first contacts after 10 and 30 minutes
    assert (row_a.calls, row_a.talk_seconds) == (3, 120)
    assert (row_a.registrations, row_a.verifications, row_a.ftd_count) == (1, 1, 1)
    assert row_a.ftd_amounts == {"USD": Decimal("250.50")}
    row_b = next(r for r in report.agents if r.key == str(b.code))
    assert (row_b.received, row_b.contacted, row_b.calls, row_b.contact_rate) == (1, 0, 0, 0.0)
    desk = next(r for r in report.desks if r.key == str(world.desk.code))
    assert (desk.received, desk.contacted, desk.calls, desk.agents) == (4, 2, 3, 3)
    assert report.total.received == 4 and report.total.median_minutes == 20.0
    assert sum(report.daily["received"]) == 4 and report.daily["labels"][-1] == "2025-03-07"


def test_a_lead_staff_enter_for_an_agent_counts_as_received_once(known):
    from crm.services import client_create

    world, _a, b, _leads = known
    with time_machine.travel(DAY + timedelta(hours=3), tick=False):
        client_create(actor=world.admin, brand=world.brand, first_name="Walk", last_name="In",
                      email="walk.in@example.com", owner=b)
    start, end, _first, _last = _week()
    report = sales_kpis(user=world.admin, start=start, end=end, tz=UTC)
    assert next(r for r in report.agents if r.key == str(b.code)).received == 2
    assert report.total.received == 5 and sum(report.daily["received"]) == 5


def test_a_period_without_events_counts_nothing(known):
    world, a, _b, _leads = known
    start, end, _f, _l = period_bounds(period="today", tz=UTC, today=date(2025, 4, 1))
    report = sales_kpis(user=world.admin, start=start, end=end, tz=UTC)
    assert report.total.received == report.total.calls == report.total.ftd_count == 0


def test_marketing_roi_per_campaign_and_source(known):
    world, *_ = known
    start, end, first, last = _week()
    campaigns, sources = marketing_roi(user=world.admin, start=start, end=end, first_day=first, last_day=last)
    spring = next(r for r in campaigns if r.key == "spring")
    assert (spring.label, spring.leads, spring.ftd_count) == ("Spring promo", 3, 1)
    assert spring.deposits == {"USD": Decimal("250.50")} and spring.costs == {"USD": Decimal("300.00")}
    assert spring.cost_per_lead == {"USD": Decimal("100.00")} and spring.cost_per_ftd == {"USD": Decimal("300.00")}
    assert {r.key: r.leads for r in sources} == {"google": 3, "organic": 1}


def test_agents_see_only_themselves_and_managers_their_desk(known):
    world, a, b, _leads = known
    start, end, _f, _l = _week()
    assert [r.key for r in sales_kpis(user=a, start=start, end=end).agents] == [str(a.code)]
    other_desk = make_desk(brand=world.brand, name="Other", **ALWAYS_OPEN)
    stranger = make_user(role_code=RoleCode.SALES_AGENT, desk=other_desk)
    manager_keys = {r.key for r in sales_kpis(user=world.manager, start=start, end=end).agents}
    assert str(a.code) in manager_keys and str(b.code) in manager_keys and str(stranger.code) not in manager_keys


def test_kpi_page_renders_for_agent_and_shows_roi_only_to_managers(known, client):
    world, a, _b, _leads = known
    url = reverse("sales_kpis") + "?period=custom&start=2025-03-01&end=2025-03-07"
    client.force_login(a)
    page = client.get(url)
    assert page.status_code == 200 and b"kpi-agents-table" in page.content and b"roi-campaigns" not in page.content
    client.force_login(world.manager)
    page = client.get(url)
    assert b"Spring promo" in page.content and b"vendor/chartjs/chart.umd.min.js" in page.content


def test_only_administrators_enter_costs_and_bad_values_are_named(known):
    world, a, *_ = known
    campaign = world.brand.campaigns.get(code="spring")
    with pytest.raises(NotAllowed):
        campaign_cost_add(actor=a, campaign=campaign, period_start=date(2025, 3, 1), period_end=date(2025, 3, 2),
                          amount=Decimal(1), currency="USD")
    with pytest.raises(ValidationFailed) as exc:
        campaign_cost_add(actor=world.admin, campaign=campaign, period_start=date(2025, 3, 2),
                          period_end=date(2025, 3, 1), amount=Decimal(-1), currency="dollars")
    assert set(exc.value.fields) == {"period_end", "amount", "currency"}


def test_first_deposits_in_a_four_letter_currency_are_not_counted_as_dollars(known):
    world, a, *_ = known
    lead = lead_intake(brand=world.brand, channel=Channel.API, data=lead_data(9, campaign="spring", source="google"))
    with time_machine.travel(DAY + timedelta(hours=3), tick=False):
        emit("wallet.first_deposit", client=lead.client, actor=None, data=payloads.first_deposit(amount="99.123456", currency="USDT"))
    start, end, first, last = _week()
    row = next(r for r in sales_kpis(user=world.admin, start=start, end=end).agents if r.key == str(a.code))
    assert row.ftd_amounts == {"USD": Decimal("250.50"), "USDT": Decimal("99.123456")}
    campaigns, _sources = marketing_roi(user=world.admin, start=start, end=end, first_day=first, last_day=last)
    spring = next(r for r in campaigns if r.key == "spring")
    assert spring.deposits == {"USD": Decimal("250.50"), "USDT": Decimal("99.123456")}


def test_cost_shares_are_at_the_currencys_unit_and_costs_are_never_rounded(known):
    world, *_ = known
    campaign = world.brand.campaigns.get(code="spring")
    campaign_cost_add(actor=world.admin, campaign=campaign, period_start=date(2025, 3, 1),
                      period_end=date(2025, 3, 31), amount=Decimal("1000"), currency="JPY")
    start, end, first, last = _week()
    campaigns, _sources = marketing_roi(user=world.admin, start=start, end=end, first_day=first, last_day=last)
    spring = next(r for r in campaigns if r.key == "spring")
    assert spring.cost_per_lead == {"USD": Decimal("100.00"), "JPY": Decimal("333")}  # no yen decimals
    with pytest.raises(ValidationFailed) as exc:
        campaign_cost_add(actor=world.admin, campaign=campaign, period_start=date(2025, 3, 1),
                          period_end=date(2025, 3, 2), amount=Decimal("10.5"), currency="JPY")
    assert exc.value.fields == {"amount": ["JPY has no decimals: enter a whole amount."]}
    with pytest.raises(ValidationFailed) as exc:
        campaign_cost_add(actor=world.admin, campaign=campaign, period_start=date(2025, 3, 1),
                          period_end=date(2025, 3, 2), amount=Decimal("10.005"), currency="USD")
    assert set(exc.value.fields) == {"amount"}


def test_kpi_page_shows_each_currency_at_its_own_decimals(known, client):
    world, _a, *_ = known
    campaign = world.brand.campaigns.get(code="spring")
    lead = lead_intake(brand=world.brand, channel=Channel.API, data=lead_data(8, campaign="spring", source="google"))
    with time_machine.travel(DAY + timedelta(hours=3), tick=False):
        emit("wallet.first_deposit", client=lead.client, actor=None, data=payloads.first_deposit(amount="0.005", currency="BTC"))
    campaign_cost_add(actor=world.admin, campaign=campaign, period_start=date(2025, 3, 1),
                      period_end=date(2025, 3, 31), amount=Decimal("1000"), currency="JPY")
    client.force_login(world.manager)
    page = client.get(reverse("sales_kpis") + "?period=custom&start=2025-03-01&end=2025-03-07")
    assert "0.00500000\u00a0BTC" in page.content.decode()
    assert "1,000\u00a0JPY" in page.content.decode()


def test_the_cost_form_takes_each_currencys_own_decimals_and_refuses_more(world, client, login_verified):
    """Costs were NUMERIC(14, 2) with a three-letter code: 0.00012345 BTC was refused, USDT could not
    be entered at all. Each currency now has its own decimals, and no more."""
    campaign = campaign_save(actor=world.admin, brand=world.brand, code="crypto", name="Crypto push", source="x")
    login_verified(client, world.admin)

    def post(amount: str, currency: str):
        return client.post(reverse("sales_campaign_cost_add"), {
            "campaign": campaign.pk, "period_start": "2025-03-01", "period_end": "2025-03-31",
            "amount": amount, "currency": currency})

    refused = post("0.001", "USD")
    assert refused.status_code == 422
    assert refused.context["cost_form"].errors == {"amount": ["USD has at most 2 decimals."]}
    assert post("0.000000001", "BTC").context["cost_form"].errors == {"amount": ["BTC has at most 8 decimals."]}
    assert not campaign.costs.exists()

    for amount, currency in (("0.00012345", "BTC"), ("1250.123456", "USDT"), ("0", "USD")):
        assert post(amount, currency).status_code == 302, (amount, currency)
    stored = sorted((c.currency, c.amount) for c in campaign.costs.all())
    assert stored == [("BTC", Decimal("0.00012345")), ("USD", Decimal("0")), ("USDT", Decimal("1250.123456"))]
