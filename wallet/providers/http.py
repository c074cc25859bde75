"""Outbound HTTP for payment provider adapters: crm.lib.http raising the wallet's provider errors
(wallet.exceptions), so that a failure says what it proves about a write."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from crm.lib import http as _http
from crm.lib.http import REFUSED_5XX, Answer
from wallet.exceptions import (
    ProviderError,
    ProviderProtocolError,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
)

ERRORS = _http.HttpErrors(unavailable=ProviderUnavailable, timeout=ProviderTimeout, rejected=ProviderRejected,
                          protocol=ProviderProtocolError)

__all__ = ["ERRORS", "REFUSED_5XX", "Answer", "request", "with_retries"]


def request(base_url: str, method: str, target: str, *, body: bytes = b"", headers: Mapping[str, str],
            timeout: float) -> Answer:
    """One call. Raises ProviderTimeout/Unavailable/Rejected/ProtocolError; a 2xx comes back."""
    return _http.request(base_url, method, target, body=body, headers=headers, timeout=timeout, errors=ERRORS)


def with_retries[T](call: Callable[[], T], *, retries: int, backoff: float, idempotent: bool,
                    sleep: Callable[[float], None] = time.sleep) -> T:
    """crm.lib.http.with_retries with the provider errors: a 4xx refusal is never retried."""
    return _http.with_retries(call, retries=retries, backoff=backoff, idempotent=idempotent, failed=ProviderError,
                              rejected=ProviderRejected, sleep=sleep)
