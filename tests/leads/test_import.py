"""Spreadsheet imports: upload, mapping guessed from headers, dry-run preview, the background job (a
real RQ worker), progress, and the per-row error report."""

from __future__ import annotations

import csv
import io
import subprocess
import sys

import django_rq
import pytest
from django.test import Client as HttpClient
from django.urls import reverse
from openpyxl import Workbook
from rq import SimpleWorker

from crm.exceptions import NotAllowed, ValidationFailed
from crm.lib.fieldcrypt import keyed_hash
from crm.models import AccessEvent, Client
from leads.imports import (
    guess_mapping,
    lead_import_create,
    lead_import_preview,
    lead_import_set_mapping,
    lead_import_start,
)
from leads.models import Channel, ImportStatus, LeadImport, LeadTouch
from leads.services import lead_intake
from tests.crm.subprocess_env import REPO_ROOT, child_env
from tests.factories import make_brand
from tests.leads.conftest import lead_data
from tests.waiting import scaled
from tests.writes import written

HEADERS = ["First Name", "Surname", "E-mail", "Mobile", "Country", "utm_source", "Notes"]
ROWS = [
    ["Ana", "Silva", "ana@example.com", "+351912345678", "PT", "fb", "x"],
    ["", "Nobody", "nobody@example.com", "+351912345679", "PT", "fb", "missing first name"],
    ["Bo", "Berg", "bo@@example.com", "12", "SE", "fb", "bad email and phone"],
    ["Cy", "Chan", "cy@example.com", "0207 000 0042", "GB", "fb", "national number"],
    ["Ana", "Silva", "ANA@example.com", "+351912345000", "PT", "fb", "same person again"],
    ["Di", "Dee", "known@example.com", "+442070000555", "GB", "fb", "already a client"],
]


def _csv(rows=ROWS, headers=HEADERS, delimiter=",") -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter)
    writer.writerow(headers)
    writer.writerows(rows)
    return buffer.getvalue().encode()


def _xlsx(rows=ROWS, headers=HEADERS) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(headers)
    for row in rows:
        sheet.append(row)
    sheet.append([None] * len(headers))  # an empty row is skipped
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _run(world, upload, capture) -> None:
    """Start the import as its page does and let a real RQ worker (in this process) run it."""
    queue = django_rq.get_queue("default")
    queue.empty()
    with capture(execute=True):
        lead_import_start(actor=world.manager, lead_import=upload)
    assert queue.count == 1
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    upload.refresh_from_db()


@pytest.fixture
def known(world):
    return lead_intake(brand=world.brand, channel=Channel.API, data=lead_data(99, email="known@example.com")).client


def test_headers_are_mapped_by_their_names():
    assert guess_mapping(HEADERS) == {"0": "first_name", "1": "last_name", "2": "email", "3": "phone",
                                      "4": "country", "5": "utm_source"}


@pytest.mark.django_db
@pytest.mark.parametrize("maker", [_csv, _xlsx, lambda: _csv(delimiter=";")])
def test_upload_preview_and_run_through_a_real_rq_worker(world, known, maker, django_capture_on_commit_callbacks):
    upload = lead_import_create(actor=world.manager, brand=world.brand, filename="leads.xlsx" if maker is _xlsx else "leads.csv",
                                content=maker())
    assert upload.total == 6 and upload.status == ImportStatus.UPLOADED
    lead_import_set_mapping(actor=world.manager, lead_import=upload, mapping=upload.mapping, default_source="expo")

    preview = lead_import_preview(lead_import=upload)
    assert [r.status for r in preview.rows] == ["valid", "invalid", "invalid", "valid", "duplicate", "duplicate"]
    assert (preview.valid, preview.invalid, preview.duplicates) == (2, 2, 2)
    assert preview.rows[2].errors == {"email": ["Enter a valid email address."], "phone": ["Enter a valid phone number."]}
    assert Client.objects.count() == 1  # a dry run writes nothing

    _run(world, upload, django_capture_on_commit_callbacks)

    assert upload.status == ImportStatus.DONE and upload.job.status == "done"
    assert (upload.processed, upload.created, upload.duplicates, upload.failed) == (6, 2, 2, 2)
    # The job shows the same counts as the import.
    assert (upload.job.done, upload.job.total) == (6, 6)
    assert upload.job.counts == {"created": 2, "duplicates": 2, "failed": 2}
    assert Client.objects.count() == 3
    touches = LeadTouch.objects.filter(lead_import=upload)
    assert touches.count() == 4 and set(touches.values_list("source", flat=True)) == {"expo"}
    assert LeadTouch.objects.filter(client=known, channel="import").exists()
    errors = {e.row_number: e.errors for e in upload.row_errors.all()}
    assert errors == {3: {"first_name": ["This field is required."]},
                      4: {"email": ["Enter a valid email address."], "phone": ["Enter a valid phone number."]}}


@pytest.mark.django_db
def test_the_error_report_lists_each_bad_row_field_by_field(world, known, login_verified,
                                                           django_capture_on_commit_callbacks):
    upload = lead_import_create(actor=world.manager, brand=world.brand, filename="l.csv",
                                content=_csv(ROWS + [["=HYPERLINK(1)", "X", "x", "", "", "", ""]]))
    lead_import_set_mapping(actor=world.manager, lead_import=upload, mapping=upload.mapping)
    _run(world, upload, django_capture_on_commit_callbacks)
    http = HttpClient()
    http.force_login(world.manager)
    response = http.get(f"/leads/imports/{upload.code}/errors.csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:3] == ["row", "errors", "first_name"]
    assert [r[0] for r in rows[1:]] == ["3", "4", "8"]
    assert rows[2][1] == "email: Enter a valid email address.; phone: Enter a valid phone number."
    assert rows[3][2] == "'=HYPERLINK(1)"  # neutralised for spreadsheet programs
    # Downloading it is an export of what people typed: recorded with its row count.
    event = AccessEvent.objects.get(user=world.manager, kind="export")
    assert event.rows == 3 and "l.csv" in event.detail
    # the progress page shows the counts, and polls only while running
    page = http.get(f"/leads/imports/{upload.code}/").content.decode()
    assert 'data-count="failed">3<' in page and "every 1s" not in page


@pytest.mark.django_db
def test_a_nul_character_in_a_cell_fails_its_row_not_the_import(world, django_capture_on_commit_callbacks):
    rows = [["Ana\x00", "Silva", "ana@example.com", "+351912345678", "PT", "fb", "x"],
            ["Bo", "Berg", "bo@example.com", "+46701234567", "SE", "fb", "a\x00b"]]
    upload = lead_import_create(actor=world.manager, brand=world.brand, filename="l.csv", content=_csv(rows))
    lead_import_set_mapping(actor=world.manager, lead_import=upload, mapping=upload.mapping)
    _run(world, upload, django_capture_on_commit_callbacks)
    assert upload.status == ImportStatus.DONE
    refused = upload.row_errors.get()
    assert refused.row_number == 2 and list(refused.errors) == ["first_name"]
    assert refused.values["first_name"] == "Ana\u2400"  # shown where it was, in the error report
    touch = LeadTouch.objects.get(client__email_hash=keyed_hash("bo@example.com", kind="email"))
    assert "\x00" not in str(touch.payload)


@pytest.mark.django_db
def test_the_mapping_needs_every_required_field_once(world):
    upload = lead_import_create(actor=world.manager, brand=world.brand, filename="l.csv", content=_csv())
    with pytest.raises(ValidationFailed) as caught:
        lead_import_set_mapping(actor=world.manager, lead_import=upload, mapping={"0": "first_name", "1": "first_name"})
    assert "col_1" in caught.value.fields and "__all__" in caught.value.fields


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "content", "message"), [
    ("a.pdf", b"%PDF-1.4", "This file is a PDF file, not a spreadsheet: upload a CSV file or an Excel workbook (.xlsx)."),
    ("a.doc", b"plain words", "Upload a CSV file or an Excel workbook (.xlsx)."),
    ("leads.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
     "This file is a PNG file, not a spreadsheet: upload a CSV file or an Excel workbook (.xlsx)."),
    ("leads.csv", bytes(range(256)) * 4, "This file is not text: upload a CSV file or an Excel workbook (.xlsx)."),
    ("leads.csv", b'first_name,last_name\nAna,Silva\n"Bo,Berg\n' + b"x" * 140_000,
     "Row 3 cannot be read as CSV (field larger than field limit (131072)): check its quotes and line breaks."),
    ("a.csv", b"", "The file is empty."),
    ("a.xlsx", b"PK\x03\x04broken", "This is not a readable Excel workbook (.xlsx)."),
    ("a.csv", b"first_name,last_name\n", "The file has no rows below the header."),
])
def test_unreadable_files_are_refused(world, name, content, message):
    with pytest.raises(ValidationFailed) as caught:
        lead_import_create(actor=world.manager, brand=world.brand, filename=name, content=content)
    assert caught.value.fields["file"] == [message]


@pytest.mark.django_db
def test_agents_cannot_import(world):
    before = written(LeadImport, LeadTouch)
    with pytest.raises(NotAllowed):
        lead_import_create(actor=world.agents[0], brand=world.brand, filename="l.csv", content=_csv())
    http = HttpClient()
    http.force_login(world.agents[0])
    assert http.get("/leads/imports/").status_code == 404
    upload = io.BytesIO(_csv())
    upload.name = "leads.csv"
    assert http.post("/leads/imports/", {"brand": world.brand.pk, "file": upload}).status_code == 404
    assert written(LeadImport, LeadTouch) == before  # no import, no client, no audit entry


@pytest.mark.django_db
def test_the_pages_walk_from_upload_to_a_queued_job(world):
    http = HttpClient()
    http.force_login(world.manager)
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = http.post("/leads/imports/", {"brand": world.brand.pk,
                                             "file": SimpleUploadedFile("leads.csv", _csv(), "text/csv")})
    assert response.status_code == 302, response.content
    upload = LeadImport.objects.get()
    page = http.get(response["Location"]).content.decode()
    assert 'value="first_name" selected' in page
    form = {f"col_{i}": v for i, v in upload.mapping.items()} | {"default_source": "expo"}
    response = http.post(f"/leads/imports/{upload.code}/map/", form)
    assert response.status_code == 302 and response["Location"].endswith("/preview/")
    preview = http.get(response["Location"]).content.decode()
    assert 'data-count="valid">3<' in preview and 'data-count="invalid">2<' in preview
    # Each problem is named by the column's label, as staff know it, not by the field's code name.
    assert "First name: This field is required." in preview and "first_name:" not in preview
    django_rq.get_queue("default").empty()
    response = http.post(f"/leads/imports/{upload.code}/preview/")
    assert response.status_code == 302
    upload.refresh_from_db()
    assert upload.status == ImportStatus.QUEUED and upload.job is not None and upload.job.status == "queued"


@pytest.mark.django_db(transaction=True)
def test_manage_py_rqworker_runs_the_import(world):
    upload = lead_import_create(actor=world.manager, brand=world.brand, filename="l.csv", content=_csv())
    lead_import_set_mapping(actor=world.manager, lead_import=upload, mapping=upload.mapping)
    queue = django_rq.get_queue("default")
    queue.empty()
    lead_import_start(actor=world.manager, lead_import=upload)  # autocommit: the job is queued at once
    assert queue.count == 1
    done = subprocess.run([sys.executable, "manage.py", "rqworker", "default", "--burst"], cwd=REPO_ROOT,
                          env=child_env(), capture_output=True, timeout=scaled(120))
    assert done.returncode == 0, done.stderr[-2000:]
    upload.refresh_from_db()
    assert upload.status == ImportStatus.DONE and (upload.created, upload.duplicates, upload.failed) == (3, 1, 2)


@pytest.mark.django_db
@pytest.mark.parametrize("line_end", ["\r", "\n", "\r\n"], ids=["old-mac", "unix", "windows"])
def test_every_line_ending_reads_the_same_rows(world, line_end):
    content = line_end.join([",".join(HEADERS), *(",".join(row) for row in ROWS[:2])]).encode() + line_end.encode()
    lead_import = lead_import_create(actor=world.manager, brand=world.brand, filename="leads.csv", content=content)
    assert lead_import.total == 2 and lead_import.headers == HEADERS


@pytest.mark.django_db
def test_a_stray_carriage_return_inside_a_cell_stays_in_its_row(world):
    # Unquoted, as spreadsheets paste a cell's line break: this was a 500 ("new-line character seen in
    # unquoted field").
    lines = [",".join(HEADERS), "Ana,Silva,ana@example.com,+351912345678,PT,fb,call\rafter 5pm",
             "Cy,Chan,cy@example.com,0207 000 0042,GB,fb,x"]
    for line_end in ("\r\n", "\n"):
        content = (line_end.join(lines) + line_end).encode()
        lead_import = lead_import_create(actor=world.manager, brand=world.brand, filename="leads.csv", content=content)
        assert lead_import.total == 2
        preview = lead_import_preview(lead_import=lead_import)
        assert preview.valid == 2, preview


@pytest.mark.django_db
def test_a_cancelled_import_stops_between_chunks_and_starts_again_where_it_stopped(
        world, known, monkeypatch, django_capture_on_commit_callbacks, login_verified):
    from crm import jobs
    from crm.models import Job
    from leads import imports, services

    monkeypatch.setattr(imports, "CHUNK_ROWS", 2)
    monkeypatch.setattr(jobs, "CANCEL_CHECK_EVERY_SECONDS", 0.0)
    real_batch = services.lead_intake_batch

    def batch_then_cancel(**kwargs):
        results = real_batch(**kwargs)
        Job.objects.filter(status="running").update(cancel_requested=True)  # as the cancel button does
        return results

    monkeypatch.setattr(services, "lead_intake_batch", batch_then_cancel)
    upload = lead_import_create(actor=world.manager, brand=world.brand, filename="l.csv", content=_csv())
    lead_import_set_mapping(actor=world.manager, lead_import=upload, mapping=upload.mapping)
    _run(world, upload, django_capture_on_commit_callbacks)
    first_job = upload.job
    assert first_job.status == "cancelled" and upload.status == ImportStatus.CANCELLED
    assert upload.processed == 2 and first_job.done == 2  # the first chunk stays written, nothing after it
    http = HttpClient()
    http.force_login(world.manager)
    assert "Start again from the last row written" in http.get(f"/leads/imports/{upload.code}/").content.decode()

    monkeypatch.setattr(services, "lead_intake_batch", real_batch)
    _run(world, upload, django_capture_on_commit_callbacks)
    assert upload.job != first_job and upload.job.status == "done" and upload.status == ImportStatus.DONE
    assert (upload.processed, upload.created, upload.duplicates, upload.failed) == (6, 2, 2, 2)  # no row twice
    assert Client.objects.count() == 3


def test_a_manager_of_one_brand_finds_it_chosen_and_an_administrator_picks(world, client, login_verified):
    make_brand(code="other")
    client.force_login(world.manager)
    html = client.get(reverse("lead_import_list")).content.decode()
    assert f'<option value="{world.brand.pk}" selected>' in html and "Select an option" not in html
    client.logout()
    login_verified(client, world.admin)
    html = client.get(reverse("lead_import_list")).content.decode()
    brands = html.split('name="brand"')[1].split("</select>")[0]
    assert 'value="" selected>' in brands and brands.count("selected>") == 1  # nothing chosen for them
