"""portal.selectors.sign_ins_for_client and clients_sharing_network, which compliance cases read
(through compliance's hook points): a client's sign-ins with IP and browser, and the other clients
who signed in from the same IP or with the same browser."""

from __future__ import annotations

import pytest

from portal.models import ClientLogin, PortalSession
from portal.selectors import clients_sharing_network, sign_ins_for_client
from tests.factories import make_brand, make_client

pytestmark = pytest.mark.django_db


def signed_in(client, brand, key: str, ip: str | None, agent: str) -> None:
    login = ClientLogin.objects.filter(client=client).first() or ClientLogin.objects.create(
        client=client, brand=brand, email=client.email)
    PortalSession.objects.create(login=login, session_key=key, ip=ip, user_agent=agent)


def test_clients_sharing_an_ip_or_a_browser_are_found_by_what_they_share():
    brand = make_brand()
    me, same_ip, same_browser, other = (make_client(brand=brand, email=f"{n}@example.com")
                                        for n in ("me", "ip", "ua", "other"))
    signed_in(me, brand, "k1", "198.51.100.7", "Safari/18")
    signed_in(me, brand, "k2", None, "")
    signed_in(same_ip, brand, "k3", "198.51.100.7", "Chrome/130")
    signed_in(same_browser, brand, "k4", "192.0.2.1", "Safari/18")
    signed_in(other, brand, "k5", "192.0.2.99", "Edge/130")
    assert sorted(clients_sharing_network(client=me)) == sorted([
        (same_ip.pk, "ip", "198.51.100.7"), (same_browser.pk, "device", "Safari/18")])
    assert [(s.ip, s.user_agent) for s in sign_ins_for_client(client=me)] == [(None, ""), ("198.51.100.7", "Safari/18")]
