"""The KYC vendor simulator: applicants and their results, faults, the webhook sender and the HTTP
front (see __init__.py for the API)."""

from __future__ import annotations

import datetime as dt
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from simkit.app import SimApp, delivered, retry_delay
from simkit.faults import Fault, FaultPlan, parse_fault
from simkit.http import SimError, SimHandler, SimHTTPServer, sign

MAX_BODY = 32 * 1024 * 1024
FAULT_TYPES = {"http_error", "latency", "drop_webhooks", "duplicate_webhooks", "delay_webhooks", "reorder_webhooks",
               "webhook_bad_signature"}
ANSWERS = ("approved", "declined", "manual_review")


def utcnow() -> str:
    return dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Config:
    api_key: str
    api_secret: str
    webhook_secret: str
    control_token: str
    signature_tolerance_seconds: int = 300


def parse(raw: Any) -> Fault:
    return parse_fault(raw, FAULT_TYPES)


class App(SimApp):
    name = "kycsim"

    def __init__(self, config: Config, *, decision_seconds: float = 1.0, webhook_attempts: int = 8,
                 webhook_backoff: float = 1.0, verbose: bool = False) -> None:
        super().__init__(verbose=verbose)
        self.config = config
        self.decision_seconds = decision_seconds
        self.webhook_attempts = webhook_attempts
        self.webhook_backoff = webhook_backoff
        self.applicants: dict[str, dict[str, Any]] = {}
        self.by_external: dict[str, str] = {}
        self.webhooks: list[dict[str, Any]] = []
        self.faults = FaultPlan()

    # -- faults -----------------------------------------------------------------------------------
    # -- applicants -------------------------------------------------------------------------------
    def applicant_create(self, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        external_id = str(body.get("external_id") or "")
        if not external_id:
            raise SimError(400, "missing_field", "external_id is required")
        documents = body.get("documents")
        if not isinstance(documents, list) or not documents:
            raise SimError(400, "missing_field", "documents are required")
        with self.lock:
            if external_id in self.by_external:
                return self.applicants[self.by_external[external_id]], False
            applicant: dict[str, Any] = {
                "id": "apl_" + secrets.token_hex(8), "external_id": external_id,
                "first_name": str(body.get("first_name") or ""), "last_name": str(body.get("last_name") or ""),
                "country": str(body.get("country") or ""), "webhook_url": str(body.get("webhook_url") or ""),
                "documents": [{"kind": str(d.get("kind")), "side": str(d.get("side") or ""),
                               "sha256": str(d.get("sha256") or ""),
                               "size": len(str(d.get("data") or "")) * 3 // 4} for d in documents],
                "status": "pending", "result": None, "created": utcnow(),
                "_decide_at": time.monotonic() + self.decision_seconds,
            }
            self.applicants[applicant["id"]] = applicant
            self.by_external[external_id] = applicant["id"]
        self.wake.set()
        return applicant, True

    def _first_result(self, applicant: dict[str, Any]) -> dict[str, Any]:
        name = f"{applicant['first_name']} {applicant['last_name']}".upper()
        identity = next((d for d in applicant["documents"] if d["kind"] in ("passport", "id_card", "driving_licence")),
                        applicant["documents"][0])
        document = {"document_type": identity["kind"], "document_number": "SIM" + identity["sha256"][:9].upper(),
                    "expiry_date": (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=3 * 365)).isoformat()}
        if "DECLINE" in name:
            return {"answer": "declined", "reason": "the identity document looks tampered with", "document": document,
                    "checks": [{"type": "document_authenticity", "result": "consider",
                                "details": {"finding": "font mismatch in the name field"}},
                               {"type": "watchlist", "result": "clear", "details": {"lists": ["sanctions", "pep"]}}]}
        if "REVIEW" in name:
            return {"answer": "manual_review", "reason": "the photo could not be compared", "document": document,
                    "checks": [{"type": "document_authenticity", "result": "clear", "details": {}},
                               {"type": "face_similarity", "result": "unreadable", "details": {"score": None}}]}
        return {"answer": "approved", "reason": "", "document": document,
                "checks": [{"type": "document_authenticity", "result": "clear", "details": {}},
                           {"type": "watchlist", "result": "clear", "details": {"lists": ["sanctions", "pep"]}}]}

    def result_set(self, applicant: dict[str, Any], result: dict[str, Any], kind: str) -> None:
        """Give the applicant a (new) result, numbered after the last, and queue its webhook."""
        previous = applicant.get("result") or {}
        applicant["result"] = {**result, "sequence": int(previous.get("sequence") or 0) + 1, "decided": utcnow()}
        applicant["status"] = "completed"
        self._webhook_queue(applicant, kind)

    def result_change(self, applicant_id: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            applicant = self.applicants.get(applicant_id)
            if applicant is None:
                raise SimError(404, "not_found", "no such applicant")
            answer = str(body.get("answer") or "")
            if answer not in ANSWERS:
                raise SimError(400, "bad_answer", f"answer is one of {ANSWERS}")
            base = applicant.get("result") or self._first_result(applicant)
            checks = list(base.get("checks") or [])
            if answer == "declined":
                checks = [{"type": "ongoing_monitoring", "result": "consider",
                           "details": {"finding": str(body.get("reason") or "")}}, *checks]
            self.result_set(applicant, {**base, "answer": answer, "reason": str(body.get("reason") or ""),
                                        "checks": checks}, "applicant.result_changed")
        self.wake.set()
        return applicant

    @staticmethod
    def public(applicant: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in applicant.items() if not k.startswith("_")}

    # -- webhooks ---------------------------------------------------------------------------------
    def _webhook_queue(self, applicant: dict[str, Any], kind: str) -> None:
        if not applicant["webhook_url"]:
            return
        body = json.dumps({"id": "evt_" + secrets.token_hex(10), "type": kind, "created": utcnow(),
                           "data": self.public(applicant)}, separators=(",", ":"))
        event_id = json.loads(body)["id"]
        if self.faults.take("drop_webhooks") is not None:
            self.webhooks.append({"event_id": event_id, "url": applicant["webhook_url"], "body": body, "dropped": True,
                                  "attempts": 0, "status": None, "due": None, "held": False})
            return
        delay = self.faults.take("delay_webhooks")
        due = time.monotonic() + (float(delay.params.get("seconds", 2.0)) if delay else 0.0)
        bad = self.faults.take("webhook_bad_signature") is not None
        duplicate = self.faults.take("duplicate_webhooks")
        reorder = self.faults.take("reorder_webhooks")
        copies = 1 + (int(duplicate.params.get("copies", 1)) if duplicate else 0)
        for _ in range(copies):
            self.webhooks.append({"event_id": event_id, "url": applicant["webhook_url"], "body": body, "bad": bad,
                                  "attempts": 0, "status": None, "due": due, "held": reorder is not None,
                                  "reorder": reorder})
        if reorder is not None and reorder.count is not None and reorder.fired >= reorder.count:
            self.release_held()

    def release_held(self) -> int:
        """Send the held webhooks newest first."""
        with self.lock:
            held = [h for h in self.webhooks if h["held"]]
            now = time.monotonic()
            for offset, hook in enumerate(reversed(held)):
                hook["held"], hook["due"] = False, now + offset * 0.05
        self.wake.set()
        return len(held)

    def signed(self, hook: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        body = hook["body"].encode()
        timestamp = str(int(time.time()))
        secret = "not-the-secret" if hook.get("bad") else self.config.webhook_secret
        return body, {"Content-Type": "application/json", "X-Kyc-Event-Id": hook["event_id"],
                      "X-Kyc-Timestamp": timestamp,
                      "X-Kyc-Signature": "sha256=" + sign(secret, timestamp.encode() + b"." + body)}

    def timers(self) -> None:
        now = time.monotonic()
        for applicant in self.applicants.values():
            if applicant["status"] == "pending" and applicant["_decide_at"] <= now:
                self.result_set(applicant, self._first_result(applicant), "applicant.reviewed")

    def due_webhooks(self) -> list[dict[str, Any]]:
        now = time.monotonic()
        due = [h for h in self.webhooks if not h.get("dropped") and not h["held"] and h["due"] is not None
               and h["due"] <= now and not delivered(h["status"])]
        return sorted(due, key=lambda h: h["due"])

    def webhook_result(self, hook: dict[str, Any], status: int | None) -> None:
        hook["attempts"] += 1
        hook["status"] = status
        if delivered(status) or hook["attempts"] >= self.webhook_attempts:
            hook["due"] = None
        else:
            hook["due"] = time.monotonic() + retry_delay(self.webhook_backoff, hook["attempts"])


class Handler(SimHandler):
    server_version = "KycVendorSimulator"
    log_name = "kycsim"
    server: SimHTTPServer  # its app: this module's App

    def handle_request(self, method: str) -> None:
        path = urlsplit(self.path).path.rstrip("/") or "/"
        raw = self.read_body(MAX_BODY)
        if raw is None:
            return
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = None
        if body is not None and not isinstance(body, dict):
            body = None
        if path.startswith("/_sim/"):
            self._control(method, path, body)
        elif path.startswith("/v1/"):
            self._api(method, path, raw, body)
        elif path == "/healthz":
            self.send_json(200, {"ok": True})
        else:
            raise SimError(404, "not_found", "no such path")

    def _api(self, method: str, path: str, raw: bytes, body: dict[str, Any] | None) -> None:
        config, app = self.server.app.config, self.server.app
        refused = self.api_refusal(api_key=config.api_key, api_secret=config.api_secret, method=method, target=path,
                                   body=raw, tolerance=config.signature_tolerance_seconds)
        if refused is not None:
            raise SimError(*refused)
        if self.injected(app.faults, path, status=503, text="Service unavailable"):
            return
        if body is None:
            raise SimError(400, "bad_json", "the body must be a JSON object")
        if method == "POST" and path == "/v1/applicants":
            applicant, created = app.applicant_create(body)
            self.send_json(201 if created else 200, app.public(applicant))
        elif method == "GET" and path.startswith("/v1/applicants/"):
            with app.lock:
                found = app.applicants.get(path.rsplit("/", 1)[-1])
                if found is None:
                    raise SimError(404, "not_found", "no such applicant")
                self.send_json(200, app.public(found))
        else:
            raise SimError(404, "not_found", "no such endpoint")

    def _control(self, method: str, path: str, body: dict[str, Any] | None) -> None:
        app = self.server.app
        if not hmac.compare_digest(self.headers.get("X-Sim-Token", ""), app.config.control_token):
            raise SimError(403, "forbidden", "X-Sim-Token is wrong")
        data = body or {}
        listed = self.faults_route(app.faults, method, path, data, parse)
        if listed is not None:
            result: Any = listed
        elif path == "/_sim/status":
            with app.lock:
                result = {"applicants": len(app.applicants), "webhooks": len(app.webhooks),
                          "pending_webhooks": sum(1 for h in app.webhooks if h["due"] is not None or h["held"])}
        elif path.startswith("/_sim/applicants/") and path.endswith("/result") and method == "POST":
            result = app.public(app.result_change(path.split("/")[3], data))
        elif path == "/_sim/webhooks/flush":
            result = {"released": app.release_held()}
        elif path == "/_sim/webhooks":
            with app.lock:
                result = {"webhooks": [{k: v for k, v in h.items() if k != "reorder"} for h in app.webhooks]}
        else:
            raise SimError(404, "not_found", f"unknown control path {path}")
        app.wake.set()
        self.send_json(200, result)


def serve(app: App, host: str, port: int) -> SimHTTPServer:
    return SimHTTPServer((host, port), app, Handler)
