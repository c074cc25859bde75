"""The shared-instruments rule over sign-ins (crm_public_origins): IPs and devices (browsers) shared across
clients of a brand, capped so that a public network or a common browser fires nothing, and a partner's own
IP or device used by a client attributed to it (ib_public_attributions). Each at its threshold's edge, with
hand-made positives and negatives; clients register and partners sign in through the services, from an IP
with a browser."""

from __future__ import annotations

import pytest

from compliance.aml import aml_rule_version_add
from compliance.models import AmlAlert, AmlRuleKind
from crm.events import dispatch_pending
from plumbing.context import ActorContext, acting
from tests.compliance.aml_support import rule, run
from tests.monitoring.abuse_world import partner, person
from tests.monitoring.abuse_world import world as abuse_world

pytestmark = pytest.mark.django_db

K = AmlRuleKind
PASSWORD = "Partner-pass-1!"  # noqa: S105 - test password


def world():
    from crm.models import RoleCode
    from tests.factories import make_user

    w = abuse_world()
    w.officer = make_user(role_code=RoleCode.COMPLIANCE, brand=w.brand, full_name="Officer One")
    return w


def shared(w, **parameters):
    return rule(w, K.SHARED_INSTRUMENTS, **{"min_clients": 2, "days": 30, "max_clients_per_ip": 5,
                                            "max_clients_per_device": 5, **parameters})


def test_a_household_of_two_clients_on_one_ip_fires_at_the_threshold_and_not_one_under_it():
    w = world()
    r = shared(w, min_clients=3, signals=["ips"])
    first = person(w, ip="198.51.100.7", ua="ua-kitchen-laptop")
    second = person(w, ip="198.51.100.7", ua="ua-phone")
    assert run(w) == []  # two clients on the IP, the rule asks for three
    v2 = aml_rule_version_add(rule=r, parameters={**r.versions.get().parameters, "min_clients": 2}, actor=w.officer)
    [alert] = run(w)
    assert (alert.client_id, alert.rule_version_id, alert.transaction_ids) == (second.pk, v2.pk, [])
    assert alert.facts["pattern"] == "ip" and alert.facts["value"] == "198.51.100.7"
    assert alert.facts["other_clients"] == [first.pk] and alert.facts["clients"] == 2
    assert alert.summary == f"IP 198.51.100.7 used by 2 clients within 30 days (with clients {first.pk})"
    assert run(w) == []  # the same facts found again raise nothing


def test_a_public_network_seen_for_more_clients_than_the_cap_fires_nothing_and_at_the_cap_it_does():
    w = world()
    r = shared(w, signals=["ips"], max_clients_per_ip=3)
    cafe = [person(w, ip="192.0.2.50", ua=f"ua-cafe-{n}") for n in range(4)]
    home = [person(w, ip="198.51.100.8", ua=f"ua-home-{n}") for n in range(2)]
    alerts = run(w)
    assert [(a.client_id, a.facts["value"]) for a in alerts] == [(home[1].pk, "198.51.100.8")]
    # The cap raised to four: the café's four clients are within it, and each after the first fires.
    aml_rule_version_add(rule=r, parameters={**r.versions.get().parameters, "max_clients_per_ip": 4},
                         actor=w.officer)
    alerts = run(w)
    assert sorted(a.client_id for a in alerts) == [c.pk for c in cafe[1:]]
    assert {a.facts["clients"] for a in alerts} == {2, 3, 4}


def test_one_device_on_two_networks_fires_as_a_device_and_ips_are_left_alone_when_not_asked():
    w = world()
    shared(w, signals=["devices"])
    first = person(w, ip="198.51.100.9", ua="Mozilla/5.0 (X11; Linux) Firefox/131 build-77")
    second = person(w, ip="203.0.113.77", ua="Mozilla/5.0 (X11; Linux) Firefox/131 build-77")
    person(w, ip="203.0.113.77", ua="ua-someone-else")  # shares the IP only: not looked at
    [alert] = run(w)
    assert (alert.client_id, alert.facts["pattern"], alert.facts["other_clients"]) == (
        second.pk, "device", [first.pk])
    assert alert.summary.startswith('device "Mozilla/5.0 (X11; Linux) Firefox/131 build-77" used by 2 clients')


def test_a_version_without_the_new_parameters_compares_instruments_only():
    w = world()
    r = rule(w, K.SHARED_INSTRUMENTS, min_clients=2, days=30)
    assert r.versions.get().parameters["signals"] == ["instruments"]
    person(w, ip="198.51.100.10", ua="ua-same")
    person(w, ip="198.51.100.10", ua="ua-same")
    assert run(w) == []


def _partner_signs_in(w, p, *, ip, ua):
    from ib.services import partner_login_check, partner_login_set_password

    login = partner_login_set_password(partner=p, password=PASSWORD)
    with acting(ActorContext(ip=ip, user_agent=ua, source="web")):
        partner_login_check(brand=w.brand, email=login.email, password=PASSWORD, ip=ip)


def _referred(w, code, *, ip, ua):
    client = person(w, ip=ip, ua=ua, referrer=code)
    dispatch_pending()  # the attribution follows the registration's event
    return client


def test_a_partner_on_its_own_clients_device_fires_naming_the_partner_and_a_stranger_does_not():
    w = world()
    shared(w, signals=["partner"])
    p, code = partner(w)
    other, other_code = partner(w, "Other")
    _partner_signs_in(w, p, ip="203.0.113.9", ua="ua-partner-laptop")
    alias = _referred(w, code, ip="198.51.100.20", ua="ua-partner-laptop")  # the partner's device, at home
    honest = _referred(w, code, ip="198.51.100.21", ua="ua-honest")
    stranger = _referred(w, other_code, ip="198.51.100.22", ua="ua-partner-laptop")  # not the partner's client
    person(w, ip="203.0.113.9", ua="ua-walk-in")  # the partner's IP, attributed to nobody
    alerts = run(w)
    assert [a.client_id for a in alerts] == [alias.pk]
    facts = alerts[0].facts
    assert (facts["pattern"], facts["partner"], facts["shared"]) == (
        "partner", p.pk, [{"via": "device", "value": "ua-partner-laptop"}])
    assert alerts[0].summary == (f'signed in from the device "ua-partner-laptop" of partner {str(p.code)[:8]}, '
                                 "to whom the client is attributed")
    assert honest.pk and stranger.pk
    assert not AmlAlert.objects.filter(client__in=[honest, stranger]).exists()
    assert run(w) == []



def test_clients_registering_from_one_machine_or_a_private_network_share_no_ip_but_a_public_address_does():
    """Testing from one machine: every client registers from the loopback (or a private network's) address,
    which says nothing about who they are; the same public address still fires, and so does a shared browser."""
    w = world()
    shared(w, signals=["ips", "devices", "partner"])
    p, code = partner(w)
    _partner_signs_in(w, p, ip="127.0.0.1", ua="ua-partner-desk")
    person(w, ip="127.0.0.1", ua="ua-tester-1")
    _referred(w, code, ip="127.0.0.1", ua="ua-tester-2")
    for address in ("192.168.1.20", "fd12:3456::7"):  # a home router's LAN, an IPv6 unique-local network
        person(w, ip=address, ua=f"ua-{address}-1")
        person(w, ip=address, ua=f"ua-{address}-2")
    assert run(w) == []
    first = person(w, ip="198.51.100.30", ua="ua-flat-a")
    second = person(w, ip="198.51.100.30", ua="ua-flat-b")
    third = person(w, ip="127.0.0.1", ua="ua-flat-b")  # the second's browser, from the machine
    alerts = run(w)
    assert sorted((a.client_id, a.facts["pattern"], a.facts["value"]) for a in alerts) == [
        (second.pk, "ip", "198.51.100.30"), (third.pk, "device", "ua-flat-b")]
    assert alerts[0].facts["other_clients"] in ([first.pk], [second.pk])
