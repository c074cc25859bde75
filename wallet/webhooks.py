"""The payment providers' webhook inbox: every notification a provider sends is stored raw with
what we made of it (crm.lib.webhooks: the steps, the idempotency, the answers).

``webhook_receive`` verifies (the adapter's ``verify_webhook``), stores, deduplicates by the
provider's event id and hands an accepted message to the registered handlers
(wallet.providers.webhook_handlers), all in one transaction: the accepted row and what a handler
changed commit together or not at all. A deposit's payment notification (of a deposit the CRM has)
is only stored, as accepted and pending, before the provider is answered; the worker applies such
rows in batches (wallet.webhook_batches).

Answers: 200 accepted or duplicate; 401 bad signature or stale timestamp; 400 malformed (a NUL
byte in the body, text no column can hold, an amount the one parser refuses, a provider that sends
no webhooks), with the reason in the answer's "detail"; 404 unknown provider or unknown payment
(the provider retries: the deposit may not be committed yet). Every answer is an inbox row: the body
is kept with what no text column holds (NUL) shown as U+FFFD.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import QuerySet
from django.db.models.signals import post_delete, post_save

from crm.lib.webhooks import Finding, Receipt, WebhookInbox
from wallet.exceptions import ProviderUnsupported, WebhookRefused
from wallet.models import Deposit, PaymentProvider, WebhookDelivery, WebhookOutcome
from wallet.providers.base import WebhookMessage
from wallet.providers.webhook_handlers import webhook_handlers
from wallet.webhook_batches import webhook_batch_columns, webhook_batch_deposits, webhook_batch_stored

# --- the providers this process knows --------------------------------------------------------------
# A notification needs its provider's row and its adapter (the secrets decrypted) before anything
# else: both are kept per process for WALLET_PROVIDER_CACHE_SECONDS, so that a stream of
# notifications reads and decrypts them once, not once each. A provider saved or deleted in this
# process is forgotten at once; another process's change is seen within those seconds, and a
# changed secret at once: a signature the kept secret refuses is checked again against the row
# read afresh. Only what was read outside any transaction block is kept (inside one, the row may be
# one its transaction, or a test's, rolls back).

@dataclass(frozen=True)
class _Known:
    provider: PaymentProvider
    adapter: Any
    read_at: float


_known: dict[tuple[str, str], _Known] = {}


def _cache_key(code: str) -> tuple[str, str]:
    return str(connection.settings_dict.get("NAME")), code


def providers_forget(**_: Any) -> None:
    """Forget every provider kept (a provider was saved or deleted)."""
    _known.clear()


post_save.connect(providers_forget, sender=PaymentProvider, dispatch_uid="wallet.webhooks.providers_forget")
post_delete.connect(providers_forget, sender=PaymentProvider, dispatch_uid="wallet.webhooks.providers_forget")


def _provider_read(code: str) -> PaymentProvider | None:
    provider = PaymentProvider.objects.filter(code=code, is_enabled=True).first()
    if provider is not None and not connection.in_atomic_block:
        _known[_cache_key(code)] = _Known(provider, None, time.monotonic())
    return provider


def _provider(code: str) -> PaymentProvider | None:
    """The enabled provider of this code, kept or read."""
    known = _known.get(_cache_key(code))
    seconds = float(getattr(settings, "WALLET_PROVIDER_CACHE_SECONDS", 30))
    if known is not None and time.monotonic() - known.read_at < seconds and not connection.in_atomic_block:
        return known.provider
    return _provider_read(code)


def provider_adapter(provider: PaymentProvider) -> Any:
    """The provider's adapter, built (its secrets decrypted) once for the provider kept."""
    key = _cache_key(provider.code)
    known = _known.get(key)
    if known is None or known.provider is not provider:
        return provider.adapter()
    if known.adapter is None:
        known = _Known(provider, provider.adapter(), known.read_at)
        _known[key] = known
    return known.adapter


class ProviderInbox(WebhookInbox[WebhookDelivery, PaymentProvider, WebhookMessage]):
    def sender(self, code: str) -> PaymentProvider | Finding:
        provider = _provider(code)
        if provider is None:
            return Finding(WebhookOutcome.UNKNOWN_PROVIDER, "no enabled provider with this code",
                           "webhook refused: unknown provider")
        return provider

    def sender_fields(self, sender: PaymentProvider) -> dict[str, Any]:
        return {"provider": sender}

    def verify(self, sender: PaymentProvider, headers: Mapping[str, str], body: bytes,
               now: Any) -> WebhookMessage | Finding:
        try:
            try:
                message: WebhookMessage = provider_adapter(sender).verify_webhook(headers, body, now=now)
            except WebhookRefused as exc:
                kept = _known.get(_cache_key(sender.code))
                if exc.reason != "bad_signature" or kept is None or kept.provider is not sender:
                    raise
                # Kept: its secret may have changed since. Checked again against the row as it is now.
                _known.pop(_cache_key(sender.code), None)
                fresh = _provider_read(sender.code)
                if fresh is None or fresh.pk != sender.pk:
                    raise
                message = fresh.adapter().verify_webhook(headers, body, now=now)
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

    def later(self, sender: PaymentProvider, note: WebhookMessage) -> dict[str, Any] | None:
        return webhook_batch_columns(sender, note)

    def later_if(self, sender: PaymentProvider, note: WebhookMessage) -> QuerySet[Deposit]:
        return webhook_batch_deposits(sender, note)

    def stored(self, row: WebhookDelivery) -> None:
        webhook_batch_stored(row)


INBOX = ProviderInbox(WebhookDelivery, WebhookOutcome, WebhookRefused, sender_field="provider_code",
                      log_key="provider", label="webhook", header_prefix="x-psp-",
                      logger=logging.getLogger("wallet.webhooks"))
WebhookReceipt = Receipt[WebhookDelivery, WebhookMessage]


def webhook_receive(*, provider_code: str, headers: Mapping[str, str], body: bytes, remote_addr: str | None = None,
                    now: dt.datetime | None = None) -> WebhookReceipt:
    """Store and act on one notification; see the module's docstring for the outcomes."""
    return INBOX.receive(sender=provider_code, headers=headers, body=body, remote_addr=remote_addr, now=now)
