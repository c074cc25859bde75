"""Shared fixtures. Complex states are built through services (see tests/factories.py)."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

# Property tests keep their number of examples but never fail on time: on a busy machine (another
# test run beside this one) drawing or running an example can take seconds, which says nothing
# about the code. Loaded here, before any test module is imported, so that a test's own
# `@settings(...)` starts from it. Under CI the examples are also drawn from a fixed seed (a failure
# there can be replayed) and no example database is kept in the fresh clone.
hypothesis_settings.register_profile(
    "suite", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True)
hypothesis_settings.register_profile("ci", parent=hypothesis_settings.get_profile("suite"),
                                     derandomize=True, database=None)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "suite"))


_DB_FIXTURES = frozenset({"db", "transactional_db", "live_server", "django_db_setup"})


def _needs_database(item: pytest.Item) -> bool:
    from django.test import TransactionTestCase

    cls = getattr(item, "cls", None)
    return bool((cls and issubclass(cls, TransactionTestCase)) or item.get_closest_marker("django_db")
                or _DB_FIXTURES.intersection(getattr(item, "fixturenames", ())))


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The files whose tests need no database first, then pytest-django's order (plain, then
    transactional).

    The first test process to need a database migrates the template (tests/dbbackend/template.py)
    while the others wait for it: with these files first (pytest-xdist hands out whole files), the
    others spend that time on them (the document checks, the simulators, the parsers) instead of
    waiting. The same order in every process, as pytest-xdist requires."""
    with_db = {item.path for item in items if _needs_database(item)}
    known = _recorded_file_times()
    # Within each part, the files a past run found slowest first (longest processing time first):
    # pytest-xdist hands out whole files in this order, so no process is left alone with a slow
    # file at the end while the other waits. Files without a record keep their place after them.
    order = {path: n for n, path in enumerate(dict.fromkeys(item.path for item in items))}

    def rank(item: pytest.Item) -> tuple[float, int]:
        return (-known.get(_relative(item.path), 0.0), order[item.path])

    items[:] = (sorted((i for i in items if i.path not in with_db), key=rank)
                + sorted((i for i in items if i.path in with_db), key=rank))


# --- how long each file takes -----------------------------------------------------------------------
# Every run records each test file's time (setup, call and teardown of its tests, as the controlling
# process hears of them) in CRM_VAR_DIR/file_times.json, and prints the slowest files at the end.
# The order above reads tests/file_times.json, a copy of such a record kept in the repository
# (refresh it by copying a full run's record there); a file without an entry only comes later.

_TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
_FILE_TIMES: dict[str, float] = {}


def _relative(path: object) -> str:
    return os.path.relpath(str(path), os.path.dirname(_TESTS_DIR))


def _recorded_file_times() -> dict[str, float]:
    import json

    try:
        with open(os.path.join(_TESTS_DIR, "file_times.json"), encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return {}
    return {str(k): float(v) for k, v in data.items() if isinstance(v, int | float)} if isinstance(data, dict) else {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        path = _relative(report.fspath)
        _FILE_TIMES[path] = _FILE_TIMES.get(path, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter: object) -> None:
    import json

    if os.environ.get("PYTEST_XDIST_WORKER") or not _FILE_TIMES:
        return
    ranked = sorted(_FILE_TIMES.items(), key=lambda kv: -kv[1])
    try:
        directory = os.environ.get("CRM_VAR_DIR", "var/test")
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, "file_times.json"), "w", encoding="utf-8") as fh:
            json.dump({k: round(v, 1) for k, v in ranked}, fh, indent=0)
    except OSError:
        pass
    write_sep, write_line = terminalreporter.write_sep, terminalreporter.write_line  # type: ignore[attr-defined]
    write_sep("=", f"slowest files (of {len(ranked)}; {sum(_FILE_TIMES.values()):.0f} s of tests in all)")
    for path, seconds in ranked[:10]:
        write_line(f"{seconds:8.1f} s  {path}")
