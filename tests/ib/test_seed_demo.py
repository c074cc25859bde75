from __future__ import annotations

from io import StringIO

from django.core.management import call_command

from crm.lib.fieldcrypt import keyed_hashes
from ib import selectors
from ib.models import Click, ClientAttribution, Partner
from tests.factories import make_brand, make_client


def _seed() -> str:
    out = StringIO()
    call_command("ib_seed_demo", stdout=out)
    return out.getvalue()


def test_the_demo_tree_is_seeded_once_with_a_partner_login(db):
    brand = make_brand(code="atlas")
    for _ in range(4):
        make_client(brand=brand)
    first = _seed()
    assert "LOGIN ib_partner amir.sayed@partners.demo-broker.example " in first
    master = Partner.objects.get(
        contact_email_hash__in=keyed_hashes("amir.sayed@partners.demo-broker.example", kind="email"))
    assert selectors.partner_subtree(master).count() == 4
    assert max(p.depth for p in Partner.objects.all()) == 2
    assert Click.objects.count() == 20 and ClientAttribution.objects.count() == 4
    again = _seed()
    assert "nothing new" in again and "LOGIN ib_partner" in again
    assert Partner.objects.count() == 4 and Click.objects.count() == 20 and ClientAttribution.objects.count() == 4
