"""The Twilio simulator's state: the messages sent, their status steps still to come, the numbers
marked (or opted out by STOP) and the callbacks waiting to go out. Callers hold ``App.lock``."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from simkit.http import SimError
from simkit.provider import WebhookOutbox

from .faults import FaultPlan

API_VERSION = "2010-04-01"
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
FATES = ("delivered", "undelivered", "failed", "invalid", "region", "opted_out")
TEST_INVALID = "+15005550001"
TEST_OPTED_OUT = "+15005550004"
STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"}
START_WORDS = {"START", "YES", "UNSTOP"}
MORE_INFO = "https://www.twilio.com/docs/errors/"


def twilio_signature(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """``X-Twilio-Signature``: base64 HMAC-SHA1 over the URL and the sorted parameters."""
    message = url + "".join(f"{k}{params[k]}" for k in sorted(params))
    return base64.b64encode(hmac.new(auth_token.encode(), message.encode(), hashlib.sha1).digest()).decode()


class TwilioError(SimError):
    """A refusal answered as Twilio answers them (``{"code", "message", "more_info", "status"}``)."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(status, str(code), message)
        self.twilio_code = code

    def body(self) -> dict[str, Any]:
        return {"code": self.twilio_code, "message": self.message, "more_info": f"{MORE_INFO}{self.twilio_code}",
                "status": self.status}


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")


@dataclass(frozen=True)
class Account:
    account_sid: str
    auth_token: str
    from_number: str
    control_token: str


class Engine(WebhookOutbox):
    def __init__(self, account: Account, faults: FaultPlan, *, webhook_attempts: int = 8, webhook_backoff: float = 1.0,
                 step_seconds: float = 1.0, inbound_url: str = "") -> None:
        self.account, self.faults = account, faults
        self.webhook_attempts, self.webhook_backoff = webhook_attempts, webhook_backoff
        self.step_seconds, self.inbound_url = step_seconds, inbound_url
        self.messages: dict[str, dict[str, Any]] = {}
        self.steps: list[tuple[float, str, str]] = []  # (due, message sid, status)
        self.fates: dict[str, str] = {}  # number -> fate
        self.opted_out: set[str] = {TEST_OPTED_OUT}
        self.webhooks: list[dict[str, Any]] = []

    # -- the API ----------------------------------------------------------------------------------
    def authorised(self, header: str, account_sid: str) -> bool:
        expected = "Basic " + base64.b64encode(f"{self.account.account_sid}:{self.account.auth_token}".encode()).decode()
        return hmac.compare_digest(header.strip(), expected) and account_sid == self.account.account_sid

    def send(self, form: Mapping[str, str]) -> dict[str, Any]:
        to = form.get("To", "").strip()
        sender = form.get("From", "").strip()
        service = form.get("MessagingServiceSid", "").strip()
        body = form.get("Body", "")
        fate = self.fates.get(to, "delivered")
        if not E164.match(to) or to == TEST_INVALID or fate == "invalid":
            raise TwilioError(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if not sender and not service:
            raise TwilioError(400, 21603, "A 'From' phone number or MessagingServiceSid is required.")
        if not body.strip():
            raise TwilioError(400, 21602, "Message body is required.")
        if to in self.opted_out or fate == "opted_out":
            raise TwilioError(400, 21610, "Attempt to send to unsubscribed recipient")
        if fate == "region":
            raise TwilioError(400, 21408, f"Permission to send an SMS has not been enabled for the region indicated "
                                          f"by the 'To' number: {to}.")
        sid = "SM" + secrets.token_hex(16)
        segments = max(1, -(-len(body) // 153)) if len(body) > 160 else 1
        message = {"sid": sid, "account_sid": self.account.account_sid, "api_version": API_VERSION, "to": to,
                   "from": sender or self.account.from_number, "messaging_service_sid": service or None, "body": body,
                   "status": "queued", "num_segments": str(segments), "direction": "outbound-api",
                   "error_code": None, "error_message": None, "date_created": _now(), "date_updated": _now(),
                   "date_sent": None, "price": None, "price_unit": "USD",
                   "uri": f"/{API_VERSION}/Accounts/{self.account.account_sid}/Messages/{sid}.json",
                   "status_callback": form.get("StatusCallback", "")}
        self.messages[sid] = message
        end = {"undelivered": "undelivered", "failed": "failed"}.get(fate, "delivered")
        base = time.time()
        path = ["sent", end] if end != "failed" else ["failed"]
        self.steps.append((base, sid, "queued"))
        for n, status in enumerate(path, start=1):
            self.steps.append((base + n * self.step_seconds, sid, status))
        return self.public(message)

    def lookup(self, sid: str) -> dict[str, Any]:
        message = self.messages.get(sid)
        if message is None:
            raise TwilioError(404, 20404, f"The requested resource /Messages/{sid}.json was not found")
        return self.public(message)

    @staticmethod
    def public(message: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in message.items() if k != "status_callback"}

    # -- time passing -----------------------------------------------------------------------------
    def timers(self) -> None:
        """The status steps whose time has come: the message changes and its callback is queued."""
        now = time.time()
        due = [s for s in self.steps if s[0] <= now]
        if not due:
            return
        self.steps = [s for s in self.steps if s[0] > now]
        for _, sid, status in sorted(due):
            message = self.messages[sid]
            message["status"], message["date_updated"] = status, _now()
            if status == "sent":
                message["date_sent"] = _now()
            if status in ("undelivered", "failed"):
                message["error_code"] = 30003 if status == "undelivered" else 30008
                message["error_message"] = "Unreachable destination handset" if status == "undelivered" \
                    else "Unknown error"
            self.status_callback(message)

    def status_callback(self, message: Mapping[str, Any]) -> None:
        url = str(message.get("status_callback") or "")
        if not url or self.faults.take("drop_webhooks") is not None:
            return
        params = {"MessageSid": message["sid"], "SmsSid": message["sid"], "MessageStatus": message["status"],
                  "SmsStatus": message["status"], "AccountSid": self.account.account_sid, "From": message["from"],
                  "To": message["to"], "ApiVersion": API_VERSION}
        if message.get("error_code"):
            params["ErrorCode"] = str(message["error_code"])
        event_id = f"{message['sid']}:{message['status']}"
        self.webhook_add(event_id, url, json.dumps(params), type="status", event_id=event_id, sid=message["sid"],
                         status=message["status"])

    # -- the control API --------------------------------------------------------------------------
    def mark(self, number: str, fate: str) -> dict[str, Any]:
        if fate not in FATES:
            raise SimError(400, "bad_fate", f"fate is one of {', '.join(FATES)}")
        self.fates[number] = fate
        if fate == "opted_out":
            self.opted_out.add(number)
        else:  # a number marked again starts afresh (as if it had texted START)
            self.opted_out.discard(number)
        return {"number": number, "fate": fate}

    def inbound(self, sender: str, body: str, to: str = "") -> dict[str, Any]:
        """A client texts ``body`` from ``sender`` to our number: STOP opts the number out of every
        later message (21610) until START; the message goes to the inbound URL, signed."""
        if not E164.match(sender):
            raise SimError(400, "bad_number", "from must be an E.164 number")
        if not self.inbound_url:
            raise SimError(409, "no_inbound_url", "set inbound_url first (POST /_sim/config)")
        word = body.strip().upper()
        opt = "STOP" if word in STOP_WORDS else "START" if word in START_WORDS else "HELP" if word in ("HELP", "INFO") \
            else ""
        if opt == "STOP":
            self.opted_out.add(sender)
        elif opt == "START":
            self.opted_out.discard(sender)
        sid = "SM" + secrets.token_hex(16)
        params = {"MessageSid": sid, "SmsSid": sid, "SmsMessageSid": sid, "AccountSid": self.account.account_sid,
                  "From": sender, "To": to or self.account.from_number, "Body": body, "NumMedia": "0",
                  "NumSegments": "1", "SmsStatus": "received", "ApiVersion": API_VERSION}
        if opt:
            params["OptOutType"] = opt
        self.webhook_add(sid, self.inbound_url, json.dumps(params), type="inbound", event_id=sid, sid=sid,
                         status="received")
        return {"sid": sid, "opt_out_type": opt}

    # -- callbacks --------------------------------------------------------------------------------
    def signed(self, hook: Mapping[str, Any]) -> tuple[bytes, dict[str, str]]:
        params = json.loads(hook["body"])
        token = self.account.auth_token if not hook.get("bad_signature") else "not-the-auth-token"
        return urlencode(params).encode(), {
            "Content-Type": "application/x-www-form-urlencoded", "User-Agent": "TwilioProxy/1.1",
            "X-Twilio-Signature": twilio_signature(token, str(hook["url"]), params)}
