"""Two database roles: the owner of the schema (migrations) and the application's role.

The application connects with DATABASE_URL. When DATABASE_OWNER_URL names another role, that role
owns the schema: `manage.py migrate` (crm/management/commands/migrate.py) connects as the owner
and then grants the application role what it needs, which on the append-only audit tables is
SELECT and INSERT, and on the audit log the UPDATE of the columns its sealer fills in. A role that does not own a table can neither ALTER it (so it cannot switch
its triggers off), nor TRUNCATE or DROP it, which is what keeps the audit log out of reach of
whoever takes over the application.

With one URL only, the application owns everything, as before; `audit_verify` says so.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from django.conf import settings
from django.db import connections

# What differs between the two roles' connections: the database (NAME) is the same one.
CONNECTION_KEYS = ("USER", "PASSWORD", "HOST", "PORT", "OPTIONS")


def owner_params() -> dict[str, Any] | None:
    """The owner's connection settings, or None when the application is the only role."""
    owner = getattr(settings, "CRM_DATABASE_OWNER", None)
    if not owner or owner.get("USER") == app_params().get("USER"):
        return None
    return {key: owner[key] for key in CONNECTION_KEYS}


def app_params() -> dict[str, Any]:
    """The application role's connection settings, as DATABASE_URL gave them."""
    return dict(settings.CRM_DATABASE_APP)


def app_role() -> str:
    return str(app_params()["USER"])


def use_role(role: str, alias: str = "default") -> None:
    """Point `alias` at the owner's ("owner") or the application's ("app") role from its next query."""
    params = owner_params() if role == "owner" else app_params()
    if params is None:
        return
    conn = connections[alias]
    conn.close()
    conn.settings_dict.update({key: params[key] for key in CONNECTION_KEYS})


@contextlib.contextmanager
def as_owner(alias: str = "default") -> Iterator[None]:
    """Run the block on `alias` connected as the owner (a no-op with one role)."""
    conn = connections[alias]
    saved = {key: conn.settings_dict.get(key) for key in CONNECTION_KEYS}
    use_role("owner", alias)
    try:
        yield
    finally:
        conn.close()
        conn.settings_dict.update(saved)


def connect_as_owner(alias: str = "default") -> Any:
    """A new psycopg connection to `alias`'s database as the owner (as the application with one role),
    outside Django's connection handling; the caller closes it."""
    conn = connections[alias]
    wrapper = type(conn)({**conn.settings_dict, **(owner_params() or {})}, alias=alias)
    return wrapper.get_new_connection(wrapper.get_connection_params())


def grant_app_privileges(*, alias: str = "default", append_only: Sequence[str],
                         sealable: Mapping[str, Sequence[str]] | None = None) -> None:
    """As the owner: the application role may read and write every table of the schema, except the
    `append_only` ones, which it may only read and append to, and UPDATE the `sealable` columns of
    (table -> columns; the audit log's seal, which its trigger allows once per row). Runs after
    every migrate, so that tables added later are covered; revoking first makes it correct
    whatever was granted before. A partition made later (crm.lib.partitions) is granted nothing: the
    role reaches its rows through the partitioned table."""
    if owner_params() is None:
        return
    conn = connections[alias]
    qn = conn.ops.quote_name
    role = qn(app_role())
    with conn.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        schema = qn(cursor.fetchone()[0])
        # The partitions of an append-only table too (one partitioned by month): the role reads and
        # appends through the table itself, which is all it needs, and never writes to a partition.
        cursor.execute("WITH RECURSIVE p(oid) AS (SELECT inhrelid FROM pg_inherits WHERE inhparent = ANY("
                       "SELECT to_regclass(t) FROM unnest(%s::text[]) t) UNION SELECT i.inhrelid FROM pg_inherits i "
                       "JOIN p ON i.inhparent = p.oid) SELECT relname FROM pg_class WHERE oid IN (SELECT oid FROM p) "
                       "ORDER BY 1", [list(append_only)])
        tables = ", ".join(qn(t) for t in [*append_only, *(r[0] for r in cursor.fetchall())])
        for sql in (
            f"GRANT USAGE ON SCHEMA {schema} TO {role}",
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role}",
            f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {schema} TO {role}",
            # Revoking a table's UPDATE revokes its column UPDATEs too; the seal's are granted after.
            f"REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON {tables} FROM {role}",
            *(f"GRANT UPDATE ({', '.join(qn(c) for c in columns)}) ON {qn(table)} TO {role}"
              for table, columns in (sealable or {}).items()),
        ):
            cursor.execute(sql)


def table_owned_by_current_user(table: str, *, alias: str = "default") -> bool:
    """Whether the role this connection runs as owns `table` (and could switch its triggers off)."""
    with connections[alias].cursor() as cursor:
        cursor.execute(
            "SELECT pg_has_role(current_user, c.relowner, 'USAGE') FROM pg_class c "
            "WHERE c.oid = to_regclass(%s)", [table])
        row = cursor.fetchone()
    return bool(row and row[0])
