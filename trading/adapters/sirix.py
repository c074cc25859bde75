"""Sirix (Leverate) through its management REST service (``https://HOST/api/ManagementService/...``).

Written from public material only (client code that calls live Sirix servers; Leverate publishes
no open reference) and tested against the simulator's Sirix face, never against a live server. See
trading/simulator/face_sirix.py for the facts restated and where the simulator reads the gaps.
What this client relies on:

* Every call is ``POST`` with a JSON body and ``Authorization: Bearer <token>``; users are made
  with ``/api/UserActions/CreateUser`` and changed with ``/api/UserActions/UpdateUser``; everything
  else is under ``/api/ManagementService/`` and ``/api/UserStatus/GetUserTransactions``.
* Money moves with DepositBalanceWithResult / WithdrawBalanceWithResult (``userID``, ``amount``,
  ``comment``), answering ``OrderID``. The comment is the only field that carries the CRM's
  reference, so it is the idempotency reference: ``find_balance_operation`` looks for it among the
  user's monetary transactions (GetAccountDepositsForUser, signed ``Amount``).
* History comes as closed positions (GetClosedPositionsForUser, ``AmountLots``) and monetary
  transactions, each read for a login and a ``startTime``/``endTime`` window sent in UTC. Times in
  records carry no zone: they are the server's wall clock and are converted to UTC with the
  server's zone (``server_tz`` or ``server_tz_offset_minutes``, as for MT5); the raw reading is kept
  as ``platform_time_msc``. Open positions give ``Amount`` in units: lots = Amount / the
  instrument's ``ContractSize`` (GetAllInstruments, read once).

One shape for the CRM, as for Match-Trader: a closed position becomes two deals, its opening (entry
in, deal ``4 × OrderID``) and its closing (entry out, ``4 × OrderID + 1``, carrying the position's
profit, rollover and commission); a monetary transaction is deal ``4 × OrderNumber + 2``. A
position's opening is seen when it closes. A deal's ``action`` follows MT5's numbering.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from .base import (
    UTC,
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
)
from .rest import INVALID, RestAdapter, RestConfig, closed_in_window, in_window, iso_millis
from .rest import finite_decimal as _dec
from .rest import records as _list

SX = "/api/ManagementService"
UA = "/api/UserActions"
US = "/api/UserStatus"
TRADING, CLOSE_ONLY, NO_TRADING = 0, 1, 2
STATE_OF = {AccessLevel.FULL: TRADING, AccessLevel.CLOSE_ONLY: CLOSE_ONLY, AccessLevel.READ_ONLY: NO_TRADING}
ACCESS_OF = {v: k for k, v in STATE_OF.items()}
DEPOSIT_KIND = {0: (DealKind.BALANCE, 2), 1: (DealKind.CREDIT, 3), 4: (DealKind.BONUS, 6)}
MAX_COMMENT = 31  # what the simulator keeps; Sirix's own limit is not public
NAIVE_EPOCH = dt.datetime(1970, 1, 1)  # noqa: DTZ001 - server wall-clock readings carry no zone


@dataclass(frozen=True, kw_only=True)
class SirixConfig(RestConfig):
    token: str  # the bearer token the platform issued
    server_tz: str = ""
    server_tz_offset_minutes: int = 0


class SirixAdapter(RestAdapter[SirixConfig]):
    platform_name = "Sirix"

    def __init__(self, config: SirixConfig) -> None:
        super().__init__(config)
        self.clock = ServerClock(offset_minutes=config.server_tz_offset_minutes, tz_name=config.server_tz)
        self._contract_sizes: dict[str, Decimal] = {}

    def _headers(self, method: str, path: str, params: dict[str, Any] | None, body: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.config.token}"}

    @staticmethod
    def _error_text(doc: Mapping[str, Any]) -> str:
        return f"{doc.get('ErrorCode', '')} {doc.get('ErrorMessage', '')}".strip()

    def _call(self, path: str, body: dict[str, Any], *, write: bool = False) -> Any:
        """Every call is a POST with a JSON body."""
        doc = self._request("POST", path, body=body, write=write)
        # Clients of the live service check ErrorMessage on answers that came back 200: a refusal.
        if isinstance(doc, dict) and doc.get("ErrorMessage"):
            raise PlatformRejected(INVALID, f"{path}: {self._error_text(doc)}")
        return doc

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            platform="sirix", read_only=False, create_account=True, update_account=True,
            access_levels=frozenset(AccessLevel), balance_kinds=frozenset({BalanceKind.BALANCE}),
            find_balance_operation=True, account_states=True, deals=True, positions=True, quotes=False,
            server_time=True, max_logins_per_request=100, deal_window=dt.timedelta(days=31),
            max_comment_length=MAX_COMMENT, change_password=True,
        )

    # ------------------------------------------------------------------ times
    def _when(self, text: Any) -> tuple[dt.datetime, int]:
        """A record time as (UTC, the platform's own reading in ms). No zone means server time."""
        when = dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
        if when.tzinfo is not None:
            utc = when.astimezone(UTC)
            return utc, (utc.replace(tzinfo=None) - NAIVE_EPOCH) // dt.timedelta(milliseconds=1)
        wall = (when - NAIVE_EPOCH) // dt.timedelta(milliseconds=1)
        return self.clock.to_utc_msc(wall), wall

    @staticmethod
    def _utc_text(when: dt.datetime) -> str:
        return iso_millis(when, zulu=True)

    def server_time(self) -> ServerTime:
        doc = self._call(f"{SX}/GetPlatformTime", {})
        try:
            utc, wall = self._when(doc["PlatformTime"])
        except (KeyError, TypeError, ValueError) as exc:
            raise PlatformProtocolError(f"GetPlatformTime answered without a valid {exc}") from None
        return ServerTime(utc=utc, platform_seconds=wall // 1000, raw=str(doc["PlatformTime"]))

    def _clock_read(self) -> None:
        self._call(f"{SX}/GetPlatformTime", {})

    # ------------------------------------------------------------------ accounts
    def _info(self, doc: Any) -> AccountInfo:
        user = doc.get("User") if isinstance(doc, dict) else None
        if not isinstance(user, dict):
            raise PlatformProtocolError("answer without a User record")
        try:
            access = ACCESS_OF[int(user["TradingState"])] if user["IsEnabled"] else AccessLevel.DISABLED
            created = user.get("CreationTime")
            return AccountInfo(
                login=int(user["UserID"]), group=str(user["GroupName"]), leverage=int(user["Leverage"]),
                name=str(user.get("FullName") or ""), email=str(user.get("Email") or ""), access=access, rights=0,
                registered_at=self._when(created)[0] if created else None, raw=user,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise PlatformProtocolError(f"user record without a valid {exc}") from None

    def create_account(self, account: NewAccount) -> AccountInfo:
        if account.login:
            raise PlatformUnsupported("Sirix chooses the user id of a new account")
        body = {
            "GroupName": account.group, "FullName": account.name,
            "UserDetails": {"FullName": account.name, "Email": account.email, "Phone": account.phone,
                            "Country": account.country, "City": account.city, "Comment": account.comment},
            "TradingState": TRADING, "Tradability": 0,
            "Passwords": {"Password": account.password, "InvestorPassword": account.investor_password},
            "MarginRequirements": {"Leverage": account.leverage, "MarginCoefficient": 1,
                                   "UseAccountMarginRequirements": True},
            "InitialDepositRequestDetails": {"Balance": 0, "InitialDepositComment": ""},
        }
        return self._info(self._call(f"{UA}/CreateUser", body, write=True))

    def update_account(self, login: int, changes: AccountChanges) -> AccountInfo:
        body: dict[str, Any] = {"UserID": int(login)}
        if changes.group is not None:
            body["GroupName"] = changes.group
        if changes.leverage is not None:
            body["MarginRequirements"] = {"Leverage": changes.leverage}
        if changes.name is not None:
            body["FullName"] = changes.name
        details = {key: value for key, value in (("Email", changes.email), ("Phone", changes.phone),
                                                  ("Country", changes.country), ("City", changes.city),
                                                  ("Comment", changes.comment)) if value is not None}
        if details:
            body["UserDetails"] = details
        return self._info(self._call(f"{UA}/UpdateUser", body, write=True))

    def get_account(self, login: int) -> AccountInfo:
        return self._info(self._call(f"{SX}/GetUser", {"userID": int(login)}))

    def set_access(self, login: int, level: AccessLevel) -> AccountInfo:
        if level is AccessLevel.DISABLED:
            return self._info(self._call(f"{SX}/DisableUser", {"userID": int(login)}, write=True))
        info = self._info(self._call(f"{UA}/UpdateUser", {"UserID": int(login), "TradingState": STATE_OF[level]},
                                     write=True))
        if not info.raw.get("IsEnabled"):
            info = self._info(self._call(f"{SX}/EnableUser", {"userID": int(login)}, write=True))
        return info

    def change_password(self, login: int, password: str, *, investor: bool = False) -> None:
        key = "InvestorPassword" if investor else "Password"
        self._call(f"{UA}/UpdateUser", {"UserID": int(login), "Passwords": {key: password}}, write=True)

    # ------------------------------------------------------------------ money
    def apply_balance_operation(self, login: int, kind: BalanceKind, amount: Decimal, comment: str) -> int:
        self.operation_check(amount, comment, max_length=MAX_COMMENT)
        if kind is not BalanceKind.BALANCE:
            raise PlatformUnsupported(f"Sirix has no {kind.value} operation this adapter can send")
        path = f"{SX}/DepositBalanceWithResult" if amount > 0 else f"{SX}/WithdrawBalanceWithResult"
        doc = self._call(path, {"userID": int(login), "amount": format(abs(amount), "f"), "comment": comment,
                                "subType": 0}, write=True)
        try:
            return 4 * int(doc["OrderID"]) + 2
        except (KeyError, TypeError, ValueError):
            raise PlatformProtocolError(f"{path} answered without an OrderID") from None

    def _balance_deals(self, login: int, start: dt.datetime, end: dt.datetime) -> list[Deal]:
        doc = self._call(f"{SX}/GetAccountDepositsForUser", self._window(login, start, end))
        return [self._deposit_deal(r, login) for r in _list(doc, "AccountDeposits")]

    def _account_doc(self, login: int) -> Any:
        return self._call(f"{US}/GetUserTransactions", {"UserID": int(login), "GetOpenPositions": False,
                                                         "GetPendingPositions": False, "GetClosePositions": False,
                                                         "GetMonetaryTransactions": False})

    def _state(self, doc: Any, observed: dt.datetime) -> AccountState:
        data = doc["UserData"]
        money = data["AccountBalance"]
        margin = _dec(money["Margin"])
        return AccountState(
            login=int(data["UserID"]), balance=_dec(money["Balance"]), credit=_dec(money.get("Credit") or 0),
            equity=_dec(money["Equity"]), margin=margin, free_margin=_dec(money["FreeMargin"]),
            margin_level=_dec(money["MarginLevel"]) if margin > 0 else None,
            floating_profit=_dec(money.get("OpenPnL") or 0), leverage=int(data["MarginRequirements"]["Leverage"]),
            margin_call=False, stop_out=False, observed_at=observed, raw=doc,
        )

    # ------------------------------------------------------------------ history
    def _window(self, login: int, start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
        return {"userID": int(login), "startTime": self._utc_text(start), "endTime": self._utc_text(end)}

    def _history_deals(self, logins: list[int], start: dt.datetime, end: dt.datetime) -> Iterator[Deal]:
        for login in logins:
            yield from in_window(self._balance_deals(login, start, end), start, end)
            doc = self._call(f"{SX}/GetClosedPositionsForUser", self._window(login, start, end))
            yield from closed_in_window((self._position_deals(row) for row in _list(doc, "ClosedPositions")),
                                        start, end)

    def _deposit_deal(self, r: Mapping[str, Any], login: int = 0) -> Deal:
        try:
            kind, action = DEPOSIT_KIND.get(int(r["Type"]), (DealKind.CORRECTION, 5))
            when, wall = self._when(r["Time"])
            return Deal(
                deal_id=4 * int(r["OrderNumber"]) + 2, login=int(r.get("UserID") or login), time=when,
                platform_time_msc=wall, kind=kind, action=action, entry=DealEntry.NONE, side=None, position_id=0,
                order_id=0, symbol="", volume=Decimal(0), price=Decimal(0), profit=_dec(r["Amount"]),
                commission=Decimal(0), swap=Decimal(0), fee=Decimal(0), comment=str(r.get("Comment") or ""),
                reason=2, market_bid=None, market_ask=None, raw=r,
            )
        except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
            raise PlatformProtocolError(f"monetary transaction without a valid {exc}") from None

    def _position_deals(self, r: Mapping[str, Any]) -> tuple[Deal, Deal]:
        try:
            position = int(r["OrderID"])
            side = {0: Side.BUY, 1: Side.SELL}[int(r["ActionType"])]
            closing_side = Side.SELL if side is Side.BUY else Side.BUY
            (opened, opened_wall), (closed, closed_wall) = self._when(r["OpenTime"]), self._when(r["CloseTime"])
            common: dict[str, Any] = {"login": int(r["UserID"]), "kind": DealKind.TRADE, "position_id": position,
                                      "symbol": str(r["InstrumentName"]), "volume": _dec(r["AmountLots"]).normalize(),
                                      "fee": Decimal(0), "reason": 0, "market_bid": None, "market_ask": None, "raw": r}
            opening = Deal(
                deal_id=4 * position, time=opened, platform_time_msc=opened_wall,
                action=0 if side is Side.BUY else 1, entry=DealEntry.IN, side=side, order_id=0,
                price=_dec(r["OpenRate"]), profit=Decimal(0), commission=Decimal(0), swap=Decimal(0), comment="",
                **common,
            )
            closing = Deal(
                deal_id=4 * position + 1, time=closed, platform_time_msc=closed_wall,
                action=0 if closing_side is Side.BUY else 1, entry=DealEntry.OUT, side=closing_side,
                order_id=int(r.get("OrderNumber") or 0), price=_dec(r["CloseRate"]),
                profit=_dec(r["ProfitInAccountCurrency"]),
                commission=_dec(r.get("CommissionInAccountCurrency") or 0),
                swap=_dec(r.get("RolloverInAccountCurrency") or 0), comment=str(r.get("Comment") or ""), **common,
            )
            return opening, closing
        except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
            raise PlatformProtocolError(f"closed position without a valid {exc}") from None

    def _contract_size(self, symbol: str) -> Decimal:
        if symbol not in self._contract_sizes:
            for record in _list(self._call(f"{SX}/GetAllInstruments", {}), "Instruments"):
                name = record.get("InstrumentName") or record.get("Symbol")
                if name and record.get("ContractSize"):
                    self._contract_sizes[str(name)] = _dec(record["ContractSize"])
        size = self._contract_sizes.get(symbol)
        if not size:
            raise PlatformProtocolError(f"no ContractSize for instrument {symbol!r}")
        return size

    def open_positions(self, logins: Sequence[int]) -> list[Position]:
        out = []
        for login in sorted(set(int(x) for x in logins)):
            for r in _list(self._call(f"{SX}/GetOpenPositionsForUser", {"userID": login}), "OpenPositions"):
                try:
                    symbol = str(r.get("InstrumentName") or r["Symbol"])
                    out.append(Position(
                        position_id=int(r["OrderID"]), login=int(r.get("UserID") or login), symbol=symbol,
                        side={0: Side.BUY, 1: Side.SELL}[int(r["ActionType"])],
                        volume=(_dec(r["Amount"]) / self._contract_size(symbol)).normalize(),
                        price_open=_dec(r["OpenRate"]), price_current=_dec(r.get("CurrentRate") or 0),
                        profit=_dec(r.get("ProfitInAccountCurrency") or 0),
                        swap=_dec(r.get("RolloverInAccountCurrency") or 0), opened_at=self._when(r["OpenTime"])[0],
                        comment=str(r.get("Comment") or ""), raw=r,
                    ))
                except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
                    raise PlatformProtocolError(f"open position without a valid {exc}") from None
        return out

    def quotes(self, symbols: Sequence[str]) -> list[Quote]:
        raise PlatformUnsupported("the Sirix management service gives no quotes")


__all__ = ["SirixAdapter", "SirixConfig"]
