"""Helpers of the wallet tests: completing a hosted checkout as a browser would, signing webhooks."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import http.client
import json
import time
import uuid
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.db import transaction

from crm.lib.money import Money
from wallet.deposits import deposit_create, deposit_webhook_apply
from wallet.providers.base import ClientFacts, DepositRequest, WebhookKind, WebhookMessage


def checkout(url: str, form: dict[str, str], *, suffix: str = "") -> tuple[int, str, str]:
    """GET the hosted page, then POST ``form`` to it: (status, Location, page text)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request("GET", parts.path)
        page = conn.getresponse().read().decode()
        conn.request("POST", parts.path + suffix, body=urlencode(form),
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        response = conn.getresponse()
        text = response.read().decode()
        return response.status, response.getheader("Location", ""), page + text
    finally:
        conn.close()


def deposit_request(*, amount: str = "100.00", currency: str = "USD", method: str = "card", webhook_url: str = "",
                    merchant_ref: str | None = None) -> DepositRequest:
    return DepositRequest(merchant_ref=merchant_ref or f"dep-{uuid.uuid4().hex[:12]}", amount=Money(amount, currency),
                          method=method, client=ClientFacts(reference="C-1", email="ann@example.com", country="DE"),
                          return_url="https://crm.example.com/portal/deposits/return", webhook_url=webhook_url)


def signed_webhook(secret: str, *, event_type: str = "payment.succeeded", merchant_ref: str = "dep-1",
                   event_id: str | None = None, timestamp: int | None = None, data: dict[str, Any] | None = None,
                   ) -> tuple[dict[str, str], bytes]:
    """A notification as the simulator signs it."""
    event_id = event_id or f"evt_{uuid.uuid4().hex[:16]}"
    body = json.dumps({"id": event_id, "type": event_type, "created": "2026-03-02T10:00:00.000Z", "data": {
        "object": "payment", "id": "pay_1", "merchant_ref": merchant_ref, "amount": "100.00", "currency": "USD",
        "fee": "3.20", "status": "succeeded", "sequence": 2, **(data or {})}}, separators=(",", ":")).encode()
    ts = str(timestamp if timestamp is not None else int(time.time()))
    signature = hmac.new(secret.encode(), f"{ts}.{body.decode()}".encode(), hashlib.sha256).hexdigest()
    return {"X-Psp-Event-Id": event_id, "X-Psp-Timestamp": ts, "X-Psp-Signature": signature,
            "Content-Type": "application/json"}, body


def wire_deposit(wire: Any, client: Any, amount: str, when: dt.datetime) -> None:
    """A bank wire asked for and confirmed by the provider's notification, with its business time."""
    deposit = deposit_create(client=client, amount=Money(amount, "USD"), method="bank_wire", return_url="")
    message = WebhookMessage(kind=WebhookKind.DEPOSIT_SUCCEEDED, event_id=f"evt-{deposit.merchant_ref}",
                             provider_ref=deposit.provider_ref, merchant_ref=deposit.merchant_ref,
                             amount=Money(amount, "USD"), fee=None, occurred_at=when, sequence=1)
    with transaction.atomic():
        deposit_webhook_apply(wire, message, None)
