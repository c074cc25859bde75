"""The skeleton every payment provider's simulator shares (wallet.psp_simulator,
wallet.praxis_simulator, wallet.paysafe_simulator, wallet.coinspaid_simulator, and the next one):
an app around an engine that keeps its notifications, a request handler that routes the health
check and the control API and leaves the provider's own paths to the simulator, and the hosted
pages' HTML.

A provider simulator is three pieces:

* an engine (the simulator's own module, no HTTP) that keeps the notifications as dicts in
  ``webhooks`` (each with its ``id`` and ``url``) and answers ``due_webhooks()``,
  ``signed(hook)``, ``webhook_result(hook, status)`` and ``release_held()`` (``WebhookEngine``);
  ``WebhookOutbox`` is all of that but ``signed``: the engine queues a notification with
  ``webhook_add`` and the webhook fault rules (drop aside) are applied there;
* a ``ProviderApp`` subclass that makes the engine and says what its control token is;
* a ``ProviderHandler`` subclass whose ``route`` answers the provider's API and hosted pages, and
  whose ``control`` answers the control paths of its own (a chargeback, say). The handler answers
  by itself ``GET /healthz``, and under ``/_sim/`` (header ``X-Sim-Token``) the fault rules
  (``GET|POST /_sim/faults``, ``POST /_sim/faults/clear``), ``POST /_sim/webhooks/flush`` (releases
  notifications held for reordering) and ``GET /_sim/webhooks`` (every notification, its body
  parsed).

``serve(app, handler, host, port)`` makes the server; ``simkit.run.serve_until_stopped`` runs it.
"""

from __future__ import annotations

import abc
import hmac
import html
import json
import time
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import urlsplit

from simkit.app import SimApp, delivered, retry_delay
from simkit.faults import Fault, FaultPlan
from simkit.http import SimError, SimHandler, SimHTTPServer

MAX_BODY = 256 * 1024


class WebhookEngine(Protocol):
    """What ``ProviderApp`` needs of a simulator's engine."""

    webhooks: list[dict[str, Any]]

    def due_webhooks(self) -> list[dict[str, Any]]: ...

    def signed(self, hook: dict[str, Any]) -> tuple[bytes, dict[str, str]]: ...

    def webhook_result(self, hook: dict[str, Any], status: int | None) -> None: ...

    def release_held(self) -> int: ...


class WebhookOutbox:
    """The notifications of a simulator's engine, as ``ProviderApp`` wants them kept (``WebhookEngine``):
    dicts in ``webhooks``, each with its ``id``, ``url``, ``body`` (the JSON text), ``state``
    (pending, held, delivered, failed), ``attempts``, ``next_at`` and ``last_status``. The engine
    sets ``faults``, ``webhook_attempts`` and ``webhook_backoff`` and queues with ``webhook_add``."""

    faults: FaultPlan
    webhooks: list[dict[str, Any]]
    webhook_attempts: int
    webhook_backoff: float

    def webhook_add(self, hook_id: str, url: str, body: str, **fields: Any) -> None:
        """Queue ``body`` for ``url`` as the fault plan says (the caller has taken ``drop_webhooks``):
        signed with a wrong secret (``webhook_bad_signature``), sent more than once
        (``duplicate_webhooks``, ``copies``), held back until the rule has fired ``count`` times or
        the control API flushes it, then sent newest first (``reorder_webhooks``). ``fields`` are
        kept on the notification (its type, event id, reference: what ``GET /_sim/webhooks`` shows)."""
        bad = self.faults.take("webhook_bad_signature") is not None
        duplicate = self.faults.take("duplicate_webhooks")
        copies = 1 + (int(duplicate.params.get("copies", 1)) if duplicate is not None else 0)
        reorder = self.faults.take("reorder_webhooks")
        for n in range(copies):
            self.webhooks.append({"id": f"{hook_id}#{n}", "url": url, "body": body, "bad_signature": bad, **fields,
                                  "attempts": 0, "next_at": 0.0, "state": "held" if reorder is not None else "pending",
                                  "last_status": None})
        if reorder is not None and reorder.count is not None and reorder.fired >= reorder.count:
            self.release_held()

    def release_held(self) -> int:
        """The held notifications go out, newest first."""
        held = [h for h in self.webhooks if h["state"] == "held"]
        base = time.time()
        for offset, hook in enumerate(reversed(held)):
            hook["state"], hook["next_at"] = "pending", base + offset * 0.05
        return len(held)

    def due_webhooks(self) -> list[dict[str, Any]]:
        now = time.time()
        return sorted((h for h in self.webhooks if h["state"] == "pending" and h["next_at"] <= now),
                      key=lambda h: h["next_at"])

    def webhook_result(self, hook: dict[str, Any], status: int | None) -> None:
        """One attempt's answer: delivered on a 2xx, failed for good after ``webhook_attempts``, else
        due again after the backoff (doubling)."""
        hook["attempts"] += 1
        hook["last_status"] = status
        if delivered(status):
            hook["state"] = "delivered"
        elif hook["attempts"] >= self.webhook_attempts:
            hook["state"] = "failed"
        else:
            hook["next_at"] = time.time() + retry_delay(self.webhook_backoff, hook["attempts"])


class ProviderApp(SimApp):
    """A provider simulator's shared state: its fault plan, its engine (made by the subclass, after
    ``super().__init__``) and its control token. ``changed`` runs after every change a request or a
    delivered notification made (the PSP simulator writes its state to disk there)."""

    engine: WebhookEngine

    def __init__(self, *, parse_fault: Callable[[Any], Fault], verbose: bool = False) -> None:
        super().__init__(verbose=verbose)
        self.faults = FaultPlan()
        self.parse_fault = parse_fault

    @property
    @abc.abstractmethod
    def control_token(self) -> str:
        """The ``X-Sim-Token`` the control API asks for."""

    def changed(self) -> None:  # noqa: B027 - optional: most simulators keep their state in memory only
        """After a change (under ``lock``)."""

    def due_webhooks(self) -> list[dict[str, Any]]:
        return [dict(h) for h in self.engine.due_webhooks()]

    def signed(self, hook: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        return self.engine.signed(hook)

    def webhook_result(self, hook: dict[str, Any], status: int | None) -> None:
        # ``hook`` is the copy handed out by due_webhooks; the engine's own dict is updated.
        live = next((h for h in self.engine.webhooks if h["id"] == hook["id"]), None)
        if live is not None:
            self.engine.webhook_result(live, status)
            self.changed()


class ProviderHandler(SimHandler):
    """The request handler of a provider simulator: ``route`` and ``control`` are the simulator's."""

    max_body = MAX_BODY
    server: SimHTTPServer  # its app: a ProviderApp

    @property
    def app(self) -> ProviderApp:
        app: ProviderApp = self.server.app
        return app

    @abc.abstractmethod
    def route(self, method: str, path: str, query: str, raw: bytes) -> bool:
        """Answer a request to the provider's API or its hosted pages (``path`` without its trailing
        slash); False for a path the simulator does not have (answered 404)."""

    def control(self, method: str, path: str, body: dict[str, Any]) -> Any:
        """The answer to a control path of the simulator's own (under ``lock``); SimError 404 for an
        unknown one."""
        raise SimError(404, "not_found", f"unknown control path {path}")

    def handle_request(self, method: str) -> None:
        url = urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        raw = self.read_body(self.max_body)
        if raw is None:
            return
        if path.startswith("/_sim/"):
            self._control(method, path, raw)
        elif path == "/healthz":
            self.send_json(200, {"ok": True})
        elif not self.route(method, path, url.query, raw):
            raise SimError(404, "not_found", "no such path")

    def _control(self, method: str, path: str, raw: bytes) -> None:
        app = self.app
        if not hmac.compare_digest(self.headers.get("X-Sim-Token", ""), app.control_token):
            raise SimError(403, "forbidden", "X-Sim-Token is wrong")
        body = json_object(raw) if raw else {}
        with app.lock:
            listed = self.faults_route(app.faults, method, path, body, app.parse_fault)
            if listed is not None:
                result: Any = listed
            elif path == "/_sim/webhooks/flush":
                result = {"released": app.engine.release_held()}
            elif path == "/_sim/webhooks":
                result = {"webhooks": [{k: v for k, v in h.items() if k != "body"} | {"body": json.loads(h["body"])}
                                       for h in app.engine.webhooks]}
            else:
                result = self.control(method, path, body)
            app.changed()
        app.wake.set()
        self.send_json(200, result)


def json_object(raw: bytes) -> dict[str, Any]:
    """A request's JSON object; SimError 400 ``bad_json`` for anything else."""
    try:
        doc = json.loads(raw)
    except ValueError:
        raise SimError(400, "bad_json", "the body is not JSON") from None
    if not isinstance(doc, dict):
        raise SimError(400, "bad_json", "the body must be a JSON object")
    return doc


def html_page(title: str, inner: str) -> str:
    """A hosted page: ``title`` as its heading, ``inner`` (HTML, escaped by the caller) below it."""
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
            f"<body><main><h1>{html.escape(title)}</h1>{inner}</main></body></html>")


def grouped(number: str) -> str:
    """A card number in groups of four, as a page lists its test cards."""
    return " ".join(number[i:i + 4] for i in range(0, len(number), 4))


def three_ds_page(action: str) -> str:
    """The 3-D Secure step: approve or fail, posted as ``decision`` to ``action``."""
    return html_page("3-D Secure", f"<form method='post' action='{html.escape(action)}'>"
                     "<button name='decision' value='approve'>Approve</button>"
                     "<button name='decision' value='fail'>Fail</button></form>")


def serve(app: ProviderApp, handler: type[ProviderHandler], host: str, port: int) -> SimHTTPServer:
    return SimHTTPServer((host, port), app, handler)
