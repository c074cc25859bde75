"""Moving in KYC verifications with their documents, closed deals, and finding an imported client by
the old system's id: the example export of docs/moving-in.md (examples/moving_in) with a rejected
verification and its reason, a document file missing, a document that is no PNG, JPEG or PDF, and a
deal on two lines."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.urls import reverse

from crm.models import Client
from integrations.models import ImportedRef
from integrations.moving_in.folder import Folder
from integrations.moving_in.importer import ImportReport, crm_import
from kyc.models import Document, KycStatusChange, Submission
from tests.factories import make_brand, make_user
from tests.integrations.export_builder import SERVER
from trading.models import Deal
from trading.services import platform_server_save

pytestmark = pytest.mark.django_db

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "moving_in"
TYPES = {"standard": {"label": "Standard", "group": "real\\standard", "leverages": [100], "currency": "EUR"}}


@pytest.fixture
def world(db: Any) -> Any:
    from types import SimpleNamespace

    brand = make_brand(code="acme")
    admin = make_user(role_code="admin", email="admin@acme.example.com")
    server = platform_server_save(actor=None, manager_password="x-secret-1", brand=brand, name=SERVER,
                                  kind="mt5_web", is_active=True, host="127.0.0.1", port=1, manager_login=1000,
                                  account_types=TYPES)
    return SimpleNamespace(brand=brand, admin=admin, server=server)


@pytest.fixture
def export(tmp_path: Path) -> Path:
    """A copy of the example export (a test may add the missing file to it)."""
    return Path(shutil.copytree(EXAMPLE, tmp_path / "export"))


def run(world: Any, path: Path, **options: Any) -> ImportReport:
    return crm_import(folder=Folder(path), brand=world.brand, actor=world.admin, **options)


def stored_files() -> int:
    """The documents in KYC's file store (each with its key file beside it, not counted)."""
    root = Path(settings.KYC_STORAGE_DIR)
    return sum(1 for path in root.rglob("*") if path.is_file() and path.suffix != ".key") if root.exists() else 0


def every_file() -> int:
    root = Path(settings.KYC_STORAGE_DIR)
    return sum(1 for path in root.rglob("*") if path.is_file()) if root.exists() else 0


def rows_now() -> dict[str, int]:
    return {"submissions": Submission.objects.count(), "documents": Document.objects.count(),
            "status_changes": KycStatusChange.objects.count(), "deals": Deal.objects.count(),
            "refs": ImportedRef.objects.count(), "files": stored_files()}


def problems_of(report: ImportReport, *files: str) -> dict[tuple[str, int, str], str]:
    return {(p.file, p.line, p.column): p.problem for p in report.problems if p.file in files}


def alice() -> Client:
    return Client.objects.get(code=ImportedRef.objects.get(kind="client", old_id="C0001").object_code)


def test_the_dry_run_names_each_bad_document_and_deal_and_stores_no_file(world: Any, export: Path) -> None:
    before, files = rows_now(), every_file()

    report = run(world, export, dry_run=True)

    assert rows_now() == before and every_file() == files  # nothing in the database, no file in KYC's store
    problems = problems_of(report, "kyc.csv", "kyc_documents.csv", "deals.csv")
    assert set(problems) == {("kyc_documents.csv", 5, "file"), ("kyc.csv", 4, ""),
                             ("kyc_documents.csv", 6, "file"), ("kyc.csv", 5, ""), ("deals.csv", 4, "deal")}
    wrong_type = problems[("kyc_documents.csv", 5, "file")]
    assert wrong_type.startswith("documents/C0002-utility-bill.pdf: ") and "PNG, JPEG or PDF" in wrong_type
    assert problems[("kyc_documents.csv", 6, "file")] == "documents/C0003-passport.png: no such file in the export folder."
    assert "kyc_documents.csv (line 6)" in problems[("kyc.csv", 5, "")]
    assert "5000102 is also on line 3" in problems[("deals.csv", 4, "deal")]
    assert report.counts["kyc"] == {"created": 2, "failed": 2}
    assert report.counts["kyc_documents"] == {"created": 3, "failed": 2}
    assert report.counts["deals"] == {"created": 2, "failed": 1}


def test_the_run_imports_the_decisions_documents_and_deals_and_a_second_run_changes_nothing(
        world: Any, export: Path) -> None:
    files_before = stored_files()

    report = run(world, export)

    assert report.counts["kyc"] == {"created": 2, "failed": 2}
    assert stored_files() == files_before + 3  # the rejected one's passport, the approved one's two files
    client = alice()
    rejected, approved = Submission.objects.filter(client=client).order_by("submitted_at")
    assert (rejected.status, rejected.reason) == ("rejected", "The passport photo is cut off")
    assert rejected.reviewer is not None and rejected.reviewer.email == "mia.manager@old.example.com"
    assert approved.status == "approved"
    assert sorted(approved.documents.values_list("kind", flat=True)) == ["bank_statement", "passport"]
    assert client.kyc_profile.status == "approved" and client.verified_at is not None
    moves = list(client.kyc_profile.status_changes.order_by("at", "id").values_list("to_status", flat=True))
    assert moves == ["pending", "rejected", "pending", "approved"]
    assert approved.decided_at is not None and approved.decided_at.year == 2025 and client.kyc_profile.verified_at == approved.decided_at
    assert not Submission.objects.filter(client__brand=world.brand).exclude(client=client).exists()
    deals = dict(Deal.objects.filter(server=world.server).values_list("deal_id", "profit"))
    assert set(deals) == {5000101, 5000102} and deals[5000102] == 250
    assert report.counts["deals"] == {"created": 2, "failed": 1}
    after_first = rows_now()

    again = run(world, export)

    assert rows_now() == after_first
    assert again.counts["kyc"] == {"unchanged": 2, "failed": 2}
    assert again.counts["deals"] == {"unchanged": 2, "failed": 1}


def test_a_later_export_with_the_missing_file_imports_that_verification_alone(world: Any, export: Path) -> None:
    run(world, export)
    before = rows_now()
    shutil.copy(export / "documents" / "C0001-passport.png", export / "documents" / "C0003-passport.png")

    report = run(world, export)

    assert report.counts["kyc"] == {"created": 1, "unchanged": 2, "failed": 1}
    assert rows_now()["submissions"] == before["submissions"] + 1
    assert stored_files() == before["files"] + 1
    chloe = Client.objects.get(code=ImportedRef.objects.get(kind="client", old_id="C0003").object_code)
    assert chloe.kyc_profile.status == "approved"


def test_a_rejection_without_its_reason_is_a_bad_row(world: Any, export: Path) -> None:
    text = (export / "kyc.csv").read_text().replace("The passport photo is cut off", "")
    (export / "kyc.csv").write_text(text)

    report = run(world, export, dry_run=True)

    assert "needs its reason" in problems_of(report, "kyc.csv")[("kyc.csv", 2, "reason")]


def test_staff_find_the_imported_client_by_the_old_id_in_the_search(
        world: Any, export: Path, client: Any, login_verified: Any) -> None:
    run(world, export)
    login_verified(client, world.admin)

    for typed in ("C0001", "c0001", "K-1001"):
        page = client.get("/search/", {"q": typed}).content.decode()
        assert reverse("client_detail", args=[alice().code]) in page and "Alice Archer" in page, typed
        assert "Old id" in page
    assert "No clients match" in client.get("/search/", {"q": "C9999"}).content.decode()

    outsider = make_user(role_code="sales_agent", brand=world.brand)  # not the owner: not in their book
    login_verified(client, outsider)
    page = client.get("/search/", {"q": "C0001"}).content.decode()
    assert "Alice Archer" not in page and "No clients match" in page


def test_compliance_reads_the_imported_rejection_and_opens_its_document(
        world: Any, export: Path, client: Any, login_verified: Any) -> None:
    run(world, export)
    rejected = Submission.objects.get(client=alice(), status="rejected")
    login_verified(client, world.admin)

    page = client.get(reverse("kyc_submission", args=[rejected.code])).content.decode()
    opened = client.get(reverse("kyc_document", args=[rejected.documents.get().code]))

    assert "The passport photo is cut off" in page
    assert opened.status_code == 200
    assert b"".join(opened.streaming_content if opened.streaming else [opened.content]) == (
        export / "documents" / "C0001-passport.png").read_bytes()
