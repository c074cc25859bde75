"""The restore drill: the CRM's database and private files backed up while it holds clients, money
and audit history, restored into a fresh PostgreSQL server, where audit_verify and ledger_verify
pass and every table's row count matches the backup; a damaged backup or a non-empty target is
refused, naming the problem."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from crm.lib.money import Money
from crm.lib.private_files import PrivateStore
from plumbing.backup import MANIFEST, params_from_url, read_manifest
from tests.crm.subprocess_env import REPO_ROOT, child_env
from tests.factories import make_client
from wallet.ledger import Leg, clearing_account_for, ledger_post, wallet_account_for

pytestmark = pytest.mark.worker


@pytest.fixture
def fresh_server(tmp_path):
    """A second PostgreSQL server of its own (the embedded kind), with an empty database."""
    pgserver = pytest.importorskip("pgserver")
    server = pgserver.get_server(tmp_path / "pg-restore", cleanup_mode="stop")
    try:
        base = server.get_uri()
        with psycopg.connect(**params_from_url(base), autocommit=True) as conn:
            conn.execute("CREATE DATABASE restored")
        yield base.replace("/postgres?", "/restored?") if "/postgres?" in base else base.rsplit("/", 1)[0] + "/restored"
    finally:
        server.cleanup()


def _history(settings, tmp_path: Path) -> str:
    """Clients, a deposit in the ledger, the audit rows their services write, and a stored file."""
    settings.KYC_STORAGE_DIR = tmp_path / "kyc-docs"
    for _ in range(3):
        client = make_client()
    money = Money("250.00", "USD")
    clearing = clearing_account_for(provider="psp-drill", currency="USD", brand=client.brand_id)
    ledger_post(key=f"drill:{uuid.uuid4()}", kind="deposit", occurred_at=timezone.now(),
                legs=[Leg(clearing, -money), Leg(wallet_account_for(client=client, currency="USD"), money)],
                meta={"method": "card", "provider": "psp-drill"}, ref_kind="deposit", ref_code=str(uuid.uuid4()))
    name = PrivateStore.new_name("pdf")
    PrivateStore(lambda: Path(settings.KYC_STORAGE_DIR)).write(name, b"%PDF-1.4 drill\n")
    return name


def _manage(command: str, database_url: str) -> subprocess.CompletedProcess[str]:
    env = child_env()
    env["DATABASE_URL"] = database_url
    env.pop("DATABASE_OWNER_URL", None)
    return subprocess.run([sys.executable, "manage.py", command], cwd=REPO_ROOT, env=env,  # noqa: S603
                          capture_output=True, text=True, timeout=300, check=False)


def test_a_backup_restores_into_a_fresh_server_and_verifies(transactional_db, settings, tmp_path, fresh_server):
    name = _history(settings, tmp_path)
    out = tmp_path / "backup"
    call_command("backup", out=out)
    manifest = read_manifest(out)
    assert manifest["tables"]["crm_client"] == 3 and manifest["files"] == 2  # the document and its key file
    assert manifest["tables"]["crm_auditlog"] > 0 and manifest["tables"]["wallet_ledgerleg"] >= 2

    files = tmp_path / "restored-files"
    call_command("restore", str(out), database_url=fresh_server, files_root=files)
    # Still encrypted on disk, and opened with the key ring (which is never in a backup).
    assert b"drill" not in (files / "kyc-documents" / name[:2] / name).read_bytes()
    assert PrivateStore(lambda: files / "kyc-documents").read(name) == b"%PDF-1.4 drill\n"
    for command in ("audit_verify", "ledger_verify"):
        result = _manage(command, fresh_server)
        assert result.returncode == 0, f"{command}: {result.stdout}\n{result.stderr}"
    assert "audit chain ok" in _manage("audit_verify", fresh_server).stdout

    # Again into the same (now full) database: refused, nothing touched.
    with pytest.raises(CommandError, match="already has .* tables"):
        call_command("restore", str(out), database_url=fresh_server)


def test_a_damaged_backup_is_refused_before_anything_is_restored(transactional_db, settings, tmp_path):
    _history(settings, tmp_path)
    out = tmp_path / "backup"
    call_command("backup", out=out)
    with (out / "database.dump").open("r+b") as f:
        f.seek(200)
        f.write(b"\x00\x01\x02")
    with pytest.raises(CommandError, match="database.dump does not match its checksum"):
        call_command("restore", str(out), database_url="postgresql://nobody@127.0.0.1:1/none")
    (out / MANIFEST).unlink()
    with pytest.raises(CommandError, match="not a backup"):
        call_command("restore", str(out), database_url="postgresql://nobody@127.0.0.1:1/none")
    with pytest.raises(CommandError, match="is not empty"):
        call_command("backup", out=out)
    assert os.listdir(out)
