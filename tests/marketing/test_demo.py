"""The marketing demo (make run): a marketer's login and segments for each demo brand, the first with
its members recorded; loaded once."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from crm.models import RoleCode
from marketing.models import Segment, SegmentSnapshot
from marketing.selectors import segment_count
from tests.compliance.aml_support import ago, deposit
from tests.factories import make_brand, make_client, make_user

pytestmark = pytest.mark.django_db


def test_the_demo_loads_segments_with_live_counts_once_and_prints_the_login():
    make_user(role_code=RoleCode.ADMIN)
    for code, name in (("atlas", "Atlas Markets"), ("nova", "Nova FX")):
        brand = make_brand(code=code, name=name)
        for n in range(4):
            client = make_client(brand=brand, language="en" if n % 2 else "es", stage="registered")
            if n < 3:
                deposit(client, "6000.00", at=ago(days=20))
    out = io.StringIO()
    call_command("marketing_seed_demo", stdout=out)
    assert "LOGIN marketing lina.moreau@demo-broker.example beacon-segment-7261" in out.getvalue()
    assert Segment.objects.count() == 8
    win_back = Segment.objects.get(brand__code="atlas", name__startswith="Funded, no trade")
    assert segment_count(segment=win_back) == 3
    assert SegmentSnapshot.objects.get(segment=win_back).member_count == 3
    assert (
        segment_count(segment=Segment.objects.get(brand__code="nova", name__startswith="Net deposits")) == 3
    )
    again = io.StringIO()
    call_command("marketing_seed_demo", stdout=again)
    assert "already loaded" in again.getvalue() and Segment.objects.count() == 8
    assert "LOGIN marketing" in again.getvalue()
