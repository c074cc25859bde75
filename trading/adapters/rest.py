"""A JSON-over-HTTPS client for the REST manager APIs (cTrader Web Services, Match-Trader Broker
API), with the failure classes of base.py made explicit:

  before the request left (connect refused or timed out, TLS not trusted) .... not applied
  read timeout, connection lost mid-answer ................................... unknown
  HTTP 401, 403 ............................................................... AuthFailed (refused)
  HTTP 404 .................................................................... PlatformRejected, not_found
  HTTP 429, 501, 503, 505 ..................................................... refused, retry later
  HTTP 500, 502, 504 and other 5xx ............................................ unknown
  other HTTP 4xx .............................................................. PlatformRejected (refused)
  HTTP 200 with a body that is not JSON or not the documented shape ........... unknown (protocol)

Reads are repeated once on a fresh connection when a kept-alive one turns out dead; writes never
are. The server's clock comes from the HTTP ``Date`` header, which every answer carries.

``RestAdapter`` is the part the REST adapters share: the client built from the connection settings,
the server clock, account states and balance-operation look-ups written once over two small hooks
each, and the helpers that read records, decimals and times the same way everywhere.
"""

from __future__ import annotations

import abc
import datetime as dt
import email.utils
import http.client
import json
import ssl
import threading
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol
from urllib.parse import urlencode

from .base import (
    UTC,
    AccountState,
    AuthFailed,
    Deal,
    PlatformAdapter,
    PlatformProtocolError,
    PlatformRejected,
    PlatformTimeout,
    PlatformUnavailable,
    ServerTime,
    comment_has_reference,
)

REFUSED_5XX = frozenset({501, 503, 505})
# Return codes for PlatformRejected, so callers that look at them see MT5's meaning.
NOT_FOUND = 13
INVALID = 3


class RestClient:
    def __init__(self, *, host: str, port: int, ca_file: str | None, verify_tls: bool, timeout: float,
                 connect_timeout: float, agent: str = "BrokerageCRM") -> None:
        self.host, self.port = host, port
        self.timeout, self.connect_timeout, self.agent = timeout, connect_timeout, agent
        if verify_tls:
            self._ssl = ssl.create_default_context(cafile=ca_file)
        else:
            self._ssl = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            self._ssl.check_hostname = False
            self._ssl.verify_mode = ssl.CERT_NONE
        self._conn: http.client.HTTPSConnection | None = None
        self._lock = threading.RLock()
        self.last_date: dt.datetime | None = None

    def _open(self) -> http.client.HTTPSConnection:
        conn = http.client.HTTPSConnection(self.host, self.port, timeout=self.connect_timeout, context=self._ssl)
        try:
            conn.connect()
        except ssl.SSLCertVerificationError as exc:
            conn.close()
            raise PlatformUnavailable(f"TLS certificate of {self.host} not trusted: {exc.verify_message}") from exc
        except TimeoutError as exc:
            conn.close()
            raise PlatformTimeout(f"connecting to {self.host}:{self.port} timed out", request_sent=False) from exc
        except (OSError, ssl.SSLError) as exc:
            conn.close()
            raise PlatformUnavailable(f"cannot connect to {self.host}:{self.port}: {exc}") from exc
        self._conn = conn
        return conn

    def reset(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except OSError:
                pass
        self._conn = None

    def request(self, method: str, path: str, params: dict[str, Any] | None = None, body: Any = None, *,
                headers: dict[str, str] | None = None, write: bool = False, error_text: Any = None) -> Any:
        """The parsed JSON answer of one request; ``error_text(doc)`` says what an error body holds."""
        target = path + ("?" + urlencode(params) if params else "")
        payload = json.dumps(body, default=str).encode() if body is not None else None
        with self._lock:
            for attempt in (1, 2):
                fresh = self._conn is None or self._conn.sock is None
                conn = self._open() if fresh else self._conn
                assert conn is not None and conn.sock is not None
                conn.sock.settimeout(self.timeout)
                sent_headers = {"Accept": "application/json", "User-Agent": self.agent, **(headers or {})}
                if payload is not None:
                    sent_headers["Content-Type"] = "application/json"
                try:
                    conn.request(method, target, body=payload, headers=sent_headers)
                    response = conn.getresponse()
                    data = response.read()
                except TimeoutError as exc:
                    self.reset()
                    raise PlatformTimeout(f"no answer to {method} {path} within {self.timeout}s") from exc
                except (http.client.HTTPException, OSError, ssl.SSLError) as exc:
                    self.reset()
                    # A kept-alive connection the server had closed fails before anything was read:
                    # a read may go again on a fresh one, a write may not (it may have arrived).
                    if not write and not fresh and attempt == 1:
                        continue
                    raise PlatformUnavailable(f"connection lost during {method} {path}: {exc!r}",
                                              request_sent=True) from exc
                if response.will_close:
                    self.reset()
                date = response.getheader("Date")
                if date:
                    try:
                        self.last_date = email.utils.parsedate_to_datetime(date).astimezone(dt.UTC)
                    except (TypeError, ValueError):
                        pass
                return self._parse(response.status, data, f"{method} {path}", error_text)
        raise AssertionError("unreachable")

    @staticmethod
    def _parse(status: int, data: bytes, what: str, error_text: Any) -> Any:
        doc: Any = None
        try:
            doc = json.loads(data, parse_float=str) if data else None  # exact decimals, and raw stays JSON
        except (ValueError, UnicodeDecodeError):
            doc = None
        if status == 200:
            if doc is None:
                raise PlatformProtocolError(f"answer to {what} is not JSON")
            return doc
        detail = error_text(doc) if error_text and isinstance(doc, dict) else ""
        message = f"HTTP {status} from {what}" + (f": {detail}" if detail else "")
        if status in (401, 403):
            raise AuthFailed(message)
        if status == 404:
            raise PlatformRejected(NOT_FOUND, message)
        if status == 429 or status in REFUSED_5XX:
            raise PlatformUnavailable(message, request_sent=True, status=status, refused=True)
        if status >= 500:
            raise PlatformUnavailable(message, request_sent=True, status=status)
        if 400 <= status < 500:
            raise PlatformRejected(10019 if "NOT_ENOUGH_MONEY" in detail else INVALID, message)
        raise PlatformProtocolError(f"HTTP {status} from {what}", status=status)

    def close(self) -> None:
        with self._lock:
            self.reset()


# ---------------------------------------------------------------------- shared adapter base
class RestSettings(Protocol):
    """The connection settings every REST adapter's config carries."""

    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def ca_file(self) -> str | None: ...
    @property
    def verify_tls(self) -> bool: ...
    @property
    def timeout(self) -> float: ...
    @property
    def connect_timeout(self) -> float: ...


class RestAdapter(PlatformAdapter):
    """What the REST adapters do the same way. A subclass names ``clock_path`` (a cheap read whose
    answer's ``Date`` is the server clock) and implements the hooks ``_account_doc``/``_state``
    (account states) and ``_balance_deals``/``_reference_text`` (finding a balance operation again)."""

    clock_path = ""

    def __init__(self, config: RestSettings) -> None:
        self.http = RestClient(host=config.host, port=config.port, ca_file=config.ca_file,
                               verify_tls=config.verify_tls, timeout=config.timeout,
                               connect_timeout=config.connect_timeout)

    # hooks
    @abc.abstractmethod
    def _account_doc(self, login: int) -> Any:
        """The platform's own part (each adapter)."""

    @abc.abstractmethod
    def _state(self, doc: Any, observed: dt.datetime) -> AccountState:
        """The platform's own part (each adapter)."""

    @abc.abstractmethod
    def _balance_deals(self, login: int, start: dt.datetime, end: dt.datetime) -> list[Deal]:
        """The platform's own part (each adapter)."""

    def _reference_text(self, deal: Deal) -> str:
        return deal.comment

    # shared operations
    def account_states(self, logins: Sequence[int]) -> list[AccountState]:
        states = []
        for login in sorted(set(int(x) for x in logins)):
            try:
                doc = self._account_doc(login)
            except PlatformRejected as exc:
                if exc.not_found:
                    continue  # logins the platform does not know are left out
                raise
            observed = self.http.last_date or dt.datetime.now(UTC)
            try:
                states.append(self._state(doc, observed))
            except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
                raise PlatformProtocolError(f"account record without a valid {exc}") from None
        return states

    def find_balance_operation(self, login: int, reference: str, since: dt.datetime) -> int | None:
        end = max(dt.datetime.now(UTC), self.server_time().utc) + dt.timedelta(hours=1)
        found = [d.deal_id for d in self._balance_deals(int(login), since, end)
                 if comment_has_reference(self._reference_text(d), reference)]
        return min(found) if found else None

    def server_time(self) -> ServerTime:
        self._clock_read()
        when = self.http.last_date
        if when is None:
            raise PlatformProtocolError("the answer carried no Date header")
        return ServerTime(utc=when, platform_seconds=int(when.timestamp()), raw=when.isoformat())

    @abc.abstractmethod
    def _clock_read(self) -> None:
        """The platform's own part (each adapter)."""

    def close(self) -> None:
        self.http.close()


def records(doc: Any, key: str) -> list[Mapping[str, Any]]:
    """The list of objects under ``key`` of an answer, or a protocol error saying it is missing."""
    items = doc.get(key, []) if isinstance(doc, dict) else None
    if not isinstance(items, list) or not all(isinstance(x, dict) for x in items):
        raise PlatformProtocolError(f"answer without a list of {key} records")
    return items


def finite_decimal(value: Any) -> Decimal:
    """A JSON number or string as an exact finite Decimal (NaN and infinities are refused)."""
    result = Decimal(str(value))
    if not result.is_finite():
        raise InvalidOperation(value)
    return result


def iso_millis(when: dt.datetime, *, zulu: bool = False) -> str:
    """UTC ISO-8601 to the millisecond, with a trailing ``Z`` when ``zulu``."""
    when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}" + ("Z" if zulu else "")


def parse_time(text: Any) -> dt.datetime:
    """An ISO-8601 / RFC 3339 time as an aware UTC datetime (no offset means UTC)."""
    when = dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)


def from_millis(value: Any) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(value) / 1000, UTC)


def to_millis(when: dt.datetime) -> int:
    return int(when.timestamp() * 1000)


def split_name(name: str) -> tuple[str, str]:
    first, _, last = name.partition(" ")
    return first, last
