"""Run every benchmark script in turn: `python -m benchmarks [--quick] [--keep]` (what `make bench` does).

Every .py file in benchmarks/ other than the harness's own modules is a benchmark script (new
scripts are picked up without listing them). Each runs in its own process (each sets Django up against its own throw-away database)
with the same arguments; their JSON figure lines are passed through to stdout, progress to stderr.
Exits non-zero if any script failed. Scripts in OPT_IN run only when their variable is set (1, yes
or true): scale_pages.py first generates a brokerage of a million clients (about an hour), so only `make
bench SCALE=1` (CRM_BENCH_SCALE=1) runs it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# Modules of the harness, not benchmarks.
SUPPORT = {"__init__.py", "__main__.py", "common.py", "settings.py", "handlers.py"}
# Scripts that run only when asked for, by the environment variable named.
OPT_IN = {"scale_pages.py": "CRM_BENCH_SCALE"}


def _asked_for(script: str) -> bool:
    variable = OPT_IN.get(script)
    return variable is None or os.environ.get(variable, "").lower() in {"1", "yes", "true"}


def scripts(here: Path) -> list[str]:
    """Every benchmark script to run: each .py file in benchmarks/ that is not part of the harness
    (an opt-in one only when asked for)."""
    return sorted(p.name for p in here.glob("*.py") if p.name not in SUPPORT and _asked_for(p.name))


def main(argv: list[str]) -> int:
    here = Path(__file__).resolve().parent
    failed = []
    for script in scripts(here):
        print(f"== benchmarks/{script} {' '.join(argv)}", file=sys.stderr, flush=True)
        result = subprocess.run([sys.executable, str(here / script), *argv], check=False)  # noqa: S603
        if result.returncode != 0:
            failed.append(script)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
