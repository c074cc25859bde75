"""The dealer's server choices: servers of several brands named alike each show once, with their brand."""

# ruff: noqa: F811 - pytest fixtures imported from crm_fixtures are redefined as test arguments
from __future__ import annotations

import re

from django.urls import reverse

from tests.factories import make_brand, make_user
from tests.trading.crm_fixtures import make_server, world  # noqa: F401 - fixtures


def _server_options(html: str) -> list[str]:
    select = re.search(r'<select name="server"[^>]*>(.*?)</select>', html, re.S)
    assert select, html
    return re.findall(r'<option value="[0-9a-f-]{36}"[^>]*>([^<]*)</option>', select.group(1))


def test_an_all_brands_dealer_tells_alike_named_servers_apart_by_brand(world, client):
    other = make_brand(name="Zeta Markets")
    make_server(world.sim, other, name=world.server.name)
    dealer = make_user(role_code="dealer", all_brands=True)
    client.force_login(dealer)
    for name in ("trading_deal_list", "trading_exposure"):
        options = _server_options(client.get(reverse(name)).content.decode())
        assert len(options) == len(set(options)) == 2, options
        assert f"{world.server.name} (Zeta Markets)" in options
        assert f"{world.server.name} ({world.server.brand.name})" in options


def test_a_dealer_of_one_brand_sees_server_names_alone(world, client):
    client.force_login(world.dealer)
    assert _server_options(client.get(reverse("trading_deal_list")).content.decode()) == [world.server.name]
