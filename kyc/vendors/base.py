"""One interface for every verification vendor, with the value types it speaks.

A vendor checks a submission's documents against the applicant and says approve, review or reject,
with per-check results and their evidence. The built-in checks (kyc.checks) are one vendor; an
external one (kyc.vendors.simulator) is reached over HTTP and answers later, by a signed webhook.
Adapters know nothing of the database: they get a ``VendorConfig`` and a ``VerificationRequest``
and give back these dataclasses; their configuration, calls (timeouts, retries) and registration are
every adapter's (plumbing.adapters). What the KYC services need from a vendor:

* ``start``: send the applicant and documents. Our submission's code is the vendor's external id,
  so sending it again gives the same applicant (safe to retry). A synchronous vendor (the built-in
  checks) answers with the final result at once; an external one with its reference.
* ``verify_webhook``: signature (HMAC-SHA256 over "<timestamp>." + body,
  plumbing.signatures.verify_parts) and freshness checked, the body parsed into a ``VendorNotification``; or ``VendorWebhookRefused``.
* ``fetch_result``: the current result by the vendor's reference (a webhook that never came).

A result carries a ``sequence``: the vendor numbers the results of one applicant, so a late copy of
an older result is recognised and changes nothing; a higher number is a changed result (approved,
then rejected by the vendor's ongoing monitoring).
"""

from __future__ import annotations

import abc
import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.utils.translation import gettext_noop

from kyc.checks import Applicant, CheckPolicy
from kyc.checks.report import CheckResult, OnFail, Outcome, Report
from kyc.exceptions import (
    VendorError,
    VendorProtocolError,
    VendorRejected,
    VendorTimeout,
    VendorUnavailable,
    VendorWebhookRefused,
)
from plumbing.adapters import Adapter, AdapterConfig
from plumbing.http import HttpErrors

VENDOR_DECISION = "vendor_decision"
REJECT_HINT = gettext_noop("Send clear photos of valid documents that are yours and match your registration.")


class VendorOutcome(enum.StrEnum):
    PENDING = "pending"  # still checking: the result comes by webhook (or a later fetch)
    APPROVE = "approve"
    REVIEW = "review"  # the vendor could not decide: an officer does
    REJECT = "reject"


@dataclass(frozen=True)
class VendorConfig(AdapterConfig):
    """What an adapter needs (settings.KYC_VENDORS[code]). Every call to a vendor is idempotent
    (keyed by our reference), so ``retries`` applies to all of them."""


@dataclass(frozen=True)
class VendorDocument:
    kind: str  # kyc.models.DocumentKind
    side: str
    filename: str
    content_type: str
    sha256: str
    data: bytes


@dataclass(frozen=True)
class VerificationRequest:
    reference: str  # our submission's code: the vendor's external id, so a resend is the same applicant
    applicant: Applicant
    policy: CheckPolicy
    documents: tuple[VendorDocument, ...]
    as_of: date
    webhook_url: str = ""
    email: str = ""


@dataclass(frozen=True)
class VendorCheck:
    """One check the vendor ran, normalised: its name, pass/fail/unreadable and the evidence."""

    name: str
    outcome: Outcome
    evidence: Mapping[str, Any] = field(default_factory=dict)
    document: str = ""


@dataclass(frozen=True)
class VendorResult:
    """A vendor's result, normalised. ``raw`` keeps what the vendor sent, as it sent it."""

    reference: str  # the vendor's reference of the applicant
    outcome: VendorOutcome
    checks: tuple[VendorCheck, ...] = ()
    reason: str = ""  # the vendor's words, for the officer
    sequence: int = 0
    facts: Mapping[str, Any] = field(default_factory=dict)  # as Report.facts: document_number, expiry_date ...
    raw: Mapping[str, Any] = field(default_factory=dict)
    report: Report | None = None  # the built-in checks give their own Report

    @property
    def final(self) -> bool:
        return self.outcome is not VendorOutcome.PENDING

    def as_report(self, vendor: str) -> Report:
        """The result as the checks' Report the review queue reads: the vendor's checks (a failure
        sends to review), and its decision as one more check that decides (reject refuses, review
        queues); a vendor's approval with a failed check of its own still goes to review."""
        if self.report is not None:
            return self.report
        checks = [CheckResult(name=c.name[:60], outcome=c.outcome, evidence={**dict(c.evidence), "vendor": vendor},
                              document=c.document, on_fail=OnFail.REVIEW) for c in self.checks]
        evidence = {"vendor": vendor, "reference": self.reference, "outcome": str(self.outcome),
                    "reason": self.reason, "sequence": self.sequence}
        if self.outcome is VendorOutcome.APPROVE:
            checks.append(CheckResult(name=VENDOR_DECISION, outcome=Outcome.PASS, evidence=evidence))
        elif self.outcome is VendorOutcome.REJECT:
            checks.append(CheckResult(name=VENDOR_DECISION, outcome=Outcome.FAIL, evidence=evidence,
                                      on_fail=OnFail.REJECT, client_hint=REJECT_HINT))
        else:
            checks.append(CheckResult(name=VENDOR_DECISION, outcome=Outcome.FAIL, evidence=evidence))
        return Report(checks=tuple(checks), engine_version=f"vendor:{vendor}", facts=dict(self.facts))


@dataclass(frozen=True)
class VendorStart:
    reference: str
    result: VendorResult | None = None  # given at once by a synchronous vendor
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class VendorNotification:
    event_id: str  # the vendor's id of this notification: copies share it
    kind: str
    result: VendorResult
    external_ref: str  # our reference (the submission's code) as the vendor echoes it
    occurred_at: dt.datetime
    raw: Mapping[str, Any] = field(default_factory=dict)


class KycVendor(Adapter[VendorConfig], abc.ABC):
    """A verification vendor's adapter."""

    code: str = ""
    external: bool = True  # answers later (webhook / fetch); False: `start` gives the result
    errors = HttpErrors(unavailable=VendorUnavailable, timeout=VendorTimeout, rejected=VendorRejected,
                        protocol=VendorProtocolError)
    failed = VendorError
    rejected = VendorRejected

    @abc.abstractmethod
    def start(self, request: VerificationRequest) -> VendorStart: ...

    def verify_webhook(self, headers: Mapping[str, str], body: bytes, *, now: float | None = None) -> \
            VendorNotification:
        raise VendorWebhookRefused("malformed", "This vendor sends no webhooks.")

    def fetch_result(self, reference: str) -> VendorResult:
        """A vendor that answers at once (`external` False) keeps no results to look up: asking is
        refused like any request the vendor turns down, and the caller records it."""
        raise VendorRejected(f"{self.code} keeps no results to look up.", code="kyc_vendor_no_lookup")
