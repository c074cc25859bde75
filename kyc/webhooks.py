"""The verification vendors' webhook inbox: every delivery is stored raw with what we made of it.

``vendor_webhook_receive`` verifies (the adapter's ``verify_webhook``: HMAC signature over the
timestamp and body, stale timestamps refused), finds the submission by the vendor's reference,
deduplicates by the vendor's event id and applies the result (kyc.vendor_services), in one
transaction: the accepted row and what the result changed commit together or not at all. A partial
unique index lets one accepted row exist per vendor and event id, so simultaneous copies of a
notification end as one "accepted" and the rest "duplicate"; a repeated notification changes nothing.

Answers: 200 accepted or duplicate; 401 bad signature or stale timestamp; 400 malformed (a NUL
byte in the body or text no column can hold included, the body kept with U+FFFD in its place);
404 unknown vendor or unknown reference (the vendor retries: the reference may not be committed yet).
Every refusal is logged (logger "kyc.webhooks") and kept as a VendorEvent row.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction

from crm.lib.validation import json_problem, storable, unstorable_problem
from kyc.exceptions import KycError, VendorWebhookRefused
from kyc.models import BUILTIN_VENDOR, VendorEvent, VendorEventOutcome
from kyc.vendor_services import submission_for_vendor_ref, vendor_result_apply
from kyc.vendors import VENDORS, vendor_get

logger = logging.getLogger("kyc.webhooks")

KEPT_HEADERS = ("content-type", "user-agent")
KEPT_PREFIXES = ("x-kyc-", "x-signature", "x-webhook-", "x-event-")
MAX_BODY = 256 * 1024
STATUS = {
    VendorEventOutcome.ACCEPTED: 200, VendorEventOutcome.DUPLICATE: 200,
    VendorEventOutcome.REFUSED_BAD_SIGNATURE: 401, VendorEventOutcome.REFUSED_STALE: 401,
    VendorEventOutcome.REFUSED_MALFORMED: 400, VendorEventOutcome.UNKNOWN_REFERENCE: 404,
    VendorEventOutcome.UNKNOWN_VENDOR: 404,
}


@dataclass(frozen=True)
class VendorWebhookReceipt:
    outcome: str
    status_code: int
    event: VendorEvent


def _kept(headers: Mapping[str, str]) -> dict[str, str]:
    return {storable(k.lower()): storable(v[:500]) for k, v in headers.items()
            if k.lower() in KEPT_HEADERS or k.lower().startswith(KEPT_PREFIXES)}


def _unstorable(note: Any) -> str | None:
    """Why the verified notification holds text no column can hold (a JSON "\\u0000"), or None."""
    for name, value in (("event_id", note.event_id), ("kind", note.kind), ("reference", note.result.reference),
                        ("external_ref", note.external_ref)):
        problem = unstorable_problem(str(value or ""))
        if problem:
            return f"{name}: {problem}"
    found = json_problem(note.raw) if note.raw else None
    return f"{found[0]}: {found[1]}" if found else None


def vendor_webhook_receive(*, vendor_code: str, headers: Mapping[str, str], body: bytes,
                           remote_addr: str | None = None, now: float | None = None) -> VendorWebhookReceipt:
    """Store and act on one notification; see the module's docstring for the outcomes."""
    base: dict[str, Any] = {"vendor": vendor_code[:40], "headers": _kept(headers),
                            "body": storable(body[:MAX_BODY].decode("utf-8", "replace")), "remote_addr": remote_addr}
    if vendor_code == BUILTIN_VENDOR or vendor_code not in VENDORS:
        logger.warning("KYC vendor webhook refused: unknown vendor", extra={"vendor": vendor_code[:40]})
        return _store(VendorEventOutcome.UNKNOWN_VENDOR, detail="no KYC vendor with this code", **base)
    if len(body) > MAX_BODY:
        logger.warning("KYC vendor webhook refused: too large", extra={"vendor": vendor_code})
        return _store(VendorEventOutcome.REFUSED_MALFORMED, detail="body too large", **base)
    if b"\x00" in body:
        logger.warning("KYC vendor webhook refused: NUL byte", extra={"vendor": vendor_code})
        return _store(VendorEventOutcome.REFUSED_MALFORMED, detail="the body contains a NUL byte", **base)
    try:
        note = vendor_get(vendor_code).verify_webhook(headers, body, now=now)
    except VendorWebhookRefused as exc:
        outcome = {"bad_signature": VendorEventOutcome.REFUSED_BAD_SIGNATURE,
                   "stale": VendorEventOutcome.REFUSED_STALE}.get(exc.reason, VendorEventOutcome.REFUSED_MALFORMED)
        logger.warning("KYC vendor webhook refused", extra={"vendor": vendor_code, "reason": exc.reason})
        return _store(outcome, signature_ok=exc.reason != "bad_signature", detail=exc.message[:300], **base)
    problem = _unstorable(note)
    if problem:
        logger.warning("KYC vendor webhook refused: unstorable text", extra={"vendor": vendor_code})
        return _store(VendorEventOutcome.REFUSED_MALFORMED, signature_ok=True, detail=problem[:300], **base)
    facts: dict[str, Any] = {"event_id": note.event_id[:200], "kind": note.kind[:60],
                             "reference": note.result.reference[:100], "signature_ok": True}
    with transaction.atomic():
        submission = submission_for_vendor_ref(vendor=vendor_code, reference=note.result.reference,
                                               external_ref=note.external_ref)
        if submission is None:
            logger.warning("KYC vendor webhook for an unknown reference",
                           extra={"vendor": vendor_code, "reference": note.result.reference})
            return _store(VendorEventOutcome.UNKNOWN_REFERENCE, detail="no submission has this reference",
                          **base, **facts)
        try:
            with transaction.atomic():
                event = VendorEvent.objects.create(outcome=VendorEventOutcome.ACCEPTED, submission=submission,
                                                   **base, **facts)
        except IntegrityError:
            return _store(VendorEventOutcome.DUPLICATE, submission=submission, **base, **facts)
        try:
            vendor_result_apply(submission=submission, result=note.result)
        except KycError as exc:
            # A result the state machine cannot take (raced with an officer's decision): kept for the
            # record, the submission is not touched.
            event.detail = f"not applied: {exc.message}"[:300]
            event.save(update_fields=["detail"])
            logger.warning("KYC vendor result not applied", extra={"vendor": vendor_code, "error": exc.code})
    return VendorWebhookReceipt(event.outcome, STATUS[VendorEventOutcome(event.outcome)], event)


def _store(outcome: VendorEventOutcome, *, detail: str = "", **fields: Any) -> VendorWebhookReceipt:
    event = VendorEvent.objects.create(outcome=outcome, detail=detail, **fields)
    return VendorWebhookReceipt(outcome, STATUS[outcome], event)
