"""wallet.selectors.clients_sharing_payout_destinations, which compliance cases read: other clients paid
out to a destination this client used, and not those paid elsewhere."""

from __future__ import annotations

import uuid

import pytest

from crm.lib.money import Money
from tests.factories import make_client
from tests.wallet.withdrawal_support import CARD, build_world, deposit, kyc_approve
from wallet.selectors import clients_sharing_payout_destinations
from wallet.services import withdrawal_request

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _kyc_storage(settings, tmp_path):
    settings.KYC_STORAGE_DIR = tmp_path / "kyc-private"


def funded(world, name: str):
    client = make_client(brand=world.brand, email=f"{name}-{uuid.uuid4().hex[:6]}@example.com", country="GB",
                         stage="registered")
    kyc_approve(client)
    deposit(client, "500.00", provider=world.provider.code)
    return client


def test_clients_paid_out_to_the_same_card_are_found_and_others_not():
    world = build_world()
    twin, stranger = funded(world, "twin"), funded(world, "stranger")
    for who, card in ((world.client, CARD), (twin, CARD), (stranger, {"card": "5555555555554444"})):
        withdrawal_request(client=who, amount=Money("50", "USD"), method=world.card, destination=card)
    found = clients_sharing_payout_destinations(client=world.client)
    assert [client_id for client_id, _ in found] == [twin.pk]
    assert "4242" in found[0][1] and "4242424242424242" not in found[0][1]  # masked
    assert clients_sharing_payout_destinations(client=funded(world, "new")) == []
