"""Production: every setting from the environment; a missing or bad one stops start-up by name."""

from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured

os.environ.setdefault("CRM_ALLOW_EMBEDDED", "0")

from .base import *  # noqa: E402,F403
from .base import env, env_bool, env_int  # noqa: E402


def _require(name: str) -> str:
    value = env(name)
    if not value:
        raise ImproperlyConfigured(f"{name} must be set in production.")
    return value


SECRET_KEY = _require("SECRET_KEY")
if len(SECRET_KEY) < 40 or SECRET_KEY.startswith("django-insecure"):
    raise ImproperlyConfigured("SECRET_KEY must be at least 40 random characters.")
if DEBUG:  # noqa: F405
    raise ImproperlyConfigured("DEBUG must be off in production (unset it or set DEBUG=false).")
_require("ALLOWED_HOSTS")
_require("DATABASE_URL")
_require("REDIS_URL")
_require("DEFAULT_FROM_EMAIL")
# Links in mails and the webhook addresses given to PSPs must reach the public site, not the address
# the container binds (base checks that it is a URL).
_require("CRM_PUBLIC_URL")
# Tenants' webhook and postback URLs reach public servers only (plumbing.egress): the loopback
# allowance is the tests' and development's, never production's, whatever the environment says.
if CRM_WEBHOOK_ALLOW_HTTP_LOOPBACK or IB_POSTBACK_ALLOW_HTTP_LOOPBACK:  # noqa: F405
    raise ImproperlyConfigured("CRM_WEBHOOK_ALLOW_HTTP_LOOPBACK and IB_POSTBACK_ALLOW_HTTP_LOOPBACK must be off in "
                               "production: webhooks and postbacks go to public servers only.")
# Personal data at rest: the private files' key ring, from a file or the environment, never the database.
if not env("CRM_ENCRYPTION_KEY_FILE") and not env("CRM_ENCRYPTION_KEYS"):
    raise ImproperlyConfigured("CRM_ENCRYPTION_KEY_FILE (or CRM_ENCRYPTION_KEYS) must be set in production: "
                               "the keys KYC documents and case files are encrypted with.")
if EMAIL_BACKEND_PATH.endswith("smtp.EmailBackend"):  # noqa: F405
    _require("EMAIL_HOST")

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
# Container and load-balancer probes call /healthz over plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
SECURE_CONTENT_TYPE_NOSNIFF = True
