"""HTTP front of the Praxis simulator: the merchant API, the hosted payment page (``/hpp/``), the
control API (``/_sim/``) and the thread that delivers notifications (see __init__.py); the skeleton
is every provider simulator's (simkit.provider)."""

from __future__ import annotations

import html
import time
from typing import Any
from urllib.parse import parse_qs, urlencode

from simkit import provider
from simkit.http import SimError, SimHTTPServer
from simkit.provider import ProviderApp, ProviderHandler, grouped, html_page, json_object, three_ds_page

from .engine import CARD_3DS, CARD_APPROVE, CARD_COUNTRIES, CARD_REJECT, CARD_TIMEOUT, Engine, Merchant
from .faults import parse

MERCHANT_PATHS = ("/cashier/cashier", "/direct/refund", "/direct/card-token", "/direct/wallet-token",
                  "/agent/find-order")


class App(ProviderApp):
    name = "praxissim"
    engine: Engine

    def __init__(self, merchant: Merchant, *, verbose: bool = False, **engine_options: Any) -> None:
        super().__init__(parse_fault=parse, verbose=verbose)
        self.merchant = merchant
        self.engine = Engine(merchant, self.faults, **engine_options)

    @property
    def control_token(self) -> str:
        return self.merchant.control_token


class Handler(ProviderHandler):
    server_version = "PraxisSimulator"
    log_name = "praxissim"

    @property
    def app(self) -> App:
        app: App = self.server.app
        return app

    def route(self, method: str, path: str, query: str, raw: bytes) -> bool:
        if path.startswith("/hpp/"):
            self._page(method, path, raw)
        elif path in MERCHANT_PATHS and method == "POST":
            self._merchant(path, raw)
        else:
            return False
        return True

    # -- merchant API -----------------------------------------------------------------------------
    def _merchant(self, path: str, raw: bytes) -> None:
        doc = json_object(raw)
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
                page = three_ds_page(f"/hpp/{order['auth_token']}/3ds") if order.get("step") == "3ds" else ""
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
    def control(self, method: str, path: str, body: dict[str, Any]) -> Any:
        engine = self.app.engine
        if path == "/_sim/chargeback":
            return engine.chargeback(str(body.get("order_id", "")))
        if path == "/_sim/complete":
            return engine.complete(str(body.get("order_id", "")), bool(body.get("approve", True)))
        if path == "/_sim/notify_unknown":
            return engine.notify_unknown(str(body.get("url", "")))
        return super().control(method, path, body)


def _amount(order: dict[str, Any]) -> str:
    exponent = 0 if order["currency"] in ("JPY", "KRW") else 2
    value = order["amount"] / 10**exponent if exponent else order["amount"]
    return f"{value:.{exponent}f} {order['currency']}"


def _payment_page(order: dict[str, Any], *, error: str = "") -> str:
    what = "Withdraw" if order["intent"] == "withdrawal" else "Pay"
    if order["session_status"] != "created":
        return html_page("Praxis Cashier (simulator)", "<p>This session is used already.</p>")
    problem = f"<p role='alert'>{html.escape(error)}</p>" if error else ""
    others = ", ".join(f"{country} <code>{grouped(number)}</code>" for number, country in CARD_COUNTRIES.items()
                       if number not in (CARD_APPROVE, CARD_3DS, CARD_TIMEOUT))
    hints = (f"<section data-test-hints><h2>Test cards (simulator)</h2><ul>"
             f"<li><code>{grouped(CARD_APPROVE)}</code> is approved</li>"
             f"<li><code>{grouped(CARD_REJECT)}</code> (or any other number) is rejected</li>"
             f"<li><code>{grouped(CARD_3DS)}</code> asks for 3-D Secure: approve or fail it on the next page</li>"
             f"<li><code>{grouped(CARD_TIMEOUT)}</code> stays pending (the processor never answers)</li>"
             f"<li>Approved cards of a country: {others}</li><li>Any holder, expiry and CVV.</li></ul></section>")
    return html_page(f"{what} {_amount(order)}", (
        f"{problem}<form method='post' action='/hpp/{html.escape(order['auth_token'])}'>"
        "<label>Card holder <input name='card_holder' autocomplete='cc-name'></label>"
        "<label>Card number <input name='card_number' autocomplete='cc-number' required></label>"
        "<label>Expiry <input name='card_exp' placeholder='MM/YYYY'></label>"
        "<label>CVV <input name='cvv'></label>"
        f"<button type='submit'>{what} {_amount(order)}</button></form>{hints}"))


def serve(app: App, host: str, port: int) -> SimHTTPServer:
    return provider.serve(app, Handler, host, port)
