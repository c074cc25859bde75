"""The migrated test database, built once and copied for each test process.

Migrating the schema costs minutes of CPU (Django renders the model states of every migration);
every pytest-xdist process doing it on its own multiplied that. Instead the first process to need
a database migrates a template database, and each process's test database is a copy of it
(`CREATE DATABASE ... TEMPLATE ...`, a file copy inside PostgreSQL, about a second).

- The template is named after a digest of what a migration run depends on: every migration file of
  the installed apps (ours and the libraries'), the project modules they import, this module, the
  migrate command, Django's version and the server's. A changed migration gives a new name, and
  the old template is dropped; an unchanged one is reused by the next run on the same server.
- One process migrates while the others wait on a PostgreSQL advisory lock (whoever holds it
  builds; the next finds it built). It is migrated under a temporary name and renamed when
  complete, so a run stopped halfway leaves nothing that looks finished.
- On a server with no template yet (a fresh clone, CI), the template is restored from the schema
  snapshot committed beside this module when its digest is this run's: seconds instead of minutes.
  The snapshot is pg_dump's copy of a template that was migrated from exactly these files, so it
  is what migrating would make, as Rails' structure.sql is. A digest without a snapshot (a new
  migration, another Django or PostgreSQL) migrates as before, and on the embedded server writes
  the snapshot for that digest, to be committed with the migration. CRM_TEST_SNAPSHOT=0 always
  migrates.
- What the post_migrate handlers make from the code rather than from the migrations (content types,
  permissions, the roles and what each may do) and the application role's privileges are made again
  on every copy, as after a flush, so a template never carries yesterday's roles.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

PROJECT = Path(__file__).resolve().parents[2]
_MAX_NAME = 63  # PostgreSQL's identifier limit


def base_name(test_database_name: str) -> str:
    """The test database's name without pytest-xdist's per-process suffix: one template for all."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if worker and test_database_name.endswith(f"_{worker}"):
        return test_database_name[: -len(worker) - 1]
    return test_database_name


def template_name(base: str, digest: str) -> str:
    return f"{base[: _MAX_NAME - 30]}_tpl_{digest[:16]}"


def _files_of_migrations() -> list[Path]:
    """Every migration file of the installed apps, and the project's modules they import (a field class
    such as crm.lib.money's decides a column's type)."""
    from django.db.migrations.loader import MigrationLoader

    loader = MigrationLoader(None, ignore_no_migrations=True)
    files: set[Path] = set()
    for migration in loader.disk_migrations.values():
        module = sys.modules[type(migration).__module__]
        files.add(Path(str(module.__file__)))
        for value in vars(module).values():
            source = value if isinstance(value, ModuleType) else sys.modules.get(getattr(value, "__module__", "") or "")
            path = getattr(source, "__file__", None)
            if path and _ours(Path(path)):
                files.add(Path(path))
    from crm.management.commands import migrate

    files.update({Path(__file__), Path(str(migrate.__file__))})
    return list({p.resolve() for p in files})  # in no order: the digest orders them by their names


_LIBRARY_DIRS = ("site-packages", "dist-packages")


def _ours(path: Path) -> bool:
    path = path.resolve()
    return path.is_relative_to(PROJECT) and not any(part in _LIBRARY_DIRS for part in path.parts)


def file_key(path: Path) -> str:
    """A file's name in the digest, the same wherever the checkout and its virtualenv are: a library's
    relative to its site-packages (a virtualenv inside the checkout or outside it), ours relative to
    the project."""
    parts = path.parts
    for index in range(len(parts) - 1, -1, -1):
        if parts[index] in _LIBRARY_DIRS:
            return "/".join(parts[index + 1:])
    if path.is_relative_to(PROJECT):
        return path.relative_to(PROJECT).as_posix()
    return path.name


def digest(server_version: str) -> str:
    import django

    h = hashlib.sha256(f"django {django.__version__}\npostgresql {server_version}\n".encode())
    for key, path in sorted((file_key(path), path) for path in _files_of_migrations()):
        h.update(key.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def _lock_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@contextmanager
def held(cursor: Any, name: str) -> Iterator[None]:
    """PostgreSQL's advisory lock on `name`, for as long as the block runs (and the session lives)."""
    key = _lock_key(name)
    cursor.execute("SELECT pg_advisory_lock(%s)", [key])
    try:
        yield
    finally:
        cursor.execute("SELECT pg_advisory_unlock(%s)", [key])


def exists(cursor: Any, name: str) -> bool:
    cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
    return cursor.fetchone() is not None


def drop_stale(cursor: Any, quote: Any, base: str, keep: str) -> None:
    """Templates of earlier migrations (and a build that never finished): dropped when nobody uses them."""
    cursor.execute(r"SELECT datname FROM pg_database WHERE datname LIKE %s AND datname <> %s",
                   [base[: _MAX_NAME - 30].replace("_", r"\_") + r"\_tpl\_%", keep])
    for (name,) in cursor.fetchall():
        try:
            cursor.execute(f"DROP DATABASE IF EXISTS {quote(name)}")
        except Exception as exc:  # noqa: BLE001 - another run's copy in progress: it goes next time
            print(f"Could not drop the old test template {name}: {exc}", file=sys.stderr)


SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"


def snapshot_path(digest: str) -> Path:
    """pg_dump's custom format, gzipped whole (its table of contents, most of a schema's dump, is not
    compressed by pg_dump itself): about 180 KB."""
    return SNAPSHOTS / f"schema-{digest[:16]}.dump.gz"


def snapshots_on() -> bool:
    return os.environ.get("CRM_TEST_SNAPSHOT", "1").strip().lower() not in {"0", "no", "false", "off"}


def _owner_params(connection: Any, name: str) -> dict[str, str]:
    """libpq parameters of the schema's owner on the database `name`."""
    from crm.backup import connection_params
    from crm.lib import dbroles

    return connection_params({**connection.settings_dict, **(dbroles.owner_params() or {}), "NAME": name})


def _server_major(cursor: Any) -> int:
    cursor.execute("SELECT current_setting('server_version_num')::int")
    return int(cursor.fetchone()[0]) // 10000


def restore(creation: Any, cursor: Any, name: str, digest: str) -> float | None:
    """The template `name` restored from the committed snapshot of `digest` (under a temporary name
    until complete); returns seconds, or None when there is no snapshot or it cannot be restored
    here (then the caller migrates)."""
    import subprocess

    from crm.backup import BackupError, pg_env, pg_tool

    path = snapshot_path(digest)
    if not snapshots_on() or not path.is_file():
        return None
    started = time.monotonic()
    quote = creation.connection.ops.quote_name
    partial = f"{name[: _MAX_NAME - 8]}_partial"
    try:
        tool = pg_tool("pg_restore", server_major=_server_major(cursor))
    except BackupError as error:
        print(f"The schema snapshot {path.name} is not used: {error}", file=sys.stderr)
        return None
    cursor.execute(f"DROP DATABASE IF EXISTS {quote(partial)}")
    cursor.execute(f"CREATE DATABASE {quote(partial)}")
    params = _owner_params(creation.connection, partial)
    with tempfile.TemporaryDirectory() as tmp:
        dump = Path(tmp) / "schema.dump"
        try:
            with gzip.open(path) as packed, dump.open("wb") as unpacked:
                shutil.copyfileobj(packed, unpacked)
        except (OSError, EOFError) as error:
            cursor.execute(f"DROP DATABASE IF EXISTS {quote(partial)}")
            print(f"The schema snapshot {path.name} cannot be read, migrating instead: {error}", file=sys.stderr)
            return None
        result = subprocess.run(  # noqa: S603 - fixed argv
            [tool, "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
             f"--dbname={params['dbname']}", str(dump)],
            env=pg_env(params), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        cursor.execute(f"DROP DATABASE IF EXISTS {quote(partial)}")
        print(f"The schema snapshot {path.name} could not be restored, migrating instead: "
              f"{result.stderr.strip()[-2000:]}", file=sys.stderr)
        return None
    cursor.execute(f"ALTER DATABASE {quote(partial)} RENAME TO {quote(name)}")
    return time.monotonic() - started


def save_snapshot(creation: Any, cursor: Any, name: str, digest: str) -> Path | None:
    """pg_dump's copy of the freshly migrated template `name`, as the snapshot of `digest`, replacing
    the snapshots of other digests. Only from the embedded server (the one a fresh clone and CI
    test on) and never over an existing snapshot; returns the file written, or None."""
    import subprocess

    from crm.backup import BackupError, pg_env, pg_tool

    path = snapshot_path(digest)
    if not snapshots_on() or os.environ.get("CRM_EMBEDDED_PG") != "1" or path.exists():
        return None
    try:
        tool = pg_tool("pg_dump", server_major=_server_major(cursor))
    except BackupError as error:
        print(f"No schema snapshot written: {error}", file=sys.stderr)
        return None
    params = _owner_params(creation.connection, name)
    SNAPSHOTS.mkdir(exist_ok=True)
    partial = path.with_suffix(".partial")
    with tempfile.TemporaryDirectory() as tmp:
        dump = Path(tmp) / "schema.dump"
        result = subprocess.run(  # noqa: S603 - fixed argv
            [tool, "--format=custom", "--compress=0", "--no-owner", "--no-privileges", f"--file={dump}",
             f"--dbname={params['dbname']}"],
            env=pg_env(params), capture_output=True, text=True, check=False)
        if result.returncode != 0:
            print(f"No schema snapshot written: pg_dump failed: {result.stderr.strip()[-2000:]}", file=sys.stderr)
            return None
        with dump.open("rb") as unpacked, gzip.open(partial, "wb", compresslevel=9) as packed:
            shutil.copyfileobj(unpacked, packed)
    partial.replace(path)
    for old in SNAPSHOTS.glob("schema-*.dump*"):
        if old != path:
            old.unlink()
    return path


def build(creation: Any, cursor: Any, name: str, verbosity: int) -> float:
    """Migrate a new database into `name` (under a temporary name until complete); returns seconds."""
    from django.conf import settings
    from django.core.management import call_command

    started = time.monotonic()
    connection = creation.connection
    quote = connection.ops.quote_name
    partial = f"{name[: _MAX_NAME - 8]}_partial"
    cursor.execute(f"DROP DATABASE IF EXISTS {quote(partial)}")
    cursor.execute(f"CREATE DATABASE {quote(partial)}")
    alias = connection.alias
    saved = connection.settings_dict["NAME"], settings.DATABASES[alias]["NAME"]
    connection.close()
    connection.settings_dict["NAME"] = settings.DATABASES[alias]["NAME"] = partial
    try:
        call_command("migrate", verbosity=max(verbosity - 1, 0), interactive=False, database=alias, run_syncdb=True)
        call_command("createcachetable", database=alias)
    finally:
        connection.close()
        connection.close_pool()
        connection.settings_dict["NAME"], settings.DATABASES[alias]["NAME"] = saved
    cursor.execute(f"ALTER DATABASE {quote(partial)} RENAME TO {quote(name)}")
    return time.monotonic() - started
