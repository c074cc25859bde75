"""Statements run as the schema's owner, as a migration would: the tests run as the application's role,
which owns nothing (tests/conftest.py)."""

from __future__ import annotations

from crm.lib import dbroles


def as_owner(*statements: str) -> None:
    """Run `statements` as the owner on a connection of its own, each committed as it runs (so the tests
    that use it are transactional)."""
    owner = dbroles.connect_as_owner()
    owner.autocommit = True
    try:
        with owner.cursor() as cur:
            for sql in statements:
                cur.execute(sql)
    finally:
        owner.close()
