"""One machine: `make run`, a developer's shell. Embedded PostgreSQL/Redis unless URLs are set."""

from __future__ import annotations

import secrets

from .base import *  # noqa: F403
from .base import SECRET_KEY, VAR_DIR, env

if not SECRET_KEY:
    # A key made once per checkout and kept under var/, so sessions survive restarts.
    _key_file = VAR_DIR / "secret_key"
    _key_file.parent.mkdir(parents=True, exist_ok=True)
    if not _key_file.exists():
        _key_file.write_text(secrets.token_urlsafe(50))
        _key_file.chmod(0o600)
    SECRET_KEY = _key_file.read_text().strip()

if not env("CRM_ENCRYPTION_KEY_FILE") and not env("CRM_ENCRYPTION_KEYS"):
    # A key ring made once per checkout under var/ (never in the database), like the secret key.
    from plumbing.envelope import ensure_key_file

    CRM_ENCRYPTION_KEY_FILE = str(VAR_DIR / "keys" / "encryption.json")
    ensure_key_file(VAR_DIR / "keys" / "encryption.json")

if not env("EMAIL_BACKEND"):
    # Mail from a local run is written to var/mail/ rather than sent: readable first (links whole),
    # then as it would be sent (crm.lib.mail_files).
    MAILERS = {
        "default": {
            "BACKEND": "crm.lib.mail_files.ReadableFileBackend",
            "OPTIONS": {"file_path": str(VAR_DIR / "mail")},
        }
    }

# The demo webhook receiver of `make run` listens on plain http at 127.0.0.1 (integrations.webhook_receiver).
CRM_WEBHOOK_ALLOW_HTTP_LOOPBACK = env_bool("CRM_WEBHOOK_ALLOW_HTTP_LOOPBACK", True)  # noqa: F405
