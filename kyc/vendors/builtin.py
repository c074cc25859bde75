"""The built-in checks (kyc.checks) as a vendor: synchronous, offline, the default of every brand."""

from __future__ import annotations

from kyc.checks import DocumentFile, check_documents
from kyc.checks.report import CheckResult, OnFail, Outcome, Report
from kyc.exceptions import UploadRefused
from kyc.models import Slot
from kyc.uploads import upload_validate
from kyc.vendors.base import KycVendor, VendorOutcome, VendorResult, VendorStart, VerificationRequest

SLOT_KINDS = {Slot.IDENTITY: ("passport", "id_card", "driving_licence"),
              Slot.ADDRESS: ("utility_bill", "bank_statement")}


class BuiltinVendor(KycVendor):
    code = "builtin"
    external = False

    def start(self, request: VerificationRequest) -> VendorStart:
        """Run every automatic check of each slot and answer the Report at once."""
        report = Report(checks=())
        for slot in (Slot.IDENTITY, Slot.ADDRESS):
            files = []
            refused = []
            for d in request.documents:
                if d.kind not in SLOT_KINDS[slot]:
                    continue
                try:
                    files.append(DocumentFile(upload=upload_validate(d.data, filename=d.filename), kind=d.kind,
                                              side=d.side))
                except UploadRefused as exc:
                    # A stored file the upload checks now refuse (stored before they existed): it is not
                    # opened, and an officer looks at the submission.
                    refused.append(CheckResult("file_accepted", Outcome.UNREADABLE, {"problem": exc.message},
                                               d.filename, OnFail.REVIEW))
            if refused:
                report = report + Report(checks=tuple(refused))
            elif files:
                report = report + check_documents(slot=slot, files=files, applicant=request.applicant,
                                                  policy=request.policy, as_of=request.as_of)
        outcome = VendorOutcome(str(report.decision))
        return VendorStart(reference=request.reference,
                           result=VendorResult(reference=request.reference, outcome=outcome, report=report))
