"""The test suite: real PostgreSQL and Redis (embedded unless DATABASE_URL/REDIS_URL are set)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

# The embedded services of a test run live in var/test (`make test` says so too), apart from those of
# `make run` (var/): a running CRM's workers never pick up the tests' tasks, the tests never flush its
# Redis, and its PostgreSQL stays durable while the tests' own is scratch (plumbing/embedded.py: no
# flushes to disk, so that the suite's many commits and emptied tables cost no disk waits).
_own_var = Path(__file__).resolve().parents[2] / "var"
os.environ.setdefault("CRM_VAR_DIR", str(_own_var / "test"))
if Path(os.environ["CRM_VAR_DIR"]).resolve() != _own_var.resolve():
    os.environ.setdefault("CRM_EMBEDDED_PG_SCRATCH", "1")

# pytest-xdist runs the suite in several processes, on the servers the first one started or joined
# (their URLs are inherited). pytest-django gives each process its own test database; here each gets
# its own Redis database, so that one process's cache.clear() or emptied queue never reaches another's
# test (and its own var/ directory when it must start embedded servers itself). A test's child
# processes (manage.py, workers) inherit the result, not the rule.
_xdist = os.environ.get("PYTEST_XDIST_WORKER", "")
if _xdist and os.environ.get("CRM_TEST_WORKER") != _xdist:
    os.environ["CRM_TEST_WORKER"] = _xdist
    if not os.environ.get("DATABASE_URL") or not os.environ.get("REDIS_URL"):
        os.environ["CRM_VAR_DIR"] = str(Path(os.environ["CRM_VAR_DIR"]) / _xdist)
    if os.environ.get("REDIS_URL"):
        _url = urlsplit(os.environ["REDIS_URL"])
        _db = int(_url.path.strip("/") or 0) + 1 + int(re.sub(r"\D", "", _xdist) or 0)
        os.environ["REDIS_URL"] = urlunsplit(_url._replace(path=f"/{_db % 16}"))

from .base import *  # noqa: E402, F403
from .base import CRM_DATABASE_APP, CRM_DATABASE_OWNER, DATABASES, env, env_bool  # noqa: E402

SECRET_KEY = "test-only-secret-key-not-for-production-use-0123456789"  # noqa: S105
DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed; real hashers in prod
MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Several checkouts or sessions may test against one server at once: CRM_TEST_DB picks the name.
DATABASES["default"]["TEST"] = {"NAME": env("CRM_TEST_DB", f"test_{DATABASES['default']['NAME']}")}
DATABASES["default"]["CONN_MAX_AGE"] = 0
# Each process's sessions are named, so that one still connected when the test database is dropped
# says who opened it (tests/dbbackend).
_session_name = f"crm-test {os.environ.get('CRM_TEST_WORKER') or 'main'} pid {os.getpid()}"
for _params in (DATABASES["default"], CRM_DATABASE_APP, CRM_DATABASE_OWNER):
    if _params:
        _params.setdefault("OPTIONS", {})["application_name"] = _session_name
# Between transactional tests the tables are emptied as their owner (the audit log's triggers
# refuse it to anyone else): tests/dbbackend.
DATABASES["default"]["ENGINE"] = "tests.dbbackend"
AXES_ENABLED = True
# Private files are encrypted in tests too, with a key ring made under this run's var/ directory.
if not env("CRM_ENCRYPTION_KEY_FILE") and not env("CRM_ENCRYPTION_KEYS"):
    from plumbing.envelope import ensure_key_file

    from .base import VAR_DIR

    CRM_ENCRYPTION_KEY_FILE = str(VAR_DIR / "keys" / "encryption.json")
    ensure_key_file(VAR_DIR / "keys" / "encryption.json")
# Every task on the default queue: a test's worker reads only its own private default queue
# (tests/crm/test_queues.py switches the workload queues on to test them).
CELERY_WORKLOAD_QUEUES = env_bool("CELERY_WORKLOAD_QUEUES", False)
# A payment notification stored for the worker's batches (wallet.webhook_batches) is applied by the
# same batch code right after it is stored, in the request, so that a test sees the deposit credited
# when its POST returns; tests/wallet/test_webhook_batches.py runs it as the worker does.
WALLET_WEBHOOK_BATCH_INLINE = env_bool("WALLET_WEBHOOK_BATCH_INLINE", True)
# Addresses the CRM gives out (webhook URLs handed to the simulators, links in mails) point nowhere
# unless a test names its own server: a simulator a test started must never post to a CRM that
# happens to run on this machine's usual port. (A worker a browser test starts gets the live
# server's address through the environment.)
# (A CRM_PUBLIC_URL in the environment was checked by base, as in every other settings module.)
if not env("CRM_PUBLIC_URL"):
    CRM_PUBLIC_URL = "http://crm.invalid"
# The built-in KYC checks run inside the test process: a process of their own per submission (the
# production default) costs seconds each (a fresh Python and the OCR engine loaded again), which
# the suite's many submissions added up to minutes. The isolation itself is tested on its own path
# (tests/kyc/test_check_memory.py, and the tests asking for the kyc_checks_isolated fixture);
# KYC_CHECKS_ISOLATED=1 in the environment runs every test's checks isolated.
KYC_CHECKS_ISOLATED = env("KYC_CHECKS_ISOLATED", "0") != "0"
CRM_EVENTS_STRICT = True  # an event that does not fit its declared payload fails the test
LOGGING["root"]["level"] = os.environ.get("LOG_LEVEL", "WARNING")  # noqa: F405
# WhiteNoise warns on every request when STATIC_ROOT is missing; tests serve from the finders.
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405
# An app the core has never heard of (tests/registry_app): adding it needs no edit under crm/.
INSTALLED_APPS = [*INSTALLED_APPS, "tests.registry_app.apps.RegistryAppConfig"]  # noqa: F405

# Outbound webhooks go to receivers the tests start on the loopback address, over plain http.
CRM_WEBHOOK_ALLOW_HTTP_LOOPBACK = True
