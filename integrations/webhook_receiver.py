"""A small receiver of the CRM's outbound webhooks: the demo subscriber of `make run` and the
receiver process of the tests. Standard library plus plumbing.signatures only; nothing of
Django or the CRM's data, since a receiver is an outside system reached over a socket.

    python -m integrations.webhook_receiver --port 8470 --secrets-file var/webhook-demo/secrets.json

It checks each POST's signature and timestamp with `verify` against the secrets in the file
(a JSON list, re-read on every request so that a key change needs no restart), dedupes by the
delivery id (a repeat is answered 200 and not counted again), and logs one JSON line per delivery
on stderr. On start it prints `{"event": "listening", "host": ..., "port": ...}` on stdout.

Control API (for tests): POST /_control/script with [[status, delay seconds], ...] makes the next
deliveries get those answers in turn (then 200); POST /_control/reset forgets the script;
POST /_control/secrets sets the secrets;
GET /_control/received lists what arrived, oldest first.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from plumbing.signatures import DELIVERY_HEADER, EVENT_HEADER, HEADER, SignatureError, verify

MAX_BODY = 1024 * 1024


class Receiver:
    def __init__(self, *, secrets: list[str], secrets_file: Path | None, tolerance: float) -> None:
        self.lock = threading.Lock()
        self.secrets = secrets
        self.secrets_file = secrets_file
        self.tolerance = tolerance
        self.script: list[tuple[int, float]] = []
        self.received: list[dict[str, Any]] = []
        self.seen: set[str] = set()

    def current_secrets(self) -> list[str]:
        if self.secrets_file is not None:
            try:
                loaded = json.loads(self.secrets_file.read_text())
                return [str(s) for s in loaded] if isinstance(loaded, list) else []
            except (OSError, ValueError):
                return []
        with self.lock:
            return list(self.secrets)


class Handler(BaseHTTPRequestHandler):
    server: ReceiverServer
    protocol_version = "HTTP/1.1"  # keep-alive, as a production receiver would
    # Headers and body go out in two writes: without this, Nagle's algorithm holds the body until
    # the sender's delayed ACK (40 ms a request).
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        pass

    def _answer(self, status: int, body: Any) -> None:
        raw = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)
        except OSError:
            pass  # the sender gave up waiting

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        app = self.server.app
        if self.path.startswith("/_control/received"):
            with app.lock:
                self._answer(200, list(app.received))
        else:
            self._answer(404, {"error": "not found"})

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        app = self.server.app
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._answer(413, {"error": "too large"})
            return
        body = self.rfile.read(length)
        if self.path.startswith("/_control/"):
            self._control(self.path, body)
            return
        arrived = time.time()
        delivery = self.headers.get(DELIVERY_HEADER, "")
        try:
            verify(body=body, header=self.headers.get(HEADER, ""), secrets=app.current_secrets(),
                   tolerance=app.tolerance)
            ok, reason = True, ""
        except SignatureError as exc:
            ok, reason = False, exc.reason
        with app.lock:
            status, delay = app.script.pop(0) if app.script else (200, 0.0)
            if not ok:
                status, delay = 400, 0.0
            duplicate = ok and status < 300 and delivery in app.seen
            try:
                event = json.loads(body).get("event", {})
            except (ValueError, AttributeError):
                event = {}
            entry = {"delivery_id": delivery, "event": self.headers.get(EVENT_HEADER, ""),
                     "event_id": event.get("id"), "client": event.get("client"), "data": event.get("data"),
                     "redacted": event.get("redacted"), "signature_ok": ok, "reason": reason,
                     "answered": status, "duplicate": duplicate, "at": arrived,
                     "signatures": self.headers.get(HEADER, "").count("v1=")}
            app.received.append(entry)
            if ok and status < 300:
                app.seen.add(delivery)
        print(json.dumps({k: entry[k] for k in ("delivery_id", "event", "client", "signature_ok", "answered",
                                                  "duplicate")}), file=sys.stderr, flush=True)
        if delay:
            time.sleep(delay)  # a hanging receiver: the sender's timeout runs out first
        self._answer(status, {"received": ok, "duplicate": duplicate} if ok else {"error": reason})

    def _control(self, path: str, body: bytes) -> None:
        app = self.server.app
        try:
            data = json.loads(body or b"null")
        except ValueError:
            self._answer(400, {"error": "not JSON"})
            return
        with app.lock:
            if path.startswith("/_control/script") and isinstance(data, list):
                app.script.extend((int(s), float(d)) for s, d in data)
            elif path.startswith("/_control/secrets") and isinstance(data, list):
                app.secrets = [str(s) for s in data]
            elif path.startswith("/_control/reset"):
                app.script.clear()
            else:
                self._answer(400, {"error": "unknown control request"})
                return
        self._answer(200, {"ok": True})


class ReceiverServer(ThreadingHTTPServer):
    daemon_threads = True
    # The senders open a kept-alive connection per thread, all at once when a burst starts; the
    # default backlog of 5 made a busy machine reset some of them.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: Receiver) -> None:
        super().__init__(address, Handler)
        self.app = app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m integrations.webhook_receiver", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8470, help="0 picks a free port (printed on start)")
    parser.add_argument("--secret", action="append", default=[], help="a signing secret (repeat for two)")
    parser.add_argument("--secrets-file", type=Path, help="a JSON list of secrets, read on every request")
    parser.add_argument("--tolerance", type=float, default=300.0, help="seconds a signature's timestamp may be off")
    args = parser.parse_args(argv)
    app = Receiver(secrets=args.secret, secrets_file=args.secrets_file, tolerance=args.tolerance)
    httpd = ReceiverServer((args.host, args.port), app)
    host, port = str(httpd.server_address[0]), int(httpd.server_address[1])
    print(json.dumps({"event": "listening", "host": host, "port": port}), flush=True)

    def stop(*_: Any) -> None:
        threading.Thread(target=httpd.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    httpd.serve_forever()
    httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
