"""The partner-abuse detectors (monitoring.partners) on hand-made histories built through the services:
partners referring clients by their codes (the trader's room registration and the attribution it
leads to), sign-ins, trading through the sync's upsert."""

from __future__ import annotations

import datetime as dt

import pytest

from crm.events import dispatch_pending
from monitoring.partners import (
    detect_client_rings,
    detect_commission_farming,
    detect_self_dealing,
    detect_volume_spikes,
)
from tests.factories import make_client
from tests.monitoring.abuse_world import account, partner, person, position, store, world

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _busy_networks(settings):
    settings.PORTAL_REGISTER_RATE_LIMIT = "1000/h"


def _referred(w, code, *, ip, ua, email=""):
    client = person(w, ip=ip, ua=ua, referrer=code, email=email)
    dispatch_pending()  # the attribution follows the registration's event
    return client


def _trades(w, acc, n=2, *, start=None):
    start = start or w.now - dt.timedelta(days=1)
    return [d for i in range(n) for d in position(acc, opened=start + dt.timedelta(hours=i), hold=1800)]


def test_a_partner_trading_through_a_referred_account_on_its_own_browser_and_network_is_self_dealing():
    from ib.settlement import partner_settlement_set

    w = world()
    p, code = partner(w)
    own = person(w, ip="203.0.113.5", ua="ua-partner-laptop")
    partner_settlement_set(actor=None, partner=p, schedule="monthly", client=own)
    alias = _referred(w, code, ip="203.0.113.5", ua="ua-partner-laptop")
    honest = _referred(w, code, ip="198.51.100.5", ua="ua-honest")
    idle_alias = _referred(w, code, ip="203.0.113.5", ua="ua-partner-laptop")  # related but never traded
    store(w, _trades(w, account(w, alias)) + _trades(w, account(w, honest)))
    assert idle_alias.pk
    [finding] = detect_self_dealing(day=w.day, brand_id=w.brand.pk)
    assert (finding.subject_kind, finding.subject_id, finding.detector) == ("partner", p.pk, "self_dealing")
    assert finding.reasons[0].startswith("1 of the partner's clients who traded in the last 30 days")
    assert f"client {alias.pk} shares with the partner:" in finding.reasons[1]
    assert "the same browser on the same IP" in finding.reasons[1]
    assert finding.evidence[0] == (f"Partner {p.display_name}", f"/ib/partners/{p.code}/")


def test_a_partner_trading_through_a_referred_account_under_its_own_contact_email_is_self_dealing():
    # Both addresses are encrypted: the detector compares their keyed hashes, whatever the case.
    w = world()
    p, code = partner(w)
    alias = _referred(w, code, ip="198.51.100.90", ua="ua-alias", email=p.contact_email.upper())
    honest = _referred(w, code, ip="198.51.100.91", ua="ua-honest")
    store(w, _trades(w, account(w, alias)) + _trades(w, account(w, honest)))
    [finding] = detect_self_dealing(day=w.day, brand_id=w.brand.pk)
    assert (finding.subject_kind, finding.subject_id, finding.detector) == ("partner", p.pk, "self_dealing")
    assert finding.reasons[1:] == [f"client {alias.pk} shares with the partner: its contact email address"]
    assert finding.evidence[0] == (f"Partner {p.display_name}", f"/ib/partners/{p.code}/")


def test_a_partner_whose_clients_are_strangers_to_it_is_not_self_dealing():
    from ib.settlement import partner_settlement_set

    w = world()
    p, code = partner(w)
    own = person(w, ip="203.0.113.6", ua="ua-p")
    partner_settlement_set(actor=None, partner=p, schedule="monthly", client=own)
    clients = [_referred(w, code, ip=f"198.51.100.{10 + i}", ua=f"ua-c{i}") for i in range(3)]
    store(w, [d for c in clients for d in _trades(w, account(w, c))])
    assert detect_self_dealing(day=w.day, brand_id=w.brand.pk) == []


def test_many_of_a_partners_clients_from_one_ip_are_a_ring_but_a_busy_cafe_is_not():
    w = world()
    ring_partner, ring_code = partner(w, "Ring")
    cafe_partner, cafe_code = partner(w, "Cafe")
    ring = [_referred(w, ring_code, ip="203.0.113.77", ua=f"ua-ring-{i}") for i in range(5)]
    # The café: 3 of one partner's clients among 12 people signing up there.
    for i in range(3):
        _referred(w, cafe_code, ip="192.0.2.50", ua=f"ua-cafe-p{i}")
    for i in range(9):
        person(w, ip="192.0.2.50", ua=f"ua-cafe-{i}")
    [finding] = detect_client_rings(day=w.day, brand_id=w.brand.pk)
    assert finding.subject_id == ring_partner.pk
    assert finding.reasons[0] == ("5 of the partner's clients signed in from one IP address (203.0.113.77) in 30 "
                                  "days, 5 of the 5 clients who did")
    assert {url for _, url in finding.evidence[1:]} == {f"/clients/{c.code}/?tab=trading" for c in ring}


def test_two_referred_accounts_trading_against_each_other_are_commission_farming():
    w = world()
    farm, farm_code = partner(w, "Farm")
    fair, fair_code = partner(w, "Fair")
    a, b = (_referred(w, farm_code, ip=f"198.51.100.{30 + i}", ua=f"ua-f{i}") for i in range(2))
    c, d = (_referred(w, fair_code, ip=f"198.51.100.{40 + i}", ua=f"ua-g{i}") for i in range(2))
    acc = {x: account(w, x) for x in (a, b, c, d)}
    start = w.now - dt.timedelta(days=2)
    deals = []
    for i in range(6):
        t = start + dt.timedelta(hours=i)
        deals += position(acc[a], opened=t, hold=300, side="buy", volume="5")
        deals += position(acc[b], opened=t + dt.timedelta(seconds=5), hold=300, side="sell", volume="5")
        # the fair partner's clients trade the same symbol, hours apart
        deals += position(acc[c], opened=t + dt.timedelta(minutes=20), hold=300, side="buy")
        deals += position(acc[d], opened=t + dt.timedelta(minutes=40), hold=300, side="sell")
    store(w, deals)
    [finding] = detect_commission_farming(day=w.day, brand_id=w.brand.pk)
    assert finding.subject_id == farm.pk
    assert finding.reasons == ["6 times in 7 days two of the partner's clients opened opposite positions of "
                               "matching size on one symbol within 60 s of each other"]


def test_many_minimum_hold_break_even_trades_are_farming_but_a_scalpers_book_is_not():
    w = world()
    farm, farm_code = partner(w, "Churn")
    scalp, scalp_code = partner(w, "Scalp")
    churner = account(w, _referred(w, farm_code, ip="198.51.100.60", ua="ua-churn"))
    scalper = account(w, _referred(w, scalp_code, ip="198.51.100.61", ua="ua-scalp"))
    start = w.now - dt.timedelta(days=3)
    deals = []
    for i in range(60):
        deals += position(churner, opened=start + dt.timedelta(minutes=5 * i), hold=65, profit="-1")
        deals += position(scalper, opened=start + dt.timedelta(minutes=5 * i + 2), hold=50,
                          profit="12" if i % 2 else "-10")
    store(w, deals)
    [finding] = detect_commission_farming(day=w.day, brand_id=w.brand.pk)
    assert finding.subject_id == farm.pk
    assert finding.reasons[0].startswith("60 of its clients' 60 positions in 7 days were held at most 120 s and "
                                         "closed near break-even")


def _attributed_since(w, p, days):
    from ib.services import Touch, attribution_apply

    client = make_client(brand=w.brand)
    at = w.now - dt.timedelta(days=days)
    attribution_apply(client=client, touches=[Touch(p.pk, "manual", at)], at=at)
    return client


def test_a_day_far_above_the_partners_own_baseline_is_a_volume_spike():
    w = world()
    spiky, _ = partner(w, "Spiky")
    steady, _ = partner(w, "Steady")
    newcomer, _ = partner(w, "New")
    accs = {p: account(w, _attributed_since(w, p, 40 if p is not newcomer else 3)) for p in (spiky, steady, newcomer)}
    target = w.day - dt.timedelta(days=1)  # a whole day, whatever the time the test runs
    day_start = dt.datetime.combine(target, dt.time(), tzinfo=dt.UTC)
    deals = []
    for back in range(1, 29):
        t = day_start - dt.timedelta(days=back) + dt.timedelta(hours=10)
        deals += position(accs[spiky], opened=t, hold=600, volume="1")
        deals += position(accs[steady], opened=t, hold=600, volume="20")
    today = day_start + dt.timedelta(minutes=30)
    deals += position(accs[spiky], opened=today, hold=600, volume="30")
    deals += position(accs[steady], opened=today, hold=600, volume="25")
    deals += position(accs[newcomer], opened=today, hold=600, volume="40")
    store(w, deals)
    [finding] = detect_volume_spikes(day=target, brand_id=w.brand.pk)
    assert finding.subject_id == spiky.pk
    assert finding.reasons[0] == (f"the partner's clients opened 30.00 lots on {target.isoformat()} (1 clients); own "
                                  "28-day mean 1.00 lots a day, standard deviation 0.00; 30.0 times the mean")
