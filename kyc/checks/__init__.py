"""The automatic KYC document checks: `check_documents` reads the files of one slot (identity or
proof of address) and returns a `Report` (kyc.checks.report): one named result per check with its
evidence, the decision (approve / review / reject) and the facts read off the documents.

Pure: no database, no network. The caller adds what needs the database (a file or a document number
seen before) and stores the report. OCR is offline (kyc.checks.ocr).

Identity checks: legibility (per file), document_type, mrz_found, mrz_check_digits, document_expiry
(an expiry within the policy's warning window passes with `expires_soon` in its evidence and in
facts["warnings"]), name_match, birth_date_match, issuing_country_allowed.
Proof-of-address checks: legibility (images), document_type, document_date, name_match, address_match.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from kyc.checks.inputs import Applicant, CheckPolicy, DocumentFile
from kyc.checks.report import CheckResult, Decision, OnFail, Outcome, Report

__all__ = ["Applicant", "CheckPolicy", "CheckResult", "Decision", "DocumentFile", "OnFail", "Outcome", "Report",
           "check_documents", "IDENTITY_KINDS", "ADDRESS_KINDS", "SLOTS"]

IDENTITY_KINDS = ("passport", "id_card", "driving_licence")
ADDRESS_KINDS = ("utility_bill", "bank_statement")
SLOTS = {"identity": IDENTITY_KINDS, "address": ADDRESS_KINDS}


def check_documents(*, slot: str, files: Sequence[DocumentFile], applicant: Applicant, policy: CheckPolicy,
                    as_of: date) -> Report:
    """Run every automatic check of the slot ("identity" | "address") on the files."""
    if slot not in SLOTS:
        raise ValueError(f"unknown slot {slot!r}")
    if slot == "identity":
        from kyc.checks.identity import check_identity

        return check_identity(files=files, applicant=applicant, policy=policy, as_of=as_of)
    from kyc.checks.address import check_address

    return check_address(files=files, applicant=applicant, policy=policy, as_of=as_of)
