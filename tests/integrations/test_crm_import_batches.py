"""Moving in a chunk at a time (integrations.moving_in.importer.CHUNK): notes, calls and the money's
history are written per chunk through the owning apps' bulk services. A row the bulk service refuses
is reported on its own and the rest of its chunk is imported; a run that stops half-way and is run
again ends where one clean run ends."""

from __future__ import annotations

import csv
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from crm.models import AuditLog, Client, Note
from integrations.models import ImportedRef
from integrations.moving_in import importer
from integrations.moving_in.folder import Folder
from integrations.moving_in.importer import ImportReport, crm_import
from leads.models import Call
from marketing.selectors import marketing_email_consent
from tests.factories import make_brand, make_desk, make_user
from tests.integrations.export_builder import AGENTS, DESK, SERVER, build_export
from trading.services import platform_server_save
from wallet.ledger import wallet_balances_for_client
from wallet.models import LedgerTransaction
from wallet.services import ledger_post_many

pytestmark = pytest.mark.django_db

TYPES = {"standard": {"label": "Standard", "group": "real\\standard", "leverages": [100], "currency": "EUR"}}


@pytest.fixture
def world(db: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    from types import SimpleNamespace

    monkeypatch.setattr(importer, "CHUNK", 10)  # a 30-client export is then several chunks of each kind
    brand = make_brand(code="acme")
    make_desk(brand=brand, name=DESK)
    admin = make_user(role_code="admin", email="admin@acme.example.com")
    platform_server_save(actor=None, manager_password="x-secret-1", brand=brand, name=SERVER, kind="mt5_web",
                         is_active=True, host="127.0.0.1", port=1, manager_login=1000, account_types=TYPES)
    return SimpleNamespace(brand=brand, admin=admin)


def run(world: Any, path: Path, **options: Any) -> ImportReport:
    return crm_import(folder=Folder(path), brand=world.brand, actor=world.admin, money="history", **options)


def append(path: Path, *rows: list[object]) -> int:
    """Append rows to a CSV file of the export; the line of the first one."""
    with path.open(encoding="utf-8") as stream:
        line = sum(1 for _ in stream) + 1
    with path.open("a", encoding="utf-8", newline="") as stream:
        csv.writer(stream).writerows(rows)
    return line


def insert(path: Path, at: int, row: list[object]) -> int:
    """Put `row` in the middle of a CSV file: as its `at`-th data row; its line."""
    with path.open(encoding="utf-8", newline="") as stream:
        rows = list(csv.reader(stream))
    rows.insert(at, [str(cell) for cell in row])
    with path.open("w", encoding="utf-8", newline="") as stream:
        csv.writer(stream).writerows(rows)
    return at + 1


def state() -> dict[str, Any]:
    """What the import wrote, counted, and every wallet's balance by the client's old id."""
    wallets = {}
    for ref in ImportedRef.objects.filter(kind="client"):
        client = Client.objects.get(code=ref.object_code)
        for wallet in wallet_balances_for_client(client):
            wallets[(ref.old_id, wallet.balance.currency)] = wallet.balance.amount
    return {"notes": Note.objects.count(), "calls": Call.objects.count(),
            "postings": LedgerTransaction.objects.count(), "refs": ImportedRef.objects.count(), "wallets": wallets}


def test_a_row_the_bulk_service_refuses_in_the_middle_of_a_chunk_is_reported_and_the_rest_imported(
        world: Any, tmp_path: Path) -> None:
    export = build_export(tmp_path / "export", n=30, bad=False)
    # A note too long for a note, and a withdrawal larger than the wallet holds at its time: each
    # passes the row's own checks, and only the service refuses it, in the middle of its chunk.
    long_line = insert(export.path / "notes.csv", 5, ["N-long", "C0005", AGENTS[0], "02/01/2025 10:00", "x" * 20_001])
    # The transactions are posted in time order: this one comes before every deposit of C0002.
    tx_line = insert(export.path / "transactions.csv", 7,
                     ["W-too-much", "C0002", "withdrawal", "5000", "USD", "01/01/2020 10:00"])

    report = run(world, export.path)

    assert {(p.file, p.line, p.column) for p in report.problems} == {
        ("notes.csv", long_line, "text"), ("transactions.csv", tx_line, "")}
    words = {p.file: p.problem for p in report.problems}
    assert "at most 20000 characters" in words["notes.csv"] and "Insufficient funds" in words["transactions.csv"]
    assert report.counts["notes"] == {"created": export.notes, "failed": 1}
    assert report.counts["transactions"]["failed"] == 1
    assert Note.objects.count() == export.notes
    assert not Note.objects.filter(body__contains="x" * 100).exists()
    # Every other row of the two chunks went in: each wallet is what the old system says.
    assert state()["wallets"] == export.balances
    assert not report.differences


def test_the_history_is_audited_a_chunk_at_a_time_and_keeps_its_times_and_authors(world: Any, tmp_path: Path) -> None:
    export = build_export(tmp_path / "export", n=30, bad=False)

    run(world, export.path)

    chunks = AuditLog.objects.filter(action="note.add_many")
    assert chunks.count() == -(-export.notes // 10)  # one audit row per chunk of ten notes
    listed = {code for row in chunks for code in (row.after or {})["notes"]}
    assert listed == {str(code) for code in Note.objects.values_list("code", flat=True)}
    client = Client.objects.get(code=ImportedRef.objects.get(kind="client", old_id="C0004").object_code)
    note = Note.objects.get(client=client)
    assert note.author is not None and note.author.email == AGENTS[0]
    assert note.created_at.year < 2026 or note.created_at < note.updated_at
    assert note.history.filter(history_type="+").count() == 1
    call = Call.objects.get(client=client)
    assert call.agent is not None and call.agent.email == AGENTS[0] and call.notes.startswith("[Imported from oldcrm]")


class MachineDown(Exception):  # noqa: N818 (the power cut of the test, not an error of the code)
    pass


def test_a_run_that_stops_half_way_and_is_run_again_ends_as_one_clean_run(
        world: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    export = build_export(tmp_path / "export", n=30, bad=False)
    append(export.path / "notes.csv", ["N-extra", "C0003", AGENTS[1], "03/01/2025 10:00", "A second note."])
    clean = run(world, export.path, dry_run=True)  # what one clean run imports: every count, every problem
    posted = 0
    real_post_many = ledger_post_many

    def post_then_stop(postings: Any) -> Any:
        nonlocal posted
        posted += 1
        if posted == 3:  # the machine goes down while the money's third chunk is being written
            raise MachineDown
        return real_post_many(postings)

    monkeypatch.setattr("integrations.moving_in.importer.ledger_post_many", post_then_stop)
    with pytest.raises(MachineDown):
        run(world, export.path)
    monkeypatch.setattr("integrations.moving_in.importer.ledger_post_many", real_post_many)
    stopped = state()
    assert 0 < stopped["postings"] < clean.counts["transactions"]["created"]  # two chunks of ten were committed

    again = run(world, export.path)

    assert again.problems == clean.problems == []
    assert again.counts["transactions"] == {"unchanged": 20, "created": clean.counts["transactions"]["created"] - 20}
    assert again.counts["notes"] == {"unchanged": clean.counts["notes"]["created"]}
    after = state()
    assert after["notes"] == clean.counts["notes"]["created"] and after["calls"] == clean.counts["calls"]["created"]
    assert after["postings"] == clean.counts["transactions"]["created"]
    assert after["wallets"] == export.balances and not again.differences
    assert sum(after["wallets"].values(), Decimal(0)) == sum(export.balances.values(), Decimal(0))
    # And a third run finds everything there.
    final = run(world, export.path)
    assert state() == after
    assert set(final.counts["transactions"]) == {"unchanged"}


def test_a_bad_client_row_in_the_middle_of_a_chunk_is_reported_and_the_rest_imported_with_consents_and_old_ids(
        world: Any, tmp_path: Path) -> None:
    export = build_export(tmp_path / "export", n=30, bad=False)
    make_user(role_code="sales_agent", email="outsider@other.example.com")  # an agent of another brand
    clients_csv = export.path / "clients.csv"
    # Columns: id, email, first, last, phone, country, language, registered, status, agent, source, campaign,
    # newsletter. An unknown country (the row's own checks), and an owner who does not work for the brand
    # (only crm's creation refuses it, and with it the whole chunk, which then goes in row by row).
    atlantis = insert(clients_csv, 4, ["C0901", "c901@mail.example.com", "Ann", "Atl", "", "Atlantis", "en",
                                       "01/02/2024 10:00", "New", AGENTS[0], "google", "x", "yes"])
    foreign = insert(clients_csv, 16, ["C0902", "c902@mail.example.com", "Ben", "Out", "", "UK", "en",
                                       "01/02/2024 10:00", "New", "outsider@other.example.com", "google", "x", "yes"])

    report = run(world, export.path)

    assert {(p.file, p.line, p.column) for p in report.problems} == {
        ("clients.csv", atlantis, "country"), ("clients.csv", foreign, "owner")}
    assert "does not work for the client's brand" in next(p.problem for p in report.problems if p.line == foreign)
    assert report.counts["clients"] == {"created": 30, "failed": 2}
    assert not ImportedRef.objects.filter(kind="client", old_id__in=["C0901", "C0902"]).exists()
    assert Client.objects.filter(brand=world.brand).count() == 30
    now = timezone.now()
    for i in range(1, 31):
        old_id = f"C{i:04d}"
        client = Client.objects.get(code=ImportedRef.objects.get(kind="client", old_id=old_id).object_code)
        assert f"old:oldcrm:{old_id.lower()}" in client.tags
        assert client.stage == ("lead", "registered")[i % 2] or (i % 6 == 0 and client.stage == "verified")
        assert client.created_at < now - timedelta(days=90)  # registered in the old system, not today
        assert client.owner is not None and client.owner.email == AGENTS[i % 2]
        assert marketing_email_consent(client=client) is bool(i % 3), old_id
    assert set(run(world, export.path).counts["clients"]) == {"unchanged", "failed"}
