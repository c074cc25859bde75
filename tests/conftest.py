"""Shared fixtures. Complex states are built through services (see tests/factories.py)."""

from __future__ import annotations

import os
import time

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

# OCR (kyc.checks.ocr) takes one ONNX Runtime thread per call in the suite and in the processes its tests
# start: by default it takes a thread per core, which spin while they wait, burning the cores the other
# test processes need (three workers on two cores). The same documents, the same readings.
os.environ.setdefault("KYC_OCR_THREADS", "1")


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


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings):
    """The test database is created and migrated by the schema's owner, as in production
    (DATABASE_OWNER_URL; the embedded server has both roles)..."""
    from crm.lib import dbroles

    dbroles.use_role("owner")


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup):
    """...and the tests run as the application's role, which only reads and appends to the audit
    log. The owner drops the database at the end."""
    from crm.lib import dbroles

    dbroles.use_role("app")
    yield
    from django.db import connections

    from tests.dbbackend.base import close_every_connection

    connections.close_all()  # the tests' own sessions end before the database is dropped,
    close_every_connection()  # including those close_all() cannot see (browser tests' fixtures)
    dbroles.use_role("owner")


@pytest.fixture(autouse=True, scope="session")
def _synthetic_desk_scored_once():
    """The alert budget page's synthetic desk (monitoring.review.budget) scored once per test process.
    Its scores follow from the code alone (a fixed seed); the page keeps them in the shared cache,
    which every test empties (below), so each sweep that opened the page scored them again: seconds
    each time. (A test that replaces the scoring, as the budget's own do, still can.)"""
    import functools

    from monitoring.review import budget

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(budget, "synthetic_history_compute", functools.cache(budget.synthetic_history_compute))
        yield


@pytest.fixture(autouse=True)
def _media_and_cache(settings, tmp_path):
    """Media under the test's own directory; the cache emptied after it; and the language a request
    of this test activated (a client's Arabic, say) gone, so the next test starts in the default
    language whichever tests ran before it in this process."""
    from django.utils import translation

    settings.MEDIA_ROOT = tmp_path / "media"
    translation.deactivate()
    yield
    translation.deactivate()
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def login_verified():
    """`login_verified(client, user)`: log `user` in with the second factor already proven.

    Privileged roles (administrator, compliance, finance by default) reach no page but the
    two-factor ones until then; this enrols a TOTP device through the services when needed.
    """
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.oath import totp

    from crm.staff_services import otp_device_for, otp_device_start, otp_setup_confirm

    def login(client, user):
        client.force_login(user)
        device = otp_device_for(user)
        if device is None:
            device = otp_device_start(user=user)
            otp_setup_confirm(user=user, device=device, token=f"{totp(device.bin_key):06d}")
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
        return device

    return login


@pytest.fixture
def trio(db):
    """The permission trio, built through services: `owner` (a sales agent who owns `client`),
    `colleague` (same brand and desk, not the owner) and `outsider` (another brand)."""
    from types import SimpleNamespace

    from tests.factories import make_brand, make_client, make_desk, make_user

    brand = make_brand()
    desk = make_desk(brand=brand)
    owner = make_user(role_code="sales_agent", desk=desk)
    colleague = make_user(role_code="sales_agent", desk=desk)
    outsider = make_user(role_code="sales_agent", desk=make_desk(brand=make_brand()))
    client = make_client(actor=owner, email="trio.client@example.com", phone="+442071838750")
    return SimpleNamespace(brand=brand, desk=desk, owner=owner, colleague=colleague, outsider=outsider,
                           client=client)


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


_STARTED = time.time()


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
    from tests.dbbackend.template import PROJECT, SNAPSHOTS

    for written in sorted(SNAPSHOTS.glob("schema-*.dump.gz")):
        if written.stat().st_mtime >= _STARTED:
            write_sep("=", "schema snapshot")
            write_line(f"This run migrated the test template and wrote {written.relative_to(PROJECT)}: commit it "
                       "with the migrations, so that a fresh clone restores the template in seconds.")
    write_sep("=", f"slowest files (of {len(ranked)}; {sum(_FILE_TIMES.values()):.0f} s of tests in all)")
    for path, seconds in ranked[:10]:
        write_line(f"{seconds:8.1f} s  {path}")


@pytest.fixture
def key_ring(settings, tmp_path):
    """A copy of the run's key ring in a file of the test's own, which the test may change (add a key,
    make it current, drop one) without touching the other tests' ring. Returns its path."""
    from pathlib import Path

    from crm.lib.keyring import keyring

    source = settings.CRM_ENCRYPTION_KEYS or Path(settings.CRM_ENCRYPTION_KEY_FILE).read_text()
    keyring()  # the run's ring is valid before it is copied
    path = tmp_path / "key-ring.json"
    path.write_text(source)
    settings.CRM_ENCRYPTION_KEYS = ""
    settings.CRM_ENCRYPTION_KEY_FILE = str(path)
    return path
