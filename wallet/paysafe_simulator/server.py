"""HTTP front of the Paysafe simulator: the Payments API (``/paymenthub/v1/``), the wallet's
redirect page (``/wallet/``), the control API (``/_sim/``) and the thread that delivers webhooks
(see __init__.py); the skeleton is every provider simulator's (simkit.provider)."""

from __future__ import annotations

import html
import json
import time
from typing import Any
from urllib.parse import parse_qs

from simkit.http import SimError, SimHTTPServer
from simkit.provider import ProviderApp, ProviderHandler, html_page

from .engine import ACCOUNT_APPROVE, ACCOUNT_DECLINE, ACCOUNT_PENDING, ACCOUNT_VERIFY, Engine, Merchant
from .faults import parse

API = "/paymenthub/v1"


class App(ProviderApp):
    name = "paysafesim"
    engine: Engine

    def __init__(self, merchant: Merchant, *, verbose: bool = False, **engine_options: Any) -> None:
        super().__init__(parse_fault=parse, verbose=verbose)
        self.merchant = merchant
        self.engine = Engine(merchant, self.faults, **engine_options)

    @property
    def control_token(self) -> str:
        return self.merchant.control_token


class Handler(ProviderHandler):
    server_version = "PaysafeSimulator"
    log_name = "paysafesim"

    @property
    def app(self) -> App:
        app: App = self.server.app
        return app

    def route(self, method: str, path: str, query: str, raw: bytes) -> bool:
        if path.startswith("/wallet/"):
            self._page(method, path, raw)
        elif path.startswith(API + "/"):
            self._api(method, path[len(API):], query, raw)
        else:
            return False
        return True

    # -- the Payments API -------------------------------------------------------------------------
    def _api(self, method: str, path: str, query: str, raw: bytes) -> None:
        if not self.app.engine.authorised(self.headers.get("Authorization", "")):
            raise SimError(401, "5279", "the API key's user name or password is wrong")
        parts = path.strip("/").split("/")
        if method == "GET":
            ref = (parse_qs(query).get("merchantRefNum") or [""])[-1]
            if len(parts) != 1 or parts[0] not in ("paymenthandles", "payments", "refunds", "standalonecredits") or not ref:
                raise SimError(404, "5269", "look objects up as /<resource>?merchantRefNum=...")
            with self.app.lock:
                self.send_json(200, self.app.engine.lookup(parts[0], ref))
            return
        try:
            doc = json.loads(raw)
        except ValueError:
            raise SimError(400, "5068", "the body is not JSON") from None
        if not isinstance(doc, dict):
            raise SimError(400, "5068", "the body must be a JSON object")
        faults = self.app.faults
        if self.injected(faults, path):
            return
        engine = self.app.engine
        with self.app.lock:
            if parts == ["paymenthandles"]:
                result, status = engine.handle_create(doc), 201
            elif parts == ["payments"]:
                result, status = engine.payment_create(doc), 201
            elif parts == ["standalonecredits"]:
                result, status = engine.credit_create(doc), 201
            elif len(parts) == 3 and parts[0] == "settlements" and parts[2] == "refunds":
                result, status = engine.refund_create(parts[1], doc), 201
            else:
                raise SimError(404, "5269", "no such resource")
        self.app.wake.set()
        after = faults.take("timeout_after_apply", path)
        if after is not None:
            time.sleep(float(after.params.get("seconds", 30)))
        self.send_json(status, result)

    # -- the wallet's redirect page ---------------------------------------------------------------
    def _page(self, method: str, path: str, raw: bytes) -> None:
        parts = path.split("/")  # "", "wallet", token[, "verify"]
        engine = self.app.engine
        with self.app.lock:
            handle = engine.handle_by_token(parts[2] if len(parts) > 2 else "")
            if method == "GET":
                page = _login_page(handle) if not handle.get("step") else _verify_page(handle)
            else:
                form = {k: v[-1] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
                try:
                    if len(parts) > 3 and parts[3] == "verify":
                        engine.verify(handle, approve=form.get("decision") == "approve")
                    else:
                        engine.login(handle, form.get("account", ""))
                except SimError as exc:
                    self.send(400, _login_page(handle, error=exc.message).encode(), "text/html; charset=utf-8")
                    return
                page = _verify_page(handle) if handle.get("step") else ""
            status = handle["status"]
            links = {link.get("rel"): link.get("href") for link in handle.get("returnLinks") or []
                     if isinstance(link, dict)}
        self.app.wake.set()
        if page:
            self.send(200, page.encode(), "text/html; charset=utf-8")
            return
        back = links.get("on_failed" if status == "FAILED" else "on_completed") or links.get("default")
        if not back:
            self.send(200, f"<p>Payment {html.escape(status.lower())}.</p>".encode(), "text/html; charset=utf-8")
            return
        self.send(303, b"", "text/plain", {"Location": str(back)})

    # -- control API ------------------------------------------------------------------------------
    def control(self, method: str, path: str, body: dict[str, Any]) -> Any:
        engine = self.app.engine
        if path == "/_sim/config":
            if method == "POST" and "webhook_url" in body:
                engine.webhook_url = str(body["webhook_url"] or "")
            return {"webhook_url": engine.webhook_url}
        if path == "/_sim/complete":
            return engine.complete(str(body.get("merchantRefNum", "")), bool(body.get("approve", True)))
        if path == "/_sim/notify_unknown":
            return engine.notify_unknown(str(body.get("url", "")))
        return super().control(method, path, body)


def _amount(handle: dict[str, Any]) -> str:
    exponent = 0 if handle["currencyCode"] in ("JPY", "KRW") else 2
    value = handle["amount"] / 10**exponent if exponent else handle["amount"]
    return f"{value:.{exponent}f} {handle['currencyCode']}"


def _login_page(handle: dict[str, Any], *, error: str = "") -> str:
    wallet = "Skrill" if handle["paymentType"] == "SKRILL" else "Neteller"
    if handle["status"] != "INITIATED":
        return html_page(f"{wallet} (simulator)", "<p>This payment is finished already.</p>")
    given = (handle.get(handle["paymentType"].lower()) or {}).get("consumerId", "")
    problem = f"<p role='alert'>{html.escape(error)}</p>" if error else ""
    hints = (f"<section data-test-hints><h2>Test accounts (simulator)</h2><ul>"
             f"<li><code>{ACCOUNT_APPROVE}</code> (or any other address) pays</li>"
             f"<li><code>{ACCOUNT_DECLINE}</code> is declined</li>"
             f"<li><code>{ACCOUNT_VERIFY}</code> asks for a second step: approve or fail it on the next page</li>"
             f"<li><code>{ACCOUNT_PENDING}</code> pays, the payment stays pending</li>"
             "<li>Any password.</li></ul></section>")
    return html_page(f"Pay {_amount(handle)} with {wallet}", (
        f"{problem}<form method='post' action='/wallet/{html.escape(handle['paymentHandleToken'])}'>"
        f"<label>E-mail <input name='account' type='email' autocomplete='email' value='{html.escape(given)}' required>"
        "</label><label>Password <input name='password' type='password'></label>"
        f"<button type='submit'>Pay {_amount(handle)}</button></form>{hints}"))


def _verify_page(handle: dict[str, Any]) -> str:
    action = f"/wallet/{html.escape(handle['paymentHandleToken'])}/verify"
    return html_page("Confirm the payment", f"<p>Your wallet asks you to confirm this payment.</p>"
                      f"<form method='post' action='{action}'>"
                      "<button name='decision' value='approve'>Approve</button>"
                      "<button name='decision' value='fail'>Fail</button></form>")


def serve(app: App, host: str, port: int) -> SimHTTPServer:
    return SimHTTPServer((host, port), app, Handler)
