"""Twilio's Programmable Messaging API as the SMS pipeline uses it (emails.sms), pinned to API
version 2010-04-01. No Django here: the request signature, the send call and its answer.

- Send: ``POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json``, HTTP Basic with the account
  SID and auth token, form-encoded ``To`` (E.164), ``From`` or ``MessagingServiceSid``, ``Body``,
  ``StatusCallback``. 201 with the message (``sid`` "SM" + 32 hex, ``status`` queued or accepted,
  ``num_segments``); a refusal is JSON ``{"code", "message", "more_info", "status"}``.
- Every request Twilio makes to us (status callbacks, inbound messages) carries
  ``X-Twilio-Signature``: base64 of HMAC-SHA1 with the auth token over the full URL Twilio posted
  to, then each POST parameter's name and value, sorted by name, with nothing between them.

``send`` classifies a failure by what it proves: ``SendRetry`` (429, 5xx, no answer in time, not
reachable: the same message may be sent again later) or ``SendRefused`` (any other 4xx: Twilio
refused this message for good, ``code`` says why: 21211 invalid number, 21610 the recipient
replied STOP, 21408 region not enabled, 20003 authentication).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

API_VERSION = "2010-04-01"
SIGNATURE_HEADER = "X-Twilio-Signature"
SID_RE = re.compile(r"^SM[0-9a-f]{32}$")
# Twilio's error codes the pipeline acts on.
INVALID_TO = 21211
UNSUBSCRIBED = 21610  # the recipient replied STOP: Twilio refuses every message to them until START
REGION_NOT_ENABLED = 21408
TOO_MANY_REQUESTS = 20429
AUTHENTICATION = 20003
# The keywords of Twilio's default opt-out handling (OptOutType of an inbound message).
STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"})
START_WORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO"})


def signature(auth_token: str, url: str, params: Iterable[tuple[str, str]] | Mapping[str, str]) -> str:
    """``X-Twilio-Signature`` of a form POST of ``params`` to ``url``."""
    items = params.items() if isinstance(params, Mapping) else params
    message = url + "".join(f"{name}{value}" for name, value in sorted(items, key=lambda kv: kv[0]))
    digest = hmac.new(auth_token.encode(), message.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def signature_ok(auth_token: str, url: str, params: Iterable[tuple[str, str]] | Mapping[str, str],
                 given: str) -> bool:
    return bool(auth_token) and hmac.compare_digest(signature(auth_token, url, params).encode(), given.encode())


def opt_out_type(body: str, given: str = "") -> str:
    """STOP, START, HELP or "" for an inbound message: Twilio's ``OptOutType`` when it sent one,
    else the message's single keyword."""
    if given.upper() in ("STOP", "START", "HELP"):
        return given.upper()
    word = body.strip().upper()
    if word in STOP_WORDS:
        return "STOP"
    if word in START_WORDS:
        return "START"
    if word in HELP_WORDS:
        return "HELP"
    return ""


@dataclass(frozen=True)
class Account:
    base_url: str  # https://api.twilio.com, or a simulator's
    account_sid: str
    auth_token: str
    from_number: str = ""
    messaging_service_sid: str = ""
    timeout: float = 10.0


@dataclass(frozen=True)
class Sent:
    sid: str
    status: str
    segments: int
    raw: Mapping[str, Any]


class SendFailed(Exception):
    def __init__(self, message: str, *, code: int | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message, self.code, self.status = message, code, status


class SendRetry(SendFailed):  # noqa: N818 - a signal to try again later
    """Not sent, or not known to be: 429, 5xx, a timeout or no connection. Trying again may work."""


class SendRefused(SendFailed):  # noqa: N818 - Twilio's own word
    """Twilio refused this message (a 4xx other than 429); sending it again changes nothing."""


def messages_path(account_sid: str) -> str:
    return f"/{API_VERSION}/Accounts/{quote(account_sid, safe='')}/Messages.json"


def send(account: Account, *, to: str, body: str, status_callback: str = "") -> Sent:
    """Send one message. Raises SendRetry or SendRefused (see the module's docstring)."""
    form = {"To": to, "Body": body}
    if account.messaging_service_sid:
        form["MessagingServiceSid"] = account.messaging_service_sid
    else:
        form["From"] = account.from_number
    if status_callback:
        form["StatusCallback"] = status_callback
    payload = urlencode(form).encode()
    url = urlsplit(account.base_url)
    token = base64.b64encode(f"{account.account_sid}:{account.auth_token}".encode()).decode()
    headers = {"Authorization": f"Basic {token}", "Content-Type": "application/x-www-form-urlencoded",
               "Accept": "application/json"}
    conn_class = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
    conn = conn_class(url.hostname or "127.0.0.1", url.port, timeout=account.timeout)
    try:
        conn.request("POST", url.path.rstrip("/") + messages_path(account.account_sid), body=payload, headers=headers)
        response = conn.getresponse()
        data = response.read()
    except TimeoutError:
        raise SendRetry("Twilio did not answer in time.") from None
    except (OSError, http.client.HTTPException) as exc:
        raise SendRetry(f"Twilio cannot be reached ({exc}).") from None
    finally:
        conn.close()
    return _answer(response.status, data)


def _answer(status: int, data: bytes) -> Sent:
    try:
        doc = json.loads(data)
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        doc = {}
    if 200 <= status < 300:
        sid = str(doc.get("sid") or "")
        if not SID_RE.match(sid):
            # Sent, but we cannot tell which message it is: no callback could be matched to it.
            raise SendRefused("Twilio's answer has no message SID.", status=status)
        segments = str(doc.get("num_segments") or "")
        return Sent(sid=sid, status=str(doc.get("status") or "queued"),
                    segments=int(segments) if segments.isdigit() else 1, raw=doc)
    given = doc.get("code")
    code = given if isinstance(given, int) else int(given) if isinstance(given, str) and given.isdigit() else None
    message = str(doc.get("message") or f"HTTP {status} from Twilio")[:500]
    if status == 429 or status >= 500:
        raise SendRetry(message, code=code, status=status)
    raise SendRefused(message, code=code, status=status)


__all__ = [
    "API_VERSION", "AUTHENTICATION", "Account", "INVALID_TO", "REGION_NOT_ENABLED", "SIGNATURE_HEADER", "SendFailed",
    "SendRefused", "SendRetry", "Sent", "TOO_MANY_REQUESTS", "UNSUBSCRIBED", "messages_path", "opt_out_type", "send",
    "signature", "signature_ok",
]
