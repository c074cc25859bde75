"""Jurisdictions: a brand's list loaded from a FATF-style CSV (a malformed file refused whole, naming
the line and the field), a jurisdiction becoming sanctioned restricting its clients (by the job and at
their next sign-in) with the officers sent the list, and registrations from it refused neutrally."""
# ruff: noqa: F811 - pytest fixtures imported from the portal's conftest are redefined as arguments

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from compliance.exceptions import JurisdictionFileRefused
from compliance.models import Jurisdiction
from compliance.selectors import is_sanctioned, restrictions_open
from compliance.services import jurisdiction_set, jurisdictions_enforce, jurisdictions_load, lift_restriction
from crm.exceptions import NotAllowed
from crm.lib.fieldcrypt import keyed_hash
from crm.models import AuditLog, Client, Notification, RoleCode
from tests.factories import make_brand, make_client, make_user
from tests.portal.conftest import eager_celery  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db

GOOD = b"""country,region,status,effective_from,effective_to,note
KP,,call for action,2011-02-25,,countermeasures
"Iran, Islamic Republic of",,sanctioned,2020-02-21,,
UA,UA-43,sanctioned,2014-03-18,,Crimea
Syria,,increased monitoring,2010-02-18,,
NG,,high_risk,2023-02-24,2030-01-01,
"""


def _kinds(client) -> set[str]:
    return {r.kind for r in restrictions_open(client=client)}


def test_a_fatf_style_list_loads_with_names_codes_and_fatf_words():
    brand = make_brand()
    officer = make_user(role_code=RoleCode.COMPLIANCE, brand=brand)
    report = jurisdictions_load(brand=brand, data=GOOD, name="fatf-2026-02.csv", by=officer)
    assert (report.created, report.changed, report.unchanged) == (5, 0, 0)
    rows = {(j.country, j.region): j for j in Jurisdiction.objects.filter(brand=brand)}
    assert rows[("KP", "")].status == "sanctioned"
    assert rows[("IR", "")].status == "sanctioned"
    assert rows[("UA", "UA-43")].status == "sanctioned"
    assert rows[("SY", "")].status == "high_risk"
    assert rows[("NG", "")].effective_to == dt.date(2030, 1, 1)
    assert rows[("KP", "")].source == "fatf-2026-02.csv"
    assert is_sanctioned(brand=brand, country="KP") and not is_sanctioned(brand=brand, country="UA")
    assert AuditLog.objects.filter(action="compliance.jurisdictions_loaded").count() == 1

    again = jurisdictions_load(brand=brand, data=GOOD, name="fatf-2026-02.csv", by=officer)
    assert (again.created, again.changed, again.unchanged) == (0, 0, 5)


@pytest.mark.parametrize(("data", "line", "field", "words"), [
    (b"country,status\nKP,sanctioned\nXX,sanctioned\n", 3, "country", "Line 3, country"),
    (b"country,status\nKP,sanctioned\nIR,dangerous\n", 3, "status", "Line 3, status"),
    (b"country,status,effective_from\nKP,sanctioned,2020-13-01\n", 2, "effective_from", "not a date"),
    (b"country,status,effective_from,effective_to\nKP,sanctioned,2020-01-01,2019-01-01\n", 2, "effective_to",
     "Line 2, effective_to"),
    (b"country,region,status\nUA,RU-43,sanctioned\n", 2, "region", "Line 2, region"),
    (b"country,status\nKP,sanctioned\nKP,allowed\n", 3, "country", "listed again"),
    (b"country,status\nKP,sanctioned,extra\n", 2, "", "has 3 fields"),
    (b"nation,status\nKP,sanctioned\n", 1, "country", "no country column"),
])
def test_a_malformed_file_is_refused_whole_naming_line_and_field(data, line, field, words):
    brand = make_brand()
    jurisdiction_set(brand=brand, country="DE", status="allowed", by=None)
    with pytest.raises(JurisdictionFileRefused) as refused:
        jurisdictions_load(brand=brand, data=data, name="bad.csv", by=None)
    assert (refused.value.line, refused.value.field) == (line, field)
    assert words in refused.value.message
    assert list(Jurisdiction.objects.filter(brand=brand).values_list("country", flat=True)) == ["DE"]


def test_the_command_loads_a_file_and_refuses_a_bad_one(tmp_path):
    brand = make_brand(code="cmd-brand")
    good, bad = tmp_path / "list.csv", tmp_path / "bad.csv"
    good.write_bytes(GOOD)
    bad.write_bytes(b"country,status\nKP,sanctioned\nZZ,sanctioned\n")
    out = io.StringIO()
    call_command("jurisdictions_load", "--brand", "cmd-brand", str(good), stdout=out)
    assert "5 added" in out.getvalue()
    with pytest.raises(CommandError, match="Line 3, country"):
        call_command("jurisdictions_load", "--brand", "cmd-brand", str(bad))
    assert Jurisdiction.objects.filter(brand=brand).count() == 5


def test_the_upload_page_loads_a_file_and_shows_why_a_bad_one_is_refused(client, login_verified):
    brand = make_brand()
    officer = make_user(role_code=RoleCode.COMPLIANCE, brand=brand)
    login_verified(client, officer)
    url = reverse("compliance_jurisdictions_upload", args=[brand.code])
    bad = io.BytesIO(b"country,status\nKP,sanctioned\nIR,nonsense\n")
    bad.name = "bad.csv"
    response = client.post(url, {"file": bad})
    assert response.status_code == 400
    assert "Line 3, status" in response.content.decode()
    assert not Jurisdiction.objects.filter(brand=brand).exists()
    good = io.BytesIO(GOOD)
    good.name = "fatf.csv"
    assert client.post(url, {"file": good}).status_code == 302
    page = client.get(reverse("compliance_jurisdictions") + f"?brand={brand.code}").content.decode()
    assert 'data-country="KP"' in page and 'data-status="sanctioned"' in page


def test_only_compliance_roles_set_jurisdictions(client, login_verified):
    brand = make_brand()
    agent = make_user(role_code=RoleCode.SALES_AGENT, brand=brand)
    finance = make_user(role_code=RoleCode.FINANCE, brand=brand)
    with pytest.raises(NotAllowed):
        jurisdiction_set(brand=brand, country="KP", status="sanctioned", by=agent)
    login_verified(client, finance)
    assert client.get(reverse("compliance_jurisdictions")).status_code == 200  # finance may look
    response = client.post(reverse("compliance_jurisdiction_save", args=[brand.code]),
                           {"country": "KP", "status": "sanctioned"})
    assert response.status_code == 404  # the page does not exist for them
    assert not Jurisdiction.objects.filter(brand=brand).exists()


def test_a_newly_sanctioned_jurisdiction_restricts_its_clients_and_the_officers_get_the_list(
        eager_celery, django_capture_on_commit_callbacks):
    brand = make_brand()
    officer = make_user(role_code=RoleCode.COMPLIANCE, brand=brand)
    other_brand_officer = make_user(role_code=RoleCode.COMPLIANCE, brand=make_brand())
    iranian = make_client(brand=brand, first_name="Dariush", last_name="Karimi", country="IR")
    german = make_client(brand=brand, first_name="Jonas", last_name="Weber", country="DE")
    with django_capture_on_commit_callbacks(execute=True):
        jurisdiction_set(brand=brand, country="IR", status="sanctioned", by=officer)
    assert _kinds(iranian) == {"no_deposit", "no_withdrawal", "no_trading"}
    assert _kinds(german) == set()
    note = Notification.objects.get(user=officer, kind="compliance.jurisdiction_restricted")
    assert "Dariush Karimi" in note.body and str(iranian.code) in note.body
    assert "IR" in note.title
    assert not Notification.objects.filter(user=other_brand_officer).exists()
    # The job a second time restricts nobody new and tells nobody again.
    assert jurisdictions_enforce(brand_id=brand.pk)["restricted"] == 0
    assert Notification.objects.filter(kind="compliance.jurisdiction_restricted").count() == 1


def test_a_status_whose_start_date_comes_is_applied_by_the_scheduled_job(time_machine):
    brand = make_brand()
    officer = make_user(role_code=RoleCode.COMPLIANCE, brand=brand)
    client = make_client(brand=brand, country="MM")
    time_machine.move_to(dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC))
    jurisdiction_set(brand=brand, country="MM", status="sanctioned", by=officer,
                     effective_from=dt.date(2026, 12, 1))
    assert jurisdictions_enforce()["restricted"] == 0
    assert _kinds(client) == set()
    time_machine.move_to(dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC))
    assert jurisdictions_enforce()["restricted"] == 1
    assert _kinds(client) == {"no_deposit", "no_withdrawal", "no_trading"}
    assert Notification.objects.filter(user=officer, kind="compliance.jurisdiction_restricted").exists()


def test_a_restriction_an_officer_lifted_is_not_put_back_by_the_same_status():
    brand = make_brand()
    officer = make_user(role_code=RoleCode.COMPLIANCE, brand=brand)
    client = make_client(brand=brand, country="KP")
    jurisdiction_set(brand=brand, country="KP", status="sanctioned", by=officer)
    jurisdictions_enforce(brand_id=brand.pk)
    for row in restrictions_open(client=client):
        lift_restriction(restriction=row, reason="Lives in Seoul; residence documents checked", by=officer)
    jurisdictions_enforce(brand_id=brand.pk)
    assert _kinds(client) == set()


def test_a_sanctioned_registration_is_refused_in_neutral_words(client):
    from crm.exceptions import ValidationFailed
    from leads.models import Channel
    from leads.services import lead_intake

    brand = make_brand()
    jurisdiction_set(brand=brand, country="KP", status="sanctioned", by=None)
    with pytest.raises(ValidationFailed) as refused:
        lead_intake(brand=brand, data={"first_name": "Ri", "last_name": "Chol", "email": "ri.chol@example.com",
                                       "phone": "+442071838333", "country": "KP", "consent": True},
                    channel=Channel.FORM)
    assert "__all__" in refused.value.fields, refused.value.fields
    message = refused.value.fields["__all__"][0]
    assert "cannot open an account" in message
    assert "sanction" not in message.lower() and "KP" not in message
    assert not Client.objects.filter(email_hash=keyed_hash("ri.chol@example.com", kind="email")).exists()
    # A person of an allowed country is taken in as before.
    lead_intake(brand=brand, data={"first_name": "Anna", "last_name": "Berg", "email": "anna.berg@example.com",
                                   "phone": "+442071838334", "country": "SE", "consent": True}, channel=Channel.FORM)
    assert Client.objects.filter(email_hash=keyed_hash("anna.berg@example.com", kind="email")).exists()


def test_the_demo_loads_jurisdictions_and_restricts_one_client_once():
    brand = make_brand()
    make_user(role_code=RoleCode.COMPLIANCE, brand=brand)
    client = make_client(brand=brand, country="NG", stage="funded")
    out = io.StringIO()
    call_command("compliance_seed_demo_restrictions", stdout=out)
    assert {"KP", "IR", "MM"} <= set(Jurisdiction.objects.filter(brand=brand, status="sanctioned")
                                     .values_list("country", flat=True))
    assert _kinds(client) == {"no_deposit", "no_withdrawal"}
    call_command("compliance_seed_demo_restrictions", stdout=out)
    assert "already has jurisdictions" in out.getvalue()
    assert len(restrictions_open(client=client)) == 2
