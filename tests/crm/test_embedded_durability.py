"""The test suite's embedded PostgreSQL is scratch (nothing flushed to disk); `make run`'s is durable,
even on a data directory a test run made scratch before."""

from __future__ import annotations

import os
import time

import psycopg
import pytest

from plumbing import embedded
from plumbing.backup import params_from_url

DURABILITY = ("fsync", "synchronous_commit", "full_page_writes")


def _settings(url: str) -> dict[str, str]:
    with psycopg.connect(**params_from_url(url), autocommit=True) as conn:
        rows = conn.execute("SELECT name, setting FROM pg_settings WHERE name = ANY(%s)", [list(DURABILITY)])
        return dict(rows.fetchall())


def _settled(url: str, wanted: str) -> dict[str, str]:
    """The settings once the server has read its configuration again (a reload is a signal)."""
    deadline = time.monotonic() + 10
    while True:
        found = _settings(url)
        if set(found.values()) == {wanted} or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_a_server_made_scratch_flushes_nothing_and_make_run_makes_it_durable_again(tmp_path):
    pgserver = pytest.importorskip("pgserver")
    server = pgserver.get_server(tmp_path / "pg", cleanup_mode="stop")
    try:
        url = server.get_uri()
        assert _settings(url) == dict.fromkeys(DURABILITY, "on")  # initdb's defaults

        with psycopg.connect(**params_from_url(url), autocommit=True) as conn:
            embedded._set_durability(conn, scratch=True)
        assert _settled(url, "off") == dict.fromkeys(DURABILITY, "off")
        # Kept in the data directory: a restart of the test run's server is still scratch.
        assert "fsync = 'off'" in (tmp_path / "pg" / "postgresql.auto.conf").read_text()

        with psycopg.connect(**params_from_url(url), autocommit=True) as conn:
            embedded._set_durability(conn, scratch=False)
        assert _settled(url, "on") == dict.fromkeys(DURABILITY, "on")
        assert "fsync" not in (tmp_path / "pg" / "postgresql.auto.conf").read_text()
    finally:
        server.cleanup()


@pytest.mark.skipif(os.environ.get("CRM_EMBEDDED_PG") != "1", reason="the suite runs on a server of its own")
def test_the_suites_own_embedded_server_is_scratch(db):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW fsync")
        assert cursor.fetchone() == ("off",)
