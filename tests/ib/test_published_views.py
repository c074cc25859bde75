"""What partners promise other apps' SQL (ib.selectors.PUBLISHED_VIEWS: partners and client
attributions, which monitoring's partner-abuse detectors read). A change of ib that breaks the promise
fails here."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from crm.lib.fieldcrypt import keyed_hash
from ib import selectors
from ib.services import Touch, attribution_apply, partner_create
from ib.settlement import partner_settlement_set
from tests.factories import make_brand, make_client
from tests.published_views import assert_as_declared, view_rows

pytestmark = pytest.mark.django_db


def test_each_view_has_exactly_its_declared_columns_and_types():
    assert [v.name for v in selectors.PUBLISHED_VIEWS] == ["ib_public_partners", "ib_public_attributions"]
    for view in selectors.PUBLISHED_VIEWS:
        assert_as_declared(view)


def test_a_partner_and_its_clients_attribution_show_as_declared():
    brand = make_brand()
    partner = partner_create(actor=None, brand=brand, display_name="Views IB", email="Views@Example.com")
    own = make_client(brand=brand)
    partner_settlement_set(actor=None, partner=partner, schedule="monthly", client=own)
    [row] = view_rows(selectors.PARTNERS_VIEW, "id = %s", [partner.pk])
    assert (row["code"], row["brand_id"], row["status"], row["client_id"]) == (partner.code, brand.pk, "active",
                                                                               own.pk)
    # The address is encrypted: the view publishes its keyed hash (of the address lower-cased).
    assert row["contact_email_hash"] == keyed_hash("views@example.com", kind="email")
    client = make_client(brand=brand)
    at = timezone.now() - dt.timedelta(days=2)
    attribution_apply(client=client, touches=[Touch(partner.pk, "manual", at)], at=at)
    [attribution] = view_rows(selectors.ATTRIBUTIONS_VIEW, "client_id = %s", [client.pk])
    assert (attribution["partner_id"], attribution["effective_from"], attribution["effective_to"]) == (
        partner.pk, at, None)
