"""The ``__main__`` of a simulator: the options every one takes, and the serve-until-stopped loop.

On start a simulator prints one JSON line, ``{"event": "listening", "host": ..., "port": ...}``
and what else it wants known (a certificate, where its config is), so that a supervisor or a test
learns the port (``--port 0`` picks a free one). SIGTERM and SIGINT stop it cleanly.
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from http.server import HTTPServer
from types import FrameType
from typing import Any


def arguments(prog: str, description: str | None, *, port: int) -> argparse.ArgumentParser:
    """A parser with the options every simulator takes: ``--host``, ``--port``, ``--verbose``."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=port, help="0 picks a free port (printed on start)")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return parser


def webhook_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of a simulator that sends webhooks: how often and how patiently."""
    parser.add_argument("--webhook-attempts", type=int, default=8)
    parser.add_argument("--webhook-backoff", type=float, default=1.0, help="seconds before the first retry; doubles")


def address(httpd: HTTPServer) -> tuple[str, int]:
    """The host and port the server listens on (the port the system picked for ``--port 0``)."""
    return str(httpd.server_address[0]), int(httpd.server_address[1])


def serve_until_stopped(httpd: HTTPServer, *, announce: dict[str, Any] | None = None,
                        on_stop: Callable[[], None] | None = None, on_exit: Callable[[], None] | None = None) -> int:
    """Print the "listening" line (with ``announce``), serve until SIGTERM or SIGINT, then close.
    ``on_stop`` runs when the signal comes (stop the simulator's threads), ``on_exit`` after the
    last request (write the state to disk). Returns the process's exit status."""
    host, port = address(httpd)

    def stop(signum: int, frame: FrameType | None) -> None:
        if on_stop is not None:
            on_stop()
        # shutdown() waits for serve_forever to return, so it runs off the main thread.
        threading.Thread(target=httpd.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(json.dumps({"event": "listening", "host": host, "port": port, **(announce or {})}), flush=True)
    try:
        httpd.serve_forever(poll_interval=0.05)
    finally:
        if on_exit is not None:
            on_exit()
        httpd.server_close()
    return 0


def wait_for_health(base_url: str, *, timeout: float, interval: float = 0.5) -> bool:
    """Whether the simulator at ``base_url`` answers ``GET /healthz`` within ``timeout`` seconds
    (asked at once, then every ``interval``): how a set-up command waits for a simulator that
    ``make run`` has just started."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(base_url.rstrip("/") + "/healthz", timeout=2).close()  # noqa: S310 - our loopback
            return True
        except (urllib.error.URLError, OSError):
            if time.monotonic() >= deadline:
                return False
            time.sleep(interval)
