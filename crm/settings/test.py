"""The test suite: real PostgreSQL and Redis (embedded unless DATABASE_URL/REDIS_URL are set)."""

from __future__ import annotations

import os

from .base import *  # noqa: F403
from .base import DATABASES, env

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
# Between transactional tests the tables are emptied as their owner (the audit log's triggers
# refuse it to anyone else): tests/dbbackend.
DATABASES["default"]["ENGINE"] = "tests.dbbackend"
AXES_ENABLED = True
CRM_EVENTS_STRICT = True  # an event that does not fit its declared payload fails the test
LOGGING["root"]["level"] = os.environ.get("LOG_LEVEL", "WARNING")  # noqa: F405
# WhiteNoise warns on every request when STATIC_ROOT is missing; tests serve from the finders.
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405
# An app the core has never heard of (tests/registry_app): adding it needs no edit under crm/.
INSTALLED_APPS = [*INSTALLED_APPS, "tests.registry_app.apps.RegistryAppConfig"]  # noqa: F405
