"""The data-subject requests demo: one access request near its due date on the officers' list and one
fulfilled with its archive ready; a second run changes nothing."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from compliance.data_request_models import DataSubjectRequest
from compliance.selectors import data_request_archive
from crm.models import RoleCode
from tests.factories import make_brand, make_client, make_desk, make_user

pytestmark = pytest.mark.django_db


def test_the_demo_leaves_one_request_near_its_deadline_and_one_fulfilled(settings, tmp_path):
    settings.COMPLIANCE_DATA_REQUEST_DIR = tmp_path / "data-requests"
    brand = make_brand(code="atlas", name="Atlas Markets")
    make_user(role_code=RoleCode.ADMIN)
    make_user(role_code=RoleCode.SALES_AGENT, desk=make_desk(brand=brand))
    make_user(role_code=RoleCode.COMPLIANCE, brand=brand)
    with time_machine.travel(timezone.now() - dt.timedelta(days=60)):  # the demo's clients are older than a month
        for n in range(2):
            make_client(brand=brand, first_name=f"Demo{n}", stage="registered")
    out = StringIO()
    call_command("compliance_seed_demo_cases", stdout=out)
    assert "one open near its due date, one fulfilled" in out.getvalue()
    near = DataSubjectRequest.objects.get(status="received")
    assert 0 < (near.due_at - timezone.now()).days <= 5 and near.channel == "staff"
    done = DataSubjectRequest.objects.get(status="fulfilled")
    assert done.channel == "portal" and data_request_archive(done).startswith(b"PK")
    call_command("compliance_seed_demo_cases", stdout=StringIO())
    assert DataSubjectRequest.objects.count() == 2
