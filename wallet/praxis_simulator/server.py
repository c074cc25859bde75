"""HTTP front of the Praxis simulator: the merchant API, the hosted payment page (``/hpp/``), the
control API (``/_sim/``) and the thread that delivers notifications (see __init__.py)."""

from __future__ import annotations

import hmac
import html
import json
import time
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from simkit.app import SimApp
from simkit.http import SimError, SimHandler, SimHTTPServer

from .engine import CARD_3DS, CARD_APPROVE, CARD_COUNTRIES, CARD_REJECT, CARD_TIMEOUT, Engine, Merchant
from .faults import FaultPlan, parse

MAX_BODY = 256 * 1024


class App(SimApp):
    name = "praxissim"

    def __init__(self, merchant: Merchant, *, verbose: bool = False, **engine_options: Any) -> None:
        super().__init__(verbose=verbose)
        self.merchant = merchant
        self.faults = FaultPlan()
        self.engine = Engine(merchant, self.faults, **engine_options)

    def due_webhooks(self) -> list[dict[str, Any]]:
        return [dict(h) for h in self.engine.due_webhooks()]

    def signed(self, hook: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        return self.engine.signed(hook)

    def webhook_result(self, hook: dict[str, Any], status: int | None) -> None:
        live = next((h for h in self.engine.webhooks if h["id"] == hook["id"]), None)
        if live is not None:
            self.engine.webhook_result(live, status)


class Handler(SimHandler):
    server_version = "PraxisSimulator"
    log_name = "praxissim"

    @property
    def app(self) -> App:
        app: App = self.server.app
        return app

    def handle_request(self, method: str) -> None:
        url = urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        raw = self.read_body(MAX_BODY)
        if raw is None:
            return
        if path.startswith("/_sim/"):
            self._control(method, path, raw)
        elif path.startswith("/hpp/"):
            self._page(method, path, raw)
        elif path in ("/cashier/cashier", "/direct/refund", "/direct/card-token", "/direct/wallet-token",
                      "/agent/find-order") and method == "POST":
            self._merchant(path, raw)
        elif path == "/healthz":
            self.send_json(200, {"ok": True})
        else:
            raise SimError(404, "not_found", "no such path")

    # -- merchant API -----------------------------------------------------------------------------
    def _merchant(self, path: str, raw: bytes) -> None:
        try:
            doc = json.loads(raw)
        except ValueError:
            raise SimError(400, "bad_json", "the body is not JSON") from None
        if not isinstance(doc, dict):
            raise SimError(400, "bad_json", "the body must be a JSON object")
        faults = self.app.faults
        if self.injected(faults, path):
            return
        engine = self.app.engine
        with self.app.lock:
            engine.check(path, doc, self.headers.get("GT-Authentication", ""))
            if path == "/cashier/cashier":
                result = engine.cashier(doc)
            elif path == "/direct/refund":
                result = engine.refund(doc)
            elif path == "/agent/find-order":
                result = engine.find_order(doc)
            else:
                result = engine.payout(doc, "card_token" if path.endswith("card-token") else "wallet_token")
        self.app.wake.set()
        after = faults.take("timeout_after_apply", path)
        if after is not None:
            time.sleep(float(after.params.get("seconds", 30)))
        self.send_json(200, result)

    # -- the hosted payment page --------------------------------------------------------------------
    def _page(self, method: str, path: str, raw: bytes) -> None:
        parts = path.split("/")  # "", "hpp", token[, "3ds"]
        engine = self.app.engine
        with self.app.lock:
            order = engine.order_by_token(parts[2] if len(parts) > 2 else "")
            if method == "GET":
                page = _payment_page(order)
            else:
                form = {k: v[-1] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
                try:
                    if len(parts) > 3 and parts[3] == "3ds":
                        engine.three_ds(order, approve=form.get("decision") == "approve")
                    else:
                        engine.submit(order, form)
                except SimError as exc:
                    self.send(400, _payment_page(order, error=exc.message).encode(), "text/html; charset=utf-8")
                    return
                page = _three_ds_page(order) if order.get("step") == "3ds" else ""
                last = engine.transactions[order["tids"][-1]] if order["tids"] else {}
        self.app.wake.set()
        if page:
            self.send(200, page.encode(), "text/html; charset=utf-8")
            return
        status = str(last.get("transaction_status") or "")
        if not order["return_url"]:
            self.send(200, f"<p>Transaction {html.escape(status)}.</p>".encode(), "text/html; charset=utf-8")
            return
        sep = "&" if "?" in order["return_url"] else "?"
        location = order["return_url"] + sep + urlencode({"order_id": order["order_id"], "status": status})
        self.send(303, b"", "text/plain", {"Location": location})

    # -- control API ------------------------------------------------------------------------------
    def _control(self, method: str, path: str, raw: bytes) -> None:
        if not hmac.compare_digest(self.headers.get("X-Sim-Token", ""), self.app.merchant.control_token):
            raise SimError(403, "forbidden", "X-Sim-Token is wrong")
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            raise SimError(400, "bad_json", "the body is not JSON") from None
        engine = self.app.engine
        with self.app.lock:
            listed = self.faults_route(self.app.faults, method, path, body, parse)
            if listed is not None:
                result: Any = listed
            elif path == "/_sim/chargeback":
                result = engine.chargeback(str(body.get("order_id", "")))
            elif path == "/_sim/complete":
                result = engine.complete(str(body.get("order_id", "")), bool(body.get("approve", True)))
            elif path == "/_sim/notify_unknown":
                result = engine.notify_unknown(str(body.get("url", "")))
            elif path == "/_sim/webhooks/flush":
                result = {"released": engine.release_held()}
            elif path == "/_sim/webhooks":
                result = {"webhooks": [{k: v for k, v in h.items() if k != "body"} | {"body": json.loads(h["body"])}
                                       for h in engine.webhooks]}
            else:
                raise SimError(404, "not_found", f"unknown control path {path}")
        self.app.wake.set()
        self.send_json(200, result)


def _html_page(title: str, inner: str) -> str:
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
            f"<body><main><h1>{html.escape(title)}</h1>{inner}</main></body></html>")


def _amount(order: dict[str, Any]) -> str:
    exponent = 0 if order["currency"] in ("JPY", "KRW") else 2
    value = order["amount"] / 10**exponent if exponent else order["amount"]
    return f"{value:.{exponent}f} {order['currency']}"


def _grouped(number: str) -> str:
    return " ".join(number[i:i + 4] for i in range(0, len(number), 4))


def _payment_page(order: dict[str, Any], *, error: str = "") -> str:
    what = "Withdraw" if order["intent"] == "withdrawal" else "Pay"
    if order["session_status"] != "created":
        return _html_page("Praxis Cashier (simulator)", "<p>This session is used already.</p>")
    problem = f"<p role='alert'>{html.escape(error)}</p>" if error else ""
    others = ", ".join(f"{country} <code>{_grouped(number)}</code>" for number, country in CARD_COUNTRIES.items()
                       if number not in (CARD_APPROVE, CARD_3DS, CARD_TIMEOUT))
    hints = (f"<section data-test-hints><h2>Test cards (simulator)</h2><ul>"
             f"<li><code>{_grouped(CARD_APPROVE)}</code> is approved</li>"
             f"<li><code>{_grouped(CARD_REJECT)}</code> (or any other number) is rejected</li>"
             f"<li><code>{_grouped(CARD_3DS)}</code> asks for 3-D Secure: approve or fail it on the next page</li>"
             f"<li><code>{_grouped(CARD_TIMEOUT)}</code> stays pending (the processor never answers)</li>"
             f"<li>Approved cards of a country: {others}</li><li>Any holder, expiry and CVV.</li></ul></section>")
    return _html_page(f"{what} {_amount(order)}", (
        f"{problem}<form method='post' action='/hpp/{html.escape(order['auth_token'])}'>"
        "<label>Card holder <input name='card_holder' autocomplete='cc-name'></label>"
        "<label>Card number <input name='card_number' autocomplete='cc-number' required></label>"
        "<label>Expiry <input name='card_exp' placeholder='MM/YYYY'></label>"
        "<label>CVV <input name='cvv'></label>"
        f"<button type='submit'>{what} {_amount(order)}</button></form>{hints}"))


def _three_ds_page(order: dict[str, Any]) -> str:
    action = f"/hpp/{html.escape(order['auth_token'])}/3ds"
    return _html_page("3-D Secure", f"<form method='post' action='{action}'>"
                      "<button name='decision' value='approve'>Approve</button>"
                      "<button name='decision' value='fail'>Fail</button></form>")


def serve(app: App, host: str, port: int) -> SimHTTPServer:
    return SimHTTPServer((host, port), app, Handler)
