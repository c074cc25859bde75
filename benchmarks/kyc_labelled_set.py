"""The KYC automatic checks on a labelled set harder than the tests' one, through `manage.py kyc_check`.

The set is tests/kyc/hardset.py: 300 documents (passports, identity cards, driving licences, a
library card, bills and bank statements in nine languages; PNG, JPEG, image PDFs, pictures drawn on
part of a PDF page, text PDFs; turned, skewed, faded, photographed), each with the decision a
compliance officer would take, and a third of them of the six kinds of miss of issue 41. The files and
a manifest are written to a temporary directory and checked by `manage.py kyc_check --manifest`, split
over --workers processes (each loads the OCR engine once).

- kyc_labelled_set.decision_accuracy: share of documents whose decision is the expected one and whose
  expected failing check is among those that did not pass. Goal >= 98 %.
- kyc_labelled_set.false_approvals: documents approved that a person would not approve. Goal 0.
- kyc_labelled_set.straight_through: share of the documents approved automatically. limit: the
  share a person would approve (the most the checks could approve); ratio = value / limit.
- kyc_labelled_set.<kind>.decision_accuracy: the same per kind (bill_read, pdf_embedded, romanisation,
  particle, address_spelling, street_type, ordinary); goal >= 98 %.
- kyc_labelled_set.documents_per_minute: documents checked per minute, wall clock, the processes'
  start included. Goal >= 60.

Run: python benchmarks/kyc_labelled_set.py [--quick | --tiny] [--workers N] [--only KIND] [--match REGEX] [--verbose]
(--tiny: two documents, one of a hard kind and one ordinary, in one process)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks.common import argument_parser, log, print_figures, record  # noqa: E402


def _entry(path: Path, case: object) -> dict[str, object]:
    a = case.applicant
    _, _, kind, side = case.files[0]
    policy = case.policy
    return {"file": str(path), "slot": case.slot, "first_name": a.first_name,
            "middle_name": a.middle_name, "last_name": a.last_name,
            "dob": a.date_of_birth.isoformat() if a.date_of_birth else "", "country": a.country,
            "address": a.address, "as_of": case.as_of.isoformat(), "kind": kind, "side": side,
            "allowed_countries": ",".join(sorted(policy.allowed_issuing_countries)),
            "poa_max_age_days": policy.poa_max_age_days, "expiry_warning_days": policy.expiry_warning_days}


def _chosen(args: Any) -> list[Any]:
    """The documents to check: the set at the run's size, narrowed by --only and --match."""
    from tests.kyc import hardset

    per_kind, identity, address = (1, 1, 1) if args.tiny else (4, 12, 8) if args.quick else (17, 120, 78)
    labelled = list(hardset.labelled_set(per_kind=per_kind, ordinary_identity=identity, ordinary_address=address))
    if args.only:
        labelled = [item for item in labelled if item.kind == args.only]
    if args.match:
        import re

        labelled = [item for item in labelled if re.search(args.match, item.case.name)]
    if args.tiny:
        labelled = labelled[:1] + labelled[-1:]  # one document of a hard kind, one ordinary one
    return labelled


def main() -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--only", default="", help="check only the documents of this kind")
    parser.add_argument("--match", default="", help="check only the documents whose name matches this regex")
    parser.add_argument("--verbose", action="store_true", help="log every wrong decision's failing checks")
    args = parser.parse_args()
    from django.conf import settings

    if not settings.configured:
        settings.configure(USE_I18N=False)
    from tests.kyc import hardset

    started = time.perf_counter()
    labelled = _chosen(args)
    # --tiny: one process (it proves the path; a second would only start Django and the OCR engine again)
    args.workers = 1 if args.tiny else max(1, min(args.workers, len(labelled)))
    log(f"generated {len(labelled)} documents in {time.perf_counter() - started:.1f} s")
    with tempfile.TemporaryDirectory(prefix="kyc-labelled-") as tmp:
        manifests: list[list[str]] = [[] for _ in range(args.workers)]
        by_file = {}
        for index, item in enumerate(labelled):
            data, filename, _, _ = item.case.files[0]
            path = Path(tmp) / filename
            path.write_bytes(data)
            by_file[str(path)] = item
            manifests[index % args.workers].append(json.dumps(_entry(path, item.case)))
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "DJANGO_SETTINGS_MODULE": "benchmarks.settings",
               "KYC_OCR_THREADS": "1"}
        started = time.perf_counter()
        running = []
        for n, lines in enumerate(manifests):
            manifest = Path(tmp) / f"manifest{n}.jsonl"
            manifest.write_text("\n".join(lines) + "\n")
            # Each process answers into a file: a pipe left unread while another process is waited for
            # would stop it once the pipe is full.
            out = (Path(tmp) / f"out{n}.jsonl").open("w")
            err = (Path(tmp) / f"err{n}.txt").open("w")
            running.append((subprocess.Popen([sys.executable, str(REPO_ROOT / "manage.py"), "kyc_check",  # noqa: S603
                                              "--manifest", str(manifest)], cwd=REPO_ROOT, env=env, stdout=out,
                                             stderr=err), out, err, n))
        answers = []
        for process, out, err, n in running:
            process.wait(timeout=7200)
            out.close()
            err.close()
            if process.returncode != 0:
                raise SystemExit(f"kyc_check failed: {(Path(tmp) / f'err{n}.txt').read_text()[-3000:]}")
            answers.extend(json.loads(line) for line in (Path(tmp) / f"out{n}.jsonl").read_text().splitlines()
                           if line.startswith("{"))
        wall = time.perf_counter() - started
    log(f"checked {len(answers)} documents in {wall:.1f} s")
    right: Counter[str] = Counter()
    total: Counter[str] = Counter()
    false_approvals: Counter[str] = Counter()
    approved = 0
    approvable = 0
    wrong: dict[str, list[str]] = defaultdict(list)
    for answer in answers:
        item = by_file[answer["file"]]
        case = item.case
        decision = answer.get("decision", "refused")
        failing = {c["name"] for c in answer.get("checks", ()) if c["outcome"] != "pass"}
        total[item.kind] += 1
        approvable += case.expected == "approve"
        approved += decision == "approve"
        if decision == case.expected and case.failing <= failing:
            right[item.kind] += 1
        else:
            detail = {c["name"]: c["evidence"] for c in answer.get("checks", ()) if c["outcome"] != "pass"}
            wrong[item.kind].append(f"{case.name}: {decision} {sorted(failing)} (expected {case.expected} "
                                    f"{sorted(case.failing)})" + (f" {detail}" if args.verbose else ""))
        if decision == "approve" and case.expected != "approve":
            false_approvals[item.kind] += 1
    for kind in sorted(wrong):
        for line in wrong[kind]:
            log(f"wrong ({kind}): {line}")
    n = sum(total.values())
    size = f"{n} documents through manage.py kyc_check, {args.workers} processes"
    record("kyc_labelled_set.decision_accuracy", value=100.0 * sum(right.values()) / n, unit="%", limit=None,
           goal=">= 98", size=size)
    record("kyc_labelled_set.false_approvals", value=sum(false_approvals.values()), unit="documents", limit=None,
           goal="0", size=size)
    record("kyc_labelled_set.straight_through", value=100.0 * approved / n, unit="%",
           limit=100.0 * approvable / n, goal="", size=size + "; limit: the share a person approves")
    for kind in (*hardset.KINDS, "ordinary"):
        if total[kind]:
            record(f"kyc_labelled_set.{kind}.decision_accuracy", value=100.0 * right[kind] / total[kind], unit="%",
                   limit=None, goal=">= 98",
                   size=f"{total[kind]} documents, {false_approvals[kind]} approved wrongly")
    record("kyc_labelled_set.documents_per_minute", value=n / wall * 60, unit="documents/min", limit=None,
           goal=">= 60", size=size + ", wall clock with the processes' start")
    print_figures()


if __name__ == "__main__":
    main()
