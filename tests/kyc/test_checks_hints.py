"""A hint with a number or a list in it (a bill's age limit, the allowed countries) reaches the client
translated into their language, with the number filled in after translating."""

from __future__ import annotations

from kyc.checks.address import HINT_OLD
from kyc.checks.report import CheckResult, OnFail, Outcome, Report, hinted
from tests.kyc.conftest import submit


def _too_old() -> Report:
    evidence, hint = hinted({"age_days": 130, "max_age_days": 90}, HINT_OLD, days=90)
    check = CheckResult("document_date", Outcome.FAIL, evidence, "bill.pdf", OnFail.REJECT, hint)
    return Report(checks=(check,), facts={"document_type": "utility_bill"})


def test_the_report_keeps_a_plain_english_hint_and_its_template():
    check = Report.from_dict(_too_old().as_dict()).checks[0]
    assert check.client_hint.startswith("This document is older than 90 days.")
    assert check.hint_message == (HINT_OLD, {"days": 90})


def test_an_arabic_client_gets_the_age_limit_in_arabic(kyc_world):
    from kyc.services import submission_checks_record
    from tests.factories import make_client

    client = make_client(actor=kyc_world.agent, brand=kyc_world.brand, email="ar.client@example.com", country="AE",
                         language="ar", stage="registered")
    submission = submission_checks_record(submission=submit(client), report=_too_old())
    [hint] = submission.client_hints
    assert "هذا المستند أقدم من 90 يومًا" in hint and "%(days)s" not in hint
    english = submission_checks_record(submission=submit(kyc_world.client), report=_too_old())
    assert english.client_hints == [_too_old().checks[0].client_hint]
