"""The client's address for the per-address limits (sign-in lockouts, the lead form, partner
applications): the connection's own, or what the configured reverse proxy says it is
(CRM_TRUSTED_PROXIES), never what a client writes into X-Forwarded-For itself."""

from __future__ import annotations

import pytest
from django.test import Client as HttpClient
from django.test import RequestFactory
from django.urls import reverse

from crm.lib.middleware import client_ip
from crm.models import RoleCode
from tests.factories import make_user

PASSWORD = "Quiet-harbour-lantern-42"  # noqa: S105 - a test password
PROXY = "10.0.0.2"


def ip_of(remote: str, forwarded: str | None = None) -> str | None:
    meta = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
    return client_ip(RequestFactory().get("/", **meta))


def test_without_trusted_proxies_the_header_is_ignored(settings):
    settings.CRM_TRUSTED_PROXIES = []
    assert ip_of("203.0.113.7", "198.51.100.1") == "203.0.113.7"


@pytest.mark.parametrize(("remote", "forwarded", "client"), [
    (PROXY, "203.0.113.7", "203.0.113.7"),  # the proxy names the client
    (PROXY, "6.6.6.6, 203.0.113.7", "203.0.113.7"),  # what the client wrote itself is left of it
    (PROXY, "203.0.113.7, 10.0.0.9", "203.0.113.7"),  # a second proxy of ours in the chain
    (PROXY, "", PROXY),  # nothing forwarded: the proxy's own request
    (PROXY, "junk, not-an-ip", PROXY),  # a hop no proxy writes: the last address believed
    (PROXY, "6.6.6.6, junk, 203.0.113.7", "203.0.113.7"),
    ("::ffff:10.0.0.2", "2001:db8::7", "2001:db8::7"),  # an IPv4-mapped peer is the same proxy
    ("203.0.113.50", "198.51.100.1", "203.0.113.50"),  # not our proxy: its header is anybody's
])
def test_the_header_is_read_from_the_right_and_only_from_a_trusted_proxy(settings, remote, forwarded, client):
    settings.CRM_TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert ip_of(remote, forwarded) == client


@pytest.mark.django_db
def test_behind_the_proxy_one_clients_lockout_does_not_lock_out_the_others(settings):
    """Every sign-in used to come from the proxy's address: five wrong passwords from anywhere locked
    the account out for everybody behind it."""
    settings.CRM_TRUSTED_PROXIES = [PROXY]
    agent = make_user(role_code=RoleCode.SALES_AGENT, password=PASSWORD)
    attacker = HttpClient(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="203.0.113.66")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        attacker.post(reverse("login"), {"username": agent.email, "password": "Not-the-right-one-99"})
    assert attacker.post(reverse("login"), {"username": agent.email, "password": PASSWORD}).status_code == 429
    # A client that writes its own header does not escape its lockout...
    spoofing = HttpClient(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="198.51.100.9, 203.0.113.66")
    assert spoofing.post(reverse("login"), {"username": agent.email, "password": PASSWORD}).status_code == 429
    # ... and the agent, from their own address behind the same proxy, signs in.
    agent_http = HttpClient(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="198.51.100.4")
    assert agent_http.post(reverse("login"), {"username": agent.email, "password": PASSWORD}).status_code == 302
