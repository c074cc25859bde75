"""Moving in from another CRM (integrations.moving_in): a generated export of 200 clients with one bad
row of each kind, imported as a dry run, for real, again, and as a later export with changes."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.core import mail
from django.core.management import call_command

from crm.models import AuditLog, Client, Event, Note, Task, User
from crm.selectors import client_list
from integrations.models import ImportedRef
from integrations.moving_in.folder import Folder
from integrations.moving_in.importer import ImportReport, crm_import
from leads.models import Call
from tests.factories import make_brand, make_desk, make_user
from tests.integrations.export_builder import AGENTS, DESK, SERVER, build_export
from trading.models import TradingAccount
from trading.services import platform_server_save
from wallet.ledger import wallet_balances_for_client
from wallet.models import LedgerTransaction

pytestmark = pytest.mark.django_db

TYPES = {"standard": {"label": "Standard", "group": "real\\standard", "leverages": [100], "currency": "EUR"}}


@pytest.fixture
def world(db: Any) -> Any:
    from types import SimpleNamespace

    brand = make_brand(code="acme")
    make_desk(brand=brand, name=DESK)
    admin = make_user(role_code="admin", email="admin@acme.example.com")
    platform_server_save(actor=None, manager_password="x-secret-1", brand=brand, name=SERVER, kind="mt5_web",
                         is_active=True, host="127.0.0.1", port=1, manager_login=1000, account_types=TYPES)
    return SimpleNamespace(brand=brand, admin=admin)


def rows_now() -> dict[str, int]:
    """What an import writes, counted."""
    return {"clients": Client.objects.count(), "staff": User.objects.count(), "notes": Note.objects.count(),
            "tasks": Task.objects.count(), "calls": Call.objects.count(), "accounts": TradingAccount.objects.count(),
            "postings": LedgerTransaction.objects.count(), "refs": ImportedRef.objects.count(),
            "events": Event.objects.count(), "audit": AuditLog.objects.count()}


def run(world: Any, path: Path, **options: Any) -> ImportReport:
    return crm_import(folder=Folder(path), brand=world.brand, actor=world.admin, **options)


def problem_places(report: ImportReport) -> set[tuple[str, int, str]]:
    return {(p.file, p.line, p.column) for p in report.problems}


def wallets_by_old_id(report: ImportReport) -> dict[tuple[str, str], Decimal]:
    out = {}
    for ref in ImportedRef.objects.filter(kind="client", source=report.source):
        client = Client.objects.get(code=ref.object_code)
        for wallet in wallet_balances_for_client(client):
            out[(ref.old_id, wallet.balance.currency)] = wallet.balance.amount
    return out


def test_a_dry_run_writes_nothing_and_reports_each_bad_row_in_words(world: Any, tmp_path: Path) -> None:
    export = build_export(tmp_path / "export")
    before = rows_now()

    report = run(world, export.path, dry_run=True)

    assert rows_now() == before
    assert problem_places(report) == set(export.bad)
    words = {(p.file, p.column): p.problem for p in report.problems}
    assert "ISO country code" in words[("clients.csv", "country")]
    assert "client12@mail.example.com" in words[("clients.csv", "email")]
    assert "“2024-13-45” is not a date" in words[("clients.csv", "created_at")]
    assert "No client with the old id C9999" in words[("notes.csv", "client_old_id")]
    assert "negative" in words[("balances.csv", "balance")]
    # Everything else would have been imported: the dry run went through the services too.
    assert report.counts["clients"]["created"] == export.good_clients
    assert report.counts["notes"]["created"] == export.notes
    assert not report.links and not mail.outbox


def test_the_real_run_imports_the_good_rows_reconciles_money_and_a_second_run_changes_nothing(
        world: Any, tmp_path: Path, django_capture_on_commit_callbacks: Any) -> None:
    export = build_export(tmp_path / "export")

    with django_capture_on_commit_callbacks(execute=True):
        report = run(world, export.path)

    assert problem_places(report) == set(export.bad)
    assert report.counts["clients"] == {"created": export.good_clients, "failed": 3}
    assert report.counts["staff"]["created"] == 3
    assert report.counts["notes"] == {"created": export.notes, "failed": 1}
    assert report.counts["accounts"]["created"] == 20
    # Approvals of the old system's KYC: the client is verified, as of then.
    assert report.counts["kyc"] == {"created": export.approved}
    approved = client_list(user=world.admin, tag="old:oldcrm:C0006")[0]
    assert approved.stage == "verified" and approved.verified_at is not None
    assert Client.objects.filter(brand=world.brand).count() == export.good_clients
    # Staff have no password: each gets a set-password link, by mail and in the report.
    assert {email for email, _ in report.links} == {*AGENTS, "mia.manager@old.example.com"}
    assert {m.to[0] for m in mail.outbox} >= set(AGENTS)
    assert not User.objects.get(email=AGENTS[0]).has_usable_password()

    # The old id stays with the client, kept as the import's reference and searchable as a tag.
    agent = User.objects.get(email=AGENTS[1])
    found = client_list(user=world.admin, tag="old:oldcrm:C0001")
    assert [c.email for c in found] == ["client1@mail.example.com"]
    client = found[0]
    assert client.owner == agent and client.country == "DE" and client.stage == "registered"
    assert client.created_at.year < 2026 or client.created_at.date() < client.updated_at.date()
    note = Note.objects.get(client=client)
    assert note.author == agent and note.body.startswith("[Imported from oldcrm: written ")

    # Money: one posting per client and currency; every wallet equals the old balance, to the cent.
    assert wallets_by_old_id(report) == export.balances
    assert not report.differences
    totals = report.totals()
    assert totals["USD"][0] == totals["USD"][1] == sum(v for (_, c), v in export.balances.items() if c == "USD")

    before = rows_now()
    again = run(world, export.path)
    assert rows_now() == before
    assert again.counts["clients"] == {"unchanged": export.good_clients, "failed": 3}
    assert again.counts["balances"]["unchanged"] == len(export.balances)
    assert again.counts["kyc"] == {"unchanged": export.approved}
    assert problem_places(again) == set(export.bad)


def test_a_later_export_updates_only_what_changed_and_adds_the_new_rows(world: Any, tmp_path: Path) -> None:
    export = build_export(tmp_path / "first", n=30, bad=False)
    run(world, export.path)
    postings = LedgerTransaction.objects.count()
    notes = Note.objects.count()

    delta = build_export(tmp_path / "delta", n=33, bad=False, changes={
        "C0001": {"E-mail": "new.address@mail.example.com"},
        "C0002": {"Agent": AGENTS[1]},  # was AGENTS[0]
        "C0003": {"balance": "5000.00"},
    })
    report = run(world, delta.path)

    assert not report.problems
    assert report.counts["clients"] == {"unchanged": 28, "updated": 2, "created": 3}
    assert report.counts["notes"] == {"unchanged": 30, "created": 3}
    assert report.counts["balances"]["updated"] == 1
    assert Note.objects.count() == notes + 3
    # Three new clients' opening balances (one has EUR too? no: C0031..C0033) and one correction.
    assert LedgerTransaction.objects.count() == postings + 3 + 1
    client = client_list(user=world.admin, tag="old:oldcrm:C0001")[0]
    assert client.email == "new.address@mail.example.com"
    assert client_list(user=world.admin, tag="old:oldcrm:C0002")[0].owner == User.objects.get(email=AGENTS[1])
    assert wallets_by_old_id(report) == delta.balances
    assert not report.differences


def test_the_history_posts_every_old_transaction_and_reconciles_with_the_balances(world: Any, tmp_path: Path) -> None:
    export = build_export(tmp_path / "export", n=30, bad=False)

    report = run(world, export.path, money="history")

    assert report.counts["transactions"]["created"] == 30 * 2 + 3
    assert wallets_by_old_id(report) == export.balances
    assert report.reconciliation and not report.differences
    before = LedgerTransaction.objects.count()
    assert run(world, export.path, money="history").counts["transactions"]["unchanged"] == 63
    assert LedgerTransaction.objects.count() == before


def test_the_command_dry_run_prints_the_summary_and_writes_the_error_report(world: Any, tmp_path: Path,
                                                                           capsys: Any) -> None:
    export = build_export(tmp_path / "export", n=25)
    before = rows_now()

    call_command("crm_import", str(export.path), "--dry-run", "--brand", "acme", "--report-dir",
                 str(tmp_path / "out"))

    assert rows_now() == before
    out = capsys.readouterr().out
    assert "Dry run (nothing was written)" in out and "bad rows: 5" in out
    errors = (tmp_path / "out" / "errors.csv").read_text(encoding="utf-8").splitlines()
    assert errors[0] == "file,line,column,problem" and len(errors) == 6


def test_the_example_folder_of_the_docs_imports_with_its_bad_rows_reported(world: Any) -> None:
    folder = Path(__file__).resolve().parents[2] / "examples" / "moving_in"

    report = run(world, folder, dry_run=True)

    assert [(p.file, p.line, p.column) for p in report.problems] == [
        ("clients.csv", 5, "country"), ("clients.csv", 6, "email"), ("clients.csv", 7, "created_at"),
        # two verifications refused for their documents: a file that is no PDF, a file missing
        ("kyc.csv", 4, ""), ("kyc.csv", 5, ""), ("kyc_documents.csv", 5, "file"), ("kyc_documents.csv", 6, "file"),
        ("deals.csv", 4, "deal"),  # a deal on two lines
        ("notes.csv", 4, "client_old_id"), ("balances.csv", 5, "balance")]  # in the order of the run
    assert report.counts["clients"]["created"] == 3 and report.counts["accounts"]["created"] == 1


def _zip_of(folder: Path) -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(folder.iterdir()):
            archive.write(path, f"export/{path.name}")
    return buffer.getvalue()


def test_the_move_in_page_is_for_administrators_only(world: Any, client: Any, login_verified: Any) -> None:
    from crm.models import RoleCode

    url = "/admin-tools/moving-in/"
    assert client.get(url).status_code == 302  # to the login page
    for role in [r for r in RoleCode.values if r != RoleCode.ADMIN]:
        user = make_user(role_code=role, brand=world.brand)
        login_verified(client, user)
        assert client.get(url).status_code == 404, role
        assert client.post(url, {"brand": "acme", "money": "opening"}).status_code == 404, role
    login_verified(client, world.admin)
    assert client.get(url).status_code == 200


def test_an_administrator_uploads_an_export_reads_the_dry_runs_report_and_runs_it(
        world: Any, client: Any, login_verified: Any, tmp_path: Path) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from crm.jobs import job_execute
    from crm.models import Job

    export = build_export(tmp_path / "export", n=25)
    login_verified(client, world.admin)
    upload = SimpleUploadedFile("oldcrm.zip", _zip_of(export.path), content_type="application/zip")
    before = rows_now()

    answer = client.post("/admin-tools/moving-in/", {"brand": "acme", "money": "opening", "dry_run": "on",
                                                     "upload": upload})

    assert answer.status_code == 302
    dry = Job.objects.get(kind="integrations.crm_import")
    assert job_execute(dry.pk) == "done"
    dry.refresh_from_db()
    assert dry.counts["bad_rows"] == 5 and dry.counts["clients_created"] == 22
    report = dry.result_file.read().decode()
    assert "2024-13-45" in report and "bad row,notes.csv" in report
    assert rows_now()["clients"] == before["clients"]
    progress = client.get(f"/jobs/{dry.code}/").content.decode()
    assert "Bad rows" in progress and "Clients created" in progress

    page = client.get("/admin-tools/moving-in/")
    assert "Run it for real" in page.content.decode()
    answer = client.post(f"/admin-tools/moving-in/jobs/{dry.code}/run/")
    run_job = Job.objects.exclude(pk=dry.pk).get(kind="integrations.crm_import")
    assert answer.status_code == 302 and answer["Location"].endswith(f"{run_job.code}/")
    assert job_execute(run_job.pk) == "done"
    run_job.refresh_from_db()
    assert run_job.counts["clients_created"] == 22 and run_job.counts["differences"] == 0
    assert run_job.done == run_job.total and run_job.total > 0
    assert Client.objects.filter(brand=world.brand).count() == 22


def test_the_partner_programme_of_ib_json_comes_in_the_same_pass_and_once(world: Any, tmp_path: Path) -> None:
    import json

    export = build_export(tmp_path / "export", n=10, bad=False)
    programme = json.loads((Path(__file__).resolve().parents[2] / "ib" / "examples" / "three_level.json").read_text())
    programme["brand"], programme["server"] = "acme", SERVER
    (export.path / "ib.json").write_text(json.dumps(programme), encoding="utf-8")

    first = run(world, export.path)
    again = run(world, export.path)

    assert not first.problems and first.counts["partners"]["partners"] == 3
    # ib_import's own idempotency: the partners are found again (its reference tables count as re-read).
    assert not again.problems and again.counts["partners"]["partners"] == 0
    programme["brand"] = "elsewhere"
    (export.path / "ib.json").write_text(json.dumps(programme), encoding="utf-8")
    refused = run(world, export.path)
    assert [(p.file, p.column) for p in refused.problems] == [("ib.json", "brand")]
