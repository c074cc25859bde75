"""Production settings refuse to start on a missing or bad setting, and say which one.

Each case imports crm.settings.prod in a fresh interpreter with a clean environment, as a
production process would start.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.waiting import scaled

REPO_ROOT = Path(__file__).resolve().parents[2]

VALID = {
    "SECRET_KEY": "k" * 20 + "9f3b1c7e5a2d4f6b8c0e1a3c5e7f9b2d",
    "DATABASE_URL": "postgresql://crm:pw@db.internal:5432/crm",
    "REDIS_URL": "redis://cache.internal:6379/0",
    "ALLOWED_HOSTS": "crm.example.com",
    "DEFAULT_FROM_EMAIL": "crm@example.com",
    "EMAIL_HOST": "smtp.example.com",
    "CRM_PUBLIC_URL": "https://crm.example.com",
    "CRM_ENCRYPTION_KEY_FILE": "/run/secrets/crm-keys.json",
}

_PRINT_SETTINGS = """
import json
from django.conf import settings
print(json.dumps({
    "DEBUG": settings.DEBUG,
    "ALLOWED_HOSTS": settings.ALLOWED_HOSTS,
    "DB_HOST": settings.DATABASES["default"]["HOST"],
    "SESSION_COOKIE_SECURE": settings.SESSION_COOKIE_SECURE,
    "SECURE_SSL_REDIRECT": settings.SECURE_SSL_REDIRECT,
    "SECURE_HSTS_SECONDS": settings.SECURE_HSTS_SECONDS,
    "PREPARE_THRESHOLD": settings.DATABASES["default"]["OPTIONS"].get("prepare_threshold"),
}))
"""


def _start(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", ""),
        "PYTHONPATH": str(REPO_ROOT),
        "DJANGO_SETTINGS_MODULE": "crm.settings.prod",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-c", _PRINT_SETTINGS],
        env=clean,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=scaled(60),
        check=False,
    )


def _without(name: str) -> dict[str, str]:
    return {k: v for k, v in VALID.items() if k != name}


def test_production_settings_load_from_a_complete_environment():
    result = _start(VALID)

    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    assert loaded == {
        "DEBUG": False,
        "ALLOWED_HOSTS": ["crm.example.com"],
        "DB_HOST": "db.internal",
        "SESSION_COOKIE_SECURE": True,
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31536000,
        "PREPARE_THRESHOLD": 2**31 - 1,
    }


@pytest.mark.parametrize(
    "name", ["SECRET_KEY", "DATABASE_URL", "REDIS_URL", "ALLOWED_HOSTS", "DEFAULT_FROM_EMAIL", "EMAIL_HOST",
             "CRM_PUBLIC_URL", "CRM_ENCRYPTION_KEY_FILE"]
)
def test_production_refuses_to_start_without_a_required_setting(name):
    result = _start(_without(name))

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert name in result.stderr.strip().splitlines()[-1]


def test_production_never_starts_embedded_services_when_urls_are_missing(tmp_path):
    result = _start({**_without("DATABASE_URL"), "CRM_VAR_DIR": str(tmp_path)})

    assert result.returncode != 0
    assert "DATABASE_URL" in result.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "pg").exists()


def test_email_host_is_not_needed_when_mail_goes_through_another_backend():
    env = {**_without("EMAIL_HOST"), "EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}

    assert _start(env).returncode == 0


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SECRET_KEY", "too-short"),
        ("SECRET_KEY", "django-insecure-" + "x" * 40),
        ("DEBUG", "true"),
        ("DEBUG", "perhaps"),
        ("DATABASE_URL", "mysql://crm@db/crm"),
        ("DATABASE_URL", "postgresql://crm@db.internal:5432/"),
        ("REDIS_URL", "http://cache.internal:6379/0"),
        ("CRM_PUBLIC_URL", "crm.example.com"),
        ("DB_CONN_MAX_AGE", "a minute"),
        ("DATABASE_URL", "postgresql://crm:pw@db.internal:5432/crm?prepare_threshold=often"),
        ("DATABASE_PREPARED_STATEMENTS", "maybe"),
        ("SESSION_IDLE_MINUTES", "thirty"),
        ("SECURE_SSL_REDIRECT", "sometimes"),
        ("SECURE_HSTS_SECONDS", "a year"),
        ("CRM_WEBHOOK_ALLOW_HTTP_LOOPBACK", "1"),  # tenants' URLs reach public servers only
        ("IB_POSTBACK_ALLOW_HTTP_LOOPBACK", "true"),
        ("CRM_TRUSTED_PROXIES", "10.0.0.2,proxy.internal"),  # addresses or networks, never a name
    ],
)
def test_production_refuses_a_bad_value_and_names_the_setting(name, value):
    result = _start({**VALID, name: value})

    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert "ImproperlyConfigured" in last_line
    assert name in last_line


def test_ssl_redirect_and_hsts_can_be_turned_off_behind_a_proxy_that_does_it():
    result = _start({**VALID, "SECURE_SSL_REDIRECT": "false", "SECURE_HSTS_SECONDS": "0"})

    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    assert loaded["SECURE_SSL_REDIRECT"] is False
    assert loaded["SECURE_HSTS_SECONDS"] == 0


@pytest.mark.parametrize(
    ("env", "threshold"),
    [
        ({}, 2**31 - 1),  # only what the code asks to prepare (the ledger's posting) is prepared
        ({"DATABASE_PREPARED_STATEMENTS": "false"}, None),  # behind a pooler that cannot carry them
        ({"DATABASE_URL": VALID["DATABASE_URL"] + "?prepare_threshold=5"}, 5),
        ({"DATABASE_URL": VALID["DATABASE_URL"] + "?prepare_threshold=none"}, None),
    ],
)
def test_prepared_statements_are_on_unless_turned_off_or_set_in_the_database_url(env, threshold):
    result = _start({**VALID, **env})

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["PREPARE_THRESHOLD"] == threshold


def test_without_allowed_hosts_the_crm_answers_on_the_host_its_public_url_names(tmp_path):
    # make run with HOST on a LAN address: the links it mails must not be answered with a 400.
    result = _start({"DJANGO_SETTINGS_MODULE": "crm.settings.dev", "CRM_VAR_DIR": str(tmp_path),
                     "DATABASE_URL": VALID["DATABASE_URL"], "REDIS_URL": VALID["REDIS_URL"],
                     "HOST": "192.0.2.10", "PORT": "8622"})

    assert result.returncode == 0, result.stderr
    assert "192.0.2.10" in json.loads(result.stdout)["ALLOWED_HOSTS"]
    with_own = _start({"DJANGO_SETTINGS_MODULE": "crm.settings.dev", "CRM_VAR_DIR": str(tmp_path),
                       "DATABASE_URL": VALID["DATABASE_URL"], "REDIS_URL": VALID["REDIS_URL"],
                       "HOST": "192.0.2.10", "PORT": "8622", "ALLOWED_HOSTS": "crm.example.com"})
    assert json.loads(with_own.stdout)["ALLOWED_HOSTS"] == ["crm.example.com"]  # what was set is kept
