"""Helpers for tests that run database work side by side in threads (deadlock and lock-order tests)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from django.db import connection


def blocked_backends() -> int:
    """Other sessions of this database waiting for a lock (a row, a transaction, an advisory lock)."""
    with connection.cursor() as cursor:
        # Inside a transaction PostgreSQL serves the activity view from a snapshot: take a new one.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                       "AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'")
        return int(cursor.fetchone()[0])


def in_thread(target: Callable[[], None], errors: list[BaseException]) -> threading.Thread:
    """Start `target` in a thread with its own connection; an exception it raises lands in `errors`."""

    def run() -> None:
        try:
            target()
        except BaseException as exc:  # noqa: BLE001 - reported to the test that started the thread
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread
