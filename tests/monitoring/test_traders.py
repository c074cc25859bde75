"""The trading-abuse detectors (monitoring.traders) on hand-made histories built through the services:
who is found, who is not, and what the finding says."""

from __future__ import annotations

import datetime as dt

import pytest

from monitoring.abuse_detectors import abuse_scan
from monitoring.traders import (
    detect_bonus_abuse,
    detect_hedging,
    detect_latency_arbitrage,
    detect_multi_accounting,
)
from tests.monitoring.abuse_world import (
    account,
    bonus,
    deposit,
    lives_at,
    payout_to,
    person,
    position,
    store,
    withdrawal_paid,
    world,
)

pytestmark = pytest.mark.django_db

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


@pytest.fixture(autouse=True)
def _busy_networks(settings):
    # A café's crowd registers from one IP: more than the trader's room lets through in an hour.
    settings.PORTAL_REGISTER_RATE_LIMIT = "1000/h"


def _found(findings, detector=None):
    return {f.subject_id for f in findings if detector is None or f.detector == detector}


def test_two_registrations_with_one_browser_on_one_network_are_linked_and_say_why():
    w = world()
    a = person(w, ip="203.0.113.10", ua=FIREFOX + " a1")
    b = person(w, ip="203.0.113.10", ua=FIREFOX + " a1")
    stranger = person(w, ip="198.51.100.2", ua=FIREFOX + " zz")
    findings = detect_multi_accounting(day=w.day, brand_id=w.brand.pk)
    assert _found(findings) == {a.pk, b.pk}
    mine = next(f for f in findings if f.subject_id == a.pk)
    assert mine.reasons[0].startswith("linked to 1 other client")
    assert f"client {b.pk}" in mine.reasons[1] and "the same browser on the same IP (203.0.113.10" in mine.reasons[1]
    assert mine.evidence == [(f"Client {b.pk}", f"/clients/{b.code}/")]
    assert stranger.pk not in _found(findings)


def test_one_payout_instrument_links_clients_who_never_shared_a_network():
    w = world(with_payouts=True)
    a = person(w, ip="203.0.113.20", ua="ua-1")
    b = person(w, ip="198.51.100.20", ua="ua-2")
    c = person(w, ip="192.0.2.20", ua="ua-3")
    payout_to(w, a, "ann@ewallet.example", line="1 Alpha Road")
    payout_to(w, b, "ann@ewallet.example", line="9 Beta Road")
    payout_to(w, c, "cy@ewallet.example", line="5 Gamma Road")
    findings = detect_multi_accounting(day=w.day, brand_id=w.brand.pk)
    assert _found(findings) == {a.pk, b.pk}
    assert "one payout instrument" in next(f for f in findings if f.subject_id == a.pk).reasons[1]


def test_one_payout_destination_written_two_ways_still_links_the_clients():
    # The destination is encrypted in its column: the detector compares its keyed hash, made of the
    # number without its spaces and in one case.
    w = world(with_payouts=True)
    a = person(w, ip="203.0.113.21", ua="ua-21")
    b = person(w, ip="198.51.100.21", ua="ua-22")
    payout_to(w, a, "ann-lee@ewallet.example", line="1 Alpha Road")
    payout_to(w, b, " Ann-Lee@EWallet.example", line="9 Beta Road")
    findings = detect_multi_accounting(day=w.day, brand_id=w.brand.pk)
    assert _found(findings) == {a.pk, b.pk}
    assert "one payout instrument" in next(f for f in findings if f.subject_id == a.pk).reasons[1]


def test_a_family_at_one_address_on_its_home_network_is_not_multi_accounting():
    w = world()
    parent = person(w, ip="203.0.113.30", ua="ua-parent")
    child = person(w, ip="203.0.113.30", ua="ua-child")
    for member in (parent, child):
        lives_at(member, "12 Linden Street")
    assert detect_multi_accounting(day=w.day, brand_id=w.brand.pk) == []


def test_one_address_written_two_ways_tips_a_pair_over_the_threshold_and_a_neighbour_does_not():
    # The street is encrypted in its column: the detector compares its keyed hash, squeezed as before
    # (case, spaces, commas, dots and hyphens ignored), with the postcode (squeezed too) and country.
    from plumbing.context import ActorContext, acting

    def pair(first: str, second: str, n: int):
        # An IP (1) and a browser (1) in common, never on one another's network with one browser.
        a = person(w, ip=f"203.0.113.{n}", ua=f"ua-home-a{n}")
        b = person(w, ip=f"203.0.113.{n}", ua=f"ua-home-b{n}")
        with acting(ActorContext(ip=f"198.51.100.{n}", user_agent=f"ua-phone{n}", source="web")):
            lives_at(a, first, postcode="10115")
        with acting(ActorContext(ip=f"192.0.2.{n}", user_agent=f"ua-phone{n}", source="web")):
            lives_at(b, second, postcode="101-15")
        return a, b

    w = world()
    same = pair("7 Linden Street", "7, linden-street.", 61)
    neighbours = pair("7 Linden Street", "9 Linden Street", 62)
    findings = detect_multi_accounting(day=w.day, brand_id=w.brand.pk)
    assert _found(findings) == {same[0].pk, same[1].pk}
    reasons = next(f for f in findings if f.subject_id == same[0].pk).reasons
    assert "an address of residence (10115, DE" in " ".join(reasons)
    assert not {c.pk for c in neighbours} & _found(findings)


def test_a_cafe_ip_links_nobody_but_two_of_its_crowd_on_one_browser_still_are():
    w = world()
    crowd = [person(w, ip="192.0.2.99", ua=f"ua-cafe-{i}") for i in range(8)]
    twin = person(w, ip="192.0.2.99", ua="ua-cafe-0")
    findings = detect_multi_accounting(day=w.day, brand_id=w.brand.pk)
    # Nine clients on one IP: the IP alone links nobody; the same browser on it does.
    assert _found(findings) == {crowd[0].pk, twin.pk}


def test_a_browser_everybody_uses_links_nobody():
    w = world()
    for i in range(7):
        person(w, ip=f"198.51.100.{40 + i}", ua="Chrome/130 common")
    assert detect_multi_accounting(day=w.day, brand_id=w.brand.pk) == []


def _linked_pair(w):
    a = person(w, ip="203.0.113.50", ua="ua-hedger")
    b = person(w, ip="203.0.113.50", ua="ua-hedger")
    return a, b


def test_opposite_positions_held_together_across_linked_accounts_are_hedging():
    w = world()
    a, b = _linked_pair(w)
    acc_a, acc_b = account(w, a), account(w, b)
    start = w.now - dt.timedelta(days=2)
    deals = []
    for i in range(3):
        t = start + dt.timedelta(hours=i)
        deals += position(acc_a, opened=t, hold=3600, side="buy", volume="2", profit="150")
        deals += position(acc_b, opened=t + dt.timedelta(seconds=20), hold=3500, side="sell", volume="2",
                          profit="-140")
    store(w, deals)
    findings = detect_hedging(day=w.day, brand_id=w.brand.pk)
    assert _found(findings) == {a.pk, b.pk}
    reason = next(f for f in findings if f.subject_id == a.pk).reasons[0]
    assert reason.startswith(f"3 times in 7 days a position opposite to one of linked client {b.pk}")
    assert "6.00 lots hedged" in reason


def test_the_same_opposite_trades_by_unlinked_clients_or_too_few_are_not_hedging():
    w = world()
    a = person(w, ip="203.0.113.60", ua="ua-x")
    b = person(w, ip="198.51.100.60", ua="ua-y")
    c, d = _linked_pair(w)
    acc = {x: account(w, x) for x in (a, b, c, d)}
    start = w.now - dt.timedelta(days=2)
    deals = []
    for i in range(3):
        t = start + dt.timedelta(hours=i)
        deals += position(acc[a], opened=t, hold=600, side="buy")
        deals += position(acc[b], opened=t, hold=600, side="sell")
    for i in range(2):  # linked, but twice only
        t = start + dt.timedelta(hours=10 + i)
        deals += position(acc[c], opened=t, hold=600, side="buy")
        deals += position(acc[d], opened=t, hold=600, side="sell")
    # ... and a third time one after the other, never open together
    t = start + dt.timedelta(hours=20)
    deals += position(acc[c], opened=t, hold=30, side="buy")
    deals += position(acc[d], opened=t + dt.timedelta(seconds=60), hold=30, side="sell")
    store(w, deals)
    assert detect_hedging(day=w.day, brand_id=w.brand.pk) == []


def _market(w, n_clients=4):
    """Ordinary traders whose short positions set each symbol's typical move (about 8 a lot)."""
    deals = []
    start = w.now - dt.timedelta(days=3)
    for k in range(n_clients):
        acc = account(w, person(w, ip=f"198.51.100.{100 + k}", ua=f"ua-market-{k}"))
        for i in range(10):
            deals += position(acc, opened=start + dt.timedelta(minutes=17 * i + k), hold=90,
                              profit="8" if i % 2 else "-8")
    return deals


def test_many_short_winning_trades_far_above_the_symbols_usual_move_are_latency_arbitrage():
    w = world()
    arb = person(w, ip="203.0.113.70", ua="ua-arb")
    scalper = person(w, ip="203.0.113.71", ua="ua-scalp")
    acc_arb, acc_scalp = account(w, arb), account(w, scalper)
    deals = _market(w)
    start = w.now - dt.timedelta(days=2)
    for i in range(25):
        deals += position(acc_arb, opened=start + dt.timedelta(minutes=7 * i), hold=15, volume="1",
                          profit="-6" if i in (3, 11) else "45")
    for i in range(40):  # a scalper: as short, as many, but wins half the time and catches the usual move
        deals += position(acc_scalp, opened=start + dt.timedelta(minutes=5 * i), hold=40, volume="1",
                          profit="9" if i % 2 else "-7")
    store(w, deals)
    findings = detect_latency_arbitrage(day=w.day, brand_id=w.brand.pk)
    assert _found(findings) == {arb.pk}
    reasons = findings[0].reasons
    assert reasons[0].startswith("25 positions held at most 120 s in 7 days (median 15 s), 23 of them won (92%)")
    assert "times the symbol's typical" in reasons[1]


def test_a_few_lucky_short_trades_are_not_latency_arbitrage():
    w = world()
    lucky = person(w, ip="203.0.113.80", ua="ua-lucky")
    acc = account(w, lucky)
    deals = _market(w)
    for i in range(10):
        deals += position(acc, opened=w.now - dt.timedelta(hours=30 - i), hold=15, profit="45")
    store(w, deals)
    assert detect_latency_arbitrage(day=w.day, brand_id=w.brand.pk) == []


def test_deposit_bonus_withdrawal_cycles_without_trading_are_bonus_abuse():
    w = world()
    abuser = person(w, ip="203.0.113.90", ua="ua-bonus")
    trader = person(w, ip="203.0.113.91", ua="ua-trader")
    once = person(w, ip="203.0.113.92", ua="ua-once")
    acc = {c: account(w, c) for c in (abuser, trader, once)}
    deals = []
    for client, cycles in ((abuser, 2), (trader, 2), (once, 1)):
        for k in range(cycles):
            t = w.now - dt.timedelta(days=30 - 10 * k)
            deposit(client, "1000", at=t)
            deals.append(bonus(acc[client], at=t + dt.timedelta(hours=1), amount="500"))
            if client is trader:
                for i in range(5):
                    deals += position(acc[client], opened=t + dt.timedelta(hours=2 + i), hold=1800, volume="1")
            withdrawal_paid(client, "950", at=t + dt.timedelta(days=2))
    store(w, deals)
    findings = detect_bonus_abuse(day=w.day, brand_id=w.brand.pk)
    assert _found(findings) == {abuser.pk}
    assert findings[0].reasons[0].startswith(
        "2 deposit-bonus-withdrawal cycles in 90 days: 2000.00 deposited, 1000.00 USD in bonuses, 1900.00 withdrawn")
    assert any(url.startswith("/wallet/deposits/") for _, url in findings[0].evidence)


def test_the_scan_raises_each_finding_once_as_an_alert_with_its_reasons():
    from monitoring.models import MonitoringAlert

    w = world()
    a, b = _linked_pair(w)
    assert abuse_scan(day=w.day, names=("multi_accounting",), brand_id=w.brand.pk) == {"multi_accounting": 2}
    assert abuse_scan(day=w.day, names=("multi_accounting",), brand_id=w.brand.pk) == {"multi_accounting": 2}
    alerts = MonitoringAlert.objects.filter(detector="multi_accounting", brand=w.brand)
    assert sorted(alerts.values_list("client_id", flat=True)) == sorted([a.pk, b.pk])
    alert = alerts.get(client=a)
    assert alert.subject_kind == "client" and "same browser on the same IP" in alert.reasons[1]
    assert alert.evidence == [{"label": f"Client {b.pk}", "url": f"/clients/{b.code}/"}]
    with pytest.raises(ValueError, match="unknown detectors: nonsense"):
        abuse_scan(day=w.day, names=("nonsense",))


def test_a_link_that_lasts_is_not_raised_again_the_next_day_until_what_it_says_changes():
    import time_machine

    from monitoring.models import MonitoringAlert

    w = world()
    yesterday = w.day - dt.timedelta(days=1)
    with time_machine.travel(dt.datetime.combine(yesterday, dt.time(12), tzinfo=dt.UTC)):
        a, b = _linked_pair(w)
    assert abuse_scan(day=yesterday, names=("multi_accounting",), brand_id=w.brand.pk) == {"multi_accounting": 2}
    # The next day the same pair says the same: nothing new to review.
    assert abuse_scan(day=w.day, names=("multi_accounting",), brand_id=w.brand.pk) == {"multi_accounting": 0}
    third = person(w, ip="203.0.113.50", ua="ua-hedger")
    assert abuse_scan(day=w.day, names=("multi_accounting",), brand_id=w.brand.pk) == {"multi_accounting": 3}
    assert MonitoringAlert.objects.filter(brand=w.brand, day=w.day, client=third).exists()
    assert MonitoringAlert.objects.filter(brand=w.brand, day=yesterday).count() == 2


def test_the_nightly_task_judges_the_day_it_is_given():
    from monitoring.abuse_tasks import abuse_scan_nightly

    w = world()
    _linked_pair(w)
    counts = abuse_scan_nightly(w.day.isoformat())
    assert counts["multi_accounting"] >= 2 and set(counts) >= {"bonus_abuse", "volume_spike", "client_ring"}
