"""Data-subject requests (issue 64, section 2): a client asks for a copy of their data in the trader's
room; an officer builds the export (a django-rq job), which holds their name and transactions and none
of compliance's matters about them (an AML alert's text), the withholding recorded on the request for
the officers; the client downloads it, nobody else; the officers' list shows the clock (overdue);
bad input is refused naming the field."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from types import SimpleNamespace
from typing import Any

import django_rq
import pytest
import time_machine
from django.test import Client as Browser
from django.urls import reverse
from django.utils import timezone
from rq import SimpleWorker

from compliance.aml import aml_evaluate, aml_rule_create
from compliance.data_request_models import DataRequestStep, DataSubjectRequest
from compliance.data_requests import (
    data_request_export_start,
    data_request_refuse,
    data_request_submit,
    request_days,
)
from compliance.exceptions import DataRequestRefused
from compliance.models import AmlAlert
from crm.exceptions import NotAllowed, ValidationFailed
from crm.models import AuditLog, Event, Job, RoleCode
from tests.compliance.aml_support import deposit
from tests.factories import make_brand, make_desk, make_user

pytestmark = pytest.mark.django_db
PASSWORD = "tidal-compass-8153"


@pytest.fixture(autouse=True)
def _private_dirs(settings, tmp_path):
    settings.KYC_STORAGE_DIR = tmp_path / "kyc-private"
    settings.COMPLIANCE_DATA_REQUEST_DIR = tmp_path / "data-requests"
    settings.PORTAL_LOGIN_RATE_LIMIT = "1000/m"


@pytest.fixture
def queue():
    q = django_rq.get_queue("default")
    q.empty()
    return q


def _register(brand: Any, **fields: Any) -> Any:
    from portal.models import ConsentDocument, ConsentKind
    from portal.services import portal_email_verify, portal_register, verification_token

    for kind in ConsentKind.values:
        ConsentDocument.objects.get_or_create(brand=brand, kind=kind, version="1", language="en",
                                              defaults={"title": f"{kind} v1"})
    values = {"language": "en", "country": "GB", "password": PASSWORD, "accept_terms": True, "accept_privacy": True,
              "date_of_birth": dt.date(1980, 5, 6), **fields}
    login = portal_register(brand=brand, **values).login
    portal_email_verify(token=verification_token(login))
    return login.client


def _browser(brand: Any, email: str, ip: str) -> Browser:
    browser = Browser(REMOTE_ADDR=ip)
    response = browser.post(reverse("portal:login_brand", args=[brand.code]), {"email": email, "password": PASSWORD})
    assert response.status_code == 302, response.content.decode()[:1000]
    return browser


@pytest.fixture
def world(db, django_capture_on_commit_callbacks):
    brand = make_brand(served_countries=["GB"])
    officer = make_user(role_code=RoleCode.COMPLIANCE, brand=brand, full_name="Data Officer")
    agent = make_user(role_code=RoleCode.SALES_AGENT, desk=make_desk(brand=brand))
    other_officer = make_user(role_code=RoleCode.COMPLIANCE, brand=make_brand(), full_name="Elsewhere Officer")
    with django_capture_on_commit_callbacks(execute=False):
        client = _register(brand, first_name="Marguerite", last_name="Okonkwo", email="marguerite@example.com",
                           phone="+442071838301")
        neighbour = _register(brand, first_name="Omar", last_name="Saleh", email="omar@example.com",
                              phone="+442071838302")
        # An AML alert about the client, raised by the rules over a large deposit (compliance's services).
        aml_rule_create(brand=brand, kind="large_transaction", name="Large transaction",
                        parameters={"amounts": {"USD": "10000"}, "direction": "both"}, actor=officer,
                        effective_from=timezone.now() - dt.timedelta(days=400))
        deposit(client, "12345.67")
        aml_evaluate(since=timezone.now() - dt.timedelta(hours=1), until=timezone.now() + dt.timedelta(seconds=1),
                     brand_id=brand.pk)
    alert = AmlAlert.objects.get(client=client)
    assert alert.summary  # the text that must not reach the client
    return SimpleNamespace(brand=brand, officer=officer, agent=agent, other_officer=other_officer, client=client,
                           neighbour=neighbour, alert=alert)


def _build(world: Any, row: DataSubjectRequest, queue: Any, capture: Any) -> DataSubjectRequest:
    with capture(execute=True):
        data_request_export_start(request=row, actor=world.officer)
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    row.refresh_from_db()
    job = Job.objects.get(pk=row.job_id)
    assert job.status == "done", job.failure_reason
    return row


def test_a_client_asks_in_the_trader_room_and_downloads_their_copy_without_compliances_matters(
        world, queue, django_capture_on_commit_callbacks):
    browser = _browser(world.brand, "marguerite@example.com", "10.7.0.1")
    page = browser.get(reverse("portal:my_data"))
    assert page.status_code == 200 and "Request a copy of my data" in page.content.decode()
    assert "Ask to erase my data" in page.content.decode()
    response = browser.post(reverse("portal:my_data"), {"kind": "access", "details": "Everything, please."})
    assert response.status_code == 302
    row = DataSubjectRequest.objects.get(client=world.client)
    assert (row.kind, row.status, row.channel, row.recorded_by) == ("access", "received", "portal", None)
    assert row.due_at - row.received_at == dt.timedelta(days=request_days()) == dt.timedelta(days=30)
    listed = browser.get(reverse("portal:my_data")).content.decode()
    assert f'data-request="{row.code}"' in listed and "We answer by" in listed and "data-download" not in listed
    # A second click while it is open adds nothing.
    again = browser.post(reverse("portal:my_data"), {"kind": "access"})
    assert again.status_code == 400 and "already open" in again.content.decode()
    assert DataSubjectRequest.objects.filter(client=world.client).count() == 1

    row = _build(world, row, queue, django_capture_on_commit_callbacks)
    assert row.status == "fulfilled" and row.decided_by == world.officer and row.archive_name
    # The withholding is recorded on the request, for the officers: kinds, counts, the ground.
    withheld = {w["kind"]: w for w in row.withheld}
    assert withheld["aml_alerts"]["count"] == 1
    assert withheld["aml_alerts"]["ground"] == "withheld under AML confidentiality"
    assert [s.to_status for s in DataRequestStep.objects.filter(request=row)] == ["received", "in_progress",
                                                                                 "fulfilled"]

    download = browser.get(reverse("portal:my_data_download", args=[row.code]))
    assert download.status_code == 200 and download["Content-Type"] == "application/zip"
    zf = zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content) if download.streaming
                                    else download.content))
    names = set(zf.namelist())
    assert {"index.html", "profile.json", "consents.csv", "wallet_transactions.csv", "kyc_submissions.csv",
            "trading_accounts.csv", "emails.csv", "staff_access.csv", "support_tickets.csv"} <= names
    index = zf.read("index.html").decode()
    assert all(name in index for name in names - {"index.html"})
    profile = json.loads(zf.read("profile.json"))
    assert (profile["first_name"], profile["last_name"], profile["email"]) == (
        "Marguerite", "Okonkwo", "marguerite@example.com")
    assert "12345.67" in zf.read("wallet_transactions.csv").decode()
    everything = b"".join(zf.read(n) for n in names).decode(errors="replace")
    assert world.alert.summary not in everything and str(world.alert.code) not in everything
    assert "large_transaction" not in everything and "AML alert" not in everything
    assert AuditLog.objects.filter(action="compliance.data_request_fulfilled", object_id=str(row.code)).exists()
    fulfilled = Event.objects.get(name="compliance.data_request_fulfilled")
    assert fulfilled.client_id is None and fulfilled.data["client"] == str(world.client.code)

    # Another client's browser: the download does not exist for them; nor for nobody signed in.
    other = _browser(world.brand, "omar@example.com", "10.7.0.2")
    assert other.get(reverse("portal:my_data_download", args=[row.code])).status_code == 404
    assert f'data-request="{row.code}"' not in other.get(reverse("portal:my_data")).content.decode()
    assert Browser().get(reverse("portal:my_data_download", args=[row.code])).status_code == 302  # to the login


def test_bad_input_is_refused_naming_the_field_and_nothing_is_written(world):
    for kind, details, field in (("bogus", "", "kind"), ("", "", "kind"), ("access", "x" * 2001, "details"),
                                 ("erasure", "nul\x00byte", "details")):
        with pytest.raises(ValidationFailed) as bad:
            data_request_submit(client=world.client, kind=kind, details=details)
        assert field in bad.value.fields, (kind, bad.value.fields)
    browser = _browser(world.brand, "marguerite@example.com", "10.7.0.3")
    response = browser.post(reverse("portal:my_data"), {"kind": "delete-everything"})
    assert response.status_code == 400 and 'id="id_kind-error"' in response.content.decode()
    assert not DataSubjectRequest.objects.exists()
    row = data_request_submit(client=world.client, kind="erasure")
    with pytest.raises(ValidationFailed) as bad:
        data_request_refuse(request=row, actor=world.officer, reason="   ")
    assert "reason" in bad.value.fields
    with pytest.raises(NotAllowed):
        data_request_refuse(request=row, actor=world.agent, reason="No")
    with pytest.raises(DataRequestRefused):
        data_request_export_start(request=row, actor=world.officer)  # an erasure is not exported
    with pytest.raises(ValidationFailed) as bad:  # a letter cannot arrive tomorrow
        data_request_submit(client=world.neighbour, kind="access", actor=world.officer,
                            received_at=timezone.now() + dt.timedelta(days=1))
    assert "received_at" in bad.value.fields
    with pytest.raises(NotAllowed):  # the agent may not record one for the client
        data_request_submit(client=world.neighbour, kind="access", actor=world.agent)
    row.refresh_from_db()
    assert row.status == "received"


def test_the_officers_list_shows_the_clock_and_overdue_requests_to_compliance_only(world, login_verified):
    with time_machine.travel(timezone.now() - dt.timedelta(days=35)):
        late = data_request_submit(client=world.client, kind="access")
    soon = data_request_submit(client=world.neighbour, kind="erasure", details="Please forget me",
                               actor=world.officer)
    assert soon.channel == "staff" and soon.recorded_by == world.officer
    http = Browser()
    login_verified(http, world.officer)
    page = http.get(reverse("compliance_data_requests")).content.decode()
    assert f'data-request="{late.code}"' in page and f'data-request="{soon.code}"' in page
    assert page.count("data-overdue") == 1 and "overdue by 5 days" in page
    assert 'data-days-left="29"' in page or 'data-days-left="30"' in page
    erasures = http.get(reverse("compliance_data_requests"), {"kind": "erasure"}).content.decode()
    assert f'data-request="{late.code}"' not in erasures and f'data-request="{soon.code}"' in erasures
    assert http.get(reverse("compliance_data_requests"), {"status": "nonsense"}).status_code == 400
    detail = http.get(reverse("compliance_data_request", args=[late.code])).content.decode()
    assert "data-overdue" in detail and 'data-action="export"' in detail
    # Refusing from the page: without a reason, the field says so; with one, the client reads it.
    refused = http.post(reverse("compliance_data_request_action", args=[soon.code, "refuse"]), {"reason": ""})
    assert refused.status_code == 400 and 'name="reason"' in refused.content.decode()
    assert http.post(reverse("compliance_data_request_action", args=[soon.code, "refuse"]),
                     {"reason": "We must keep the account's records for five years."}).status_code == 302
    soon.refresh_from_db()
    assert soon.status == "refused" and soon.decided_by == world.officer
    # Recording for a client of another brand: the field names it, nothing is written.
    outsider = http.post(reverse("compliance_data_request_record"), {"client": "not-a-code", "kind": "access"})
    assert outsider.status_code == 400 and DataSubjectRequest.objects.count() == 2

    for user in (world.agent, world.other_officer):
        other = Browser()
        login_verified(other, user)
        listed = other.get(reverse("compliance_data_requests"))
        assert listed.status_code == 404 or f'data-request="{late.code}"' not in listed.content.decode()
        assert other.get(reverse("compliance_data_request", args=[late.code])).status_code == 404


def test_an_officer_approves_an_erasure_through_the_erasure_engine_unless_it_is_blocked(world, login_verified):
    clean = data_request_submit(client=world.neighbour, kind="erasure", details="Forget me")
    blocked = data_request_submit(client=world.client, kind="erasure")  # an open AML alert blocks it
    http = Browser()
    login_verified(http, world.officer)
    page = http.get(reverse("compliance_data_request", args=[clean.code])).content.decode()
    assert "data-plan" in page and 'data-action="erase"' in page and 'data-action="export"' not in page
    page = http.get(reverse("compliance_data_request", args=[blocked.code])).content.decode()
    assert "data-blocker" in page and 'data-action="erase"' not in page
    refused = http.post(reverse("compliance_data_request_action", args=[blocked.code, "erase"]))
    assert refused.status_code == 409 and "AML alert" in refused.content.decode()
    blocked.refresh_from_db()
    assert blocked.status == "received" and not blocked.outcome

    assert http.post(reverse("compliance_data_request_action", args=[clean.code, "erase"])).status_code == 302
    clean.refresh_from_db()
    world.neighbour.refresh_from_db()
    assert clean.status == "fulfilled" and clean.decided_by == world.officer
    assert clean.outcome["client"] == str(world.neighbour.code) and clean.outcome["counts"]
    assert world.neighbour.first_name != "Omar"
    assert [s.to_status for s in DataRequestStep.objects.filter(request=clean)] == ["received", "in_progress",
                                                                                   "fulfilled"]
    assert AuditLog.objects.filter(action="compliance.client_erased", object_id=str(world.neighbour.code)).exists()
