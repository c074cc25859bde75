"""The automatic checks of one submission, each file validated first, run in a process of their own.

`check_submission` is the whole built-in check of a submission's files: each file validated again
(kyc.uploads: a stored file the limits now refuse is not opened, and an officer looks), then every
check of each slot. `check_submission_isolated` runs it in a fresh Python process
(`python -m kyc.checks.isolated`) that imports no more than the checks need, so what a document
costs is not added to the Celery worker's own memory (Django, every app), and all of it is given back
when the check ends. The child's peak memory is logged and returned.

The child is handed the files in a private temporary directory and answers JSON (never a pickle: it
reads hostile files, so its answer is data to parse). A child that fails, is killed (out of memory)
or runs over the time limit gives a report that sends the submission to an officer.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

from kyc.checks import SLOTS, Applicant, CheckPolicy, DocumentFile, check_documents
from kyc.checks.report import CheckResult, OnFail, Outcome, Report

logger = logging.getLogger(__name__)

FILE_ACCEPTED = "file_accepted"
CHECKS_RUN = "checks_run"
TIMEOUT_SECONDS = 600
# Blocks of 256 KB and more (ONNX Runtime's tensors, decoded images) are mapped and unmapped on their
# own, not kept in the heap once freed: the text detector's activations otherwise leave the heap
# fragmented and the child 20 to 50 MB larger for the next page's or the recogniser's turn (glibc's
# default raises its threshold to the largest block freed; at 4 MB the detector's peak still varied
# by 20 MB from run to run, at 256 KB it is the same every time).
_MMAP_THRESHOLD = 256 * 1024
_PROJECT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class SubmittedFile:
    data: bytes
    filename: str
    kind: str
    side: str = ""


def check_submission(*, files: Sequence[SubmittedFile], applicant: Applicant, policy: CheckPolicy,
                     as_of: date) -> Report:
    """Every automatic check of each slot, on the files the upload checks accept; a file they refuse
    is named (`file_accepted`, unreadable) and its slot goes to an officer unopened."""
    from kyc.exceptions import UploadRefused
    from kyc.uploads import upload_validate

    report = Report(checks=())
    for slot, kinds in SLOTS.items():
        accepted = []
        refused = []
        for f in files:
            if f.kind not in kinds:
                continue
            try:
                accepted.append(DocumentFile(upload=upload_validate(f.data, filename=f.filename), kind=f.kind,
                                             side=f.side))
            except UploadRefused as exc:
                refused.append(CheckResult(FILE_ACCEPTED, Outcome.UNREADABLE, {"problem": exc.message}, f.filename,
                                           OnFail.REVIEW))
        if refused:
            report = report + Report(checks=tuple(refused))
        elif accepted:
            report = report + check_documents(slot=slot, files=accepted, applicant=applicant, policy=policy,
                                              as_of=as_of)
    return report


@dataclass(frozen=True)
class IsolatedRun:
    report: Report
    peak_mb: float  # the child's peak resident memory (0 when it did not answer)
    seconds: float


def _failed(problem: str) -> Report:
    return Report(checks=(CheckResult(CHECKS_RUN, Outcome.UNREADABLE, {"problem": problem}, "", OnFail.REVIEW),))


def _settings() -> dict[str, Any]:
    from django.conf import settings

    return {name: getattr(settings, name) for name in ("KYC_MAX_UPLOAD_BYTES", "KYC_MAX_PDF_EXPANDED_BYTES")
            if hasattr(settings, name)}


def check_submission_isolated(*, files: Sequence[SubmittedFile], applicant: Applicant, policy: CheckPolicy,
                              as_of: date, timeout: float = TIMEOUT_SECONDS) -> IsolatedRun:
    """`check_submission` in a fresh process (see the module's doc)."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="kyc-check-") as tmp:
        listed = []
        for index, f in enumerate(files):
            path = Path(tmp) / f"{index}.bin"
            path.write_bytes(f.data)
            listed.append({"path": str(path), "filename": f.filename, "kind": f.kind, "side": f.side})
        manifest = {"files": listed, "as_of": as_of.isoformat(), "settings": _settings(),
                    "applicant": {**asdict(applicant), "date_of_birth": applicant.date_of_birth.isoformat()
                                  if applicant.date_of_birth else None},
                    "policy": {**asdict(policy), "allowed_issuing_countries": sorted(policy.allowed_issuing_countries)}}
        env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_PROJECT), env.get("PYTHONPATH", "")) if p)
        try:
            done = subprocess.run([sys.executable, "-m", "kyc.checks.isolated"], input=json.dumps(manifest),  # noqa: S603
                                  capture_output=True, text=True, timeout=timeout, cwd=tmp, env=env, check=False)
        except subprocess.TimeoutExpired:
            logger.warning("kyc checks: the check process ran over %s s", timeout)
            return IsolatedRun(_failed("timeout"), 0.0, time.monotonic() - started)
    seconds = time.monotonic() - started
    try:
        answer = json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else None
    except (ValueError, IndexError):
        answer = None
    if not isinstance(answer, dict) or not isinstance(answer.get("report"), dict):
        logger.warning("kyc checks: the check process failed (exit %s): %s", done.returncode, done.stderr[-2000:])
        return IsolatedRun(_failed("crashed" if done.returncode < 0 else "failed"), 0.0, seconds)
    peak = float(answer.get("peak_mb") or 0.0)
    logger.info("kyc checks: %d file(s) checked in %.1f s, peak %.0f MB", len(files), seconds, peak)
    return IsolatedRun(Report.from_dict(answer["report"]), peak, seconds)


def peak_mb() -> float:
    """This process's peak resident memory (VmHWM, its own: ru_maxrss would carry a parent's over exec)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _child() -> None:
    import ctypes

    manifest = json.loads(sys.stdin.read())
    try:
        ctypes.CDLL("libc.so.6").mallopt(-3, _MMAP_THRESHOLD)  # M_MMAP_THRESHOLD
    except OSError:  # not glibc: the default allocator, a higher peak
        pass
    from django.conf import settings

    settings.configure(USE_I18N=False, **manifest["settings"])
    a = manifest["applicant"]
    applicant = Applicant(**{**a, "date_of_birth": date.fromisoformat(a["date_of_birth"]) if a["date_of_birth"] else None})
    p = manifest["policy"]
    policy = CheckPolicy(**{**p, "allowed_issuing_countries": frozenset(p["allowed_issuing_countries"])})
    files = [SubmittedFile(Path(f["path"]).read_bytes(), f["filename"], f["kind"], f["side"]) for f in manifest["files"]]
    report = check_submission(files=files, applicant=applicant, policy=policy,
                              as_of=date.fromisoformat(manifest["as_of"]))
    print(json.dumps({"report": report.as_dict(), "peak_mb": round(peak_mb(), 1)}, default=str))


if __name__ == "__main__":
    _child()
