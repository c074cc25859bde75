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

``RestConfig`` and ``RestAdapter`` are the part the four REST adapters (cTrader, Match-Trader,
Sirix, the MT4 bridge) share: the connection settings each config extends, the client built from
them, one request path with the platform's headers and error body, the server clock, account
states, the balance-operation look-up, the deal-read checks and de-duplication and the balance
operation's argument checks, each written once over small hooks; and the helpers that read records,
decimals and times the same way everywhere.
"""

from __future__ import annotations

import abc
import datetime as dt
import email.utils
import http.client
import json
import ssl
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
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
    PlatformUnsupported,
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
@dataclass(frozen=True, kw_only=True)
class RestConfig:
    """The connection settings every REST adapter's config carries; each platform's config adds its
    credentials and options to these (keyword-only, so a subclass may add fields without defaults)."""

    host: str
    port: int = 443
    ca_file: str | None = None
    verify_tls: bool = True
    timeout: float = 10.0
    connect_timeout: float = 5.0


class RestAdapter[ConfigT: RestConfig](PlatformAdapter):
    """What the REST adapters do the same way, written once:

    - the client built from the config's connection settings, the config kept as ``self.config``;
    - ``_request``: one call with the platform's headers (``_headers``: credentials, a signature)
      and its error body read by ``_error_text``;
    - the server clock (``_clock_read``: a cheap read whose answer's ``Date`` is the clock);
    - account states (``_account_doc``/``_state`` per login; an unknown login is left out);
    - finding a balance operation again by its reference (``_balance_deals``/``_reference_text``),
      the "unknown" outcome's look-up that replaces a blind retry;
    - deal reads: the argument checks, one result per deal id, time order (``_history_deals``
      yields the platform's deals of the window);
    - the checks of a balance operation's amount and reference field (``operation_check``).
    """

    platform_name = ""  # in messages: "Sirix history reads are by login"

    def __init__(self, config: ConfigT) -> None:
        self.config = config
        self.http = RestClient(host=config.host, port=config.port, ca_file=config.ca_file,
                               verify_tls=config.verify_tls, timeout=config.timeout,
                               connect_timeout=config.connect_timeout)

    # requests
    def _headers(self, method: str, path: str, params: dict[str, Any] | None, body: Any) -> dict[str, str]:
        """The platform's headers of one request (credentials; a signature over what is sent)."""
        return {}

    @staticmethod
    def _error_text(doc: Mapping[str, Any]) -> str:
        """What the platform's error body says, for the error's message."""
        return ""

    def _request(self, method: str, path: str, params: dict[str, Any] | None = None, body: Any = None, *,
                 write: bool = False) -> Any:
        return self.http.request(method, path, params, body, headers=self._headers(method, path, params, body),
                                 write=write, error_text=self._error_text)

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

    @abc.abstractmethod
    def _history_deals(self, logins: list[int], start: dt.datetime, end: dt.datetime) -> Iterable[Deal]:
        """The deals of `logins` (sorted, unique) in [start, end) as the platform gives them; a
        closed position's opening may come with its closing from before `start`."""

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

    def deals(self, *, start: dt.datetime, end: dt.datetime, logins: Sequence[int] | None = None,
              group: str | None = None) -> list[Deal]:
        if group is not None:
            raise PlatformUnsupported(f"{self.platform_name} history reads are by login")
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("start and end must be aware datetimes")
        unique = sorted(set(int(x) for x in logins or ()))
        if end <= start or not unique:
            return []
        seen: dict[int, Deal] = {}
        for deal in self._history_deals(unique, start, end):
            seen.setdefault(deal.deal_id, deal)  # overlapping reads give a deal more than once
        result = list(seen.values())
        result.sort(key=lambda d: (d.time, d.deal_id))
        return result

    @staticmethod
    def operation_check(amount: Decimal, comment: str, *, max_length: int, field: str = "the comment",
                        required: bool = False) -> None:
        """Refuse (ValueError, before anything is sent) an amount that is not a non-zero finite
        Decimal and a reference field that is too long (or empty, where the platform keys on it)."""
        if not isinstance(amount, Decimal) or not amount.is_finite() or amount == 0:
            raise ValueError("amount must be a non-zero finite Decimal")
        if required and not comment:
            raise ValueError(f"{field} must hold the reference")
        if len(comment) > max_length:
            raise ValueError(f"{field} holds at most {max_length} characters")

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


def closed_in_window(pairs: Iterable[tuple[Deal, Deal]], start: dt.datetime, end: dt.datetime) -> Iterator[Deal]:
    """The opening and closing deals of the closed positions whose closing falls in [start, end):
    the opening comes with its position's close, whenever it was opened."""
    for opening, closing in pairs:
        if start <= closing.time < end:
            yield opening
            yield closing


def in_window(deals: Iterable[Deal], start: dt.datetime, end: dt.datetime) -> Iterator[Deal]:
    return (d for d in deals if start <= d.time < end)


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
