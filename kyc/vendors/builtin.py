"""The built-in checks (kyc.checks) as a vendor: synchronous, offline, the default of every brand.

The checks run in a process of their own (kyc.checks.isolated) unless settings.KYC_CHECKS_ISOLATED is
off: what a document costs to read never stays in the worker that asked."""

from __future__ import annotations

from django.conf import settings

from kyc.checks.isolated import SubmittedFile, check_submission, check_submission_isolated
from kyc.vendors.base import KycVendor, VendorOutcome, VendorResult, VendorStart, VerificationRequest


class BuiltinVendor(KycVendor):
    code = "builtin"
    external = False

    def start(self, request: VerificationRequest) -> VendorStart:
        """Run every automatic check of each slot and answer the Report at once."""
        files = [SubmittedFile(data=d.data, filename=d.filename, kind=d.kind, side=d.side) for d in request.documents]
        if settings.KYC_CHECKS_ISOLATED:
            report = check_submission_isolated(files=files, applicant=request.applicant, policy=request.policy,
                                               as_of=request.as_of).report
        else:
            report = check_submission(files=files, applicant=request.applicant, policy=request.policy,
                                      as_of=request.as_of)
        outcome = VendorOutcome(str(report.decision))
        return VendorStart(reference=request.reference,
                           result=VendorResult(reference=request.reference, outcome=outcome, report=report))
