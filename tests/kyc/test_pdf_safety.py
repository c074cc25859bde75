"""Hostile PDFs sent as KYC documents: a decompression bomb on a 200-inch page, active content
(JavaScript run on opening), and the memory one PDF costs the checks. The PDFs are written by hand
(raw PDF syntax, zlib), small on disk."""

from __future__ import annotations

import functools
import io
import json
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from kyc.exceptions import UploadRefused
from kyc.uploads import upload_validate

REPO = Path(__file__).resolve().parents[2]


def raw_pdf(*objects: bytes, trailer: bytes = b"") -> bytes:
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(b"trailer\n<< /Size %d /Root 1 0 R %s >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, trailer, xref))
    return out.getvalue()


def page_pdf(content: bytes, *, side: int = 595, catalog_extra: bytes = b"", compress: bool = True) -> bytes:
    stream = zlib.compress(content, 9) if compress else content
    flate = b" /Filter /FlateDecode" if compress else b""
    return raw_pdf(
        b"<< /Type /Catalog /Pages 2 0 R " + catalog_extra + b" >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] /Resources << /Font << /F1 5 0 R >> >> "
        b"/Contents 4 0 R >>" % (side, side),
        b"<< /Length %d%s >>\nstream\n" % (len(stream), flate) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    )


LINE = b"0 0 m 14400 14400 l S\n"


@functools.cache
def bomb(*, side: int = 14400, megabytes: int = 100) -> bytes:
    """The reported file: a 14,400 pt square page whose content stream inflates to 100 MB."""
    return page_pdf(LINE * (megabytes * 1024 * 1024 // len(LINE)), side=side)


TEXT = b"BT /F1 24 Tf 72 700 Td (PASSPORT) Tj ET\n"


def refusal(data: bytes) -> str:
    with pytest.raises(UploadRefused) as refused:
        upload_validate(data, filename="passport.pdf", field="identity")
    return refused.value.fields["identity"][0]


# --- the bomb ------------------------------------------------------------------------------------

def test_the_bomb_is_small_on_disk():
    assert len(bomb()) < 300_000


def test_a_page_of_200_inches_is_refused_as_too_large():
    message = refusal(page_pdf(TEXT, side=14400))
    assert message.startswith("The page is too large (508 × 508 cm)")


def test_a_file_that_expands_past_the_limit_is_refused_by_name():
    message = refusal(bomb(side=595))
    assert message.startswith("The file expands to more than 4 MB when opened")


def test_the_reported_bomb_is_refused_without_pdfium_parsing_it():
    # Refused for its expansion first (measured while inflating, within the limit), never rendered.
    assert "expands to more than 4 MB" in refusal(bomb())


def test_an_ordinary_text_pdf_and_an_image_pdf_still_pass():
    from tests.kyc.conftest import pdf

    assert upload_validate(page_pdf(TEXT), filename="bill.pdf").pages == 1
    assert upload_validate(pdf("Utility bill"), filename="bill.pdf").pages == 1


def test_an_object_stream_or_a_hex_layer_does_not_hide_the_expansion():
    content = zlib.compress(LINE * (5 * 1024 * 1024 // len(LINE)), 9).hex().encode() + b">"
    data = raw_pdf(
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
        b"<< /Length %d /Filter [/ASCIIHexDecode /Fl#61teDecode] >>\nstream\n" % len(content) + content
        + b"\nendstream",
    )
    assert "expands to more than 4 MB" in refusal(data)


def test_the_bomb_sent_for_verification_is_refused_on_its_field_and_nothing_is_stored(kyc_world, settings):
    from kyc.models import Document, KycProfile, KycStatus, Submission
    from kyc.services import DocumentIn, submission_create
    from tests.kyc.conftest import pdf

    with pytest.raises(UploadRefused) as refused:
        submission_create(client=kyc_world.client, documents=[
            DocumentIn(kind="passport", filename="passport.pdf", data=bomb(), field="identity"),
            DocumentIn(kind="utility_bill", filename="bill.pdf", data=pdf("BILL"), field="address")])
    assert refused.value.fields == {"identity": [
        "The file expands to more than 4 MB when opened: send a plain scan or photo of the document."]}
    assert not Submission.objects.filter(client=kyc_world.client).exists()
    assert not Document.objects.filter(client=kyc_world.client).exists()
    root = settings.KYC_STORAGE_DIR
    assert not root.exists() or not [p for p in root.rglob("*") if p.is_file()]
    assert KycProfile.objects.get(client=kyc_world.client).status == KycStatus.UNVERIFIED


@pytest.mark.usefixtures("kyc_checks_isolated")  # the hostile file reaches the checks' own process
def test_a_stored_file_the_checks_now_refuse_goes_to_an_officer_unopened():
    from datetime import date

    from kyc.checks import Applicant, CheckPolicy
    from kyc.vendors import vendor_get
    from kyc.vendors.base import VendorDocument, VerificationRequest

    request = VerificationRequest(reference="R1", applicant=Applicant("Anna", "Eriksson"), policy=CheckPolicy(),
                                  as_of=date(2026, 1, 1), documents=(VendorDocument(
                                      kind="passport", side="", filename="passport.pdf",
                                      content_type="application/pdf", sha256="0" * 64, data=bomb()),))
    report = vendor_get("builtin").start(request).result.report
    assert str(report.decision) == "review"
    [check] = report.checks
    assert (check.name, str(check.outcome), check.document) == ("file_accepted", "unreadable", "passport.pdf")
    assert "expands to more than 4 MB" in check.evidence["problem"]


# --- active content --------------------------------------------------------------------------------

def test_a_pdf_that_runs_javascript_on_opening_is_refused_by_name():
    data = raw_pdf(
        b"<< /Type /Catalog /Pages 2 0 R /OpenAction 6 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 5 0 R >> >> "
        b"/Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(TEXT) + TEXT + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Type /Action /S /JavaScript /JS (app.launchURL\\('https://example.test/'\\);) >>",
    )
    message = refusal(data)
    assert message.startswith("The PDF contains active content (JS, JavaScript, OpenAction)")


@pytest.mark.parametrize("action", [
    b"/AA << /O << /S /Launch /F (calc.exe) >> >>",
    b"/Names << /EmbeddedFiles << /Names [(a.exe) 7 0 R] >> >>",
    b"/OpenAction << /S /URI /URI (https://tracker.example/) >>",
])
def test_launch_actions_embedded_files_and_automatic_actions_are_refused(action):
    assert "active content" in refusal(page_pdf(TEXT, catalog_extra=action, compress=False))


def test_an_open_action_that_only_shows_the_first_page_is_accepted():
    # What word processors write: open at page 1, fit to width. Harmless.
    assert upload_validate(page_pdf(TEXT, catalog_extra=b"/OpenAction [3 0 R /FitH null]"), filename="b.pdf").pages == 1


# --- what it costs ---------------------------------------------------------------------------------

# The child's peak is read from VmHWM (its own address space's high-water mark): ru_maxrss would carry
# the parent's peak over the fork and exec.
_CHILD = """
import json, sys
from django.conf import settings
settings.configure(USE_I18N=False)
from kyc.exceptions import UploadRefused
from kyc.uploads import upload_validate
from kyc.checks import images
data = open(sys.argv[1], "rb").read()
try:
    pages = images.pages(upload_validate(data, filename="doc.pdf"))
    outcome = "rendered %d" % len(pages)
except UploadRefused as exc:
    outcome = "refused: " + exc.fields["file"][0]
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"outcome": outcome, "peak_mb": peak / 1024}))
"""


def _peak(tmp_path: Path, data: bytes) -> dict:
    path = tmp_path / "doc.pdf"
    path.write_bytes(data)
    done = subprocess.run([sys.executable, "-c", _CHILD, str(path)], cwd=REPO, capture_output=True, text=True,  # noqa: S603
                          timeout=600, check=True, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)})
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_bomb_costs_the_upload_and_the_checks_little_memory(tmp_path):
    result = _peak(tmp_path, bomb())
    assert result["outcome"].startswith("refused: The file expands to more than 4 MB"), result
    assert result["peak_mb"] < 300, result


def test_a_large_but_legal_pdf_is_read_for_the_checks_within_300_mb(tmp_path):
    # Just under the limits: a page of 1.7 m a side and 4 MB of drawing operators (the costliest
    # content to parse per byte), read and rendered as the checks read it.
    data = page_pdf(TEXT + b"0 0 m 9 9 l S\n" * ((4 * 1024 * 1024 - 2048) // 14), side=4900)
    result = _peak(tmp_path, data)
    assert result["outcome"] == "rendered 1", result
    assert result["peak_mb"] < 300, result
