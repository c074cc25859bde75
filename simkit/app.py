"""The state a simulator's handlers and threads share, and the thread that delivers its webhooks.

A simulator that sends webhooks keeps them as dicts (each with at least its ``url``) and says
which are due (``due_webhooks``), how one is signed (``signed``) and what an attempt's answer
changes (``webhook_result``: delivered, failed for good, or due again after ``retry_delay``).
``timers`` runs what the simulator does by itself (a decision made, a payment confirmed). All of
them run under ``lock``; the POST itself does not, so a slow CRM holds up nobody else.
"""

from __future__ import annotations

import abc
import sys
import threading
from typing import Any

from simkit.http import webhook_post


def retry_delay(backoff: float, attempts: int) -> float:
    """Seconds before the next attempt of a webhook tried ``attempts`` times: doubling from ``backoff``."""
    return backoff * 2.0 ** (attempts - 1)


def delivered(status: int | None) -> bool:
    return status is not None and 200 <= status < 300


class SimApp(abc.ABC):
    """A simulator's shared state; a subclass says how its webhooks are signed (``signed``), so a
    simulator that forgets fails when it is made, not at its first webhook."""

    name = "sim"  # in the thread's name and the verbose log

    def __init__(self, *, verbose: bool = False) -> None:
        self.verbose = verbose
        self.lock = threading.RLock()
        self.wake = threading.Event()
        self.stopping = threading.Event()

    def timers(self) -> None:  # noqa: B027 - optional: a simulator may do nothing by itself
        """What the simulator does by itself when its time comes (under ``lock``)."""

    def due_webhooks(self) -> list[dict[str, Any]]:
        return []

    @abc.abstractmethod
    def signed(self, hook: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        """The body and headers of ``hook`` as the CRM receives them (signed)."""

    def webhook_result(self, hook: dict[str, Any], status: int | None) -> None:  # noqa: B027 - optional
        """Record one attempt's answer (None: the CRM could not be reached)."""

    def deliver_due(self) -> None:
        """One round: the timers, then every due webhook, oldest first."""
        with self.lock:
            self.timers()
            due = self.due_webhooks()
        for hook in due:
            with self.lock:
                body, headers = self.signed(hook)
            status = webhook_post(hook["url"], body, headers)
            if self.verbose:
                sys.stderr.write(f"{self.name} webhook {hook.get('type', '')} {hook.get('event_id', '')} -> {status}\n")
            with self.lock:
                self.webhook_result(hook, status)

    def start_background(self) -> threading.Thread:
        """Run ``deliver_due`` until stopped, at once when ``wake`` is set, else every 50 ms."""

        def run() -> None:
            while not self.stopping.is_set():
                self.deliver_due()
                self.wake.wait(0.05)
                self.wake.clear()

        thread = threading.Thread(target=run, name=f"{self.name}-webhooks", daemon=True)
        thread.start()
        return thread
