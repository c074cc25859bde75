"""The base of every adapter of an outside system the CRM calls (a payment provider in
wallet.providers, a verification vendor in kyc.vendors): its configuration, its calls with a
timeout and retries, and the entry it is registered with.

Adapters know nothing of the database: they get an ``AdapterConfig`` (credentials decrypted, base
URL, how patient to be) and answer with their app's value types. A call goes through plumbing.http
and fails with the app's own errors (``Adapter.errors``), which say what a failure proves about a
write; an idempotent call (a lookup, a create keyed by our reference) is retried with backoff, any
other only when it provably was not applied.

Each app keeps its adapters in a plumbing.hooks.Registry of ``AdapterEntry`` by code (the KYC
vendors by vendor code, the payment providers by adapter kind); ``adapter_build`` makes a
configured one, or raises the app's "not configured" error for a code nobody registered.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, Self

from plumbing import http
from plumbing.http import DEFAULT_ERRORS, Answer, CallFailed, CallRejected, HttpErrors


@dataclass(frozen=True)
class AdapterConfig:
    """What an adapter needs to reach its system; an app's config may add its own fields."""

    code: str
    base_url: str = ""
    api_key: str = ""
    api_secret: str = ""
    webhook_secret: str = ""
    timeout: float = 10.0
    retries: int = 2  # extra attempts of an idempotent call (lookups, creates keyed by our reference)
    backoff: float = 0.5  # seconds before the first retry; doubles
    webhook_tolerance_seconds: int = 300

    @classmethod
    def from_settings(cls, code: str, values: Mapping[str, Any]) -> Self:
        """The config of ``code`` from a settings dict; keys it does not know are left out."""
        known = {f.name for f in dataclasses.fields(cls)} - {"code"}
        return cls(code=code, **{k: v for k, v in values.items() if k in known})


def api_signature(secret: str, message: str) -> str:
    """Hex HMAC-SHA256 of ``message`` with ``secret``: the request signature of the HMAC-signed REST
    APIs (over ``"<timestamp>.<METHOD>.<path>.<body>"``)."""
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


class Adapter[C: AdapterConfig]:
    """An adapter of one outside system, built from its configuration.

    ``errors`` are the app's error classes a failed call raises, ``failed`` their common base and
    ``rejected`` the refusal (a 4xx) that is never retried."""

    errors: ClassVar[HttpErrors] = DEFAULT_ERRORS
    failed: ClassVar[type[Exception]] = CallFailed
    rejected: ClassVar[type[Exception]] = CallRejected

    def __init__(self, config: C) -> None:
        self.config = config

    def call(self, method: str, target: str, payload: Mapping[str, Any] | None = None, *, idempotent: bool,
             sleep: Callable[[float], None] = time.sleep) -> Answer:
        """One JSON request to the API (signed by ``signed_headers``), within the config's timeout;
        retried ``retries`` times as plumbing.http.with_retries allows. A 2xx answer comes back."""
        body = json.dumps(payload, separators=(",", ":")).encode() if payload is not None else b""

        def once() -> Answer:
            return http.request(self.config.base_url, method, target, body=body, timeout=self.config.timeout,
                                headers=self.signed_headers(method, target, body), errors=self.errors)

        return http.with_retries(once, retries=self.config.retries, backoff=self.config.backoff, idempotent=idempotent,
                                 failed=self.failed, rejected=self.rejected, sleep=sleep)

    def signed_headers(self, method: str, target: str, body: bytes) -> dict[str, str]:
        """The headers of one request, signed afresh for each attempt: ``X-Api-Key``, ``X-Timestamp``
        (Unix seconds) and ``X-Signature`` (``api_signature`` with the API secret). An adapter of
        an API signed another way overrides it."""
        timestamp = str(int(time.time()))
        signature = api_signature(self.config.api_secret, f"{timestamp}.{method}.{target}.{body.decode()}")
        return {"X-Api-Key": self.config.api_key, "X-Timestamp": timestamp, "X-Signature": signature,
                "Content-Type": "application/json"}

    def answer_object(self, answer: Answer, what: str) -> dict[str, Any]:
        """The answer's JSON object; the app's protocol error when it is something else."""
        data = answer.json()
        if not isinstance(data, dict):
            raise self.errors.protocol(f"The {what}'s answer is not an object.", request_sent=True)
        return data

    def close(self) -> None:  # noqa: B027 - optional hook: most adapters hold no connection
        """Release connections (nothing by default)."""


@dataclass(frozen=True)
class AdapterEntry[A: Adapter[Any]]:
    """One registered adapter: the code it is chosen by, its label for the pages, its class."""

    code: str
    label: Any  # a lazy translation
    adapter: type[A]
    order: int = 500


class AdapterEntries[A: Adapter[Any]](Protocol):
    def get(self, key: Hashable) -> AdapterEntry[A] | None: ...


def adapter_build[A: Adapter[Any]](entries: AdapterEntries[A], code: str, config: Any, *,
                     missing: Callable[[], Exception]) -> A:
    """The adapter registered as ``code``, built with ``config``; ``missing()`` raised when nobody
    registered that code."""
    entry = entries.get(code)
    if entry is None:
        raise missing()
    return entry.adapter(config)
