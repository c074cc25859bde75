"""What happens to an accepted webhook: the callables the deposit and withdrawal code registers.

A handler gets the provider (wallet.models.PaymentProvider), the verified WebhookMessage and the
inbox row, inside the transaction that stores the row as accepted, and answers True when the
message is about one of its payments (and it applied it), False when it does not know the payment.
No handler knowing it makes the webhook "unknown_payment": refused, logged, and the provider
retries later (the deposit may not be committed yet). A handler must itself be idempotent per
object state (a later ``sequence`` wins): duplicates never reach it, but reordered events do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

WebhookHandler = Callable[[Any, Any, Any], bool]

webhook_handlers: list[WebhookHandler] = []


def register_webhook_handler(handler: WebhookHandler) -> WebhookHandler:
    """Add ``handler`` once (usable as a decorator)."""
    if handler not in webhook_handlers:
        webhook_handlers.append(handler)
    return handler


def unregister_webhook_handler(handler: WebhookHandler) -> None:
    if handler in webhook_handlers:
        webhook_handlers.remove(handler)
