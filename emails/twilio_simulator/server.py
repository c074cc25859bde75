"""HTTP front of the Twilio simulator: the Messaging API (``/2010-04-01/Accounts/<sid>/...``), the
control API (``/_sim/``) and the thread that delivers the callbacks (see __init__.py); the
skeleton is every provider simulator's (simkit.provider)."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qsl

from simkit.http import SimError, SimHTTPServer
from simkit.provider import ProviderApp, ProviderHandler

from .engine import API_VERSION, Account, Engine, TwilioError
from .faults import parse

API = f"/{API_VERSION}/Accounts/"


class App(ProviderApp):
    name = "twiliosim"
    engine: Engine

    def __init__(self, account: Account, *, verbose: bool = False, **engine_options: Any) -> None:
        super().__init__(parse_fault=parse, verbose=verbose)
        self.account = account
        self.engine = Engine(account, self.faults, **engine_options)

    @property
    def control_token(self) -> str:
        return self.account.control_token

    def timers(self) -> None:
        self.engine.timers()


class Handler(ProviderHandler):
    server_version = "TwilioSimulator"
    log_name = "twiliosim"

    @property
    def app(self) -> App:
        app: App = self.server.app
        return app

    def dispatch(self, method: str) -> None:
        try:
            self.handle_request(method)
        except TwilioError as exc:
            self.send_json(exc.status, exc.body())
        except SimError as exc:
            self.send_problem(exc.status, exc.code, exc.message)

    def route(self, method: str, path: str, query: str, raw: bytes) -> bool:
        if not path.startswith(API):
            return False
        parts = path[len(API):].split("/")  # sid, "Messages.json" | sid, "Messages", "<SM>.json"
        if not self.app.engine.authorised(self.headers.get("Authorization", ""), parts[0]):
            raise TwilioError(401, 20003, "Authenticate")
        engine = self.app.engine
        if method == "GET" and len(parts) == 3 and parts[1] == "Messages" and parts[2].endswith(".json"):
            with self.app.lock:
                self.send_json(200, engine.lookup(parts[2][:-len(".json")]))
            return True
        if method != "POST" or parts[1:] != ["Messages.json"]:
            raise TwilioError(404, 20404, "The requested resource was not found")
        faults = self.app.faults
        if self.injected(faults, path):
            return True
        if faults.take("too_many_requests", path) is not None:
            raise TwilioError(429, 20429, "Too Many Requests")
        form = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        with self.app.lock:
            message = engine.send(form)
        self.app.wake.set()
        after = faults.take("timeout_after_apply", path)
        if after is not None:
            time.sleep(float(after.params.get("seconds", 30)))
        self.send_json(201, message)
        return True

    def control(self, method: str, path: str, body: dict[str, Any]) -> Any:
        engine = self.app.engine
        if path == "/_sim/config":
            if method == "POST":
                if "inbound_url" in body:
                    engine.inbound_url = str(body["inbound_url"] or "")
                if "step_seconds" in body:
                    engine.step_seconds = max(0.0, float(body["step_seconds"]))
            return {"inbound_url": engine.inbound_url, "step_seconds": engine.step_seconds,
                    "from_number": engine.account.from_number}
        if path == "/_sim/numbers":
            return engine.mark(str(body.get("number", "")), str(body.get("fate", "")))
        if path == "/_sim/inbound":
            return engine.inbound(str(body.get("from", "")), str(body.get("body", "")), str(body.get("to", "")))
        if path == "/_sim/messages":
            return {"messages": [engine.public(m) for m in engine.messages.values()]}
        return super().control(method, path, body)


def serve(app: App, host: str, port: int) -> SimHTTPServer:
    return SimHTTPServer((host, port), app, Handler)


__all__ = ["App", "Handler", "serve"]
