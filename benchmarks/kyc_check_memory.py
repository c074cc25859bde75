"""Peak memory of one automatic KYC check, as the Celery task runs it, for the inputs that cost most.

The task's worker (Django and every app set up) hands the files to kyc.checks.isolated, which runs the
upload checks and every automatic check in a fresh process of its own. Every figure is the peak
resident memory (VmHWM) of a fresh process, in MB; no database (the checks are pure).

- kyc_check_memory.<input>.check_peak_mb: the check's own process (upload validation, decoding,
  OCR, every check) for one identity document. Goal < 300. limit: the floor measured in the same run,
  a process with the checks' libraries imported and the OCR engine loaded and run once on a blank
  strip (what any check costs before it reads a document); ratio = value / limit.
- kyc_check_memory.<input>.worker_peak_mb: the worker's process while it runs that check through
  the isolated runner. Goal < 300. limit: the same process after Django's set-up, before the check.
- kyc_check_memory.<input>.in_process_peak_mb (not with --quick): the same check run inside the
  worker's process (KYC_CHECKS_ISOLATED off), for comparison. limit: the worker's floor as above.

Inputs: passport_photo, a passport page photographed at 23 MP (a 4000 x 5657 JPEG); png_60mp, the
same page on a 60 MP 8-bit PNG scan (6500 x 9200; the upload limit is 60 MP); pdf_square_scan, the
passport page scanned at 300 dpi and drawn on a 4900 pt square PDF page (the picture read at its own
resolution); pdf_large (not with --quick), a 4900 pt square page with 4 MB of drawing operators, the
edge of the PDF limits (rendered: the page's pixels are bounded by area, as an A4 page's).

Run: python benchmarks/kyc_check_memory.py [--quick | --tiny]   (--tiny: the passport page as drawn, once)
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks.common import argument_parser, log, print_figures, record  # noqa: E402

GOAL = "< 300"

_PEAK = """
def _peak():
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")) / 1024
"""

# The checks' own floor: their libraries and the OCR engine, no document.
_FLOOR = _PEAK + """
import json
import numpy as np
from django.conf import settings
settings.configure(USE_I18N=False)
import kyc.checks.isolated
from kyc.checks import ocr
from kyc.uploads import upload_validate
ocr.engine()(np.full((64, 256, 3), 255, dtype=np.uint8))
print(json.dumps({"peak_mb": _peak()}))
"""

# The worker: Django set up, then one check of the file, isolated or in this process.
_WORKER = _PEAK + """
import json, os, sys
from datetime import date
import django
django.setup()
from django.conf import settings
import kyc.vendors.builtin
from kyc.checks import Applicant, CheckPolicy
from kyc.checks.isolated import SubmittedFile, check_submission, check_submission_isolated
floor = _peak()
files = [SubmittedFile(open(sys.argv[1], "rb").read(), sys.argv[2], "passport")]
applicant = Applicant("Anna Maria", "Eriksson", date_of_birth=date(1974, 8, 12))
kwargs = dict(files=files, applicant=applicant, policy=CheckPolicy(), as_of=date(2025, 6, 1))
if sys.argv[3] == "isolated":
    run = check_submission_isolated(**kwargs)
    report, child = run.report, run.peak_mb
else:
    report, child = check_submission(**kwargs), 0.0
print(json.dumps({"floor_mb": floor, "peak_mb": _peak(), "check_mb": child, "decision": str(report.decision),
                  "problems": [c.name for c in report.problems]}))
"""


def _run(program: str, *args: str, settings_module: str | None = None) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "KYC_OCR_THREADS": os.environ.get("KYC_OCR_THREADS", "1")}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    if settings_module:
        env["DJANGO_SETTINGS_MODULE"] = settings_module
    done = subprocess.run([sys.executable, "-c", program, *args], cwd=REPO_ROOT, capture_output=True, text=True,  # noqa: S603
                          check=False, timeout=1800, env=env)
    if done.returncode != 0:
        raise SystemExit(f"measuring process failed: {done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _inputs(quick: bool, *, tiny: bool = False) -> dict[str, tuple[bytes, str, str]]:
    from django.conf import settings

    if not settings.configured:
        settings.configure(USE_I18N=False)
    from PIL import Image, ImageDraw

    from tests.kyc import docgen

    page = docgen.identity_image(docgen.IdDoc("passport", docgen.ANNA))
    if tiny:  # the page as drawn, no large picture: the measuring path only
        return {"passport_photo": (docgen.encode(page, "jpeg"), "passport.jpg", "the generated passport page")}
    photo = docgen.encode(page.resize((4000, round(4000 * page.height / page.width)), Image.Resampling.BICUBIC), "jpeg")
    scan = Image.new("RGB", (6500, 9200), "white")
    scan.paste(page.resize((4960, 7016), Image.Resampling.BICUBIC), (770, 1092))
    ImageDraw.Draw(scan).rectangle((10, 10, 6490, 9190), outline="black", width=8)
    out = io.BytesIO()
    scan.save(out, "PNG", compress_level=1)
    del scan
    scan300 = page.resize((page.width * 2, page.height * 2), Image.Resampling.BICUBIC)
    square = docgen.embedded_pdf(scan300, width=0.6, left=0.2, top=0.1, page=(4900.0, 4900.0))
    inputs = {"passport_photo": (photo, "passport.jpg", "a 4000 x 5657 JPEG photo of a passport page (23 MP)"),
              "png_60mp": (out.getvalue(), "scan.png", "a 6500 x 9200 8-bit PNG scan (60 MP, the upload limit)"),
              "pdf_square_scan": (square, "passport.pdf", "a 300 dpi passport scan (2480 x 3508) drawn on a 4900 pt "
                                                          "square PDF page")}
    if not quick:
        from tests.kyc.test_pdf_safety import TEXT, page_pdf

        inputs["pdf_large"] = (page_pdf(TEXT + b"0 0 m 9 9 l S\n" * ((4 * 1024 * 1024 - 2048) // 14), side=4900),
                               "passport.pdf", "a 4900 pt page with 4 MB of drawing operators (the PDF limits' edge)")
    return inputs


def main() -> None:
    args = argument_parser(__doc__).parse_args()
    inputs = _inputs(args.quick or args.tiny, tiny=args.tiny)
    floor = float(_run(_FLOOR)["peak_mb"])
    log(f"the checks' floor (libraries and OCR engine loaded): {floor:.0f} MB")
    with tempfile.TemporaryDirectory() as tmp:
        for name, (data, filename, size) in inputs.items():
            path = Path(tmp) / filename
            path.write_bytes(data)
            isolated = _run(_WORKER, str(path), filename, "isolated", settings_module="benchmarks.settings")
            log(f"{name}: {isolated['decision']} {isolated['problems']}")
            record(f"kyc_check_memory.{name}.check_peak_mb", value=isolated["check_mb"], unit="MB", limit=floor,
                   goal=GOAL, size=f"{size}; the check's own process")
            record(f"kyc_check_memory.{name}.worker_peak_mb", value=isolated["peak_mb"], unit="MB",
                   limit=isolated["floor_mb"], goal=GOAL, size=f"{size}; the worker (Django set up) that asked")
            if not (args.quick or args.tiny):
                inside = _run(_WORKER, str(path), filename, "inside", settings_module="benchmarks.settings")
                record(f"kyc_check_memory.{name}.in_process_peak_mb", value=inside["peak_mb"], unit="MB",
                       limit=inside["floor_mb"], goal="", size=f"{size}; checked inside the worker, for comparison")
    print_figures()


if __name__ == "__main__":
    main()
