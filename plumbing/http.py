"""Outbound HTTP for adapters of external systems (payment providers, KYC vendors): stdlib
http.client, a timeout on every call, and failures classified by what they prove about a write.

Each caller raises its own domain errors: it passes `HttpErrors` naming its classes for "could not
reach / turned away for now", "no answer in time", "refused the request" and "answered something
else than documented". Whether a failed call may have been applied follows one rule everywhere:
the request left (`request_sent`) and was not refused (`refused`) means the outcome is unknown and
is resolved by looking the operation up, never by sending it again blindly.
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

REFUSED_5XX = frozenset({501, 503, 505})


class CallFailed(Exception):
    """A call failed; `request_sent`, `refused` and `status` say what that proves."""

    def __init__(self, message: str | None = None, *, code: str | None = None, request_sent: bool = False,
                 refused: bool = False, status: int | None = None) -> None:
        self.message = message or "The remote system did not accept the request."
        self.code = code or "call_failed"
        self.request_sent = request_sent
        self.refused = refused
        self.status = status
        super().__init__(self.message)


class CallUnavailable(CallFailed):
    pass


class CallTimeout(CallFailed):
    pass


class CallRejected(CallFailed):
    def __init__(self, message: str | None = None, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message, code=code, request_sent=True, refused=True, status=status)


class CallProtocolError(CallFailed):
    pass


@dataclass(frozen=True)
class HttpErrors:
    """The caller's error classes (constructed with the keyword arguments CallFailed takes)."""

    unavailable: Callable[..., Exception] = CallUnavailable
    timeout: Callable[..., Exception] = CallTimeout
    rejected: Callable[..., Exception] = CallRejected
    protocol: Callable[..., Exception] = CallProtocolError


DEFAULT_ERRORS = HttpErrors()


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    content_type: str
    errors: HttpErrors = DEFAULT_ERRORS

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            raise self.errors.protocol("The answer is not JSON.", request_sent=True, status=self.status) from None


def request(base_url: str, method: str, target: str, *, body: bytes = b"", headers: Mapping[str, str],
            timeout: float, errors: HttpErrors = DEFAULT_ERRORS) -> Answer:
    """One call. Raises the caller's unavailable/timeout/rejected errors; a 2xx comes back."""
    url = urlsplit(base_url)
    conn_class = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
    conn = conn_class(url.hostname or "127.0.0.1", url.port, timeout=timeout)
    sent = False
    try:
        try:
            conn.connect()
        except TimeoutError:
            raise errors.timeout(request_sent=False) from None
        except OSError as exc:
            raise errors.unavailable(f"The remote system cannot be reached ({exc}).", request_sent=False) from None
        try:
            conn.request(method, (url.path.rstrip("/") + target), body=body or None, headers=dict(headers))
            sent = True
            response = conn.getresponse()
            data = response.read()
        except TimeoutError:
            raise errors.timeout(request_sent=True) from None
        except (OSError, http.client.HTTPException) as exc:
            raise errors.unavailable(f"The connection broke ({exc}).", request_sent=sent) from None
    finally:
        conn.close()
    status = response.status
    answer = Answer(status, data, response.getheader("Content-Type", ""), errors)
    if 200 <= status < 300:
        return answer
    message = _error_message(answer)
    if status == 429 or status in REFUSED_5XX:
        raise errors.unavailable(message, request_sent=True, refused=True, status=status)
    if status >= 500:
        raise errors.unavailable(message, request_sent=True, refused=False, status=status)
    code = None
    try:
        code = str(json.loads(data)["error"]["code"])
    except (ValueError, KeyError, TypeError):
        pass
    raise errors.rejected(message, code=code, status=status)


def _error_message(answer: Answer) -> str:
    try:
        return str(json.loads(answer.body)["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return f"HTTP {answer.status} from the remote system."


def with_retries[T](call: Callable[[], T], *, retries: int, backoff: float, idempotent: bool,
                    failed: type[Exception] = CallFailed, rejected: type[Exception] = CallRejected,
                    sleep: Callable[[float], None] = time.sleep) -> T:
    """Run ``call``, again after a growing pause when it failed in a way that allows it: any
    failure (`failed`) of an idempotent call except a refusal of the request itself (`rejected`,
    a 4xx); for the others only a failure that proves nothing was applied."""
    attempt = 0
    while True:
        try:
            return call()
        except rejected:
            raise
        except failed as exc:
            sent, refused = getattr(exc, "request_sent", True), getattr(exc, "refused", False)
            if attempt >= retries or not (idempotent or not sent or refused):
                raise
        sleep(backoff * (2 ** attempt))
        attempt += 1
