"""HTTP front of the PSP simulator: the merchant API (``/v1/``), the hosted checkout (``/checkout/``),
the control API (``/_sim/``), and the thread that delivers webhooks (see __init__.py); the skeleton
is every provider simulator's (simkit.provider)."""

from __future__ import annotations

import datetime as dt
import html
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from simkit import provider
from simkit.http import SimError, SimHTTPServer
from simkit.provider import ProviderApp, ProviderHandler, grouped, html_page, json_object, three_ds_page

from .config import SimConfig
from .engine import CARD_3DS, CARD_COUNTRIES, CARD_DECLINE, CARD_SUCCESS, Engine
from .faults import parse

MAX_BODY = 1024 * 1024


class App(ProviderApp):
    """Delivers due webhooks and confirms crypto payments in its background thread; every change is
    written to the state directory (``changed``)."""

    name = "pspsim"
    engine: Engine

    def __init__(self, config: SimConfig, *, state_dir: Path | None, today: dt.date, verbose: bool = False,
                 **engine_options: Any) -> None:
        super().__init__(parse_fault=parse, verbose=verbose)
        self.config = config
        self.engine = Engine(config, self.faults, state_dir=state_dir, today=today, **engine_options)

    @property
    def control_token(self) -> str:
        return self.config.control_token

    def changed(self) -> None:
        self.engine.commit()

    def timers(self) -> None:
        if self.engine.run_timers():
            self.engine.commit()


class Handler(ProviderHandler):
    server_version = "PSPSimulator"
    log_name = "pspsim"
    max_body = MAX_BODY

    @property
    def app(self) -> App:
        app: App = self.server.app
        return app

    def route(self, method: str, path: str, query: str, raw: bytes) -> bool:
        if path.startswith("/checkout/"):
            self._checkout(method, path, raw)
        elif path.startswith("/v1/"):
            self._merchant(method, path, query, raw)
        else:
            return False
        return True

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
        body = json_object(raw) if raw else {}
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
            self.send(200, three_ds_page(f"/checkout/{payment['id']}/3ds").encode(), "text/html; charset=utf-8")
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
    def control(self, method: str, path: str, body: dict[str, Any]) -> Any:
        engine = self.app.engine
        if path == "/_sim/status":
            return engine.status()
        if path == "/_sim/chargeback":
            return engine.public(engine.chargeback(str(body.get("payment_id", "")), str(body.get("reason", ""))))
        if path == "/_sim/payouts/process":
            return engine.payouts_process()
        if path == "/_sim/advance_day":
            return engine.advance_day(int(body.get("days", 1)))
        return super().control(method, path, body)


def _checkout_page(payment: dict[str, Any], *, error: str = "") -> str:
    amount = f"{html.escape(payment['amount'])} {html.escape(payment['currency'])}"
    if payment["status"] != "created":
        return html_page("Payment", f"<p>This payment is {html.escape(payment['status'])}.</p>")
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
    return html_page("Pay " + amount, f"{problem}<form method='post' action='/checkout/{html.escape(payment['id'])}'>"
                 f"{fields}<button type='submit'>Pay {amount}</button></form>{_test_hints(payment['method'])}")


def _test_hints(method: str) -> str:
    """What to type to get each outcome: this is a simulator, and testers should not have to read
    its code to find the test cards (the README lists them too)."""
    if method == "card":
        countries = ", ".join(f"{country} <code>{grouped(number)}</code>" for number, country in CARD_COUNTRIES.items()
                              if number not in (CARD_SUCCESS, CARD_3DS))
        items = (f"<li><code>{grouped(CARD_SUCCESS)}</code> succeeds</li>"
                 f"<li><code>{grouped(CARD_3DS)}</code> asks for a 3-D Secure step: approve or fail it on the "
                 "next page</li>"
                 f"<li><code>{grouped(CARD_DECLINE)}</code> (or any other number) is declined</li>"
                 f"<li>Cards of a country (they succeed): {countries}</li>"
                 "<li>Any holder, expiry and CVC.</li>")
    elif method == "ewallet":
        items = "<li>Any e-mail address succeeds; one containing <code>decline</code> is declined.</li>"
    else:
        items = ("<li>Any sending address: the payment waits for its confirmations, then succeeds; an address "
                 "containing <code>fail</code> fails.</li>")
    return f"<section data-test-hints><h2>Test data (simulator)</h2><ul>{items}</ul></section>"


def serve(app: App, host: str, port: int) -> SimHTTPServer:
    return provider.serve(app, Handler, host, port)
