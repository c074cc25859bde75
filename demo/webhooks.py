"""The demo webhook subscriber: an API client of the demo brand whose subscriber receives every
event at the receiver process `make run` starts (integrations.webhook_receiver, logging to
var/log/webhooks.log). The receiver reads the signing secret from var/webhook-demo/secrets.json,
which only this seed writes.

Why a separate process rather than an endpoint inside the CRM: deliveries then cross a real
socket from the Celery worker, are signed and verified by a program that knows nothing of the
CRM's database, and a receiver that is down or slow behaves as an integrator's would. An endpoint
in the CRM would share its process and database and could not show any of that honestly."""

from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings

from crm.events import catalogue
from crm.models import ApiKey, Brand, User
from integrations import event_access
from integrations import services as outbound
from integrations.selectors import subscriber_named
from integrations.services import apikey_create

KEY_NAME = "Demo webhook receiver"
SUBSCRIBER_NAME = "Demo receiver (make run)"
DEFAULT_PORT = 8470


def secrets_file() -> Path:
    return Path(settings.VAR_DIR) / "webhook-demo" / "secrets.json"


def _write_secret(secret: str) -> None:
    path = secrets_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([secret]))
    path.chmod(0o600)


def webhooks_seed_demo(*, brand: Brand, admin: User, port: int = DEFAULT_PORT) -> str:
    """Create (or point at `port`) the demo subscriber; returns what was done, for the log."""
    url = f"http://127.0.0.1:{port}/hooks/crm"
    key = ApiKey.objects.filter(brand=brand, name=KEY_NAME, revoked_at__isnull=True).first()
    if key is None:
        key, _raw = apikey_create(actor=admin, brand=brand, name=KEY_NAME,
                                  scopes=["events:read", "clients:read", "webhooks:manage"])
    sub = subscriber_named(api_key=key, name=SUBSCRIBER_NAME)
    # Every event the key may have: compliance's and monitoring's need scopes of their own (integrations.event_access).
    every_event = [e.name for e in catalogue.declared() if event_access.event_allowed(e.name, held=key.scopes)]
    if sub is None:
        saved = outbound.subscriber_create(actor=admin, api_key=key, name=SUBSCRIBER_NAME, url=url,
                                           event_types=every_event)
        assert saved.secret is not None
        _write_secret(saved.secret)
        return f"webhooks demo: subscriber created, delivering every event to {url}"
    changed = []
    if sub.url != url or set(sub.event_types) != set(every_event):
        outbound.subscriber_update(actor=admin, subscriber=sub, url=url, event_types=every_event)
        changed.append(f"now delivering to {url}")
    if not secrets_file().exists():
        # The receiver's copy is gone (a fresh var/): make a new secret it can read.
        outbound.subscriber_retire_secret(actor=admin, subscriber=sub)
        _write_secret(outbound.subscriber_rotate_secret(actor=admin, subscriber=sub))
        outbound.subscriber_retire_secret(actor=admin, subscriber=sub)
        changed.append("new signing secret")
    return "webhooks demo: subscriber " + (", ".join(changed) if changed else f"already set up ({url})")
