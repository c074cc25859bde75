"""Run every benchmark script in turn: `python -m benchmarks [--quick] [--keep]` (what `make bench` does).

Every .py file in benchmarks/ other than the harness's own modules is a benchmark script (new
scripts are picked up without listing them). Each runs in its own process (each sets Django up against its own throw-away database)
with the same arguments; their JSON figure lines are passed through to stdout, progress to stderr.
Exits non-zero if any script failed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

# Modules of the harness, not benchmarks.
SUPPORT = {"__init__.py", "__main__.py", "common.py", "settings.py", "handlers.py"}


def scripts(here: Path) -> list[str]:
    """Every benchmark script: each .py file in benchmarks/ that is not part of the harness."""
    return sorted(p.name for p in here.glob("*.py") if p.name not in SUPPORT)


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
