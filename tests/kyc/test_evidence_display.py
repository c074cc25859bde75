"""A check's evidence on the review page reads as labels and values, never as a Python dict."""

from __future__ import annotations

import pytest
from django.urls import reverse

from kyc.checks.report import CheckResult, Outcome, Report
from kyc.services import submission_checks_record
from tests.kyc.conftest import submit

pytestmark = pytest.mark.django_db


def test_the_review_page_shows_evidence_as_labelled_values(kyc_world, client, login_verified):
    evidence = {"read": "JOHN SMYTH", "expected_name": "John Smith", "ocr_lines": ["P<GBR", "SMYTH<<JOHN"],
                "scores": {"similarity": "0.81", "threshold_met": False}, "pages": [{"page_number": 1}]}
    report = Report(checks=(CheckResult(name="name_matches", outcome=Outcome.FAIL, document="passport.png",
                                        evidence=evidence),), facts={"document_type": "passport"})
    submission = submission_checks_record(submission=submit(kyc_world.client), report=report)
    login_verified(client, kyc_world.officer)
    html = client.get(reverse("kyc_submission", args=[submission.code])).content.decode()
    row = html.split('data-check="name_matches"', 1)[1].split("</tr>", 1)[0]
    assert "{'" not in row and "{&#x27;" not in row and "[&#x27;" not in row, row
    assert "<dt>Expected name</dt><dd>John Smith</dd>" in row
    assert "<dt>Ocr lines</dt><dd>P&lt;GBR, SMYTH&lt;&lt;JOHN</dd>" in row
    assert "<dt>Threshold met</dt><dd>no</dd>" in row and "<dt>Similarity</dt><dd>0.81</dd>" in row
    assert "<dt>Page number</dt><dd>1</dd>" in row
