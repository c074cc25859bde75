"""HTTP front of the CoinsPaid simulator: the merchant API (``/api/v2/``), the client's test wallet
page (``/wallet``), the control API (``/_sim/``) and the thread that delivers callbacks (see
__init__.py); the skeleton is every provider simulator's (simkit.provider)."""

from __future__ import annotations

import html
import time
from typing import Any
from urllib.parse import parse_qs

from simkit.http import SimError, SimHTTPServer
from simkit.provider import ProviderApp, ProviderHandler, json_object

from .engine import SCENARIOS, Engine, Merchant
from .faults import parse

API = "/api/v2"
ROUTES = {("POST", "/addresses/take"), ("POST", "/withdrawal/crypto"), ("GET", "/transactions/info"),
          ("POST", "/transactions/info")}


class App(ProviderApp):
    name = "coinspaidsim"
    engine: Engine

    def __init__(self, merchant: Merchant, *, verbose: bool = False, **engine_options: Any) -> None:
        super().__init__(parse_fault=parse, verbose=verbose)
        self.merchant = merchant
        self.engine = Engine(merchant, self.faults, **engine_options)

    @property
    def control_token(self) -> str:
        return self.merchant.control_token


class Handler(ProviderHandler):
    server_version = "CoinsPaidSimulator"
    log_name = "coinspaidsim"

    @property
    def app(self) -> App:
        app: App = self.server.app
        return app

    def send_problem(self, status: int, code: str, message: str) -> None:
        # CoinsPaid's error answer: {"errors": {"<field or code>": "<message>"}}.
        self.send_json(status, {"errors": {code: message}})

    def route(self, method: str, path: str, query: str, raw: bytes) -> bool:
        if path == "/wallet":
            self._wallet(method, raw)
        elif path.startswith(API + "/") and (method, path[len(API):]) in ROUTES:
            self._merchant(path[len(API):], raw)
        elif path == API + "/ping":
            self.send_json(200, {"ok": True})
        else:
            return False
        return True

    # -- merchant API -----------------------------------------------------------------------------
    def _merchant(self, route: str, raw: bytes) -> None:
        engine = self.app.engine
        engine.check(self.headers.get("X-Processing-Key", ""), self.headers.get("X-Processing-Signature", ""), raw)
        doc = json_object(raw) if raw else {}
        faults = self.app.faults
        if self.injected(faults, route):
            return
        with self.app.lock:
            if route == "/addresses/take":
                result = engine.take(doc)
            elif route == "/withdrawal/crypto":
                result = engine.withdraw(doc)
            else:
                result = engine.info(doc)
        self.app.wake.set()
        after = faults.take("timeout_after_apply", route)
        if after is not None:
            time.sleep(float(after.params.get("seconds", 30)))
        self.send_json(201 if route != "/transactions/info" else 200, result)

    # -- the client's test wallet -----------------------------------------------------------------
    def _wallet(self, method: str, raw: bytes) -> None:
        engine = self.app.engine
        message = ""
        if method == "POST":
            form = {k: v[-1] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
            try:
                with self.app.lock:
                    sent = engine.pay(form.get("address", "").strip(), form.get("amount", ""),
                                      scenario=form.get("scenario", "confirm"))
                message = f"Sent {sent['currency_sent']['amount']} {sent['currency_sent']['currency']}: {sent['status']}."
            except SimError as exc:
                message = exc.message
            self.app.wake.set()
        with self.app.lock:
            addresses = list(engine.addresses.values())
        rows = "".join(f"<li><code>{html.escape(a['address'])}</code> {html.escape(a['currency'])}"
                       f"{' to ' + html.escape(a['convert_to']) if a['convert_to'] else ''} "
                       f"({html.escape(a['foreign_id'])})</li>" for a in reversed(addresses[-20:]))
        options = "".join(f"<option value='{s}'>{s}</option>" for s in SCENARIOS)
        page = ("<!doctype html><html><head><meta charset='utf-8'><title>Test crypto wallet (CoinsPaid simulator)"
                "</title></head><body><main><h1>Test crypto wallet</h1>"
                f"{'<p role=status>' + html.escape(message) + '</p>' if message else ''}"
                "<form method='post' action='/wallet'><label>To the address <input name='address' required></label>"
                "<label>Amount <input name='amount' required placeholder='0.002'></label>"
                f"<label>The network <select name='scenario'>{options}</select></label>"
                "<button type='submit'>Send</button></form>"
                f"<h2>Addresses given out</h2><ul>{rows}</ul>"
                "<p>confirm: confirmed at once; cancel: dropped by the network; slow: not confirmed, then "
                "confirmed (or cancelled) through the control API; stuck: never confirmed by itself.</p>"
                "</main></body></html>")
        self.send(200, page.encode(), "text/html; charset=utf-8")

    # -- control API ------------------------------------------------------------------------------
    def control(self, method: str, path: str, body: dict[str, Any]) -> Any:
        engine = self.app.engine
        if path == "/_sim/settings":
            if method == "POST" and "callback_url" in body:
                engine.callback_url = str(body.get("callback_url") or "")
            return {"callback_url": engine.callback_url}
        if path == "/_sim/pay":
            return engine.pay(str(body.get("address", "")), body.get("amount"), currency=str(body.get("currency") or ""),
                              scenario=str(body.get("scenario") or "confirm"),
                              riskscore=str(body.get("riskscore") or "0.12"))
        if path == "/_sim/confirm":
            return engine.confirm(str(body.get("address", "")), bool(body.get("approve", True)))
        if path == "/_sim/notify_unknown":
            return engine.notify_unknown(str(body.get("url", "")))
        return super().control(method, path, body)


def serve(app: App, host: str, port: int) -> SimHTTPServer:
    return SimHTTPServer((host, port), app, Handler)
