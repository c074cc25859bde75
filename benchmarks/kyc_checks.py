"""The KYC automatic document checks: throughput on 2 cores and decision accuracy on generated documents.

The documents come from tests/kyc/docgen.py (passports, identity cards, a library card, bills and bank
statements; PNG, JPEG, image PDF and text PDF; turned, skewed, photographed on a desk, blurred, shrunk),
each with the decision it must get. No database: the checks are pure.

- kyc_checks.documents_per_minute: documents checked per minute by 2 worker processes (one OCR thread
  each, the engine loaded before timing). Goal >= 60. limit: documents per minute for the OCR call
  alone (RapidOCR's full detect + classify + recognise pipeline on the same page images, same pool);
  ratio = value / limit (above 1: the checks recognise only the lines they need).
- kyc_checks.documents_per_minute_cpu: the same computed from the CPU seconds each document took
  (workers x 60 / mean CPU seconds), which other work on a shared machine does not distort.
- kyc_checks.identity_seconds_p50 / _p95: CPU seconds for the whole identity check of one image on one
  core. Goal < 1 s (p50). limit: the OCR call alone on the same images.
- kyc_checks.decision_accuracy: share of documents whose decision is the expected one and whose
  expected failing check is named. Goal >= 98 %.
- kyc_checks.false_approvals: documents approved that should not have been. Goal 0.
- kyc_checks.pdf_peak_mb: peak memory (RSS) of a fresh process that checks one large-but-legal PDF
  (a 1.7 m page, 4 MB of drawing operators: the upload limits' edge), upload validation and the whole
  identity check with OCR included. limit: the same process checking an ordinary passport PDF (what the
  imports and OCR cost whatever the PDF: about 290-400 MB on its own, so value - limit is what the PDF
  adds, at most about 130 MB at the limits). Goal < 300 MB, which the OCR's own floor does not meet yet;
  tests/kyc/test_pdf_safety.py holds the PDF's part (upload and render) under 300 MB.
- kyc_checks.pdf_bomb_peak_mb: the same for the reported bomb (a 14,400 pt page, a content stream that
  inflates to 100 MB): refused at upload. Goal < 300 MB (before the limits: 1.4 GB, accepted).

Run: python benchmarks/kyc_checks.py [--quick | --tiny] [--documents N] [--workers N]
(--tiny: 1 document, one worker; the ordinary passport PDF stands in for the large page)
"""

from __future__ import annotations

import os
import sys
import time
from multiprocessing import get_context
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks.common import argument_parser, log, percentile, record  # noqa: E402

os.environ["KYC_OCR_THREADS"] = "1"


def _django() -> None:
    from django.conf import settings

    if not settings.configured:
        settings.configure(USE_I18N=False)


def _warm() -> None:
    _django()
    from kyc.checks import ocr

    ocr.engine()


def _check(job: tuple[int, Any]) -> tuple[int, str, frozenset[str], float, str]:
    index, case = job
    from kyc.checks import DocumentFile, check_documents
    from kyc.uploads import upload_validate

    start = time.process_time()
    files = [DocumentFile(upload_validate(d, filename=n), k, s) for d, n, k, s in case.files]
    report = check_documents(slot=case.slot, files=files, applicant=case.applicant, policy=case.policy,
                             as_of=case.as_of)
    spent = time.process_time() - start
    return index, str(report.decision), frozenset(c.name for c in report.problems), spent, case.slot


def _ocr_only(job: tuple[int, Any]) -> tuple[int, float]:
    index, case = job
    from kyc.checks import images, ocr
    from kyc.uploads import upload_validate

    start = time.process_time()
    for data, name, _, _ in case.files:
        for page in images.pages(upload_validate(data, filename=name)):
            if not page.text_layer:
                ocr.engine()(page.image)
    return index, time.process_time() - start


# VmHWM, the child's own high-water mark: ru_maxrss would carry the parent's peak over fork and exec.
_MEMORY_CHILD = """
import json, sys
from datetime import date
from django.conf import settings
settings.configure(USE_I18N=False)
from kyc.checks import Applicant, CheckPolicy, DocumentFile, check_documents
from kyc.exceptions import UploadRefused
from kyc.uploads import upload_validate
data = open(sys.argv[1], "rb").read()
try:
    upload = upload_validate(data, filename="passport.pdf")
    report = check_documents(slot="identity", files=[DocumentFile(upload, "passport")],
                             applicant=Applicant("Anna Maria", "Eriksson"), policy=CheckPolicy(), as_of=date(2026, 1, 1))
    outcome = str(report.decision)
except UploadRefused:
    outcome = "refused"
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"outcome": outcome, "peak_mb": peak / 1024}))
"""


def _peak_mb(data: bytes) -> tuple[float, str]:
    """Peak RSS (MB) of a fresh process that validates and checks `data` as an identity PDF."""
    import json
    import subprocess
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".pdf") as file:
        file.write(data)
        file.flush()
        done = subprocess.run([sys.executable, "-c", _MEMORY_CHILD, file.name], cwd=REPO_ROOT, capture_output=True,  # noqa: S603
                              text=True, check=True, timeout=900, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return float(result["peak_mb"]), str(result["outcome"])


def memory_figures(*, tiny: bool = False) -> None:
    from tests.kyc import docgen
    from tests.kyc.test_pdf_safety import TEXT, bomb, page_pdf

    passport = next(c for c in docgen.special_cases() if c.name == "passport_valid_pdf").files[0][0]
    ordinary, outcome = _peak_mb(passport)
    if tiny:  # the large page's rendering is what costs; the ordinary PDF stands in for it
        large, size = ordinary, f"the ordinary passport PDF ({outcome}), fresh process (--tiny)"
    else:
        large, outcome = _peak_mb(page_pdf(TEXT + b"0 0 m 9 9 l S\n" * ((4 * 1024 * 1024 - 2048) // 14), side=4900))
        size = f"one identity check of a 4900 pt page with 4 MB of paths ({outcome}), fresh process"
    record("kyc_checks.pdf_peak_mb", value=large, unit="MB", limit=ordinary, goal="< 300", size=size)
    refused, outcome = _peak_mb(bomb())
    record("kyc_checks.pdf_bomb_peak_mb", value=refused, unit="MB", limit=None, goal="< 300",
           size=f"the 100 MB bomb on a 14,400 pt page ({outcome}), fresh process")


def main() -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--documents", type=int, default=0, help="documents in the generated set (default 320)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    n = args.documents or (1 if args.tiny else 40 if args.quick else 320)
    if args.tiny:
        args.workers = 1
    _django()
    from tests.kyc import docgen

    started = time.perf_counter()
    cases = list(docgen.generated_set(n))
    log(f"generated {len(cases)} documents in {time.perf_counter() - started:.1f} s")
    jobs = list(enumerate(cases))
    ctx = get_context("fork")
    with ctx.Pool(args.workers, initializer=_warm) as pool:
        pool.map(_warm_task, range(args.workers * 2))
        started = time.perf_counter()
        results = pool.map(_check, jobs, chunksize=1)
        checks_wall = time.perf_counter() - started
        log(f"checked {len(jobs)} documents in {checks_wall:.1f} s")
        started = time.perf_counter()
        raw = pool.map(_ocr_only, jobs, chunksize=1)
        raw_wall = time.perf_counter() - started
    size = f"{len(cases)} documents, {args.workers} worker processes x 1 thread"
    record("kyc_checks.documents_per_minute", value=len(cases) / checks_wall * 60, unit="documents/min",
           limit=len(cases) / raw_wall * 60, goal=">= 60", size=size)
    # The same from the CPU time each document took: what 2 dedicated cores would do, unaffected by
    # other work on a shared machine (the wall-clock figure above is not).
    cpu = sum(t for _, _, _, t, _ in results)
    raw_cpu = sum(t for _, t in raw)
    record("kyc_checks.documents_per_minute_cpu", value=args.workers * 60 * len(cases) / cpu, unit="documents/min",
           limit=args.workers * 60 * len(cases) / raw_cpu, goal=">= 60", size=size + " (from CPU time)")
    identity = sorted(t for _, _, _, t, slot in results if slot == "identity")
    raw_identity = sorted(t for (i, t) in raw if cases[i].slot == "identity")
    for q in (50, 95):
        value = percentile(identity, q)
        limit = percentile(raw_identity, q)
        record(f"kyc_checks.identity_seconds_p{q}", value=value, unit="s", limit=limit,
               goal="< 1 s" if q == 50 else "", size=f"{len(identity)} identity images, 1 core each")
    right = 0
    false_approvals = 0
    for index, decision, failing, _, _ in results:
        case = cases[index]
        if decision == case.expected and case.failing <= failing:
            right += 1
        else:
            log(f"wrong: {case.name}: {decision} {sorted(failing)} (expected {case.expected} {sorted(case.failing)})")
        if decision == "approve" and case.expected != "approve":
            false_approvals += 1
    record("kyc_checks.decision_accuracy", value=100.0 * right / len(cases), unit="%", limit=None, goal=">= 98",
           size=f"{len(cases)} documents")
    record("kyc_checks.false_approvals", value=false_approvals, unit="documents", limit=None, goal="0",
           size=f"{len(cases)} documents")
    memory_figures(tiny=args.tiny)
    from benchmarks.common import print_figures

    print_figures()


def _warm_task(_: int) -> None:
    """Every worker loads the engine and runs it once before anything is timed."""
    import numpy as np

    from kyc.checks import ocr

    ocr.engine()(np.full((64, 256, 3), 255, dtype=np.uint8))


if __name__ == "__main__":
    main()
