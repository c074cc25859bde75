"""The compliance cases demo: after the screening demo, a confirmed hit's case is in review for the
second compliance officer (Karim Haddad), with a note and a narrative; a second run changes nothing."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from compliance.models import Case
from crm.models import RoleCode
from demo.compliance import SECOND_OFFICER
from tests.factories import make_brand, make_desk, make_user

pytestmark = pytest.mark.django_db


def test_the_demo_leaves_a_case_in_review_for_the_compliance_officer(settings):
    brand = make_brand(code="atlas", name="Atlas Markets")
    make_user(role_code=RoleCode.ADMIN)
    make_user(role_code=RoleCode.SALES_AGENT, desk=make_desk(brand=brand))
    make_user(role_code=RoleCode.COMPLIANCE, brand=brand)
    call_command("compliance_seed_demo", stdout=StringIO())
    out = StringIO()
    call_command("compliance_seed_demo_cases", stdout=out)
    [case] = Case.objects.all()
    assert case.status == "in_review" and case.assignee.email == SECOND_OFFICER[1]
    assert [i.kind for i in case.items.all()] == ["screening_hit"]
    assert case.narrative and case.notes.count() == 1
    assert SECOND_OFFICER[1] in out.getvalue()
    call_command("compliance_seed_demo_cases", stdout=StringIO())
    assert Case.objects.count() == 1
