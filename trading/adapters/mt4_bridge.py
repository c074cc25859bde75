"""MetaTrader 4 through a bridge: the small HTTP contract of docs/mt4-bridge.md, which a broker
runs next to the MT4 server (MT4 itself has only the Windows Manager API).

What the contract says and this client relies on:

* Every request is signed: ``X-Api-Key`` (the key id, kept as the server's manager login),
  ``X-Timestamp`` (Unix seconds) and ``X-Signature``, hex HMAC-SHA256 with the shared key over
  ``"<timestamp>.<METHOD>.<target>.<body>"`` (the project's signing scheme). A fresh signature per
  request: a retried read is signed again.
* Times are MT4's: seconds of the server's wall clock. ``GET /v1/time`` gives the server time, the
  server's UTC offset in minutes and, when the server follows daylight saving, its IANA zone; the
  client converts with that (read again with every ``server_time``) and keeps the raw value as the
  deal's ``platform_time_msc``.
* A trade is one ticket with its open and close; volume is lots × 100; prices and money are decimal
  strings. Balance and credit operations are tickets of their own (cmd 6 and 7) in the same history.
* ``POST /v1/accounts/{login}/balance`` carries ``reference``: the bridge applies an operation once
  per (login, reference) and answers a repeat with the first result. The client sends its comment
  (which starts with the CRM's unique reference) as the reference, and finds an operation again
  in the history by the reference in the comment.
* HTTP 503 means the bridge did not pass the request to MT4 (refused); 504 and 500 that it may
  have (unknown). Errors are ``{"error": {"code", "message"}}``.

One shape for the CRM: a closed trade becomes two deals, its closing (entry out, deal id = the MT4
ticket) and its opening (entry in, deal id = ``OPENING_BASE`` + ticket); a balance or credit
operation is the deal with its own ticket, so the ticket finance sees is the one MT4 shows. The
opening shows once the trade is closed (MT4's history holds closed trades), so a first trade is seen
at its close. MT4 keeps one commission per trade: it is booked on the opening deal; swap (storage),
profit and taxes (as fee) on the closing one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from .base import (
    AccessLevel,
    AccountChanges,
    AccountInfo,
    AccountState,
    BalanceKind,
    Capabilities,
    Deal,
    DealEntry,
    DealKind,
    NewAccount,
    PlatformProtocolError,
    PlatformRejected,
    PlatformUnsupported,
    Position,
    Quote,
    ServerClock,
    ServerTime,
    Side,
    chunked,
)
from .rest import RestAdapter, RestConfig
from .rest import finite_decimal as _dec

V1 = "/v1"
OPENING_BASE = 10**12  # MT4 tickets are 32-bit: opening deal ids never meet a real ticket
WINDOW = dt.timedelta(days=7)
MAX_LOGINS = 100
MAX_COMMENT = 31
ACCESS = {level: level.value for level in AccessLevel}
ACCESS_OF = {v: k for k, v in ACCESS.items()}
OP_BUY, OP_SELL, OP_BALANCE, OP_CREDIT = 0, 1, 6, 7
BALANCE_CMDS = {OP_BALANCE: (DealKind.BALANCE, 2), OP_CREDIT: (DealKind.CREDIT, 3)}
TYPES = {BalanceKind.BALANCE: "balance", BalanceKind.CREDIT: "credit"}


@dataclass(frozen=True, kw_only=True)
class MT4BridgeConfig(RestConfig):
    key_id: str
    key: str


def _records(doc: Any, key: str) -> list[Mapping[str, Any]]:
    """The list under ``key``; a missing key is a protocol error, not an empty list."""
    items = doc.get(key) if isinstance(doc, dict) else None
    if not isinstance(items, list) or not all(isinstance(x, dict) for x in items):
        raise PlatformProtocolError(f"answer without a list of {key}")
    return items


def _side(cmd: int) -> Side:
    if cmd == OP_BUY:
        return Side.BUY
    if cmd == OP_SELL:
        return Side.SELL
    raise ValueError(f"cmd {cmd}")


def _lots(volume: Any) -> Decimal:
    """MT4 volume (lots × 100, an integer) in lots."""
    if isinstance(volume, bool) or int(volume) != Decimal(str(volume)):
        raise ValueError("volume")
    return (Decimal(int(volume)) / 100).normalize()


class MT4BridgeAdapter(RestAdapter[MT4BridgeConfig]):
    platform_name = "MT4 bridge"

    def __init__(self, config: MT4BridgeConfig) -> None:
        super().__init__(config)
        self._clock_cache: ServerClock | None = None

    # ------------------------------------------------------------------ plumbing
    def _headers(self, method: str, path: str, params: dict[str, Any] | None, body: Any) -> dict[str, str]:
        # Signed over exactly what RestClient sends: the target with its query, the JSON body; a
        # fresh signature per request, so a retried read is signed again.
        target = path + ("?" + urlencode(params) if params else "")
        payload = json.dumps(body, default=str) if body is not None else ""
        stamp = str(int(time.time()))
        signature = hmac.new(self.config.key.encode(), f"{stamp}.{method}.{target}.{payload}".encode(),
                             hashlib.sha256).hexdigest()
        return {"X-Api-Key": self.config.key_id, "X-Timestamp": stamp, "X-Signature": signature}

    @staticmethod
    def _error_text(doc: Mapping[str, Any]) -> str:
        error = doc.get("error")
        if not isinstance(error, dict):
            return ""
        return f"{error.get('code', '')} {error.get('message', '')}".strip()

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            platform="mt4bridge", read_only=False, create_account=True, update_account=True,
            access_levels=frozenset(ACCESS), balance_kinds=frozenset(TYPES), find_balance_operation=True,
            account_states=True, deals=True, positions=True, quotes=True, server_time=True,
            max_logins_per_request=MAX_LOGINS, deal_window=WINDOW, max_comment_length=MAX_COMMENT,
            change_password=True,
        )

    # ------------------------------------------------------------------ server time
    def _time_doc(self) -> tuple[int, ServerClock]:
        doc = self._request("GET", f"{V1}/time")
        try:
            seconds = int(doc["server_time"])
            zone = str(doc.get("timezone") or "")
            clock = ServerClock(offset_minutes=int(doc["utc_offset_minutes"]), tz_name=zone)
        except (KeyError, TypeError, ValueError) as exc:
            raise PlatformProtocolError(f"time answer without a valid {exc}") from None
        self._clock_cache = clock
        return seconds, clock

    def _clock(self) -> ServerClock:
        return self._clock_cache or self._time_doc()[1]

    def _clock_read(self) -> None:
        self._time_doc()

    def server_time(self) -> ServerTime:
        seconds, clock = self._time_doc()
        return ServerTime(utc=clock.to_utc(seconds), platform_seconds=seconds, raw=str(seconds))

    # ------------------------------------------------------------------ accounts
    def _info(self, doc: Any) -> AccountInfo:
        if not isinstance(doc, dict):
            raise PlatformProtocolError("account answer is not an object")
        try:
            registered = int(doc.get("registered") or 0)
            return AccountInfo(
                login=int(doc["login"]), group=str(doc["group"]), leverage=int(doc["leverage"]),
                name=str(doc.get("name", "")), email=str(doc.get("email", "")), access=ACCESS_OF[str(doc["access"])],
                rights=0, registered_at=self._clock().to_utc(registered) if registered else None, raw=doc,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise PlatformProtocolError(f"account record without a valid {exc}") from None

    def create_account(self, account: NewAccount) -> AccountInfo:
        body = {"group": account.group, "leverage": account.leverage, "name": account.name,
                "password": account.password, "investor_password": account.investor_password,
                "email": account.email, "phone": account.phone, "country": account.country, "city": account.city,
                "comment": account.comment, "login": account.login}
        return self._info(self._request("POST", f"{V1}/accounts", body=body, write=True))

    def update_account(self, login: int, changes: AccountChanges) -> AccountInfo:
        return self._info(self._request("PATCH", f"{V1}/accounts/{int(login)}", body=changes.as_dict()))

    def get_account(self, login: int) -> AccountInfo:
        return self._info(self._request("GET", f"{V1}/accounts/{int(login)}"))

    def set_access(self, login: int, level: AccessLevel) -> AccountInfo:
        return self._info(self._request("PATCH", f"{V1}/accounts/{int(login)}", body={"access": ACCESS[level]}))

    def change_password(self, login: int, password: str, *, investor: bool = False) -> None:
        self._request("POST", f"{V1}/accounts/{int(login)}/password", body={"password": password, "investor": investor})

    # ------------------------------------------------------------------ money
    def apply_balance_operation(self, login: int, kind: BalanceKind, amount: Decimal, comment: str) -> int:
        self.operation_check(amount, comment, max_length=MAX_COMMENT, required=True)
        if kind not in TYPES:
            raise PlatformUnsupported(f"MT4 has no {kind.value} operation (balance and credit only)")
        body = {"type": TYPES[kind], "amount": format(amount, "f"), "comment": comment, "reference": comment}
        doc = self._request("POST", f"{V1}/accounts/{int(login)}/balance", body=body, write=True)
        try:
            return int(doc["ticket"])
        except (KeyError, TypeError, ValueError):
            raise PlatformProtocolError("the balance answer carries no ticket") from None

    def _balance_deals(self, login: int, start: dt.datetime, end: dt.datetime) -> list[Deal]:
        return [d for d in self._history([int(login)], start, end) if d.kind is not DealKind.TRADE]

    def _account_doc(self, login: int) -> Any:
        doc = self._request("GET", f"{V1}/margins", {"logins": str(int(login))})
        found = _records(doc, "margins")
        if not found:
            raise PlatformRejected(13, f"no MT4 account {login}")
        return found[0]

    def _state(self, doc: Any, observed: dt.datetime) -> AccountState:
        margin = _dec(doc["margin"])
        level_type = str(doc.get("level_type", "ok"))
        return AccountState(
            login=int(doc["login"]), balance=_dec(doc["balance"]), credit=_dec(doc["credit"]),
            equity=_dec(doc["equity"]), margin=margin, free_margin=_dec(doc["free_margin"]),
            margin_level=_dec(doc["margin_level"]) if margin > 0 else None, floating_profit=_dec(doc["profit"]),
            leverage=int(doc["leverage"]), margin_call=level_type in ("margin_call", "stop_out"),
            stop_out=level_type == "stop_out", observed_at=observed, raw=doc,
        )

    def account_states(self, logins: Sequence[int]) -> list[AccountState]:
        states: list[AccountState] = []
        for chunk in chunked(sorted(set(int(x) for x in logins)), MAX_LOGINS):
            doc = self._request("GET", f"{V1}/margins", {"logins": ",".join(map(str, chunk))})
            try:
                observed = self._clock().to_utc(int(doc["server_time"]))
                states.extend(self._state(r, observed) for r in _records(doc, "margins"))
            except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
                raise PlatformProtocolError(f"margin record without a valid {exc}") from None
        return states

    # ------------------------------------------------------------------ history
    def _history(self, logins: list[int], start: dt.datetime, end: dt.datetime) -> list[Deal]:
        """Deals of the history records closed in [start, end) (the openings come with them)."""
        clock = self._clock()
        out: list[Deal] = []
        low = start
        while low < end:
            high = min(low + WINDOW, end)
            # Server seconds, both ends inclusive (MT4 times are whole seconds, floored here, so the
            # second holding ``high`` is read too); the UTC filter below trims the edges.
            params = {"logins": ",".join(map(str, logins)), "from": clock.from_utc(low), "to": clock.from_utc(high)}
            for record in _records(self._request("GET", f"{V1}/trades/history", params), "trades"):
                deals = self.record_deals(record)
                if low <= deals[-1].time < high:
                    out.extend(deals)
            low = high
        return out

    def _history_deals(self, logins: list[int], start: dt.datetime, end: dt.datetime) -> Iterator[Deal]:
        for chunk in chunked(logins, MAX_LOGINS):
            yield from self._history(list(chunk), start, end)

    def record_deals(self, r: Mapping[str, Any]) -> list[Deal]:
        """The deals of one history record: one for a balance or credit operation, the opening and
        the closing (last) for a closed trade."""
        try:
            clock = self._clock()
            ticket, login, cmd = int(r["ticket"]), int(r["login"]), int(r["cmd"])
            closed = int(r["close_time"])
            if cmd in BALANCE_CMDS:
                kind, action = BALANCE_CMDS[cmd]
                return [Deal(
                    deal_id=ticket, login=login, time=clock.to_utc(closed), platform_time_msc=closed * 1000,
                    kind=kind, action=action, entry=DealEntry.NONE, side=None, position_id=0, order_id=0, symbol="",
                    volume=Decimal(0), price=Decimal(0), profit=_dec(r["profit"]), commission=Decimal(0),
                    swap=Decimal(0), fee=Decimal(0), comment=str(r.get("comment") or ""), reason=2,
                    market_bid=None, market_ask=None, raw=r,
                )]
            side = _side(cmd)
            closing_side = Side.SELL if side is Side.BUY else Side.BUY
            opened = int(r["open_time"])
            common: dict[str, Any] = {"login": login, "kind": DealKind.TRADE, "position_id": ticket,
                                      "order_id": ticket, "symbol": str(r["symbol"]), "volume": _lots(r["volume"]),
                                      "comment": str(r.get("comment") or ""), "reason": 0, "market_bid": None,
                                      "market_ask": None, "raw": r}
            opening = Deal(
                deal_id=OPENING_BASE + ticket, time=clock.to_utc(opened), platform_time_msc=opened * 1000,
                action=cmd, entry=DealEntry.IN, side=side, price=_dec(r["open_price"]), profit=Decimal(0),
                commission=_dec(r.get("commission") or 0), swap=Decimal(0), fee=Decimal(0), **common,
            )
            closing = Deal(
                deal_id=ticket, time=clock.to_utc(closed), platform_time_msc=closed * 1000,
                action=OP_BUY if closing_side is Side.BUY else OP_SELL, entry=DealEntry.OUT, side=closing_side,
                price=_dec(r["close_price"]), profit=_dec(r["profit"]), commission=Decimal(0),
                swap=_dec(r.get("storage") or 0), fee=_dec(r.get("taxes") or 0), **common,
            )
            return [opening, closing]
        except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
            raise PlatformProtocolError(f"trade record without a valid {exc}") from None

    def open_positions(self, logins: Sequence[int]) -> list[Position]:
        clock = self._clock()
        out: list[Position] = []
        for chunk in chunked(sorted(set(int(x) for x in logins)), MAX_LOGINS):
            doc = self._request("GET", f"{V1}/trades/open", {"logins": ",".join(map(str, chunk))})
            for r in _records(doc, "trades"):
                try:
                    out.append(Position(
                        position_id=int(r["ticket"]), login=int(r["login"]), symbol=str(r["symbol"]),
                        side=_side(int(r["cmd"])), volume=_lots(r["volume"]), price_open=_dec(r["open_price"]),
                        price_current=_dec(r["close_price"]), profit=_dec(r["profit"]),
                        swap=_dec(r.get("storage") or 0), opened_at=clock.to_utc(int(r["open_time"])),
                        comment=str(r.get("comment") or ""), raw=r,
                    ))
                except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
                    raise PlatformProtocolError(f"open trade without a valid {exc}") from None
        return out

    def quotes(self, symbols: Sequence[str]) -> list[Quote]:
        if not symbols:
            return []
        clock = self._clock()
        doc = self._request("GET", f"{V1}/quotes", {"symbols": ",".join(symbols)})
        try:
            return [Quote(symbol=str(r["symbol"]), bid=_dec(r["bid"]), ask=_dec(r["ask"]),
                          time=clock.to_utc(int(r["time"])), raw=r) for r in _records(doc, "quotes")]
        except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
            raise PlatformProtocolError(f"quote without a valid {exc}") from None


__all__ = ["OPENING_BASE", "MT4BridgeAdapter", "MT4BridgeConfig"]
