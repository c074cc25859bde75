"""An example integration of the CRM, standard library only: page through the platform deals of the
key's brand with an API key, and receive the CRM's outbound webhooks, checking each signature as the
CRM signs.

    python examples/api_client.py deals --base-url https://crm.example.com --api-key crm_... \
        [--since 2026-03-01T00:00:00Z] [--until 2026-04-01T00:00:00Z] [--client <code>] [--symbol EURUSD]
    python examples/api_client.py receive --port 8080 --secret whsec_... [--secret whsec_old...]

The API (/api/v1/, its schema at /api/v1/docs): send the key as `Authorization: Bearer crm_...`
(deals need a key with the `trading:read` scope). A list answers `{"items": [...], "next_cursor":
"..."}`; ask again with `cursor=<next_cursor>` until it is null: deals come newest first, ordered by
time and then a unique row number, so no deal is repeated or skipped between pages even when many
share a time. Amounts are decimal strings with their currency (read them with Decimal, never float);
times are UTC. Errors answer `{"code", "message", "fields"}` with a 4xx status.

Webhooks: every POST carries

    X-CRM-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>]
    X-CRM-Delivery:  <delivery id: the same on every retry and replay; dedupe by it>
    X-CRM-Event:     <event name>

where each v1 is HMAC-SHA256 under one of the subscriber's secrets over `<t>.<raw body>`. During
a key change the CRM signs with the new and the old secret, so a receiver holding either accepts
it. Check the raw bytes as received (re-encoded JSON does not match) and refuse old timestamps.
Answer 2xx quickly; anything else is retried with backoff.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOLERANCE_SECONDS = 300


class ApiError(Exception):
    """A 4xx/5xx answer of the API: `status`, and the error body's `code`, `message`, `fields`."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status = status
        self.code = str(body.get("code", ""))
        self.fields = body.get("fields") or {}
        super().__init__(f"{status} {self.code}: {body.get('message', '')}")


def api_get(base_url: str, api_key: str, path: str, params: dict[str, Any] | None = None,
            *, timeout: float = 10.0) -> dict[str, Any]:
    """GET /api/v1/<path> with the key; the decoded JSON, or ApiError."""
    query = urllib.parse.urlencode({k: v for k, v in (params or {}).items() if v is not None})
    url = f"{base_url.rstrip('/')}/api/v1/{path.lstrip('/')}" + (f"?{query}" if query else "")
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {api_key}",  # noqa: S310 - http(s) URL
                                                   "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - the caller's CRM
            result: dict[str, Any] = json.loads(response.read())
            return result
    except urllib.error.HTTPError as exc:
        try:
            body = json.loads(exc.read())
        except ValueError:
            body = {"code": "http_error", "message": exc.reason}
        raise ApiError(exc.code, body) from None


def iter_items(base_url: str, api_key: str, path: str, params: dict[str, Any] | None = None,
               *, limit: int = 100) -> Iterator[dict[str, Any]]:
    """Every item of a list endpoint, page after page (following `next_cursor`)."""
    cursor: str | None = None
    while True:
        page = api_get(base_url, api_key, path, {**(params or {}), "limit": limit, "cursor": cursor})
        yield from page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            return


def iter_deals(base_url: str, api_key: str, *, since: str | None = None, until: str | None = None,
               client: str | None = None, account: str | None = None, symbol: str | None = None,
               limit: int = 200) -> Iterator[dict[str, Any]]:
    """Every deal of the key's brand matching the filters, newest first (times: ISO 8601 with an offset)."""
    params = {"since": since, "until": until, "client": client, "account": account, "symbol": symbol}
    return iter_items(base_url, api_key, "deals", params, limit=limit)


def profit_by_currency(deals: Iterable[dict[str, Any]]) -> dict[str, Decimal]:
    """Clients' profit net of commission, swap and fees, per account currency, never summed across
    currencies."""
    totals: dict[str, Decimal] = {}
    for deal in deals:
        net = sum((Decimal(deal[k]) for k in ("profit", "commission", "swap", "fee")), Decimal(0))
        totals[deal["currency"]] = totals.get(deal["currency"], Decimal(0)) + net
    return totals


# --- webhooks -------------------------------------------------------------------------------------

class BadSignature(ValueError):
    """Not a genuine, fresh delivery from the CRM."""


def signature_verify(body: bytes, header: str, secrets: Iterable[str], *, tolerance: float = TOLERANCE_SECONDS,
                     now: float | None = None) -> int:
    """Check an X-CRM-Signature header against the raw body; returns its timestamp or raises
    BadSignature. Accepts a match with any of `secrets` (hold both during a key change)."""
    timestamp, given = None, []
    for part in (header or "").split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            given.append(value.strip().lower())
    if timestamp is None or not given:
        raise BadSignature("malformed signature header")
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        raise BadSignature("timestamp too old or in the future")
    signed = str(timestamp).encode() + b"." + body
    for secret in secrets:
        expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        if any(hmac.compare_digest(expected, sig) for sig in given):
            return timestamp
    raise BadSignature("no signature matches a known secret")


def receiver(secrets: list[str], on_event: Callable[[dict[str, Any]], None],
             *, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """An HTTP server (not yet serving: call serve_forever, e.g. in a thread) that checks each
    POST's signature, skips deliveries it has already seen (by X-CRM-Delivery) and passes the
    decoded body to `on_event`. Refused: 400 with the reason."""
    seen: set[str] = set()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # the CRM keeps connections alive

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
            pass

        def _answer(self, status: int, text: str) -> None:
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                signature_verify(body, self.headers.get("X-CRM-Signature", ""), secrets)
            except BadSignature as exc:
                self._answer(400, str(exc))
                return
            delivery = self.headers.get("X-CRM-Delivery", "")
            with lock:
                duplicate = delivery in seen
                seen.add(delivery)
            if not duplicate:
                on_event(json.loads(body))
            self._answer(200, "ok")

    return ThreadingHTTPServer((host, port), Handler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    deals = sub.add_parser("deals", help="print every deal of the key's brand, one JSON line each, then the "
                                         "net profit per currency")
    deals.add_argument("--base-url", required=True)
    deals.add_argument("--api-key", required=True)
    for name in ("since", "until", "client", "account", "symbol"):
        deals.add_argument(f"--{name}")
    receive = sub.add_parser("receive", help="receive webhooks and print each event")
    receive.add_argument("--port", type=int, default=8080)
    receive.add_argument("--secret", action="append", required=True, help="a signing secret (twice during a change)")
    args = parser.parse_args(argv)
    if args.command == "deals":
        seen: list[dict[str, Any]] = []
        for item in iter_deals(args.base_url, args.api_key, since=args.since, until=args.until, client=args.client,
                               account=args.account, symbol=args.symbol):
            print(json.dumps(item))
            seen.append(item)
        for currency, total in sorted(profit_by_currency(seen).items()):
            print(f"net profit {currency}: {total}", file=sys.stderr)
        return 0
    server = receiver(args.secret, lambda body: print(json.dumps(body["event"]), flush=True), port=args.port)
    print(f"listening on http://127.0.0.1:{server.server_address[1]}/", file=sys.stderr)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
