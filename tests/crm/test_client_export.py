"""The client list's export (CSV, XLSX): a background job that writes exactly what the list shows
with its filters, in the caller's scope, CSV-safe, and recorded as an export access event."""

from __future__ import annotations

import csv
import io
from datetime import datetime

import django_rq
import pytest
from django.test import Client as HttpClient
from django.urls import reverse
from openpyxl import load_workbook
from rq import SimpleWorker

from crm.models import AccessEvent, AuditLog, Job, Role, RoleCode, Stage
from crm.staff_services import user_update
from tests.factories import make_brand, make_client, make_desk, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def queue():
    q = django_rq.get_queue("default")
    q.empty()
    return q


def _work(queue) -> None:
    SimpleWorker([queue], connection=queue.connection).work(burst=True)


@pytest.fixture
def floor(db):
    """Two desks of one brand and another brand: whose export may hold whom."""
    brand, other_brand = make_brand(name="Alpha Markets"), make_brand(name="Beta FX")
    manager = make_user(role_code=RoleCode.DESK_MANAGER, brand=brand, full_name="Mona Manager")
    desk = make_desk(brand=brand, name="London", manager=manager)
    other_desk = make_desk(brand=brand, name="Paris")
    agent = make_user(role_code=RoleCode.SALES_AGENT, desk=desk, full_name="Olivia Owner")
    stranger = make_user(role_code=RoleCode.SALES_AGENT, desk=other_desk, full_name="Pierre Paris")
    away = make_user(role_code=RoleCode.SALES_AGENT, desk=make_desk(brand=other_brand), full_name="Away Agent")
    ours = [
        make_client(actor=agent, first_name="=HYPERLINK(\"http://evil\")", last_name="Alves", stage=Stage.FUNDED,
                    email="bruno@example.com", phone="+442071838750", country="PT", tags=["whale"]),
        make_client(actor=agent, first_name="Chen", last_name="Zhao", stage=Stage.FUNDED, country="SG"),
        make_client(actor=agent, first_name="Dana", last_name="Meyer", stage=Stage.LEAD, country="DE"),
    ]
    make_client(actor=stranger, first_name="Pia", last_name="Otherdesk", stage=Stage.FUNDED, country="FR")
    make_client(actor=away, first_name="Abe", last_name="Otherbrand", stage=Stage.FUNDED, country="AE")
    return {"brand": brand, "manager": manager, "agent": agent, "stranger": stranger, "ours": ours}


def _http(user, login_verified=None) -> HttpClient:
    http = HttpClient()
    if login_verified is not None:
        login_verified(http, user)
    else:
        http.force_login(user)
    return http


def _export(http, capture, *, fmt: str, query: str = ""):
    with capture(execute=True):
        return http.post(reverse("client_export") + (f"?{query}" if query else ""), {"format": fmt})


def _csv_rows(job: Job) -> list[dict[str, str]]:
    with job.result_file.open("rb") as f:
        return list(csv.DictReader(io.StringIO(f.read().decode())))


def test_a_desk_managers_csv_holds_their_desks_filtered_clients_only(floor, queue, django_capture_on_commit_callbacks):
    http = _http(floor["manager"])
    response = _export(http, django_capture_on_commit_callbacks, fmt="csv", query="stage=funded&sort=name")
    job = Job.objects.get(kind="crm.client_export")
    assert response.status_code == 302 and response["Location"] == reverse("job_detail", args=[job.code])
    _work(queue)
    job.refresh_from_db()
    assert job.status == "done" and job.result_rows == 2 and job.result_name.endswith(".csv")
    rows = _csv_rows(job)
    # Funded clients of the manager's desk, by name: not the other desk's nor the other brand's.
    assert [r["last_name"] for r in rows] == ["Alves", "Zhao"]
    first = rows[0]
    assert first["first_name"] == "'=HYPERLINK(\"http://evil\")"  # neutralised: a spreadsheet shows text
    # Contact details masked as the list shows them; a leading "+" is a formula start to a spreadsheet.
    assert first["email_masked"] == "b***@example.com" and first["phone_masked"] == "'+44*******750"
    assert first["owner"] == "Olivia Owner" and first["desk"] == "London" and first["tags"] == "whale"
    assert first["code"] == str(floor["ours"][0].code)
    datetime.fromisoformat(first["created_at"])

    event = AccessEvent.objects.get(kind="export")
    assert event.user == floor["manager"] and event.rows == 2
    assert event.detail == "client list export (csv): stage=funded"
    assert AuditLog.objects.filter(action="client.export_requested", actor=floor["manager"]).exists()


def test_the_xlsx_opens_with_the_rows_the_list_shows(floor, queue, django_capture_on_commit_callbacks, login_verified):
    officer = make_user(role_code=RoleCode.COMPLIANCE, brand=floor["brand"])  # the whole brand, one brand only
    http = _http(officer, login_verified)
    _export(http, django_capture_on_commit_callbacks, fmt="xlsx", query="country=pt")
    _work(queue)
    job = Job.objects.get(kind="crm.client_export")
    assert job.status == "done" and job.result_name.endswith(".xlsx")
    with job.result_file.open("rb") as f:
        sheet = load_workbook(io.BytesIO(f.read()), read_only=True).active
        rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert rows[0][:4] == ["code", "first_name", "last_name", "stage"]
    assert len(rows) == 2
    header = rows[0]
    row = dict(zip(header, rows[1], strict=True))
    assert row["last_name"] == "Alves" and row["country"] == "PT"
    assert row["first_name"] == "'=HYPERLINK(\"http://evil\")"  # text, never a formula
    assert isinstance(row["created_at"], datetime)  # a real date cell
    download = http.get(reverse("job_download", args=[job.code]))
    assert download.status_code == 200 and "spreadsheetml" in download["Content-Type"]
    assert AccessEvent.objects.get(kind="export").rows == 1


def test_the_export_leaves_out_a_bad_filter_as_the_list_does(floor, queue, django_capture_on_commit_callbacks):
    http = _http(floor["manager"])
    _export(http, django_capture_on_commit_callbacks, fmt="csv", query="stage=funded&country=Portugal")
    _work(queue)
    job = Job.objects.get(kind="crm.client_export")
    assert job.kwargs["filters"] == {"stage": "funded"}
    assert sorted(r["last_name"] for r in _csv_rows(job)) == ["Alves", "Zhao"]


def test_agents_see_no_export_button_and_cannot_export(floor, django_capture_on_commit_callbacks):
    http = _http(floor["agent"])
    page = http.get(reverse("client_list")).content.decode()
    assert reverse("client_export") not in page
    response = _export(http, django_capture_on_commit_callbacks, fmt="csv")
    assert response.status_code == 403
    assert not Job.objects.exists() and not AccessEvent.objects.filter(kind="export").exists()

    manager_page = _http(floor["manager"]).get(reverse("client_list"), {"stage": "funded"}).content.decode()
    assert f'action="{reverse("client_export")}?stage=funded"' in manager_page
    assert 'value="xlsx"' in manager_page


def test_an_unknown_format_starts_nothing_and_says_why(floor, django_capture_on_commit_callbacks):
    http = _http(floor["manager"])
    response = _export(http, django_capture_on_commit_callbacks, fmt="pdf", query="stage=funded")
    assert response.status_code == 302 and response["Location"] == reverse("client_list") + "?stage=funded"
    assert "Choose CSV or XLSX." in http.get(response["Location"]).content.decode()
    assert not Job.objects.exists()


def test_a_manager_who_lost_the_permission_before_the_job_ran_gets_no_file(
        floor, queue, django_capture_on_commit_callbacks):
    http = _http(floor["manager"])
    _export(http, django_capture_on_commit_callbacks, fmt="csv")
    admin = make_user(role_code=RoleCode.ADMIN)
    user_update(actor=admin, user=floor["manager"], role=Role.objects.get(code=RoleCode.SALES_AGENT),
                reason="moved to sales")
    _work(queue)
    job = Job.objects.get(kind="crm.client_export")
    assert job.status == "failed" and "not allowed to export" in job.failure_reason
    assert not job.result_file and not AccessEvent.objects.filter(kind="export").exists()
