"""The migrated test database, built once and copied for each test process.

Migrating the schema costs minutes of CPU (Django renders the model states of every migration);
every pytest-xdist process doing it on its own multiplied that. Instead the first process to need
a database migrates a template database, and each process's test database is a copy of it
(`CREATE DATABASE ... TEMPLATE ...`, a file copy inside PostgreSQL, about a second).

- The template is named after the digest of what a migration run depends on (demo/schema_snapshot.py:
  every migration file of the installed apps, ours and the libraries', the project modules they
  import, the module that makes snapshots, the migrate command, Django's version and the server's).
  A changed migration gives a new name, and the old template is dropped; an unchanged one is reused
  by the next run on the same server.
- One process migrates while the others wait on a PostgreSQL advisory lock (whoever holds it
  builds; the next finds it built). It is migrated under a temporary name and renamed when
  complete, so a run stopped halfway leaves nothing that looks finished.
- On a server with no template yet (a fresh clone, CI), the template is restored from the schema
  snapshot committed in demo/schema_snapshots/ when its digest is this run's: seconds instead of
  minutes (`make run` restores its empty database from the same snapshot).
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

import hashlib
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from demo.schema_snapshot import MAX_NAME as _MAX_NAME
from demo.schema_snapshot import PROJECT, SNAPSHOTS, build, digest, restore, save_snapshot

__all__ = ["PROJECT", "SNAPSHOTS", "base_name", "build", "digest", "drop_stale", "exists", "held", "restore",
           "save_snapshot", "template_name"]


def base_name(test_database_name: str) -> str:
    """The test database's name without pytest-xdist's per-process suffix: one template for all."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if worker and test_database_name.endswith(f"_{worker}"):
        return test_database_name[: -len(worker) - 1]
    return test_database_name


def template_name(base: str, digest: str) -> str:
    return f"{base[: _MAX_NAME - 30]}_tpl_{digest[:16]}"


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
