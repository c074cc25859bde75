"""Run the second, independently written KYC document set (tests/kyc/heldout.py) through the product's
own `manage.py kyc_check --manifest` and report per category (document kind x capture kind): right,
sent to review, false approvals, false rejections.

    python benchmarks/kyc_heldout_set.py [--split heldout|tune|tune2|tune3] [-n 102] [--quick | --tiny] [--keep-docs DIR] [--json]

(--quick: 30 documents, --tiny: 2; the table goes to stderr, the figures as JSON lines to stdout:
kyc_heldout_set.<split>.decision_accuracy (goal >= 98 %), .false_approvals (goal 0), .false_rejections.)

A clean document is right when approved; a document with a defect is right when not approved (sent to
review or rejected), and an approval of it is a false approval. Only the "tune", "tune2" and "tune3" splits
may guide a change to the checks, and then only where a whole category fails; "heldout" is reported, never tuned on.
Exits 1 on any false approval.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import argument_parser, print_figures, record, sized  # noqa: E402
from tests.kyc.heldout import Sample, generate  # noqa: E402

MANIFEST_KEYS = ("file", "slot", "name", "dob", "country", "address", "as_of", "kind")


def run_checks(samples: list[Sample], workdir: Path) -> list[dict[str, object]]:
    manifest = workdir / "manifest.jsonl"
    manifest.write_text("".join(json.dumps({k: s.options[k] for k in MANIFEST_KEYS}) + "\n" for s in samples))
    env = {**os.environ, "KYC_CHECKS_ISOLATED": os.environ.get("KYC_CHECKS_ISOLATED", "0")}
    done = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "kyc_check", "--manifest", str(manifest)],
        capture_output=True, text=True, env=env, cwd=ROOT, check=False,
    )
    reports = [json.loads(line) for line in done.stdout.splitlines() if line.startswith('{"')]
    reports = [r for r in reports if "file" in r]
    if len(reports) != len(samples):
        raise SystemExit(f"kyc_check printed {len(reports)} reports for {len(samples)} files:\n{done.stderr[-3000:]}")
    return reports


def verdict(sample: Sample, report: dict[str, object]) -> str:
    decision = report.get("decision", "refused")
    if sample.clean:
        return {"approve": "right", "review": "review", "reject": "false_rejection"}.get(str(decision), "refused")
    return "false_approval" if decision == "approve" else "right"


def failed_checks(report: dict[str, object]) -> list[str]:
    checks = report.get("checks", [])
    assert isinstance(checks, list)
    return [f"{c['name']}:{c['outcome']}" for c in checks if c.get("outcome") != "pass"]


def tally(samples: list[Sample], reports: list[dict[str, object]]) -> dict[str, dict[str, int]]:
    table: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for sample, report in zip(samples, reports, strict=True):
        row = table[f"{sample.kind} x {sample.capture}"]
        row["n"] += 1
        row[verdict(sample, report)] += 1
    return {k: dict(v) for k, v in sorted(table.items())}


def main() -> int:
    parser = argument_parser(__doc__)
    parser.add_argument("--split", choices=("heldout", "tune", "tune2", "tune3"), default="heldout")
    parser.add_argument("-n", type=int, default=None, help="documents (default 102; --quick 30, --tiny 2)")
    parser.add_argument("--keep-docs", default="", help="write the documents here and keep them")
    parser.add_argument("--json", action="store_true", help="also print the whole table as one JSON line (stderr)")
    args = parser.parse_args()
    n = args.n if args.n is not None else sized(args, 102, 30, 2)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(args.keep_docs or tmp)
        samples = generate(workdir, args.split, n)
        reports = run_checks(samples, workdir)
    table = tally(samples, reports)
    total = {k: sum(row.get(k, 0) for row in table.values())
             for k in ("n", "right", "review", "false_approval", "false_rejection", "refused")}
    err = sys.stderr
    if args.json:
        print(json.dumps({"split": args.split, "total": total, "categories": table}), file=err)
    else:
        print(f"{'category':34} {'n':>3} {'right':>5} {'review':>6} {'f.appr':>6} {'f.rej':>5} {'refused':>7}", file=err)
        for cat, row in table.items():
            print(f"{cat:34} {row['n']:>3} {row.get('right', 0):>5} {row.get('review', 0):>6} "
                  f"{row.get('false_approval', 0):>6} {row.get('false_rejection', 0):>5} {row.get('refused', 0):>7}", file=err)
        print(f"{'total':34} {total['n']:>3} {total['right']:>5} {total['review']:>6} "
              f"{total['false_approval']:>6} {total['false_rejection']:>5} {total['refused']:>7}   "
              f"{100 * total['right'] / max(1, total['n']):.1f}% right", file=err)
        for sample, report in zip(samples, reports, strict=True):
            v = verdict(sample, report)
            if v != "right" and args.split != "heldout":
                print(f"  {Path(sample.file).name}: {report.get('decision')} {failed_checks(report)}", file=err)
    size = f"{total['n']} documents of the {args.split} split through manage.py kyc_check"
    record(f"kyc_heldout_set.{args.split}.decision_accuracy", value=100.0 * total["right"] / max(1, total["n"]),
           unit="%", limit=None, goal=">= 98", size=size)
    record(f"kyc_heldout_set.{args.split}.false_approvals", value=total["false_approval"], unit="documents",
           limit=None, goal="0", size=size)
    record(f"kyc_heldout_set.{args.split}.false_rejections", value=total["false_rejection"], unit="documents",
           limit=None, goal="", size=size)
    print_figures()
    return 1 if total["false_approval"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
