"""Backups for small installations, and their restore (`manage.py backup`, `manage.py restore`).

A backup is a directory:

    database.dump    pg_dump's custom format of the CRM's database
    files.tar        the private file stores (KYC documents, compliance case files)
    manifest.json    when, from which server, each table's row count, and the SHA-256 of both files

The row counts and the dump read the same snapshot: the counts are taken in a repeatable-read
transaction whose snapshot pg_dump is handed (`--snapshot`), so a restore can be held to them
exactly while the CRM keeps writing. The files are copied after that snapshot: stored files are
never overwritten (crm.lib.private_files, whose file_stores the backup command passes), so every file
a row of the dump names is in the archive (a file added meanwhile is in it too, unreferenced).

A restore goes into an empty database only (it refuses one with tables), checks both checksums
first, restores with pg_restore (`--no-owner --no-privileges`: the target's own roles own it), then
compares every table's row count with the manifest, and unpacks the files into an empty
directory. Then run `audit_verify` and `ledger_verify` against it (the suite's restore drill does).

Larger installations use PostgreSQL's own base backups with WAL archiving (README, Production).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

DUMP, FILES, MANIFEST = "database.dump", "files.tar", "manifest.json"
FORMAT_VERSION = 1


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says why."""


# --- where things are ---------------------------------------------------------------------------

def connection_params(settings_dict: dict[str, Any]) -> dict[str, str]:
    """libpq parameters (for psycopg and the PG tools' environment) from a Django database entry."""
    params = {"dbname": str(settings_dict["NAME"]), "user": str(settings_dict.get("USER") or ""),
              "password": str(settings_dict.get("PASSWORD") or ""), "host": str(settings_dict.get("HOST") or ""),
              "port": str(settings_dict.get("PORT") or "")}
    options = settings_dict.get("OPTIONS") or {}
    for key in ("sslmode", "sslrootcert", "sslcert", "sslkey"):
        if options.get(key):
            params[key] = str(options[key])
    return {k: v for k, v in params.items() if v}


def params_from_url(url: str) -> dict[str, str]:
    """libpq parameters from a postgresql:// URL (a Unix socket directory as ?host=...)."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise BackupError(f"not a PostgreSQL URL: {parts.scheme or '(no scheme)'}://...")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    params = {"dbname": unquote(parts.path.lstrip("/")), "user": unquote(parts.username or ""),
              "password": unquote(parts.password or ""), "host": query.pop("host", "") or (parts.hostname or ""),
              "port": str(parts.port or "")}
    params.update(query)
    if not params["dbname"]:
        raise BackupError("the database URL names no database")
    return {k: v for k, v in params.items() if v}


def pg_env(params: dict[str, str]) -> dict[str, str]:
    """The environment of a PG tool run on `params` (libpq reads its connection from PG* variables)."""
    names = {"dbname": "PGDATABASE", "user": "PGUSER", "password": "PGPASSWORD", "host": "PGHOST", "port": "PGPORT",
             "sslmode": "PGSSLMODE", "sslrootcert": "PGSSLROOTCERT", "sslcert": "PGSSLCERT", "sslkey": "PGSSLKEY"}
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update({names[k]: v for k, v in params.items() if k in names})
    return env


def pg_tool(name: str, *, server_major: int) -> str:
    """The `name` tool (pg_dump, pg_restore) of a PostgreSQL at least as new as the server:
    PG_BIN_DIR, then the embedded server's own, then PATH."""
    candidates: list[Path] = []
    if os.environ.get("PG_BIN_DIR"):
        candidates.append(Path(os.environ["PG_BIN_DIR"]) / name)
    try:
        import pgserver

        candidates.append(Path(pgserver.__file__).parent / "pginstall" / "bin" / name)
    except ImportError:
        pass
    found = shutil.which(name)
    if found:
        candidates.append(Path(found))
    seen: list[str] = []
    for path in candidates:
        if not path.is_file() or not os.access(path, os.X_OK):
            continue
        out = subprocess.run([str(path), "--version"], capture_output=True, text=True, check=False).stdout  # noqa: S603
        match = re.search(r"(\d+)(?:\.\d+)?", out)
        major = int(match.group(1)) if match else 0
        seen.append(f"{path} ({major})")
        if major >= server_major:
            return str(path)
    raise BackupError(f"no {name} of PostgreSQL {server_major} or newer (found: {', '.join(seen) or 'none'}); "
                      f"set PG_BIN_DIR to its bin directory")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


_COUNTED_TABLES = """
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
ORDER BY c.relname
"""


def _row_counts(cursor: Any) -> dict[str, int]:
    from psycopg import sql

    cursor.execute(_COUNTED_TABLES)
    names = [row[0] for row in cursor.fetchall()]
    counts: dict[str, int] = {}
    for name in names:
        cursor.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(name)))
        row = cursor.fetchone()
        counts[name] = int(row[0]) if row else 0
    return counts


# --- backup ----------------------------------------------------------------------------------------

@dataclass
class Backup:
    directory: Path
    manifest: dict[str, Any]


def backup(*, params: dict[str, str], out: Path, stores: Mapping[str, Path]) -> Backup:
    """Write a backup of the database `params` name, and of the file `stores` (each folder by the name it
    has in the archive), into the new directory `out`."""
    import psycopg
    from psycopg.conninfo import make_conninfo

    if out.exists() and any(out.iterdir()):
        raise BackupError(f"{out} is not empty: a backup goes into a new directory")
    out.mkdir(parents=True, exist_ok=True)
    try:
        conn = psycopg.connect(make_conninfo(**params), autocommit=True)
    except psycopg.Error as error:
        raise BackupError(f"cannot connect to the database: {error}") from error
    with conn:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        cursor = conn.cursor()
        cursor.execute("SELECT pg_export_snapshot(), current_setting('server_version_num')::int, "
                       "current_setting('server_version')")
        found = cursor.fetchone()
        if found is None:
            raise BackupError("the database did not export a snapshot")
        snapshot, version_num, version = found
        counts = _row_counts(cursor)
        # pg_dump reads the same snapshot while this transaction stays open.
        dump = out / DUMP
        tool = pg_tool("pg_dump", server_major=version_num // 10000)
        result = subprocess.run(  # noqa: S603 - fixed argv
            [tool, "--format=custom", f"--snapshot={snapshot}", f"--file={dump}"],
            env=pg_env(params), capture_output=True, text=True, check=False)
        conn.execute("ROLLBACK")
    if result.returncode != 0:
        raise BackupError(f"pg_dump failed: {result.stderr.strip()[-2000:]}")
    files, file_count = out / FILES, 0
    with tarfile.open(files, "w") as tar:
        for name, root in stores.items():
            if not root.is_dir():
                continue
            for path in sorted(p for p in root.rglob("*") if p.is_file()):
                tar.add(path, arcname=f"{name}/{path.relative_to(root)}")
                file_count += 1
    manifest = {
        "format": FORMAT_VERSION,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "database": params.get("dbname", ""), "server_version": version,
        "tables": counts, "rows": sum(counts.values()), "files": file_count,
        "sha256": {DUMP: _sha256(dump), FILES: _sha256(files)},
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return Backup(out, manifest)


# --- restore ---------------------------------------------------------------------------------------

@dataclass
class Restored:
    tables: int
    rows: int
    files: int
    mismatches: dict[str, tuple[int, int]] = field(default_factory=dict)  # table -> (manifest, restored)

    @property
    def ok(self) -> bool:
        return not self.mismatches


def read_manifest(directory: Path) -> dict[str, Any]:
    path = directory / MANIFEST
    if not path.is_file():
        raise BackupError(f"{directory} holds no {MANIFEST}: not a backup")
    try:
        manifest = json.loads(path.read_text())
    except ValueError as error:
        raise BackupError(f"{MANIFEST} is not valid JSON: {error}") from error
    if manifest.get("format") != FORMAT_VERSION:
        raise BackupError(f"{MANIFEST} is of format {manifest.get('format')!r}; this version reads {FORMAT_VERSION}")
    for name in (DUMP, FILES):
        if not (directory / name).is_file():
            raise BackupError(f"{name} is missing from the backup")
        if _sha256(directory / name) != manifest["sha256"][name]:
            raise BackupError(f"{name} does not match its checksum in {MANIFEST}: the backup is damaged")
    return dict(manifest)


def restore(*, directory: Path, params: dict[str, str], files_root: Path | None) -> Restored:
    """Restore the backup in `directory` into the empty database `params` name, and its files into
    `files_root` (one folder per store; None: leave the files)."""
    import psycopg
    from psycopg.conninfo import make_conninfo

    manifest = read_manifest(directory)
    try:
        conn = psycopg.connect(make_conninfo(**params), autocommit=True)
    except psycopg.Error as error:
        raise BackupError(f"cannot connect to the target database: {error}") from error
    with conn:
        tables = conn.execute("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                              "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')").fetchone()
        if tables and tables[0]:
            raise BackupError(f"the target database {params.get('dbname')} already has {tables[0]} tables: "
                              "restore into an empty database")
        version_num = conn.execute("SELECT current_setting('server_version_num')::int").fetchone()
        major = int(version_num[0]) // 10000 if version_num else 0
    if files_root is not None and files_root.exists() and any(files_root.iterdir()):
        raise BackupError(f"{files_root} is not empty: files are restored into an empty directory")
    tool = pg_tool("pg_restore", server_major=major)
    result = subprocess.run(  # noqa: S603 - fixed argv
        [tool, "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
         f"--dbname={params['dbname']}", str(directory / DUMP)],
        env=pg_env(params), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BackupError(f"pg_restore failed: {result.stderr.strip()[-2000:]}")
    with psycopg.connect(make_conninfo(**params)) as conn:
        counts = _row_counts(conn.cursor())
    expected: dict[str, int] = manifest["tables"]
    mismatches = {name: (expected.get(name, 0), counts.get(name, 0))
                  for name in sorted(set(expected) | set(counts)) if expected.get(name, 0) != counts.get(name, 0)}
    restored_files = 0
    if files_root is not None:
        files_root.mkdir(parents=True, exist_ok=True)
        with tarfile.open(directory / FILES) as tar:
            members = [m for m in tar.getmembers() if m.isfile()]
            tar.extractall(files_root, members=members, filter="data")
            restored_files = len(members)
    return Restored(tables=len(counts), rows=sum(counts.values()), files=restored_files, mismatches=mismatches)
