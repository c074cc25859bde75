"""kyc.selectors.clients_sharing_address, which compliance cases read: clients living at the same
address (first line, postcode, country, written differently) are found; a neighbour is not."""

from __future__ import annotations

import pytest

from kyc.selectors import clients_sharing_address
from kyc.services import kyc_profile_save
from tests.factories import make_brand, make_client

pytestmark = pytest.mark.django_db


def test_clients_at_the_same_address_written_differently_are_found():
    brand = make_brand()
    me, flatmate, neighbour, nowhere = (make_client(brand=brand, email=f"{n}@example.com")
                                        for n in ("me", "flat", "next", "none"))
    kyc_profile_save(client=me, actor=None, address_line1="1 High Street", city="London", postcode="SW1A 1AA",
                     country="GB")
    kyc_profile_save(client=flatmate, actor=None, address_line1="1, high street.", city="London",
                     postcode="sw1a1aa", country="GB")
    kyc_profile_save(client=neighbour, actor=None, address_line1="3 High Street", city="London", postcode="SW1A 1AA",
                     country="GB")
    [(found, where)] = clients_sharing_address(client=me)
    assert found == flatmate.pk and where.endswith(", GB")
    assert clients_sharing_address(client=nowhere) == []
