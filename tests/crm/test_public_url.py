"""CRM_PUBLIC_URL: `make run` derives it from the port it serves on unless it is given; every
settings module refuses one that is not an absolute http(s) URL with a host, naming it.

The settings cases import each settings module in a fresh interpreter with a clean environment,
as a process would start (placeholder database and Redis URLs: nothing connects)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from crm.lib.public_url import PublicUrlError, public_url_check
from demo import runner

REPO_ROOT = Path(__file__).resolve().parents[2]
BAD_URLS = ["8622", "ftp://x", "http://", "http://host/path?x", "http://host/crm", "https://host?x=1",
            "http://user:pw@host", "http://host:99999", " http://host", "crm.example.com"]

# What each settings module needs besides CRM_PUBLIC_URL to load.
BASE_ENV = {"DATABASE_URL": "postgresql://crm@db.internal:5432/crm", "REDIS_URL": "redis://cache.internal:6379/0"}
PROD_ENV = {**BASE_ENV, "SECRET_KEY": "k" * 20 + "9f3b1c7e5a2d4f6b8c0e1a3c5e7f9b2d", "ALLOWED_HOSTS": "crm.example.com",
            "DEFAULT_FROM_EMAIL": "crm@example.com", "EMAIL_HOST": "smtp.example.com",
            "CRM_ENCRYPTION_KEY_FILE": "/run/secrets/crm-keys.json"}
MODULES = {"crm.settings.dev": BASE_ENV, "crm.settings.prod": PROD_ENV, "crm.settings.test": BASE_ENV}


def _load(module: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    clean = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", ""), "PYTHONPATH": str(REPO_ROOT),
             "DJANGO_SETTINGS_MODULE": module, "CRM_VAR_DIR": str(tmp_path), **env}
    return subprocess.run([sys.executable, "-c", "from django.conf import settings; print(settings.CRM_PUBLIC_URL)"],
                          env=clean, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False)


# --- make run ------------------------------------------------------------------------------------


def test_the_runner_derives_the_public_url_from_the_port_it_serves_on():
    address = runner.web_address({"PORT": "8622"})

    assert (address.host, address.port) == ("127.0.0.1", 8622)
    assert address.public_url == "http://127.0.0.1:8622"


@pytest.mark.parametrize(("env", "expected"), [
    ({}, "http://127.0.0.1:8000"),
    ({"HOST": "0.0.0.0", "PORT": "8622"}, "http://127.0.0.1:8622"),  # noqa: S104 - a wildcard bind
    ({"HOST": "::", "PORT": "8622"}, "http://[::1]:8622"),
    ({"HOST": "192.0.2.7", "PORT": "9001"}, "http://192.0.2.7:9001"),
    ({"PORT": "8622", "CRM_PUBLIC_URL": "https://crm.broker.example/"}, "https://crm.broker.example"),
])
def test_the_runner_uses_a_given_public_url_and_otherwise_the_address_it_binds(env, expected):
    assert runner.web_address(env).public_url == expected


@pytest.mark.parametrize("value", ["8622", "ftp://x", "http://", "http://host/path?x"])
def test_the_runner_refuses_a_bad_public_url_before_starting_anything(value):
    with pytest.raises(runner.StartupError, match="CRM_PUBLIC_URL"):
        runner.web_address({"PORT": "8622", "CRM_PUBLIC_URL": value})


@pytest.mark.parametrize("value", ["eighty", "0", "70000"])
def test_the_runner_refuses_a_port_that_is_not_one(value):
    with pytest.raises(runner.StartupError, match="PORT"):
        runner.web_address({"PORT": value})


# --- the check itself ------------------------------------------------------------------------------


@pytest.mark.parametrize("value", BAD_URLS)
def test_a_value_that_is_not_a_bare_http_url_is_refused_by_name(value):
    with pytest.raises(PublicUrlError, match="CRM_PUBLIC_URL"):
        public_url_check(value)


@pytest.mark.parametrize(("value", "kept"), [
    ("https://crm.example.com", "https://crm.example.com"),
    ("https://crm.example.com/", "https://crm.example.com"),
    ("http://127.0.0.1:8622", "http://127.0.0.1:8622"),
    ("http://[::1]:8622/", "http://[::1]:8622"),
])
def test_a_bare_http_url_is_kept_without_its_trailing_slash(value, kept):
    assert public_url_check(value) == kept


# --- every settings module -----------------------------------------------------------------------


@pytest.mark.parametrize("module", list(MODULES))
@pytest.mark.parametrize("value", ["8622", "ftp://x", "http://", "http://host/path?x"])
def test_every_settings_module_refuses_a_bad_public_url_and_names_it(module, value, tmp_path):
    result = _load(module, {**MODULES[module], "CRM_PUBLIC_URL": value}, tmp_path)

    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert "ImproperlyConfigured" in last_line and "CRM_PUBLIC_URL" in last_line


def test_make_web_without_a_public_url_links_to_the_port_it_serves_on(tmp_path):
    # `make web` runs gunicorn on HOST/PORT directly (deploy.gunicorn_conf); the settings follow them.
    result = _load("crm.settings.dev", {**BASE_ENV, "HOST": "0.0.0.0", "PORT": "8622"}, tmp_path)  # noqa: S104

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "http://127.0.0.1:8622"


def test_production_refuses_to_start_without_a_public_url(tmp_path):
    result = _load("crm.settings.prod", {**PROD_ENV, "PORT": "8000"}, tmp_path)

    assert result.returncode != 0
    assert "CRM_PUBLIC_URL" in result.stderr.strip().splitlines()[-1]


def test_production_loads_with_a_public_url(tmp_path):
    result = _load("crm.settings.prod", {**PROD_ENV, "CRM_PUBLIC_URL": "https://crm.example.com/"}, tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "https://crm.example.com"
