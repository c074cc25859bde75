"""A demo loader's work spread over a few processes (`--jobs`, `--shard K/N`): `make run` loads the
demo on a 2-core machine, where one process opening accounts or scoring clients one at a time waits
on PostgreSQL or a simulator much of the time and leaves the cores idle. Each part takes the rows
whose id is K modulo N, so that the parts never meet, and a part run again does only what is left."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parents[1]


def demo_jobs(wanted: int) -> int:
    """How many processes a demo loader that can split its work uses: `wanted`, or with 0 one more
    than the machine has cores (each waits part of the time on PostgreSQL or a simulator), at most 4."""
    return wanted if wanted > 0 else min(4, (os.cpu_count() or 1) + 1)


def shard_parse(text: str) -> tuple[int, int]:
    """`--shard K/N` of a demo loader: (K, N) with 0 <= K < N."""
    try:
        number, count = (int(part) for part in text.split("/", 1))
    except ValueError:
        raise ValueError(f"--shard takes K/N (the K-th of N parts, from 0), not {text!r}") from None
    if not 0 <= number < count:
        raise ValueError(f"--shard takes K/N with 0 <= K < N, not {text!r}")
    return number, count


class Shards:
    """Parts 1..N-1 of a demo loader's work, each `manage.py <command> <args> --shard K/N` in a process
    of its own (this environment: the same database), while the caller does part 0 itself; `join()`
    waits for them and returns what each printed (stdout, stderr), or raises RuntimeError naming the part that failed
    and the last line it wrote to stderr. Each part must commit what the others read before they start."""

    def __init__(self, command: str, args: Sequence[str], *, count: int) -> None:
        import tempfile

        self.command = command
        self.procs: list[tuple[int, subprocess.Popen[bytes], Any, Any]] = []
        for number in range(1, count):
            out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
            proc = subprocess.Popen(  # noqa: S603 - our own manage.py and command
                [sys.executable, str(BASE_DIR / "manage.py"), command, *args, "--shard", f"{number}/{count}",
                 "--skip-checks"],  # the caller's start-up checked the same code (3 s a process)
                cwd=BASE_DIR, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
            self.procs.append((number, proc, out, err))

    def join(self) -> list[tuple[str, str]]:
        """Each part's (stdout, stderr), once all have finished."""
        outputs: list[tuple[str, str]] = []
        failed: list[str] = []
        try:
            for number, proc, out, err in self.procs:
                code = proc.wait()
                out.seek(0)
                err.seek(0)
                printed, errors = (fh.read().decode("utf-8", "replace") for fh in (out, err))
                outputs.append((printed, errors))
                if code != 0:
                    lines = [line for line in errors.splitlines() if line.strip()]
                    failed.append(f"part {number} (exit {code}){': ' + lines[-1][:300] if lines else ''}")
        finally:
            self.stop()
        if failed:
            raise RuntimeError(f"{self.command}: " + "; ".join(failed))
        return outputs

    def stop(self) -> None:
        for _number, proc, out, err in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.terminate()
                proc.wait()
            out.close()
            err.close()

    def __enter__(self) -> Shards:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
