"""The webhook inbox: every notification a provider sends is stored raw with what we made of it.

``webhook_receive`` verifies (the adapter's ``verify_webhook``), stores, deduplicates by the
provider's event id and hands an accepted message to the registered handlers
(wallet.providers.webhook_handlers), all in one transaction: the accepted row and what a handler
changed commit together or not at all. A partial unique index lets one accepted row exist per
provider and event id, so simultaneous copies of a notification end as one "accepted" and the rest
"duplicate"; a repeated notification changes nothing.

Answers: 200 accepted or duplicate; 401 bad signature or stale timestamp; 400 malformed (a NUL
byte in the body, text no column can hold, an amount the one parser refuses, a provider that sends
no webhooks), with the reason in the answer's "detail"; 404 unknown provider or unknown payment
(the provider retries: the deposit may not be committed yet). Every answer is an inbox row: the body
is kept with what no text column holds (NUL) shown as U+FFFD.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction

from crm.lib.validation import json_problem, storable, unstorable_problem
from wallet.exceptions import ProviderUnsupported, WebhookRefused
from wallet.models import PaymentProvider, WebhookDelivery, WebhookOutcome
from wallet.providers.base import WebhookMessage
from wallet.providers.webhook_handlers import webhook_handlers

logger = logging.getLogger("wallet.webhooks")

KEPT_HEADERS = ("content-type", "user-agent")
KEPT_PREFIXES = ("x-psp-", "x-signature", "x-webhook-", "x-event-")
MAX_BODY = 256 * 1024
STATUS = {
    WebhookOutcome.ACCEPTED: 200, WebhookOutcome.DUPLICATE: 200,
    WebhookOutcome.REFUSED_BAD_SIGNATURE: 401, WebhookOutcome.REFUSED_STALE: 401,
    WebhookOutcome.REFUSED_MALFORMED: 400, WebhookOutcome.UNKNOWN_PAYMENT: 404,
    WebhookOutcome.UNKNOWN_PROVIDER: 404,
}


@dataclass(frozen=True)
class WebhookReceipt:
    outcome: str
    status_code: int
    delivery: WebhookDelivery
    message: WebhookMessage | None = None


def _kept(headers: Mapping[str, str]) -> dict[str, str]:
    return {storable(k.lower()): storable(v[:500]) for k, v in headers.items()
            if k.lower() in KEPT_HEADERS or k.lower().startswith(KEPT_PREFIXES)}


def _unstorable(message: WebhookMessage) -> str | None:
    """Why the verified message holds text no column can hold (a JSON "\\u0000"), or None."""
    for name in ("event_id", "provider_ref", "merchant_ref", "payment_ref", "batch_id"):
        problem = unstorable_problem(str(getattr(message, name, "") or ""))
        if problem:
            return f"{name}: {problem}"
    found = json_problem(message.raw) if message.raw else None
    return f"{found[0]}: {found[1]}" if found else None


def webhook_receive(*, provider_code: str, headers: Mapping[str, str], body: bytes, remote_addr: str | None = None,
                    now: dt.datetime | None = None) -> WebhookReceipt:
    """Store and act on one notification; see the module's docstring for the outcomes."""
    text = storable(body[:MAX_BODY].decode("utf-8", "replace"))
    base: dict[str, Any] = {"provider_code": provider_code[:40], "headers": _kept(headers), "body": text,
                            "remote_addr": remote_addr}
    provider = PaymentProvider.objects.filter(code=provider_code, is_enabled=True).first()
    if provider is None:
        return _store(WebhookOutcome.UNKNOWN_PROVIDER, detail="no enabled provider with this code", **base)
    base["provider"] = provider
    if len(body) > MAX_BODY:
        return _store(WebhookOutcome.REFUSED_MALFORMED, detail="body too large", **base)
    if b"\x00" in body:
        logger.warning("webhook refused: NUL byte", extra={"provider": provider_code})
        return _store(WebhookOutcome.REFUSED_MALFORMED, detail="the body contains a NUL byte", **base)
    try:
        message = provider.adapter().verify_webhook(headers, body, now=now)
    except ProviderUnsupported:
        logger.warning("webhook for a provider that sends none", extra={"provider": provider_code})
        return _store(WebhookOutcome.REFUSED_MALFORMED, detail=f"{provider.kind} providers send no webhooks", **base)
    except WebhookRefused as exc:
        outcome = {"bad_signature": WebhookOutcome.REFUSED_BAD_SIGNATURE, "stale": WebhookOutcome.REFUSED_STALE
                   }.get(exc.reason, WebhookOutcome.REFUSED_MALFORMED)
        logger.warning("webhook refused", extra={"provider": provider_code, "reason": exc.reason})
        return _store(outcome, signature_ok=exc.reason != "bad_signature", detail=exc.message[:300], **base)
    problem = _unstorable(message)
    if problem:
        return _store(WebhookOutcome.REFUSED_MALFORMED, signature_ok=True, detail=problem[:300], **base)
    facts: dict[str, Any] = {"event_id": message.event_id[:200], "kind": str(message.kind), "provider_ref": message.provider_ref[:200],
             "merchant_ref": message.merchant_ref[:200], "signature_ok": True}
    with transaction.atomic():
        try:
            with transaction.atomic():
                delivery = WebhookDelivery.objects.create(outcome=WebhookOutcome.ACCEPTED, **base, **facts)
        except IntegrityError:
            return _store(WebhookOutcome.DUPLICATE, message=message, **base, **facts)
        known = False
        for handler in list(webhook_handlers):
            if handler(provider, message, delivery):
                known = True
                break
        if not known:
            # Not ours (yet): refused so that the provider sends it again; the accepted claim is
            # released with the outcome, so a later copy is looked at afresh.
            delivery.outcome = WebhookOutcome.UNKNOWN_PAYMENT
            delivery.detail = "no deposit, refund or payout knows this reference"
            delivery.save(update_fields=["outcome", "detail"])
            logger.warning("webhook for an unknown payment", extra={"provider": provider_code,
                                                                     "merchant_ref": message.merchant_ref})
    return WebhookReceipt(delivery.outcome, STATUS[WebhookOutcome(delivery.outcome)], delivery, message)


def _store(outcome: WebhookOutcome, *, message: WebhookMessage | None = None, detail: str = "",
           **fields: Any) -> WebhookReceipt:
    delivery = WebhookDelivery.objects.create(outcome=outcome, detail=detail, **fields)
    return WebhookReceipt(outcome, STATUS[outcome], delivery, message)
