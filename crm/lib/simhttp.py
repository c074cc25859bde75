"""What the simulators of outside systems (the PSP, the KYC vendor) share: the threaded HTTP server
they listen with, and the one POST of a signed webhook to the CRM. Standard library only: each
simulator is its own process, started beside the CRM, speaking to it over a socket."""

from __future__ import annotations

import http.client
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit


class SimHTTPServer(ThreadingHTTPServer):
    """A threaded server whose handlers reach the simulator's state as `self.server.app`."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], app: Any, handler: type[BaseHTTPRequestHandler]) -> None:
        self.app = app
        super().__init__(address, handler)


def webhook_post(url: str, body: bytes, headers: dict[str, str], *, timeout: float = 10) -> int | None:
    """POST one webhook; the HTTP status, or None when the CRM could not be reached or did not
    answer (the caller retries with its backoff)."""
    parts = urlsplit(url)
    conn_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = conn_class(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
    try:
        conn.request(
            "POST",
            (parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
            body=body,
            headers=headers,
        )
        response = conn.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()
