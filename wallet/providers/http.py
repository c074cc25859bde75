"""Outbound HTTP for adapters: stdlib http.client (as the MT5 adapter uses), a timeout on every
call, and failures classified by what they prove about a write (wallet.exceptions)."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from wallet.exceptions import (
    ProviderError,
    ProviderProtocolError,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
)

REFUSED_5XX = frozenset({501, 503, 505})


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    content_type: str

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            raise ProviderProtocolError("The provider's answer is not JSON.", request_sent=True,
                                        status=self.status) from None


def request(base_url: str, method: str, target: str, *, body: bytes = b"", headers: Mapping[str, str],
            timeout: float) -> Answer:
    """One call. Raises ProviderTimeout/Unavailable/Rejected/ProtocolError; a 2xx comes back."""
    url = urlsplit(base_url)
    conn_class = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
    conn = conn_class(url.hostname or "127.0.0.1", url.port, timeout=timeout)
    sent = False
    try:
        try:
            conn.connect()
        except TimeoutError:
            raise ProviderTimeout(request_sent=False) from None
        except OSError as exc:
            raise ProviderUnavailable(f"The provider cannot be reached ({exc}).", request_sent=False) from None
        try:
            conn.request(method, (url.path.rstrip("/") + target), body=body or None, headers=dict(headers))
            sent = True
            response = conn.getresponse()
            data = response.read()
        except TimeoutError:
            raise ProviderTimeout(request_sent=True) from None
        except (OSError, http.client.HTTPException) as exc:
            raise ProviderUnavailable(f"The connection broke ({exc}).", request_sent=sent) from None
    finally:
        conn.close()
    status = response.status
    answer = Answer(status, data, response.getheader("Content-Type", ""))
    if 200 <= status < 300:
        return answer
    message = _error_message(answer)
    if status == 429 or status in REFUSED_5XX:
        raise ProviderUnavailable(message, request_sent=True, refused=True, status=status)
    if status >= 500:
        raise ProviderUnavailable(message, request_sent=True, refused=False, status=status)
    code = None
    try:
        code = str(json.loads(data)["error"]["code"])
    except (ValueError, KeyError, TypeError):
        pass
    raise ProviderRejected(message, code=code, status=status)


def _error_message(answer: Answer) -> str:
    try:
        return str(json.loads(answer.body)["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return f"HTTP {answer.status} from the provider."


def with_retries[T](call: Callable[[], T], *, retries: int, backoff: float, idempotent: bool,
                    sleep: Callable[[float], None] = time.sleep) -> T:
    """Run ``call``, again after a growing pause when it failed in a way that allows it: any
    failure of an idempotent call except a refusal of the request itself (4xx); for the others
    only a failure that proves nothing was applied."""
    attempt = 0
    while True:
        try:
            return call()
        except ProviderRejected:
            raise
        except ProviderError as exc:
            safe = idempotent or not exc.request_sent or exc.refused
            if attempt >= retries or not safe:
                raise
        sleep(backoff * (2 ** attempt))
        attempt += 1
