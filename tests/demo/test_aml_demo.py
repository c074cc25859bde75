"""The AML demo: each brand's rules, and demo deposit patterns that the real rules turn into alerts; a
second run changes nothing."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from compliance.models import AmlAlert, AmlRule, AmlRuleKind
from crm.models import RoleCode
from tests.factories import make_brand, make_client, make_user

pytestmark = pytest.mark.django_db


def test_the_demo_raises_alerts_through_the_rules_once():
    brand = make_brand(code="atlas", name="Atlas Markets")
    make_user(role_code=RoleCode.COMPLIANCE, brand=brand)
    for n in range(5):
        make_client(brand=brand, stage="funded", email=f"aml{n}@example.com", country="NG" if n == 2 else "GB")
    out = StringIO()
    call_command("compliance_seed_demo_aml", stdout=out)
    assert AmlRule.objects.filter(brand=brand).count() == len(AmlRuleKind.values)  # one per kind of rule
    kinds = set(AmlAlert.objects.filter(brand=brand).values_list("rule__kind", flat=True))
    assert {"structuring", "large_transaction", "third_party_funding", "shared_instruments"} <= kinds, out.getvalue()
    count = AmlAlert.objects.count()
    call_command("compliance_seed_demo_aml", stdout=StringIO())
    assert AmlAlert.objects.count() == count and AmlRule.objects.count() == len(AmlRuleKind.values)
