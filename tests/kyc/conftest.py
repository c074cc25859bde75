"""KYC test world, built through the services: a brand with its policy, two compliance officers, an
agent who owns the client (no KYC rights), an agent of another brand, and helpers that send
documents (real PNG/PDF bytes made with Pillow) and record the automatic checks' Report."""

from __future__ import annotations

import io
from datetime import date, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from kyc.checks.report import CheckResult, OnFail, Outcome, Report


@pytest.fixture(autouse=True)
def _kyc_storage(settings, tmp_path):
    settings.KYC_STORAGE_DIR = tmp_path / "kyc-private"
    return settings.KYC_STORAGE_DIR


@pytest.fixture
def kyc_checks_isolated(settings):
    """The built-in checks on their production path, each submission's in a process of its own
    (crm/settings/test.py runs them in the test's process, which is seconds faster a submission)."""
    settings.KYC_CHECKS_ISOLATED = True


def png(text: str = "ID", size: tuple[int, int] = (320, 200), colour: str = "white") -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", size, colour)
    ImageDraw.Draw(image).text((10, 10), text, fill="black")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def pdf(text: str = "Utility bill") -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (400, 560), "white")
    ImageDraw.Draw(image).text((20, 20), text, fill="black")
    out = io.BytesIO()
    image.save(out, format="PDF")
    return out.getvalue()


def documents(tag: str = "") -> list[Any]:
    from kyc.services import DocumentIn

    return [DocumentIn(kind="passport", filename="passport.png", data=png(f"PASSPORT {tag}"), field="identity"),
            DocumentIn(kind="utility_bill", filename="bill.pdf", data=pdf(f"BILL {tag}"), field="address")]


def report(*, decision: str = "approve", number: str = "", expiry: date | None = None,
           hint: str = "Send a passport that has not expired.") -> Report:
    """A Report as the checks engine would give: all passed, one failing for review, or one refusing."""
    checks = [CheckResult(name="mrz_check_digits", outcome=Outcome.PASS, document="passport.png",
                          evidence={"line": "P<GBR..."})]
    if decision == "review":
        checks.append(CheckResult(name="name_matches", outcome=Outcome.FAIL, document="passport.png",
                                  evidence={"read": "JOHN SMYTH", "expected": "John Smith"}))
    elif decision == "reject":
        checks.append(CheckResult(name="document_not_expired", outcome=Outcome.FAIL, document="passport.png",
                                  on_fail=OnFail.REJECT, client_hint=hint, evidence={"expiry_date": "2020-01-01"}))
    facts: dict[str, Any] = {"document_type": "passport"}
    if number:
        facts["document_number"] = number
    facts["expiry_date"] = (expiry or date.today() + timedelta(days=3 * 365)).isoformat()
    return Report(checks=tuple(checks), facts=facts)


@pytest.fixture
def kyc_world(db):
    from crm.models import RoleCode
    from kyc.services import kyc_policy_save, kyc_profile_save
    from tests.factories import make_brand, make_client, make_desk, make_user

    brand = make_brand()
    desk = make_desk(brand=brand)
    officer = make_user(role_code=RoleCode.COMPLIANCE, brand=brand, full_name="Priya Officer")
    officer2 = make_user(role_code=RoleCode.COMPLIANCE, brand=brand, full_name="Second Officer")
    admin = make_user(role_code=RoleCode.ADMIN)
    agent = make_user(role_code=RoleCode.SALES_AGENT, desk=desk)
    outsider = make_user(role_code=RoleCode.COMPLIANCE, brand=make_brand())
    kyc_policy_save(actor=admin, brand=brand, allowed_issuing_countries=[], poa_max_age_days=90,
                    expiry_warning_days=30, review_sla_hours=24, high_risk_countries=["IR"],
                    expiry_holds=["withdrawals"])
    client = make_client(actor=agent, brand=brand, email="kyc.client@example.com", country="GB", language="en",
                         stage="registered")
    kyc_profile_save(client=client, actor=None, address_line1="1 High Street", city="London", postcode="SW1A 1AA",
                     country="GB")
    return SimpleNamespace(brand=brand, desk=desk, officer=officer, officer2=officer2, admin=admin, agent=agent,
                           outsider=outsider, client=client)


def submit(client: Any, *, tag: str = "") -> Any:
    from kyc.services import submission_create

    return submission_create(client=client, documents=documents(tag or str(client.pk)))


def submit_for_review(client: Any, **kwargs: Any) -> Any:
    from kyc.services import submission_checks_record

    return submission_checks_record(submission=submit(client), report=report(decision="review", **kwargs))


@pytest.fixture(scope="session")
def shared_ocr():
    """The OCR engine's models remembered per input for the session (tests/kyc/ocr_memo.py): a test
    file that reads the same generated documents many times asks for it with
    `pytestmark = pytest.mark.usefixtures("shared_ocr")`. KYC_TEST_OCR_MEMO=0 reads every time (to
    compare times, or to rule the memory out)."""
    import os

    from tests.kyc.ocr_memo import remembering_engine

    if os.environ.get("KYC_TEST_OCR_MEMO", "1") == "0":
        yield None
        return
    yield from remembering_engine()


@pytest.fixture(scope="session")
def kycsim_session():
    from tests.kyc.vendor_support import start_kycsim, stop_kycsim

    sim = start_kycsim()
    try:
        yield sim
    finally:
        stop_kycsim(sim)


@pytest.fixture
def kycsim(kycsim_session, settings):
    """The session's KYC vendor simulator with no faults, and the CRM configured to reach it."""
    settings.KYC_VENDORS = kycsim_session.settings()
    kycsim_session.control("/_sim/faults/clear", {})
    yield kycsim_session
    kycsim_session.control("/_sim/faults/clear", {})
