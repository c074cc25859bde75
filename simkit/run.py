"""The ``__main__`` of a simulator: the options every one takes, and the serve-until-stopped loop.

On start a simulator prints one JSON line, ``{"event": "listening", "host": ..., "port": ...}``
and what else it wants known (a certificate, where its config is), so that a supervisor or a test
learns the port (``--port 0`` picks a free one). SIGTERM and SIGINT stop it cleanly.

A simulator with credentials keeps them in ``config.json`` in its ``--state-dir``
(``state_credentials``: made on the first start, read as-is afterwards, options given winning for
one run), where a set-up command reads them.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from http.server import HTTPServer
from pathlib import Path
from types import FrameType
from typing import Any

CONFIG_NAME = "config.json"


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


def public_url(httpd: HTTPServer, given: str) -> str:
    """The base URL of the simulator's pages: ``given`` (``--public-url``), else ``http://host:port``."""
    host, port = address(httpd)
    return given.rstrip("/") or f"http://{host}:{port}"


def state_dir_of(value: str) -> Path | None:
    """The ``--state-dir`` given, resolved; None when none was (the simulator keeps all in memory)."""
    return Path(value).resolve() if value else None


def config_file(state_dir: Path | None) -> str:
    """Where the credentials are, as the "listening" line says it ("" when in memory only)."""
    return str(state_dir / CONFIG_NAME) if state_dir is not None else ""


def state_credentials(state_dir: Path | None, fresh: Callable[[], dict[str, Any]], **given: str | None) -> dict[str, Any]:
    """A simulator's credentials: ``config.json`` in ``state_dir`` as the first start wrote it from
    ``fresh()`` (readable by its owner only), then the options ``given`` that are not empty, for
    this run only. Without a state directory, ``fresh()`` in memory."""
    path = state_dir / CONFIG_NAME if state_dir is not None else None
    data: dict[str, Any] = {}
    if path is not None and path.exists():
        data = json.loads(path.read_text(encoding="utf-8"))
    if not data:
        data = fresh()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh, indent=2)
            os.replace(tmp, path)
    data.update({k: v for k, v in given.items() if v})
    return data


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
