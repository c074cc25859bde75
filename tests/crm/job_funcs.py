"""Job functions for tests of crm.jobs, importable by dotted path (the worker imports them).

`PEEK`, when set by a test, is called from inside the running job (same process, same database
connection under an in-process worker): it is how a test looks at the job's page mid-run.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from crm.exceptions import Conflict
from crm.jobs import JobHandle

PEEK: Callable[[JobHandle, int], Any] | None = None


def count(handle: JobHandle, *, n: int, peek_at: int = -1, pause: float = 0.0) -> int:
    """Count to `n`, reporting each step as created (every third as skipped)."""
    created = skipped = 0
    for i in range(1, n + 1):
        if i % 3 == 0:
            skipped += 1
        else:
            created += 1
        handle.progress(i, n, force=i == peek_at, created=created, skipped=skipped)
        if i == peek_at and PEEK is not None:
            PEEK(handle, i)
        if pause:
            time.sleep(pause)
    return n


def refuse(handle: JobHandle) -> None:
    handle.progress(1, 4, force=True)
    raise Conflict("The source file was removed before the job could read it.")


def crash(handle: JobHandle) -> None:
    handle.progress(2, 4, force=True)
    raise ZeroDivisionError("division by zero in secret internals")


def die(handle: JobHandle) -> None:
    """The work horse dies as a killed or out-of-memory worker does: no cleanup, no last write."""
    handle.progress(1, 10, force=True)
    os._exit(9)


def write_cells(handle: JobHandle, *, cells: list[str]) -> int:
    with handle.csv_result("cells.csv") as writer:
        writer.writerow(["value"])
        for i, cell in enumerate(cells, start=1):
            writer.writerow([cell])
            handle.progress(i, len(cells))
    handle.set_result_rows(len(cells))
    return len(cells)
