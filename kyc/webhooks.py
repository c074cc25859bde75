"""The verification vendors' webhook inbox: every delivery is stored raw with what we made of it
(crm.lib.webhooks: the steps, the idempotency, the answers).

``vendor_webhook_receive`` verifies (the adapter's ``verify_webhook``: HMAC signature over the
timestamp and body, stale timestamps refused), finds the submission by the vendor's reference,
deduplicates by the vendor's event id and applies the result (kyc.vendor_services), in one
transaction: the accepted row and what the result changed commit together or not at all.

Answers: 200 accepted or duplicate; 401 bad signature or stale timestamp; 400 malformed (a NUL
byte in the body or text no column can hold included, the body kept with U+FFFD in its place);
404 unknown vendor or unknown reference (the vendor retries: the reference may not be committed yet).
Every refusal is logged (logger "kyc.webhooks") and kept as a VendorEvent row.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from crm.lib.webhooks import ACCEPTED, Finding, Receipt, WebhookInbox
from kyc.exceptions import KycError, VendorWebhookRefused
from kyc.models import BUILTIN_VENDOR, VendorEvent, VendorEventOutcome
from kyc.vendor_services import submission_for_vendor_ref, vendor_result_apply
from kyc.vendors import VENDORS, vendor_get
from kyc.vendors.base import KycVendor, VendorNotification


class VendorInbox(WebhookInbox[VendorEvent, KycVendor, VendorNotification]):
    def sender(self, code: str) -> KycVendor | Finding:
        if code == BUILTIN_VENDOR or code not in VENDORS:
            return Finding(VendorEventOutcome.UNKNOWN_VENDOR, "no KYC vendor with this code",
                           "KYC vendor webhook refused: unknown vendor")
        return vendor_get(code)

    def verify(self, sender: KycVendor, headers: Mapping[str, str], body: bytes, now: Any) -> VendorNotification:
        return sender.verify_webhook(headers, body, now=now)

    def texts(self, note: VendorNotification) -> Mapping[str, object]:
        return {"event_id": note.event_id, "kind": note.kind, "reference": note.result.reference,
                "external_ref": note.external_ref}

    def facts(self, note: VendorNotification) -> dict[str, Any]:
        return {"event_id": note.event_id[:200], "kind": note.kind[:60], "reference": note.result.reference[:100]}

    def locate(self, sender: KycVendor, note: VendorNotification) -> dict[str, Any] | Finding:
        submission = submission_for_vendor_ref(vendor=sender.config.code, reference=note.result.reference,
                                               external_ref=note.external_ref)
        if submission is None:
            return Finding(VendorEventOutcome.UNKNOWN_REFERENCE, "no submission has this reference",
                           "KYC vendor webhook for an unknown reference", {"reference": note.result.reference})
        return {"submission": submission}

    def apply(self, sender: KycVendor, note: VendorNotification, row: VendorEvent) -> Finding | None:
        assert row.submission is not None  # located above
        try:
            vendor_result_apply(submission=row.submission, result=note.result)
        except KycError as exc:
            # A result the state machine cannot take (raced with an officer's decision): kept for the
            # record, the submission is not touched.
            return Finding(ACCEPTED, f"not applied: {exc.message}", "KYC vendor result not applied",
                           {"error": exc.code})
        return None


INBOX = VendorInbox(VendorEvent, VendorEventOutcome, VendorWebhookRefused, sender_field="vendor", log_key="vendor",
                    label="KYC vendor webhook", header_prefix="x-kyc-", logger=logging.getLogger("kyc.webhooks"))
VendorWebhookReceipt = Receipt[VendorEvent, VendorNotification]


def vendor_webhook_receive(*, vendor_code: str, headers: Mapping[str, str], body: bytes,
                           remote_addr: str | None = None, now: float | None = None) -> VendorWebhookReceipt:
    """Store and act on one notification; see the module's docstring for the outcomes."""
    return INBOX.receive(sender=vendor_code, headers=headers, body=body, remote_addr=remote_addr, now=now)
