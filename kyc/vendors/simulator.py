"""The adapter of the KYC vendor simulator (kyc.vendor_simulator), written to its documented API as
it would be to a real vendor's: HMAC-signed REST calls, applicants with their documents, results by
signed webhook or by lookup. The vendor's own words are normalised here: "approved" / "declined" /
"manual_review", and per check "clear" / "consider" / "unreadable"."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from kyc.checks.report import Outcome
from kyc.exceptions import VendorProtocolError, VendorWebhookRefused
from kyc.vendors.base import (
    KycVendor,
    VendorCheck,
    VendorNotification,
    VendorOutcome,
    VendorResult,
    VendorStart,
    VerificationRequest,
)
from plumbing.signatures import SignatureError, verify_parts

OUTCOMES = {"approved": VendorOutcome.APPROVE, "declined": VendorOutcome.REJECT,
            "manual_review": VendorOutcome.REVIEW}
CHECK_OUTCOMES = {"clear": Outcome.PASS, "consider": Outcome.FAIL, "unreadable": Outcome.UNREADABLE}


class SimulatorVendor(KycVendor):
    code = "kycsim"

    def _call(self, method: str, target: str, payload: Mapping[str, Any] | None = None) -> dict[str, Any]:
        # Every call is idempotent (an applicant is keyed by our reference): retried on any failure
        # but a refusal.
        return self.answer_object(self.call(method, target, payload, idempotent=True), "vendor")

    def start(self, request: VerificationRequest) -> VendorStart:
        applicant = request.applicant
        data = self._call("POST", "/v1/applicants", {
            "external_id": request.reference, "first_name": applicant.first_name, "last_name": applicant.last_name,
            "date_of_birth": applicant.date_of_birth.isoformat() if applicant.date_of_birth else "",
            "country": applicant.country, "address": applicant.address, "email": request.email,
            "webhook_url": request.webhook_url,
            "documents": [{"kind": d.kind, "side": d.side, "filename": d.filename, "content_type": d.content_type,
                           "sha256": d.sha256, "data": base64.b64encode(d.data).decode()} for d in request.documents],
        })
        reference = str(data.get("id") or "")
        if not reference:
            raise VendorProtocolError("The vendor's answer has no applicant id.", request_sent=True)
        result = self._result(data) if data.get("status") == "completed" else None
        return VendorStart(reference=reference, result=result, raw=data)

    def fetch_result(self, reference: str) -> VendorResult:
        return self._result(self._call("GET", f"/v1/applicants/{reference}"))

    @staticmethod
    def _result(data: Mapping[str, Any]) -> VendorResult:
        """An applicant as the vendor shows it, normalised (pending while it has no result)."""
        try:
            reference = str(data["id"])
            result = data.get("result") or None
            if data.get("status") != "completed" or not isinstance(result, dict):
                return VendorResult(reference=reference, outcome=VendorOutcome.PENDING, raw=dict(data))
            checks = tuple(VendorCheck(name=str(c["type"]), outcome=CHECK_OUTCOMES[str(c["result"])],
                                       evidence=dict(c.get("details") or {}), document=str(c.get("document") or ""))
                           for c in result.get("checks") or ())
            facts = {k: v for k, v in dict(result.get("document") or {}).items()
                     if k in ("document_number", "expiry_date", "document_type", "issuing_country")}
            return VendorResult(reference=reference, outcome=OUTCOMES[str(result["answer"])], checks=checks,
                                reason=str(result.get("reason") or "")[:500], sequence=int(result.get("sequence") or 0),
                                facts=facts, raw=dict(data))
        except (KeyError, TypeError, ValueError):
            raise VendorProtocolError("The vendor's result has an unknown shape.", request_sent=True) from None

    def verify_webhook(self, headers: Mapping[str, str], body: bytes, *, now: float | None = None) -> \
            VendorNotification:
        lower = {k.lower(): v for k, v in headers.items()}
        try:
            verify_parts(secret=self.config.webhook_secret, timestamp=lower.get("x-kyc-timestamp", ""),
                         signature=lower.get("x-kyc-signature", ""), body=body, now=now,
                         tolerance=self.config.webhook_tolerance_seconds)
        except SignatureError as exc:
            reason = "stale" if exc.reason == "stale" else "bad_signature"
            raise VendorWebhookRefused(reason, str(exc)) from None
        try:
            doc = json.loads(body)
            event_id = str(doc["id"])
            kind = str(doc["type"])
            occurred = dt.datetime.fromisoformat(str(doc["created"]).replace("Z", "+00:00"))
            applicant = doc["data"]
            result = self._result(applicant)
            external_ref = str(applicant.get("external_id") or "")
        except (ValueError, KeyError, TypeError, VendorProtocolError):
            raise VendorWebhookRefused("malformed", "The body is not a notification we understand.") from None
        if not event_id or lower.get("x-kyc-event-id", event_id) != event_id:
            raise VendorWebhookRefused("malformed", "The event id header and body disagree.")
        return VendorNotification(event_id=event_id, kind=kind, result=result, external_ref=external_ref,
                                  occurred_at=occurred.astimezone(dt.UTC), raw=doc)
