"""HTTP front of the PSP simulator: the merchant API (``/v1/``), the hosted checkout (``/checkout/``),
the control API (``/_sim/``), and the thread that delivers webhooks (see __init__.py)."""

from __future__ import annotations

import datetime as dt
import hmac
import html
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from simkit.app import SimApp
from simkit.http import SimError, SimHandler, SimHTTPServer

from .config import SimConfig
from .engine import CARD_3DS, CARD_COUNTRIES, CARD_DECLINE, CARD_SUCCESS, Engine
from .faults import FaultPlan, parse

MAX_BODY = 1024 * 1024


class App(SimApp):
    """Delivers due webhooks and confirms crypto payments in its background thread."""

    name = "pspsim"

    def __init__(self, config: SimConfig, *, state_dir: Path | None, today: dt.date, verbose: bool = False,
                 **engine_options: Any) -> None:
        super().__init__(verbose=verbose)
        self.config = config
        self.faults = FaultPlan()
        self.engine = Engine(config, self.faults, state_dir=state_dir, today=today, **engine_options)

    def timers(self) -> None:
        if self.engine.run_timers():
            self.engine.commit()

    def due_webhooks(self) -> list[dict[str, Any]]:
        return [dict(h) for h in self.engine.due_webhooks()]

    def signed(self, hook: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        return self.engine.signed(hook)

    def webhook_result(self, hook: dict[str, Any], status: int | None) -> None:
        live = next((h for h in self.engine.webhooks if h["id"] == hook["id"]), None)
        if live is not None:
            self.engine.webhook_result(live, status)
            self.engine.commit()


class Handler(SimHandler):
    server_version = "PSPSimulator"
    log_name = "pspsim"
    server: SimHTTPServer  # its app: this module's App

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
        elif path.startswith("/checkout/"):
            self._checkout(method, path, raw)
        elif path.startswith("/v1/"):
            self._merchant(method, path, url.query, raw)
        elif path == "/healthz":
            self.send_json(200, {"ok": True})
        else:
            raise SimError(404, "not_found", "no such path")

    # -- merchant API -----------------------------------------------------------------------------
    def _merchant(self, method: str, path: str, query: str, raw: bytes) -> None:
        target = path + (f"?{query}" if query else "")
        config = self.app.config
        refused = self.api_refusal(api_key=config.api_key, api_secret=config.api_secret, method=method, target=target,
                                   body=raw, tolerance=config.signature_tolerance_seconds)
        if refused is not None:
            raise SimError(*refused)
        faults = self.app.faults
        if self.injected(faults, path):
            return
        body: dict[str, Any] = {}
        if raw:
            try:
                parsed = json.loads(raw)
            except ValueError:
                raise SimError(400, "bad_json", "the body is not JSON") from None
            if not isinstance(parsed, dict):
                raise SimError(400, "bad_json", "the body must be a JSON object")
            body = parsed
        params = {k: v[-1] for k, v in parse_qs(query).items()}
        engine = self.app.engine
        status = 200
        with self.app.lock:
            if method == "POST" and path == "/v1/payments":
                before = len(engine.objects)
                result = engine.public(engine.payment_create(body))
                status = 201 if len(engine.objects) > before else 200
            elif method == "POST" and path == "/v1/refunds":
                result = engine.public(engine.refund_create(body))
            elif method == "POST" and path == "/v1/payouts":
                result = engine.public(engine.payout_create(body))
            elif method == "GET" and path.startswith("/v1/settlements/") and path.endswith(".csv"):
                try:
                    day = dt.date.fromisoformat(path.removeprefix("/v1/settlements/").removesuffix(".csv"))
                except ValueError:
                    raise SimError(400, "bad_date", "the file name must be YYYY-MM-DD.csv") from None
                self.send(200, engine.settlement_csv(day).encode(), "text/csv; charset=utf-8")
                return
            elif method == "GET" and path.split("/")[2] in ("payments", "refunds", "payouts"):
                kind = path.split("/")[2].removesuffix("s")
                parts = path.split("/")
                if len(parts) == 4:
                    result = engine.public(engine.find(kind, object_id=parts[3]))
                elif params.get("merchant_ref"):
                    result = engine.public(engine.find(kind, merchant_ref=params["merchant_ref"]))
                else:
                    raise SimError(400, "missing_field", "merchant_ref is required")
            else:
                raise SimError(404, "not_found", "no such endpoint")
            engine.commit()
        self.app.wake.set()
        after = faults.take("timeout_after_apply", path) if method == "POST" else None
        if after is not None:
            time.sleep(float(after.params.get("seconds", 30)))
        self.send_json(status, result)

    # -- hosted checkout --------------------------------------------------------------------------
    def _checkout(self, method: str, path: str, raw: bytes) -> None:
        parts = path.split("/")  # "", "checkout", id[, "3ds"]
        payment_id = parts[2] if len(parts) > 2 else ""
        engine = self.app.engine
        with self.app.lock:
            payment = dict(engine.find("payment", object_id=payment_id))
        if method == "GET":
            self.send(200, _checkout_page(payment).encode(), "text/html; charset=utf-8")
            return
        form = {k: v[-1] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
        with self.app.lock:
            if len(parts) > 3 and parts[3] == "3ds":
                payment = dict(engine.three_ds(payment_id, approve=form.get("decision") == "approve"))
            else:
                try:
                    payment = dict(engine.checkout_submit(payment_id, form))
                except SimError as exc:
                    self.send(400, _checkout_page(payment, error=exc.message).encode(), "text/html; charset=utf-8")
                    return
            engine.commit()
        self.app.wake.set()
        if payment["status"] == "pending" and payment.get("_step") == "3ds":
            self.send(200, _three_ds_page(payment).encode(), "text/html; charset=utf-8")
            return
        target = payment.get("return_url") or ""
        if not target:
            self.send(200, f"<p>Payment {html.escape(payment['status'])}.</p>".encode(), "text/html; charset=utf-8")
            return
        sep = "&" if "?" in target else "?"
        location = target + sep + urlencode({"payment": payment["id"], "status": payment["status"],
                                             "merchant_ref": payment["merchant_ref"]})
        self.send(303, b"", "text/plain", {"Location": location})

    # -- control API ------------------------------------------------------------------------------
    def _control(self, method: str, path: str, raw: bytes) -> None:
        if not hmac.compare_digest(self.headers.get("X-Sim-Token", ""), self.app.config.control_token):
            raise SimError(403, "forbidden", "X-Sim-Token is wrong")
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            raise SimError(400, "bad_json", "the body is not JSON") from None
        app = self.app
        engine = app.engine
        with app.lock:
            listed = self.faults_route(app.faults, method, path, body, parse)
            if listed is not None:
                result: Any = listed
            elif path == "/_sim/status":
                result = engine.status()
            elif path == "/_sim/chargeback":
                result = engine.public(engine.chargeback(str(body.get("payment_id", "")), str(body.get("reason", ""))))
            elif path == "/_sim/payouts/process":
                result = engine.payouts_process()
            elif path == "/_sim/advance_day":
                result = engine.advance_day(int(body.get("days", 1)))
            elif path == "/_sim/webhooks/flush":
                result = {"released": engine.release_held()}
            elif path == "/_sim/webhooks":
                result = {"webhooks": [{k: v for k, v in h.items() if k != "body"} | {"body": json.loads(h["body"])}
                                       for h in engine.webhooks]}
            else:
                raise SimError(404, "not_found", f"unknown control path {path}")
            engine.commit()
        app.wake.set()
        self.send_json(200, result)


def _page(title: str, inner: str) -> str:
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
            f"<body><main><h1>{html.escape(title)}</h1>{inner}</main></body></html>")


def _checkout_page(payment: dict[str, Any], *, error: str = "") -> str:
    amount = f"{html.escape(payment['amount'])} {html.escape(payment['currency'])}"
    if payment["status"] != "created":
        return _page("Payment", f"<p>This payment is {html.escape(payment['status'])}.</p>")
    fields = {
        "card": "<label>Card holder <input name='card_holder' autocomplete='cc-name'></label>"
                "<label>Card number <input name='card_number' autocomplete='cc-number' required></label>"
                "<label>Expiry <input name='expiry' placeholder='MM/YY'></label>"
                "<label>CVC <input name='cvc'></label>",
        "ewallet": "<label>E-wallet e-mail <input type='email' name='email' required></label>",
        "crypto": "<p>Send the amount to <code>sim1qpspsimulatordepositaddress</code>.</p>"
                  "<label>Your sending address <input name='address' required></label>",
    }[payment["method"]]
    problem = f"<p role='alert'>{html.escape(error)}</p>" if error else ""
    return _page("Pay " + amount, f"{problem}<form method='post' action='/checkout/{html.escape(payment['id'])}'>"
                 f"{fields}<button type='submit'>Pay {amount}</button></form>{_test_hints(payment['method'])}")


def _grouped(number: str) -> str:
    return " ".join(number[i:i + 4] for i in range(0, len(number), 4))


def _test_hints(method: str) -> str:
    """What to type to get each outcome: this is a simulator, and testers should not have to read
    its code to find the test cards (the README lists them too)."""
    if method == "card":
        countries = ", ".join(f"{country} <code>{_grouped(number)}</code>" for number, country in CARD_COUNTRIES.items()
                              if number not in (CARD_SUCCESS, CARD_3DS))
        items = (f"<li><code>{_grouped(CARD_SUCCESS)}</code> succeeds</li>"
                 f"<li><code>{_grouped(CARD_3DS)}</code> asks for a 3-D Secure step: approve or fail it on the "
                 "next page</li>"
                 f"<li><code>{_grouped(CARD_DECLINE)}</code> (or any other number) is declined</li>"
                 f"<li>Cards of a country (they succeed): {countries}</li>"
                 "<li>Any holder, expiry and CVC.</li>")
    elif method == "ewallet":
        items = "<li>Any e-mail address succeeds; one containing <code>decline</code> is declined.</li>"
    else:
        items = ("<li>Any sending address: the payment waits for its confirmations, then succeeds; an address "
                 "containing <code>fail</code> fails.</li>")
    return f"<section data-test-hints><h2>Test data (simulator)</h2><ul>{items}</ul></section>"


def _three_ds_page(payment: dict[str, Any]) -> str:
    action = f"/checkout/{html.escape(payment['id'])}/3ds"
    return _page("3-D Secure", f"<form method='post' action='{action}'>"
                 "<button name='decision' value='approve'>Approve</button>"
                 "<button name='decision' value='fail'>Fail</button></form>")


def serve(app: App, host: str, port: int) -> SimHTTPServer:
    return SimHTTPServer((host, port), app, Handler)
