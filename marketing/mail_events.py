"""The email provider's bounce and complaint notifications: the webhook inbox (crm.lib.webhooks: the
steps, the idempotency, the answers) of ``POST /m/webhooks/mail/<provider>/``.

The provider signs with the CRM's own scheme (plumbing.signatures): ``X-CRM-Signature:
t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`` under the provider's secret, from
``MARKETING_MAIL_WEBHOOK_SECRETS`` (a setting, a mapping of provider code to a secret or a list of
secrets) or else the environment variable of that name ("provider=secret" items, comma-separated; a
provider named twice has both secrets during a change). The body is JSON:

    {"id": "evt-123", "type": "hard_bounce" | "soft_bounce" | "complaint",
     "brand": "<brand code>", "recipient": "someone@example.com", "at": "2026-11-29T12:00:00Z"}

A hard bounce or a complaint suppresses the address for the brand's marketing email
(marketing.consent.suppress, reason "hard_bounce" / "complaint"); a soft bounce is kept and changes
nothing. Answers: 200 accepted or duplicate (the same id again changes nothing); 401 bad signature or
stale timestamp; 400 malformed; 404 unknown provider or unknown brand.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils.dateparse import parse_datetime

from crm.exceptions import ValidationFailed, WebhookNotBelieved
from crm.lib.webhooks import ACCEPTED, Finding, Receipt, WebhookInbox
from crm.models import Brand
from marketing.consent import suppress
from marketing.models import Channel, MailEvent, MailEventOutcome
from plumbing.signatures import HEADER, SignatureError, verify

KINDS = ("hard_bounce", "soft_bounce", "complaint")
SUPPRESSING = {"hard_bounce": "hard_bounce", "complaint": "complaint"}


class MailWebhookRefused(WebhookNotBelieved):
    code_prefix = "mail_webhook_"


@dataclass(frozen=True)
class MailNotification:
    event_id: str
    kind: str
    brand_code: str
    recipient: str
    at: Any = None


def provider_secrets() -> dict[str, list[str]]:
    """Each provider's secrets (the current one first)."""
    configured = getattr(settings, "MARKETING_MAIL_WEBHOOK_SECRETS", None)
    found: dict[str, list[str]] = {}
    if configured:
        for code, secret in dict(configured).items():
            found[str(code)] = [secret] if isinstance(secret, str) else [str(s) for s in secret]
        return found
    for item in os.environ.get("MARKETING_MAIL_WEBHOOK_SECRETS", "").split(","):
        code, _, secret = item.strip().partition("=")
        if code and secret:
            found.setdefault(code, []).append(secret)
    return found


def _read(body: bytes) -> MailNotification:
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise MailWebhookRefused("malformed", "the body is not JSON") from exc
    if not isinstance(data, dict):
        raise MailWebhookRefused("malformed", "the body is not a JSON object")
    raw = {key: data.get(key) for key in ("id", "type", "brand", "recipient")}
    missing = [key for key, value in raw.items() if not isinstance(value, str) or not value.strip()]
    values = {key: str(value or "") for key, value in raw.items()}
    if missing:
        raise MailWebhookRefused("malformed", f"missing or not text: {', '.join(missing)}")
    if values["type"] not in KINDS:
        raise MailWebhookRefused("malformed", f"type must be one of {', '.join(KINDS)}")
    at = parse_datetime(data["at"]) if isinstance(data.get("at"), str) else None
    return MailNotification(event_id=values["id"].strip(), kind=values["type"], brand_code=values["brand"].strip(),
                            recipient=values["recipient"].strip(), at=at)


class MailInbox(WebhookInbox[MailEvent, list[str], MailNotification]):
    def sender(self, code: str) -> list[str] | Finding:
        secrets = provider_secrets().get(code)
        if not secrets:
            return Finding(MailEventOutcome.UNKNOWN_PROVIDER, "no email provider with this code",
                           "mail webhook refused: unknown provider")
        return secrets

    def verify(self, sender: list[str], headers: Mapping[str, str], body: bytes, now: Any) -> MailNotification:
        header = next((v for k, v in headers.items() if k.lower() == HEADER.lower()), "")
        try:
            verify(body=body, header=header, secrets=sender, now=now)
        except SignatureError as exc:
            reason = {"stale": "stale", "malformed": "bad_signature"}.get(exc.reason, "bad_signature")
            raise MailWebhookRefused(reason, str(exc)) from exc
        return _read(body)

    def texts(self, note: MailNotification) -> Mapping[str, object]:
        return {"id": note.event_id, "type": note.kind, "brand": note.brand_code, "recipient": note.recipient}

    def facts(self, note: MailNotification) -> dict[str, Any]:
        return {"event_id": note.event_id[:200], "kind": note.kind[:30]}

    def locate(self, sender: list[str], note: MailNotification) -> dict[str, Any] | Finding:
        brand = Brand.objects.filter(code=note.brand_code).first()
        if brand is None:
            return Finding(MailEventOutcome.UNKNOWN_BRAND, "no brand has this code",
                           "mail webhook for an unknown brand", {"brand": note.brand_code})
        return {"brand": brand}

    def apply(self, sender: list[str], note: MailNotification, row: MailEvent) -> Finding | None:
        reason = SUPPRESSING.get(note.kind)
        if reason is None:
            return Finding(ACCEPTED, "soft bounce: the address is not suppressed", "mail webhook: soft bounce")
        assert row.brand_id is not None  # located above
        try:
            row.suppression = suppress(brand=row.brand_id, address=note.recipient, channel=Channel.EMAIL,
                                       reason=reason, source=f"provider:{row.provider}", at=note.at)
        except ValidationFailed as exc:  # an address no hash can be made of: kept, nothing suppressed
            return Finding(ACCEPTED, f"not applied: {exc}"[:300], "mail webhook not applied")
        row.save(update_fields=["suppression"])
        return None


INBOX = MailInbox(MailEvent, MailEventOutcome, MailWebhookRefused, sender_field="provider", log_key="provider",
                  label="mail webhook", header_prefix="x-mail-", logger=logging.getLogger("marketing.mail_events"))
MailWebhookReceipt = Receipt[MailEvent, MailNotification]


def mail_webhook_receive(*, provider: str, headers: Mapping[str, str], body: bytes, remote_addr: str | None = None,
                         now: float | None = None) -> MailWebhookReceipt:
    """Store and act on one notification; see the module's docstring for the outcomes."""
    return INBOX.receive(sender=provider, headers=headers, body=body, remote_addr=remote_addr, now=now)
