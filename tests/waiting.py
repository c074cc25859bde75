"""Waiting on another process: a simulator, a worker, a webhook receiver, a browser page.

Every budget the suite waits with is the time the thing takes on an idle machine, stretched by how
busy the machine is at that moment (`time_scale`). A wait ends as soon as its condition holds, so
a generous budget costs nothing when all is well; a slow machine (another test run beside this one,
a build) gets more time instead of a failure that says nothing about the code.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any


def time_scale() -> float:
    """How many times longer than on an idle machine a wait may take now.

    The 1-minute load average per core (at least 1: an idle machine is not faster than idle), times
    ``CRM_TEST_TIME_SCALE`` when set (a machine known to be slow, or a debugger). Read anew at each
    call, so that a long wait follows the load as it changes.
    """
    try:
        load = os.getloadavg()[0] / (os.cpu_count() or 1)
    except OSError:  # no load average on this platform
        load = 1.0
    try:
        extra = float(os.environ.get("CRM_TEST_TIME_SCALE", "1"))
    except ValueError:
        extra = 1.0
    return max(1.0, load) * max(1.0, extra)


def scaled(seconds: float) -> float:
    """`seconds` on an idle machine, as a budget for this machine now."""
    return seconds * time_scale()


def scaled_ms(milliseconds: int) -> int:
    """The same for Playwright's timeouts, in milliseconds."""
    return int(milliseconds * time_scale())


def wait_until(check: Callable[[], Any], *, timeout: float = 15.0, what: str = "the condition",
               interval: float = 0.05) -> Any:
    """Call ``check`` until it returns something truthy, and return that; fail naming ``what``
    once ``timeout`` (idle-machine seconds, stretched by the load while waiting) is over."""
    started = time.monotonic()
    while True:
        value = check()
        if value:
            return value
        elapsed = time.monotonic() - started
        if elapsed > scaled(timeout):
            raise AssertionError(f"timed out after {elapsed:.1f} s waiting for {what}")
        time.sleep(interval)
