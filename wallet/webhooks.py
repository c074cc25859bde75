"""The payment providers' webhook inbox: every notification a provider sends is stored raw with
what we made of it (crm.lib.webhooks: the steps, the idempotency, the answers).

``webhook_receive`` verifies (the adapter's ``verify_webhook``), stores, deduplicates by the
provider's event id and hands an accepted message to the registered handlers
(wallet.providers.webhook_handlers), all in one transaction: the accepted row and what a handler
changed commit together or not at all.

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
from typing import Any

from crm.lib.webhooks import Finding, Receipt, WebhookInbox
from wallet.exceptions import ProviderUnsupported, WebhookRefused
from wallet.models import PaymentProvider, WebhookDelivery, WebhookOutcome
from wallet.providers.base import WebhookMessage
from wallet.providers.webhook_handlers import webhook_handlers


class ProviderInbox(WebhookInbox[WebhookDelivery, PaymentProvider, WebhookMessage]):
    def sender(self, code: str) -> PaymentProvider | Finding:
        provider = PaymentProvider.objects.filter(code=code, is_enabled=True).first()
        if provider is None:
            return Finding(WebhookOutcome.UNKNOWN_PROVIDER, "no enabled provider with this code",
                           "webhook refused: unknown provider")
        return provider

    def sender_fields(self, sender: PaymentProvider) -> dict[str, Any]:
        return {"provider": sender}

    def verify(self, sender: PaymentProvider, headers: Mapping[str, str], body: bytes,
               now: Any) -> WebhookMessage | Finding:
        try:
            message: WebhookMessage = sender.adapter().verify_webhook(headers, body, now=now)
        except ProviderUnsupported:
            return Finding(WebhookOutcome.REFUSED_MALFORMED, f"{sender.kind} providers send no webhooks",
                           "webhook for a provider that sends none")
        return message

    def texts(self, note: WebhookMessage) -> Mapping[str, object]:
        return {"event_id": note.event_id, "provider_ref": note.provider_ref, "merchant_ref": note.merchant_ref,
                "payment_ref": note.payment_ref, "batch_id": note.batch_id}

    def facts(self, note: WebhookMessage) -> dict[str, Any]:
        return {"event_id": note.event_id[:200], "kind": str(note.kind), "provider_ref": note.provider_ref[:200],
                "merchant_ref": note.merchant_ref[:200]}

    def apply(self, sender: PaymentProvider, note: WebhookMessage, row: WebhookDelivery) -> Finding | None:
        for handler in list(webhook_handlers):
            if handler(sender, note, row):
                return None
        # Not ours (yet): refused so that the provider sends it again.
        return Finding(WebhookOutcome.UNKNOWN_PAYMENT, "no deposit, refund or payout knows this reference",
                       "webhook for an unknown payment", {"merchant_ref": note.merchant_ref})


INBOX = ProviderInbox(WebhookDelivery, WebhookOutcome, WebhookRefused, sender_field="provider_code",
                      log_key="provider", label="webhook", header_prefix="x-psp-",
                      logger=logging.getLogger("wallet.webhooks"))
WebhookReceipt = Receipt[WebhookDelivery, WebhookMessage]


def webhook_receive(*, provider_code: str, headers: Mapping[str, str], body: bytes, remote_addr: str | None = None,
                    now: dt.datetime | None = None) -> WebhookReceipt:
    """Store and act on one notification; see the module's docstring for the outcomes."""
    return INBOX.receive(sender=provider_code, headers=headers, body=body, remote_addr=remote_addr, now=now)
