"""cTrader through Spotware's Web Services API (REST, ``https://HOST:PORT/v2/webserv/...``).

Facts this client relies on (Spotware "Web Services API": General Provisions, Operations with
Accounts, Use Cases pages; restated, see trading/simulator/faces.py for the whole list):

* A manager token from ``POST /v2/webserv/managers/token`` (``login``, ``hashedPassword`` = MD5
  hex of the manager password) goes on every request as ``?token=``; it does not expire but a
  password change invalidates it, so a 401/403 fetches a new one once.
* Money is an integer of minor units with ``moneyDigits``; ``changebalance`` takes
  ``preciseAmount`` as a decimal and ``type`` DEPOSIT | WITHDRAW (credit is the non-withdrawable
  bonus: DEPOSIT_/WITHDRAW_NONWITHDRAWABLE_BONUS). Its ``externalId`` is the idempotency field:
  the adapter puts the CRM's comment (which starts with the operation's reference) there, and
  ``find_balance_operation`` looks for it in the balance history.
* Volumes are in cents of units: lots = volume / (symbol ``lotSize``), ``lotSize`` read once from
  the symbols list. Times are epoch milliseconds UTC. History reads take ``from``/``to`` in ISO-8601
  UTC and at most two days, so longer windows are read in two-day chunks.
* Access rights FULL_ACCESS, CLOSE_ONLY (a per-account right, unlike MT5), NO_TRADING, NO_LOGIN.
* Trader records carry balance, equity, used and free margin and margin level.

A deal's ``action`` follows MT5's numbering (0 buy, 1 sell, 2 balance, 3 credit, 6 bonus) so the
rest of the CRM sees one shape; the platform's own record stays in ``raw``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from .base import (
    AccessLevel,
    AccountChanges,
    AccountInfo,
    AccountState,
    AuthFailed,
    BalanceKind,
    Capabilities,
    Deal,
    DealEntry,
    DealKind,
    NewAccount,
    PlatformError,
    PlatformProtocolError,
    PlatformUnsupported,
    Position,
    Quote,
    Side,
    chunked,
)
from .rest import RestAdapter, RestConfig, in_window, iso_millis, split_name
from .rest import from_millis as _ms
from .rest import records as _list

BASE = "/v2/webserv"
WINDOW = dt.timedelta(days=2)
ACCESS = {
    AccessLevel.FULL: "FULL_ACCESS",
    AccessLevel.CLOSE_ONLY: "CLOSE_ONLY",
    AccessLevel.READ_ONLY: "NO_TRADING",
    AccessLevel.DISABLED: "NO_LOGIN",
}
ACCESS_OF = {v: k for k, v in ACCESS.items()}
BALANCE_TYPES = {
    "DEPOSIT": (DealKind.BALANCE, 2), "WITHDRAW": (DealKind.BALANCE, 2),
    "DEPOSIT_NONWITHDRAWABLE_BONUS": (DealKind.CREDIT, 3), "WITHDRAW_NONWITHDRAWABLE_BONUS": (DealKind.CREDIT, 3),
    "DEPOSIT_BONUS": (DealKind.BONUS, 6), "WITHDRAW_BONUS": (DealKind.BONUS, 6),
}
MAX_EXTERNAL_ID = 64


@dataclass(frozen=True, kw_only=True)
class CTraderConfig(RestConfig):
    login: int  # manager login
    password: str
    broker_name: str = "BROKER"
    deposit_currency: str = "USD"


def _iso(when: dt.datetime) -> str:
    return iso_millis(when)


class CTraderAdapter(RestAdapter[CTraderConfig]):
    platform_name = "cTrader"

    def __init__(self, config: CTraderConfig) -> None:
        super().__init__(config)
        self._token = ""
        self._lot_sizes: dict[str, Decimal] = {}

    # ------------------------------------------------------------------ plumbing
    @staticmethod
    def _error_text(doc: Mapping[str, Any]) -> str:
        return f"{doc.get('errorCode', '')} {doc.get('description', '')}".strip()

    def _login(self) -> None:
        hashed = hashlib.md5(self.config.password.encode(), usedforsecurity=False).hexdigest()
        doc = self._request("POST", f"{BASE}/managers/token",
                            body={"login": self.config.login, "hashedPassword": hashed})
        token = doc.get("webservToken") if isinstance(doc, dict) else None
        if not isinstance(token, str) or not token:
            raise PlatformProtocolError("managers/token answered without a webservToken", request_sent=False)
        self._token = token

    def _call(self, method: str, path: str, params: dict[str, Any] | None = None, body: Any = None, *,
              write: bool = False) -> Any:
        for attempt in (1, 2):
            if not self._token:
                try:
                    self._login()
                except PlatformError as exc:
                    exc.request_sent = False  # failed before our request left: nothing applied
                    raise
            try:
                return self._request(method, path, {**(params or {}), "token": self._token}, body, write=write)
            except AuthFailed:
                # A password change invalidates the token: get a new one once (refused: not applied).
                self._token = ""
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            platform="ctrader", read_only=False, create_account=True, update_account=True,
            access_levels=frozenset(ACCESS), balance_kinds=frozenset({BalanceKind.BALANCE, BalanceKind.CREDIT}),
            find_balance_operation=True, account_states=True, deals=True, positions=True, quotes=False,
            server_time=True, max_logins_per_request=100, deal_window=WINDOW, max_comment_length=MAX_EXTERNAL_ID,
        )

    def _lot_size(self, symbol: str) -> Decimal:
        if symbol not in self._lot_sizes:
            doc = self._call("GET", f"{BASE}/symbols")
            for record in _list(doc, "symbol"):
                self._lot_sizes[str(record["name"])] = Decimal(str(record["lotSize"]))
        size = self._lot_sizes.get(symbol)
        if not size:
            raise PlatformProtocolError(f"no lotSize for symbol {symbol!r}")
        return size

    # ------------------------------------------------------------------ accounts
    def _info(self, doc: Any) -> AccountInfo:
        if not isinstance(doc, dict):
            raise PlatformProtocolError("trader answer is not an object")
        try:
            access = ACCESS_OF[str(doc["accessRights"])]
            registered = doc.get("registrationTimestamp")
            return AccountInfo(
                login=int(doc["login"]), group=str(doc["groupName"]), leverage=int(doc["leverageInCents"]) // 100,
                name=str(doc.get("name", "")), email=str((doc.get("contactDetails") or {}).get("email", "")),
                access=access, rights=0, registered_at=_ms(registered) if registered else None, raw=doc,
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise PlatformProtocolError(f"trader record without a valid {exc}") from None

    def create_account(self, account: NewAccount) -> AccountInfo:
        if account.login:
            raise PlatformUnsupported("cTrader chooses the login of a new trader")
        first, last = split_name(account.name)
        body = {
            "accessRights": "FULL_ACCESS", "accountType": "HEDGED", "balance": 0,
            "brokerName": self.config.broker_name, "depositCurrency": self.config.deposit_currency,
            "groupName": account.group,
            "hashedPassword": hashlib.md5(account.password.encode(), usedforsecurity=False).hexdigest(),
            "leverageInCents": account.leverage * 100, "totalMarginCalculationType": "MAX",
            "name": first, "lastName": last, "description": account.comment,
            "contactDetails": {"email": account.email, "phone": account.phone},
        }
        return self._info(self._call("POST", f"{BASE}/traders", body=body, write=True))

    def update_account(self, login: int, changes: AccountChanges) -> AccountInfo:
        body: dict[str, Any] = {}
        if changes.group is not None:
            body["groupName"] = changes.group
        if changes.leverage is not None:
            body["leverageInCents"] = changes.leverage * 100
        if changes.name is not None:
            body["name"] = changes.name
        if changes.email is not None:
            body["contactDetails"] = {"email": changes.email}
        return self._info(self._call("PATCH", f"{BASE}/traders/{int(login)}", body=body))

    def get_account(self, login: int) -> AccountInfo:
        return self._info(self._call("GET", f"{BASE}/traders/{int(login)}"))

    def set_access(self, login: int, level: AccessLevel) -> AccountInfo:
        return self._info(self._call("PATCH", f"{BASE}/traders/{int(login)}", body={"accessRights": ACCESS[level]}))

    # ------------------------------------------------------------------ money
    def apply_balance_operation(self, login: int, kind: BalanceKind, amount: Decimal, comment: str) -> int:
        self.operation_check(amount, comment, max_length=MAX_EXTERNAL_ID, field="the external id")
        if kind not in (BalanceKind.BALANCE, BalanceKind.CREDIT):
            raise PlatformUnsupported(f"cTrader has no {kind.value} balance operation")
        suffix = "" if kind is BalanceKind.BALANCE else "_NONWITHDRAWABLE_BONUS"
        body = {"login": int(login), "preciseAmount": abs(amount), "comment": comment, "externalId": comment,
                "type": ("DEPOSIT" if amount > 0 else "WITHDRAW") + suffix}
        doc = self._call("POST", f"{BASE}/traders/{int(login)}/changebalance", body=body, write=True)
        try:
            return int(doc["balanceHistoryId"])
        except (KeyError, TypeError, ValueError):
            raise PlatformProtocolError("changebalance answered without a balanceHistoryId") from None

    def _balance_deals(self, login: int, start: dt.datetime, end: dt.datetime) -> list[Deal]:
        return self._balance_history(login, start, end)

    def _reference_text(self, deal: Deal) -> str:
        return str(deal.raw.get("externalId", ""))

    def _account_doc(self, login: int) -> Any:
        return self._call("GET", f"{BASE}/traders/{login}")

    def _state(self, doc: Any, observed: dt.datetime) -> AccountState:
        scale = Decimal(10) ** -int(doc["moneyDigits"])
        margin = Decimal(int(doc["usedMargin"])) * scale
        balance = Decimal(int(doc["balance"])) * scale
        credit = Decimal(int(doc.get("nonWithdrawableBonus") or 0)) * scale
        equity = Decimal(int(doc["equity"])) * scale
        return AccountState(
            login=int(doc["login"]), balance=balance, credit=credit, equity=equity, margin=margin,
            free_margin=Decimal(int(doc["freeMargin"])) * scale,
            margin_level=Decimal(str(doc.get("marginLevel"))) if margin > 0 else None,
            floating_profit=equity - balance - credit, leverage=int(doc["leverageInCents"]) // 100,
            margin_call=False, stop_out=False, observed_at=observed, raw=doc,
        )

    # ------------------------------------------------------------------ history
    def _windows(self, start: dt.datetime, end: dt.datetime) -> list[tuple[dt.datetime, dt.datetime]]:
        out = []
        low = start
        while low < end:
            high = min(low + WINDOW, end)
            out.append((low, high))
            low = high
        return out

    def _balance_history(self, login: int, start: dt.datetime, end: dt.datetime) -> list[Deal]:
        deals: list[Deal] = []
        for low, high in self._windows(start, end):
            doc = self._call("GET", f"{BASE}/traders/{login}/balanceHistory", {"from": _iso(low), "to": _iso(high)})
            deals.extend(self._balance_deal(r) for r in _list(doc, "balanceHistory"))
        return deals

    def _history_deals(self, logins: list[int], start: dt.datetime, end: dt.datetime) -> Iterator[Deal]:
        for chunk in chunked(logins, 100):
            for low, high in self._windows(start, end):
                doc = self._call("GET", f"{BASE}/deals",
                                 {"from": _iso(low), "to": _iso(high), "login": ",".join(map(str, chunk))})
                yield from in_window((self._trade_deal(record) for record in _list(doc, "deal")), start, end)
        for login in logins:
            yield from in_window(self._balance_history(login, start, end), start, end)

    def _trade_deal(self, r: Mapping[str, Any]) -> Deal:
        try:
            md = int(r["moneyDigits"])
            scale = Decimal(10) ** -md
            symbol = str(r["symbolName"])
            close = r.get("closePositionDetail")
            side = Side.BUY if r["tradeSide"] == "BUY" else Side.SELL
            msc = int(r["executionTimestamp"])
            return Deal(
                deal_id=int(r["dealId"]), login=int(r["login"]), time=_ms(msc), platform_time_msc=msc,
                kind=DealKind.TRADE, action=0 if side is Side.BUY else 1,
                entry=DealEntry.OUT if isinstance(close, dict) else DealEntry.IN, side=side,
                position_id=int(r["positionId"]), order_id=int(r.get("orderId") or 0), symbol=symbol,
                volume=(Decimal(int(r["filledVolume"])) / self._lot_size(symbol)).normalize(),
                price=Decimal(str(r["executionPrice"])),
                profit=Decimal(int(close["grossProfit"])) * scale if isinstance(close, dict) else Decimal(0) * scale,
                commission=Decimal(int(r.get("commission") or 0)) * scale,
                swap=Decimal(int(close.get("swap") or 0)) * scale if isinstance(close, dict) else Decimal(0) * scale,
                fee=Decimal(0) * scale, comment=str(r.get("comment") or ""), reason=0,
                market_bid=None, market_ask=None, raw=r,
            )
        except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
            raise PlatformProtocolError(f"deal record without a valid {exc}") from None

    def _balance_deal(self, r: Mapping[str, Any]) -> Deal:
        try:
            kind, action = BALANCE_TYPES.get(str(r["type"]), (DealKind.CORRECTION, 5))
            scale = Decimal(10) ** -int(r["moneyDigits"])
            msc = int(r["changeTimestamp"])
            return Deal(
                deal_id=int(r["balanceHistoryId"]), login=int(r["login"]), time=_ms(msc), platform_time_msc=msc,
                kind=kind, action=action, entry=DealEntry.NONE, side=None, position_id=0, order_id=0, symbol="",
                volume=Decimal(0), price=Decimal(0), profit=Decimal(int(r["delta"])) * scale,
                commission=Decimal(0) * scale, swap=Decimal(0) * scale, fee=Decimal(0) * scale,
                comment=str(r.get("externalId") or r.get("comment") or ""), reason=2,
                market_bid=None, market_ask=None, raw=r,
            )
        except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
            raise PlatformProtocolError(f"balance history record without a valid {exc}") from None

    def open_positions(self, logins: Sequence[int]) -> list[Position]:
        unique = sorted(set(int(x) for x in logins))
        if not unique:
            return []
        doc = self._call("GET", f"{BASE}/openPositions", {"login": ",".join(map(str, unique))})
        out = []
        for r in _list(doc, "position"):
            try:
                scale = Decimal(10) ** -int(r["moneyDigits"])
                symbol = str(r["symbolName"])
                out.append(Position(
                    position_id=int(r["positionId"]), login=int(r["login"]), symbol=symbol,
                    side=Side.BUY if r["tradeSide"] == "BUY" else Side.SELL,
                    volume=(Decimal(int(r["volume"])) / self._lot_size(symbol)).normalize(),
                    price_open=Decimal(str(r["entryPrice"])), price_current=Decimal(str(r.get("currentPrice") or 0)),
                    profit=Decimal(int(r.get("profit") or 0)) * scale, swap=Decimal(int(r.get("swap") or 0)) * scale,
                    opened_at=_ms(r["openTimestamp"]), comment=str(r.get("comment") or ""), raw=r,
                ))
            except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
                raise PlatformProtocolError(f"position record without a valid {exc}") from None
        return out

    def quotes(self, symbols: Sequence[str]) -> list[Quote]:
        raise PlatformUnsupported("cTrader Web Services give no quotes (use the Open API or FIX)")

    def _clock_read(self) -> None:
        self._call("GET", f"{BASE}/symbols")


__all__ = ["CTraderAdapter", "CTraderConfig"]
