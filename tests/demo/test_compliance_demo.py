"""The compliance demo: a demo watchlist loaded from its files and hits waiting in the screening queue,
with a second compliance officer for the four-eyes decisions; a second run changes nothing."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from compliance.models import ScreeningHit, Watchlist
from crm.models import RoleCode, User
from demo.compliance import DEMO_LIST, SECOND_OFFICER
from tests.factories import make_brand, make_desk, make_user

pytestmark = pytest.mark.django_db


def test_the_demo_loads_a_watchlist_and_leaves_hits_for_the_officers():
    brand = make_brand(code="atlas", name="Atlas Markets")
    make_user(role_code=RoleCode.ADMIN)
    make_user(role_code=RoleCode.SALES_AGENT, desk=make_desk(brand=brand))
    make_user(role_code=RoleCode.COMPLIANCE, brand=brand)
    out = StringIO()
    call_command("compliance_seed_demo", stdout=out)
    assert Watchlist.objects.filter(name=DEMO_LIST).exists()
    waiting = ScreeningHit.objects.filter(status="open", client__brand=brand)
    assert waiting.count() >= 3
    assert {h.trigger for h in waiting} == {"list_update"}
    _, email, password = SECOND_OFFICER
    assert f"LOGIN compliance {email} {password}" in out.getvalue()
    assert User.objects.get(email=email).check_password(password)
    call_command("compliance_seed_demo", stdout=StringIO())
    assert ScreeningHit.objects.count() == waiting.count()
