"""HTTP for the simulators: a threaded server whose handlers reach the simulator's state, a handler
base with the plumbing every simulator repeats, and the one POST of a signed webhook to the CRM."""

from __future__ import annotations

import abc
import hashlib
import hmac
import http.client
import json
import sys
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from simkit.faults import Fault, FaultPlan, FaultSpecError


def sign(secret: str, message: str | bytes) -> str:
    """Hex HMAC-SHA256 of ``message`` with ``secret``: how the simulators sign and check requests
    and webhooks (each says what the message is made of)."""
    data = message.encode() if isinstance(message, str) else message
    return hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()


class SimError(Exception):
    """A refused request, answered ``{"error": {"code", "message"}}`` with ``status``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class SimHTTPServer(ThreadingHTTPServer):
    """A threaded server whose handlers reach the simulator's state as ``self.server.app``."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], app: Any, handler: type[BaseHTTPRequestHandler]) -> None:
        self.app = app
        super().__init__(address, handler)


class SimHandler(BaseHTTPRequestHandler, abc.ABC):
    """The plumbing of a simulator's request handler; a subclass answers in ``handle_request``
    (abstract: a handler without it cannot be made).

    ``log_name`` prefixes the request log (written only when the app is verbose); ``json_type`` is
    the content type of JSON answers. ``extra_headers`` adds headers to every answer (a session
    cookie, say)."""

    protocol_version = "HTTP/1.1"
    sys_version = ""
    log_name = "sim"
    json_type = "application/json"
    server: SimHTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        if self.server.app.verbose:
            sys.stderr.write(f"{self.log_name} {self.address_string()} {format % args}\n")

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self.dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self.dispatch("POST")

    def dispatch(self, method: str) -> None:
        try:
            self.handle_request(method)
        except SimError as exc:
            self.send_problem(exc.status, exc.code, exc.message)

    @abc.abstractmethod
    def handle_request(self, method: str) -> None:
        """Answer the request; a SimError raised is answered as the simulated APIs answer errors."""

    def extra_headers(self) -> dict[str, str]:
        return {}

    def read_body(self, limit: int) -> bytes | None:
        """The request's body; None when it is larger than ``limit`` (answered: ``too_large``)."""
        try:
            length = max(0, int(self.headers.get("Content-Length") or 0))
        except ValueError:
            length = 0
        if length > limit:
            self.too_large()
            return None
        return self.rfile.read(length) if length > 0 else b""

    def too_large(self) -> None:
        self.send_problem(413, "too_large", "body too large")

    def send_problem(self, status: int, code: str, message: str) -> None:
        """An error answer as the simulated APIs give them: ``{"error": {"code", "message"}}``."""
        self.send_json(status, {"error": {"code": code, "message": message}})

    def faults_route(self, plan: FaultPlan, method: str, path: str, body: Any,
                     parse: Callable[[Any], Fault]) -> dict[str, Any] | None:
        """The control API's fault routes: ``GET /_sim/faults`` lists the rules, ``POST /_sim/faults``
        with rules adds them (a refused one: SimError 400 ``bad_fault``), ``POST /_sim/faults/clear``
        removes them all. None for any other path."""
        if path == "/_sim/faults":
            if method == "POST" and body:
                try:
                    plan.install(body, parse)
                except FaultSpecError as exc:
                    raise SimError(400, "bad_fault", str(exc)) from None
            return {"faults": plan.active()}
        if path == "/_sim/faults/clear":
            plan.clear()
            return {"faults": []}
        return None

    def api_refusal(self, *, api_key: str, api_secret: str, tolerance: float, method: str, target: str,
                    body: bytes) -> tuple[int, str, str] | None:
        """Why a signed API request is refused (status, code, message), or None. The scheme of the
        simulated REST APIs: headers ``X-Api-Key``, ``X-Timestamp`` (Unix seconds, within
        ``tolerance``) and ``X-Signature``, hex HMAC-SHA256 with the API secret over
        ``"<timestamp>.<METHOD>.<target>.<body>"``."""
        if not hmac.compare_digest(self.headers.get("X-Api-Key", ""), api_key):
            return 401, "bad_api_key", "unknown API key"
        timestamp = self.headers.get("X-Timestamp", "")
        if not timestamp.isdigit():
            return 401, "bad_timestamp", "X-Timestamp must be Unix seconds"
        if abs(time.time() - int(timestamp)) > tolerance:
            return 401, "stale_timestamp", "X-Timestamp is too far from now"
        expected = sign(api_secret, f"{timestamp}.{method}.{target}.".encode() + body)
        if not hmac.compare_digest(self.headers.get("X-Signature", ""), expected):
            return 401, "bad_signature", "the signature does not match"
        return None

    def send(self, status: int, payload: bytes, content_type: str = "", extra: dict[str, str] | None = None) -> None:
        """Answer ``payload``; a client that went away only closes the connection."""
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type or self.json_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in {**self.extra_headers(), **(extra or {})}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
            self.wfile.flush()
        except OSError:  # ssl.SSLError too
            self.close_connection = True

    def send_json(self, status: int, body: Any) -> None:
        self.send(status, json.dumps(body, separators=(",", ":")).encode())

    def injected(self, faults: FaultPlan, path: str, *, status: int = 500, text: str = "Service error") -> bool:
        """The request faults every simulator honours before it applies anything: a ``latency``
        rule sleeps, an ``http_error`` rule answers its ``status`` (default ``status``) with an HTML
        page, as a proxy in front of a real API would. True when the request was answered."""
        latency = faults.take("latency", path)
        if latency is not None:
            time.sleep(float(latency.params.get("seconds", 1.0)))
        failure = faults.take("http_error", path)
        if failure is None:
            return False
        self.send(int(failure.params.get("status", status)), f"<html><body>{text}</body></html>".encode(),
                  "text/html")
        return True


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
