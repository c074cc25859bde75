"""Demo verification material (kyc_seed_demo and the trader's room's funded demo client): a simple
passport-like card as PNG and a bill as PDF (not meant to pass OCR), and check Reports recorded
through kyc.services, which decide as they would for the real engine."""

from __future__ import annotations

import io
from datetime import date, timedelta

from django.utils import timezone

from crm.models import Client
from kyc.checks.report import CheckResult, OnFail, Outcome, Report
from kyc.models import Submission


def demo_passport_png(name: str, number: str) -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (640, 400), (226, 234, 244))
    draw = ImageDraw.Draw(image)
    draw.rectangle((20, 20, 620, 380), outline=(40, 60, 110), width=4)
    draw.rectangle((40, 80, 200, 300), fill=(190, 200, 215))
    draw.text((230, 60), "PASSPORT  (demo)", fill=(20, 30, 60))
    draw.text((230, 110), f"Name: {name}", fill=(20, 30, 60))
    draw.text((230, 150), f"No: {number}", fill=(20, 30, 60))
    draw.text((40, 330), f"P<DEMO<<{name.upper().replace(' ', '<')}<<<<<<<<<<<<", fill=(20, 30, 60))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def demo_bill_pdf(name: str, address: str) -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (595, 842), "white")
    draw = ImageDraw.Draw(image)
    draw.text((40, 40), "DEMO ENERGY LTD - electricity bill", fill="black")
    draw.text((40, 100), name, fill="black")
    draw.text((40, 120), address, fill="black")
    draw.text((40, 180), f"Issued: {timezone.localdate().isoformat()}", fill="black")
    out = io.BytesIO()
    image.save(out, format="PDF")
    return out.getvalue()


def demo_report(kind: str, number: str, expiry: date) -> Report:
    checks = [CheckResult(name="mrz_check_digits", outcome=Outcome.PASS, document="passport.png"),
              CheckResult(name="document_not_expired", outcome=Outcome.PASS, document="passport.png",
                          evidence={"expiry_date": expiry.isoformat()})]
    if kind == "review":
        checks.append(CheckResult(name="name_matches", outcome=Outcome.FAIL, document="passport.png",
                                  evidence={"read": "A. N. OTHER", "expected": "registration name"}))
        checks.append(CheckResult(name="poa_address_matches", outcome=Outcome.UNREADABLE, document="bill.pdf"))
    elif kind == "reject":
        checks[1] = CheckResult(name="document_not_expired", outcome=Outcome.FAIL, document="passport.png",
                                on_fail=OnFail.REJECT, client_hint="Send a passport that has not expired.",
                                evidence={"expiry_date": "2019-04-30"})
    return Report(checks=tuple(checks), facts={"document_type": "passport", "document_number": number,
                                               "expiry_date": expiry.isoformat(), "issuing_country": "GBR"})


def demo_submission(*, client: Client, n: int, decision: str = "approve", expiry_days: int = 900,
                    address: str = "", country: str = "") -> Submission:
    """A demo verification of `client`: an address, a passport and a bill submitted, and the checks'
    report recorded with `decision` ("approve", "review", "reject"), the passport running out in
    `expiry_days` days. Returns the submission as the checks left it."""
    from kyc import services
    from kyc.services import DocumentIn

    address = address or f"{10 + n} Demo Street"
    services.kyc_profile_save(client=client, actor=None, address_line1=address, city="London",
                              postcode="SW1A 1AA", country=country or client.country or "GB")
    number = f"DM{client.brand_id:02d}{n:06d}"
    docs = [DocumentIn(kind="passport", filename="passport.png", data=demo_passport_png(client.full_name, number)),
            DocumentIn(kind="utility_bill", filename="bill.pdf", data=demo_bill_pdf(client.full_name, address))]
    submission = services.submission_create(client=client, documents=docs)
    expiry = timezone.localdate() + timedelta(days=expiry_days)
    return services.submission_checks_record(submission=submission, report=demo_report(decision, number, expiry))


def demo_verified(*, client: Client, n: int) -> bool:
    """Whether `client` is verified as a funded demo client must be, verifying it through the KYC
    services when nothing was ever asked of it: a demo submission approved by the automatic checks,
    as a good passport and bill are (`n` numbers its passport). A client whose verification is
    pending, refused or expired (a story of the KYC demo, or a high-risk client waiting for a second
    officer) is left as it is: False."""
    from crm.selectors import client_verified
    from kyc.models import KycStatus
    from kyc.selectors import kyc_status

    if client_verified(client=client):
        return True
    if kyc_status(client=client) != KycStatus.UNVERIFIED:
        return False
    demo_submission(client=client, n=n)
    return client_verified(client=client)
