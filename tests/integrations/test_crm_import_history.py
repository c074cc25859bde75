"""Moving in keeps the history's times (issue 64 §1): an imported note is dated when it was written,
by its author, marked "imported"; the old marketing consent is a consent decision (source "import",
dated); a second run of the same folder changes nothing."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from crm.models import Event, Note
from crm.selectors import client_list
from integrations.moving_in.folder import Folder
from integrations.moving_in.importer import ImportReport, crm_import
from marketing.consent import consent_history
from tests.factories import make_brand, make_desk, make_user
from tests.integrations.export_builder import DESK, SERVER
from trading.services import platform_server_save

pytestmark = pytest.mark.django_db

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "moving_in"
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


def run(world: Any, path: Path, **options: Any) -> ImportReport:
    return crm_import(folder=Folder(path), brand=world.brand, actor=world.admin, send_links=False, **options)


def counts_of(report: ImportReport) -> dict[str, int]:
    return {f"{kind}": sum(c.values()) for kind, c in report.counts.items()}


def test_an_imported_note_shows_its_original_time_and_author_and_says_imported(
        world: Any, tmp_path: Path, client: Any, login_verified: Any) -> None:
    export = shutil.copytree(EXAMPLE, tmp_path / "export")

    run(world, export)

    alice = client_list(user=world.admin, tag="old:oldcrm:C0001")[0]
    note = Note.objects.get(client=alice)
    written = datetime(2025, 2, 4, 10, 0, tzinfo=UTC)  # 04/02/2025 10:00 in London (GMT in February)
    assert note.created_at == written
    assert note.author is not None and note.author.email == "anna.agent@old.example.com"
    assert note.body.startswith("[Imported from oldcrm: written 2025-02-04 10:00 UTC by anna.agent@old.example.com]")
    # The timeline has it where it happened, not at the import.
    event = Event.objects.get(client=alice, name="note.added")
    assert event.occurred_at == written
    login_verified(client, world.admin)
    page = client.get(f"/clients/{alice.code}/?tab=notes").content.decode()
    assert "Anna Agent" in page and "Imported from oldcrm" in page
    assert 'datetime="2025-02-04T10:00:00' in page


def test_the_old_marketing_consent_is_a_dated_consent_decision_from_the_import(world: Any, tmp_path: Path) -> None:
    export = shutil.copytree(EXAMPLE, tmp_path / "export")

    run(world, export)

    alice = client_list(user=world.admin, tag="old:oldcrm:C0001")[0]  # Newsletter: yes
    [decision] = consent_history(client=alice)
    assert decision.given and decision.channel == "email" and decision.source == "import"
    assert decision.at == datetime(2025, 2, 3, 9, 15, tzinfo=UTC)  # registered then
    bruno = client_list(user=world.admin, tag="old:oldcrm:C0002")[0]  # Newsletter: no
    assert consent_history(client=bruno) == []


def test_a_second_run_of_the_same_folder_changes_nothing(world: Any, tmp_path: Path) -> None:
    export = shutil.copytree(EXAMPLE, tmp_path / "export")
    first = run(world, export)
    notes, events = Note.objects.count(), Event.objects.count()

    again = run(world, export)

    assert counts_of(again) == counts_of(first)
    assert not any(c.get("created") or c.get("updated") for c in again.counts.values())
    assert (Note.objects.count(), Event.objects.count()) == (notes, events)


def _wire_for_withdrawals(brand: Any) -> None:
    from decimal import Decimal

    from wallet.services import CurrencyRule, payment_method_save, payment_provider_save

    wire = payment_provider_save(code="wire-movein", name="Bank wire", kind="bank_wire", settings={
        "beneficiary": "Broker Ltd", "iban": "CY17002001280000001200527600", "bic": "BCYPCY2N", "bank_name": "Bank"})
    payment_method_save(brand=brand, method="bank_wire", direction="withdrawal", provider=wire, order=30,
                        currencies=[CurrencyRule("USD", Decimal("100"), None, Decimal("15.00"))])


def test_a_withdrawal_pending_at_the_cut_over_waits_in_finances_queue_with_its_old_reference(
        world: Any, tmp_path: Path) -> None:
    from decimal import Decimal

    from integrations.models import ImportedRef
    from wallet.selectors import withdrawal_queue_for_user

    export = shutil.copytree(EXAMPLE, tmp_path / "export")
    (export / "withdrawals.csv").write_text(
        "old_ref,Client ID,amount,Currency,method,destination,requested_at\n"
        "WD-77,C0001,500.00,USD,bank_wire,GB82 WEST 1234 5698 7654 32,27/11/2026 10:00\n"
        "WD-78,C0001,100.00,USD,card,4242424242424242,27/11/2026 11:00\n", encoding="utf-8")
    _wire_for_withdrawals(world.brand)

    report = run(world, export)

    assert report.counts["withdrawals"] == {"created": 1, "failed": 1}
    assert [(p.file, p.line, p.column) for p in report.problems if p.file == "withdrawals.csv"] == [
        ("withdrawals.csv", 3, "method")]
    ref = ImportedRef.objects.get(kind="withdrawal", old_id="WD-77")
    [waiting] = withdrawal_queue_for_user(user=world.admin)
    assert str(waiting.code) == ref.object_code
    assert waiting.amount == Decimal("500.00") and waiting.currency == "USD" and waiting.state == "requested"
    assert run(world, export).counts["withdrawals"] == {"unchanged": 1, "failed": 1}
    assert withdrawal_queue_for_user(user=world.admin).count() == 1
