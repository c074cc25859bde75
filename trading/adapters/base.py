"""One interface for every trading platform, with the value types and errors it speaks.

Adapters depend only on the standard library: no ORM, no Django. Money and prices are
``Decimal``; times are aware UTC ``datetime`` converted at the edge from the platform's server
time, and every value type keeps the platform's raw record (``raw``) and raw time next to the
converted one, so nothing the platform said is lost.

Errors all derive from ``PlatformError(code, message)``. Whether a failed write may have been
applied follows from two facts the adapter records: ``request_sent`` (the request left the client)
and ``refused`` (the platform answered that it did not process it: an HTTP 4xx or 503, a retcode
such as "service not available"). Sent and not refused, the outcome is unknown (no answer, a
dropped connection, a server error after the fact, garbage) and must be resolved by looking the
operation up (``find_balance_operation``) before anything is retried; ``outcome_unknown`` says
exactly that. Each adapter classifies every failure it can meet explicitly (see mt5_web.py).
"""

from __future__ import annotations

import abc
import datetime as dt
import enum
import hashlib
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from types import TracebackType
from typing import Any
from zoneinfo import ZoneInfo

UTC = dt.UTC
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)


# ----------------------------------------------------------------------------------------- errors
class PlatformError(Exception):
    """A platform call failed. ``code`` is a short machine-readable reason."""

    default_code = "platform_error"

    def __init__(self, code: str | None, message: str, *, request_sent: bool = False, refused: bool = False) -> None:
        super().__init__(message)
        self.code = code or self.default_code
        self.message = message
        self.request_sent = request_sent
        self.refused = refused

    @property
    def outcome_unknown(self) -> bool:
        """True when a write may or may not have been applied by the platform: the request left
        and what came back (nothing, a dropped connection, a server error, garbage) does not say.
        A refusal (``refused``, ``PlatformRejected``, ``AuthFailed``) means nothing was applied."""
        return (self.request_sent and not self.refused
                and not isinstance(self, (PlatformRejected, AuthFailed, PlatformUnsupported)))

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"


class PlatformTimeout(PlatformError):
    """No answer in time. If ``request_sent``, the platform may have applied the request."""

    default_code = "timeout"

    def __init__(self, message: str, *, request_sent: bool = True) -> None:
        super().__init__(None, message, request_sent=request_sent)


class PlatformUnavailable(PlatformError):
    """The platform could not be reached, turned the request away for now (HTTP 429, 503;
    retcodes "no connection", "service not available", "too frequent requests", "shutdown":
    ``refused``, worth retrying later) or failed while handling it (HTTP 500, 502, 504; retcode
    "network error": the outcome is unknown)."""

    default_code = "unavailable"

    def __init__(self, message: str, *, request_sent: bool = False, status: int | None = None,
                 refused: bool = False) -> None:
        super().__init__(None, message, request_sent=request_sent, refused=refused)
        self.status = status


class PlatformRejected(PlatformError):
    """The platform refused the request with a return code; nothing was applied."""

    default_code = "rejected"

    def __init__(self, retcode: int, message: str) -> None:
        super().__init__(None, message)
        self.retcode = retcode

    @property
    def not_found(self) -> bool:
        return self.retcode == 13


class PlatformProtocolError(PlatformError):
    """The answer did not have the documented shape (not JSON, truncated, fields missing: the
    request may have been processed), or the HTTP front refused it as malformed (a 4xx status,
    ``refused``: it was not)."""

    default_code = "protocol"

    def __init__(self, message: str, *, request_sent: bool = True, refused: bool = False,
                 status: int | None = None) -> None:
        super().__init__(None, message, request_sent=request_sent, refused=refused)
        self.status = status


class AuthFailed(PlatformError):
    """The platform refused our credentials, or could not prove it knows them."""

    default_code = "auth_failed"

    def __init__(self, message: str, *, retcode: int | None = None) -> None:
        super().__init__(None, message)
        self.retcode = retcode


class PlatformUnsupported(PlatformError):
    """The platform or adapter cannot do this at all (see ``Capabilities``)."""

    default_code = "unsupported"

    def __init__(self, message: str) -> None:
        super().__init__(None, message)


# ------------------------------------------------------------------------------------ enums
class AccessLevel(enum.StrEnum):
    FULL = "full"
    CLOSE_ONLY = "close_only"
    READ_ONLY = "read_only"
    DISABLED = "disabled"


class BalanceKind(enum.StrEnum):
    BALANCE = "balance"  # deposit (+) or withdrawal (-)
    CREDIT = "credit"
    BONUS = "bonus"
    CORRECTION = "correction"
    CHARGE = "charge"


class DealKind(enum.StrEnum):
    TRADE = "trade"
    BALANCE = "balance"
    CREDIT = "credit"
    BONUS = "bonus"
    COMMISSION = "commission"
    CORRECTION = "correction"
    OTHER = "other"


class DealEntry(enum.StrEnum):
    IN = "in"
    OUT = "out"
    INOUT = "inout"
    OUT_BY = "out_by"
    NONE = "none"  # balance-type deals carry no entry


class Side(enum.StrEnum):
    BUY = "buy"
    SELL = "sell"


BALANCE_DEAL_KINDS = frozenset({DealKind.BALANCE, DealKind.CREDIT, DealKind.BONUS, DealKind.CORRECTION})


# ------------------------------------------------------------------------------ value types
@dataclass(frozen=True)
class NewAccount:
    """What the CRM asks a platform to open. ``login`` 0 lets the platform choose."""

    group: str
    leverage: int
    name: str
    password: str
    investor_password: str
    email: str = ""
    phone: str = ""
    country: str = ""
    city: str = ""
    comment: str = ""
    login: int = 0


@dataclass(frozen=True)
class AccountChanges:
    """Fields to change on an existing account; ``None`` leaves a field as it is."""

    group: str | None = None
    leverage: int | None = None
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    country: str | None = None
    city: str | None = None
    comment: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class AccountInfo:
    """The platform's user record of an account (identity and settings, not money)."""

    login: int
    group: str
    leverage: int
    name: str
    email: str
    access: AccessLevel
    rights: int
    registered_at: dt.datetime | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True)
class AccountState:
    """Money on an account at ``observed_at``. ``margin_level`` is None when no margin is used."""

    login: int
    balance: Decimal
    credit: Decimal
    equity: Decimal
    margin: Decimal
    free_margin: Decimal
    margin_level: Decimal | None
    floating_profit: Decimal
    leverage: int
    margin_call: bool
    stop_out: bool
    observed_at: dt.datetime
    raw: Mapping[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True)
class Deal:
    """One platform deal. ``time`` is UTC; ``platform_time_msc`` is the platform's own stamp."""

    deal_id: int
    login: int
    time: dt.datetime
    platform_time_msc: int
    kind: DealKind
    action: int
    entry: DealEntry
    side: Side | None
    position_id: int
    order_id: int
    symbol: str
    volume: Decimal  # lots
    price: Decimal
    profit: Decimal
    commission: Decimal
    swap: Decimal
    fee: Decimal
    comment: str
    reason: int
    market_bid: Decimal | None
    market_ask: Decimal | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)
    # The market's spread (ask - bid, in price units) when the source gives it without the bid and
    # ask (a deal report's Spread column); None when unknown or when market_bid and market_ask say it.
    market_spread: Decimal | None = None

    @property
    def money_effect(self) -> Decimal:
        """What the deal did to balance (or credit, for credit deals)."""
        return self.profit + self.commission + self.swap + self.fee

    @property
    def content_hash(self) -> str:
        """SHA-256 of the normalised content; changes when the platform edits the deal."""
        return deal_content_hash(self)


@dataclass(frozen=True)
class Position:
    position_id: int
    login: int
    symbol: str
    side: Side
    volume: Decimal  # lots
    price_open: Decimal
    price_current: Decimal
    profit: Decimal
    swap: Decimal
    opened_at: dt.datetime
    comment: str
    raw: Mapping[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True)
class Quote:
    symbol: str
    bid: Decimal
    ask: Decimal
    time: dt.datetime
    raw: Mapping[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True)
class ServerTime:
    utc: dt.datetime
    platform_seconds: int
    raw: str


@dataclass(frozen=True)
class Capabilities:
    platform: str
    read_only: bool
    create_account: bool
    update_account: bool
    access_levels: frozenset[AccessLevel]
    balance_kinds: frozenset[BalanceKind]
    find_balance_operation: bool
    account_states: bool
    deals: bool
    positions: bool
    quotes: bool
    server_time: bool
    max_logins_per_request: int
    deal_window: dt.timedelta
    max_comment_length: int
    change_password: bool = False


def _norm(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def deal_content_hash(deal: Deal) -> str:
    """Stable digest of the fields a sync must notice changing (not of the raw record, whose
    key order and number formatting are the platform's business)."""
    parts = (
        str(deal.deal_id),
        str(deal.login),
        str(deal.platform_time_msc),
        str(deal.action),
        deal.entry.value,
        str(deal.position_id),
        str(deal.order_id),
        deal.symbol,
        _norm(deal.volume),
        _norm(deal.price),
        _norm(deal.profit),
        _norm(deal.commission),
        _norm(deal.swap),
        _norm(deal.fee),
        deal.comment,
        str(deal.reason),
    )
    # A unit separator cannot occur in MT5 symbols or comments, so the join is unambiguous.
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


# ------------------------------------------------------------------------------ server time
class ServerClock:
    """Converts the platform's server time (wall-clock seconds "since 1970" in the server's zone)
    to UTC and back. Give either a fixed offset in minutes east of UTC or an IANA zone name; the
    zone wins when both are set. In a DST fall-back hour the earlier reading is taken."""

    def __init__(self, *, offset_minutes: int = 0, tz_name: str = "") -> None:
        self.offset_minutes = offset_minutes
        self.tz = ZoneInfo(tz_name) if tz_name else None

    def to_utc_msc(self, server_msc: int) -> dt.datetime:
        if self.tz is None:
            return EPOCH + dt.timedelta(milliseconds=server_msc - self.offset_minutes * 60_000)
        # Read the server's wall-clock reading as a time in its zone.
        wall = EPOCH + dt.timedelta(milliseconds=server_msc)
        return wall.replace(tzinfo=self.tz, fold=0).astimezone(UTC)

    def to_utc(self, server_seconds: int) -> dt.datetime:
        return self.to_utc_msc(server_seconds * 1000)

    def from_utc(self, when: dt.datetime) -> int:
        """Server-time seconds for an aware datetime (floored)."""
        if when.tzinfo is None:
            raise ValueError("aware datetime required")
        if self.tz is None:
            delta = when.astimezone(UTC) + dt.timedelta(minutes=self.offset_minutes) - EPOCH
        else:
            delta = when.astimezone(self.tz).replace(tzinfo=UTC) - EPOCH
        return delta.days * 86_400 + delta.seconds


_REF_CHARS = re.compile(r"[A-Za-z0-9]")


def comment_has_reference(comment: str, reference: str) -> bool:
    """True when ``reference`` appears in ``comment`` as a whole token (not inside a longer
    alphanumeric run), so reference AB12 does not match a comment holding XAB123."""
    if not reference:
        return False
    start = 0
    while True:
        index = comment.find(reference, start)
        if index < 0:
            return False
        before = comment[index - 1] if index > 0 else ""
        after_pos = index + len(reference)
        after = comment[after_pos] if after_pos < len(comment) else ""
        if not _REF_CHARS.match(before) and not _REF_CHARS.match(after):
            return True
        start = index + 1


def chunked(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for index in range(0, len(items), size):
        yield items[index : index + size]


# ------------------------------------------------------------------------------ the interface
class PlatformAdapter(abc.ABC):
    """What the CRM can ask of a trading platform. Every call has a timeout; every failure is a
    ``PlatformError``. Adapters hold a connection and are used from one thread at a time."""

    @property
    @abc.abstractmethod
    def capabilities(self) -> Capabilities: ...

    @abc.abstractmethod
    def create_account(self, account: NewAccount) -> AccountInfo:
        """Open an account. Not idempotent: on ``outcome_unknown`` look the account up before
        trying again."""

    @abc.abstractmethod
    def update_account(self, login: int, changes: AccountChanges) -> AccountInfo: ...

    @abc.abstractmethod
    def get_account(self, login: int) -> AccountInfo: ...

    @abc.abstractmethod
    def set_access(self, login: int, level: AccessLevel) -> AccountInfo: ...

    def change_password(self, login: int, password: str, *, investor: bool = False) -> None:
        """Set the main (or, with ``investor``, the read-only investor) password of ``login``.
        Setting the same password twice is harmless, so a lost connection may be retried."""
        raise PlatformUnsupported(f"{self.capabilities.platform} cannot change passwords")

    @abc.abstractmethod
    def apply_balance_operation(self, login: int, kind: BalanceKind, amount: Decimal, comment: str) -> int:
        """Apply a deposit/withdrawal/credit/bonus/correction (negative ``amount`` takes money
        out) and return the platform ticket. ``comment`` must carry the CRM's reference so that
        ``find_balance_operation`` can find it after a timeout. Never retried automatically."""

    @abc.abstractmethod
    def find_balance_operation(self, login: int, reference: str, since: dt.datetime) -> int | None:
        """The ticket of the balance-type deal on ``login`` whose comment carries ``reference``
        as a token, searching from ``since`` to the platform's present; None when there is none.

        Pass a ``since`` well before the request was sent: the platform's clock may be off. None
        is only conclusive once the platform's deal visibility lag has passed (a deal can show up
        late); re-check after that lag before sending the operation again."""

    @abc.abstractmethod
    def account_states(self, logins: Sequence[int]) -> list[AccountState]:
        """Money of many accounts; logins the platform does not know are left out."""

    @abc.abstractmethod
    def deals(
        self,
        *,
        start: dt.datetime,
        end: dt.datetime,
        logins: Sequence[int] | None = None,
        group: str | None = None,
    ) -> list[Deal]:
        """Deals with ``start <= time < end`` for the logins or group mask, fetched in the chunks
        the platform requires, de-duplicated by deal id and sorted by (time, id)."""

    @abc.abstractmethod
    def open_positions(self, logins: Sequence[int]) -> list[Position]: ...

    @abc.abstractmethod
    def quotes(self, symbols: Sequence[str]) -> list[Quote]: ...

    @abc.abstractmethod
    def server_time(self) -> ServerTime: ...

    @abc.abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> PlatformAdapter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
