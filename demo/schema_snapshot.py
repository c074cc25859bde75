"""The schema snapshot: pg_dump's copy of a database migrated from exactly this checkout's migrations,
committed in demo/schema_snapshots/, so that an empty database gets its schema in seconds instead of
the minutes of CPU that migrating costs (Django renders the model states of every migration).

Two users, one logic:
- the test suite's template database (tests/dbbackend/template.py): restored from the snapshot,
  or migrated and, on the embedded server, written as the snapshot of its digest;
- `make run` on an empty database (demo.runner): restored from the snapshot, then `migrate` applies
  whatever is newer (nothing, when the snapshot is current).

A snapshot is named after a digest of what a migration run depends on: every migration file of the
installed apps (ours and the libraries'), the project modules they import, the migrate command,
Django's version, the server's, and FORMAT (how `build` makes the database a snapshot copies). A
changed migration gives a new digest: with no snapshot of it, the database is migrated as before.
The snapshot is what migrating would make, as Rails' structure.sql is. CRM_TEST_SNAPSHOT=0 never
uses nor writes one.

Beside each snapshot, its manifest names the migrations it holds (each file's SHA-256) and what else
the digest read that decides whether it restores here (Django's version, the server's major version,
FORMAT). When a checkout has added migrations since the committed snapshot, `make run` restores that
snapshot all the same, if every migration it holds is still there unchanged, and `migrate` applies
only the newer ones: seconds instead of minutes for a developer who has just written a migration. The
tests' template starts from it the same way (`build`), and is then written as the snapshot of its
own digest.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

PROJECT = Path(__file__).resolve().parents[1]
SNAPSHOTS = Path(__file__).resolve().parent / "schema_snapshots"
MAX_NAME = 63  # PostgreSQL's identifier limit
_LIBRARY_DIRS = ("site-packages", "dist-packages")
# How `build` makes the database that a snapshot copies: change it whenever `build` changes, so that
# no snapshot made the old way is taken for one made the new way.
FORMAT = "1: migrate --run-syncdb, createcachetable"


def _files_of_migrations() -> list[Path]:
    """Every migration file of the installed apps, and the project's modules they import (a field class
    such as crm.lib.money's decides a column's type)."""
    from django.db.migrations.loader import MigrationLoader

    loader = MigrationLoader(None, ignore_no_migrations=True)
    files: set[Path] = set()
    for migration in loader.disk_migrations.values():
        module = sys.modules[type(migration).__module__]
        if _test_only(Path(str(module.__file__))):
            continue  # an app only the test settings install: `make run`'s database has no such app
        files.add(Path(str(module.__file__)))
        for value in vars(module).values():
            source = value if isinstance(value, ModuleType) else sys.modules.get(getattr(value, "__module__", "") or "")
            path = getattr(source, "__file__", None)
            if path and _ours(Path(path)):
                files.add(Path(path))
    from crm.management.commands import migrate

    files.add(Path(str(migrate.__file__)))
    return list({p.resolve() for p in files})  # in no order: the digest orders them by their names


def _test_only(path: Path) -> bool:
    return path.resolve().is_relative_to(PROJECT / "tests")


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

    h = hashlib.sha256(f"django {django.__version__}\npostgresql {server_version}\nsnapshot {FORMAT}\n".encode())
    for key, path in sorted((file_key(path), path) for path in _files_of_migrations()):
        h.update(key.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def snapshot_path(digest: str) -> Path:
    """pg_dump's custom format, gzipped whole (its table of contents, most of a schema's dump, is not
    compressed by pg_dump itself): about 180 KB."""
    return SNAPSHOTS / f"schema-{digest[:16]}.dump.gz"


def manifest_path(snapshot: Path) -> Path:
    return snapshot.with_name(snapshot.name.removesuffix(".dump.gz") + ".manifest.json")


def _is_migration(path: Path) -> bool:
    return path.parent.name == "migrations" and path.name != "__init__.py"


def manifest(server_version: str) -> dict[str, Any]:
    """What a snapshot made from this checkout holds (its migrations, by file and content) and what
    decides whether it can be restored elsewhere."""
    import django

    return {
        "django": django.__version__, "server_major": _major(server_version), "format": FORMAT,
        "migrations": {file_key(path): hashlib.sha256(path.read_bytes()).hexdigest()
                       for path in sorted(_files_of_migrations()) if _is_migration(path)},
    }


def _major(server_version: str) -> int:
    head = server_version.strip().split()[0] if server_version.strip() else "0"
    return int(head.split(".")[0]) if head.split(".")[0].isdigit() else 0


def older_snapshot(now: dict[str, Any]) -> Path | None:
    """The committed snapshot whose migrations are all among this checkout's, unchanged (`now`: this
    checkout's manifest), made by the same Django, server major version and FORMAT; None if none is.
    Restored, it leaves `migrate` only the migrations added since."""
    for path in sorted(SNAPSHOTS.glob("schema-*.manifest.json")):
        try:
            held = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(held, dict) or not isinstance(held.get("migrations"), dict):
            continue
        if any(held.get(key) != now[key] for key in ("django", "server_major", "format")):
            continue
        mine: dict[str, str] = now["migrations"]
        if held["migrations"] and all(mine.get(key) == sha for key, sha in held["migrations"].items()):
            dump = path.with_name(path.name.removesuffix(".manifest.json") + ".dump.gz")
            if dump.is_file():
                return dump
    return None


def snapshots_on() -> bool:
    return os.environ.get("CRM_TEST_SNAPSHOT", "1").strip().lower() not in {"0", "no", "false", "off"}


def owner_params(connection: Any, name: str) -> dict[str, str]:
    """libpq parameters of the schema's owner on the database `name`."""
    from crm.lib import dbroles
    from plumbing.backup import connection_params

    return connection_params({**connection.settings_dict, **(dbroles.owner_params() or {}), "NAME": name})


def server_major(cursor: Any) -> int:
    cursor.execute("SELECT current_setting('server_version_num')::int")
    return int(cursor.fetchone()[0]) // 10000


def pg_restore(path: Path, params: dict[str, str], *, major: int) -> str | None:
    """Restore the snapshot file `path` into the (empty) database of `params`, in one transaction:
    None when done, else why not (then nothing of it is left in that database)."""
    from plumbing.backup import BackupError, pg_env, pg_tool

    try:
        tool = pg_tool("pg_restore", server_major=major)
    except BackupError as error:
        return str(error)
    with tempfile.TemporaryDirectory() as tmp:
        dump = Path(tmp) / "schema.dump"
        try:
            with gzip.open(path) as packed, dump.open("wb") as unpacked:
                shutil.copyfileobj(packed, unpacked)
        except (OSError, EOFError) as error:
            return f"it cannot be read: {error}"
        result = subprocess.run(  # noqa: S603 - fixed argv
            [tool, "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
             f"--dbname={params['dbname']}", str(dump)],
            env=pg_env(params), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        return f"pg_restore failed: {result.stderr.strip()[-2000:]}"
    return None


def restore(creation: Any, cursor: Any, name: str, digest: str) -> float | None:
    """The database `name` made from the committed snapshot of `digest` (under a temporary name until
    complete); returns seconds, or None when there is no snapshot or it cannot be restored here (then
    the caller migrates). `cursor` is on the server, outside any database to be made."""
    path = snapshot_path(digest)
    if not snapshots_on() or not path.is_file():
        return None
    started = time.monotonic()
    quote = creation.connection.ops.quote_name
    partial = f"{name[: MAX_NAME - 8]}_partial"
    cursor.execute(f"DROP DATABASE IF EXISTS {quote(partial)}")
    cursor.execute(f"CREATE DATABASE {quote(partial)}")
    error = pg_restore(path, owner_params(creation.connection, partial), major=server_major(cursor))
    if error is not None:
        cursor.execute(f"DROP DATABASE IF EXISTS {quote(partial)}")
        print(f"The schema snapshot {path.name} is not used, migrating instead: {error}", file=sys.stderr)
        return None
    cursor.execute(f"ALTER DATABASE {quote(partial)} RENAME TO {quote(name)}")
    return time.monotonic() - started


def save_snapshot(creation: Any, cursor: Any, name: str, digest: str) -> Path | None:
    """pg_dump's copy of the freshly migrated database `name`, as the snapshot of `digest`, replacing
    the snapshots of other digests. Only from the embedded server (the one a fresh clone and CI
    test on) and never over an existing snapshot; returns the file written, or None."""
    from plumbing.backup import BackupError, pg_env, pg_tool

    path = snapshot_path(digest)
    if not snapshots_on() or os.environ.get("CRM_EMBEDDED_PG") != "1" or path.exists():
        return None
    try:
        tool = pg_tool("pg_dump", server_major=server_major(cursor))
    except BackupError as error:
        print(f"No schema snapshot written: {error}", file=sys.stderr)
        return None
    params = owner_params(creation.connection, name)
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
    cursor.execute("SHOW server_version")
    manifest_path(path).write_text(json.dumps(manifest(cursor.fetchone()[0]), indent=0, sort_keys=True) + "\n",
                                   encoding="utf-8")
    for old in [*SNAPSHOTS.glob("schema-*.dump*"), *SNAPSHOTS.glob("schema-*.manifest.json")]:
        if old not in (path, manifest_path(path)):
            old.unlink()
    return path


def build(creation: Any, cursor: Any, name: str, verbosity: int) -> float:
    """Migrate a new database into `name` (under a temporary name until complete); returns seconds.
    This is what a snapshot is a copy of. When a committed snapshot holds an earlier part of these
    migrations, unchanged (`older_snapshot`), the database starts from it and only the migrations
    added since are applied: the same database, in seconds rather than minutes."""
    from django.conf import settings
    from django.core.management import call_command

    started = time.monotonic()
    connection = creation.connection
    quote = connection.ops.quote_name
    partial = f"{name[: MAX_NAME - 8]}_partial"
    cursor.execute(f"DROP DATABASE IF EXISTS {quote(partial)}")
    cursor.execute(f"CREATE DATABASE {quote(partial)}")
    cursor.execute("SHOW server_version")
    earlier = older_snapshot(manifest(cursor.fetchone()[0])) if snapshots_on() else None
    if earlier is not None and pg_restore(earlier, owner_params(connection, partial),
                                          major=server_major(cursor)) is not None:
        cursor.execute(f"DROP DATABASE IF EXISTS {quote(partial)}")  # half restored: from the first migration
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


@dataclass(frozen=True)
class Restored:
    snapshot: str  # the file's name
    seconds: float
    older: bool = False  # a snapshot of fewer migrations: `migrate` applies those added since


def restore_if_empty(connection: Any) -> Restored | str | None:
    """`make run`'s first start: the database of `connection` (Django's, connected as the schema's
    owner) given its schema from the snapshot of this checkout's migrations, when the database is
    empty (no table, sequence or view outside PostgreSQL's own schemas). Returns what was restored;
    a string saying why not when the database is empty but no snapshot serves (`migrate` then builds
    it all); None when the database is not empty."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                       "WHERE n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'")
        if cursor.fetchone()[0]:
            return None
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0]
        this = digest(version)
        major = server_major(cursor)
    params = owner_params(connection, connection.settings_dict["NAME"])
    connection.close()
    path = snapshot_path(this)
    if not snapshots_on():
        return "snapshots are off (CRM_TEST_SNAPSHOT=0)"
    older = False
    if not path.is_file():
        earlier = older_snapshot(manifest(version))
        if earlier is None:
            return f"no snapshot of these migrations ({path.name})"
        path, older = earlier, True
    started = time.monotonic()
    error = pg_restore(path, params, major=major)
    if error is not None:
        return f"the snapshot {path.name} could not be restored: {error.strip().splitlines()[-1]}"
    return Restored(snapshot=path.name, seconds=time.monotonic() - started, older=older)
