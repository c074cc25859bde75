"""Match-Trader through Match-Trade's Broker API (REST, ``https://HOST/v1/...``).

Facts this client relies on (Match-Trade "Broker API" documentation: Introduction, CRM
integration, FAQ, Trading data pages; restated, see trading/simulator/faces.py for the whole list):

* The API key is sent as the ``Authorization`` header. Server time is UTC; every time is RFC 3339
  (``2024-01-13T09:20:04.651Z``).
* Trading accounts are addressed by ``systemUuid`` and ``login``; their group follows from the
  offer (``offerUuid``) they are on, read once from ``GET /v1/offers``.
* Money moves with ``POST /v1/deposits/manual`` and ``/v1/withdrawals/manual``; the ``comment``
  is the idempotency field (it carries the CRM's reference), found again in ``GET /v1/ledgers``.
* History comes as ledgers (DEPOSIT, WITHDRAWAL, CREDIT_IN, CREDIT_OUT ...) and closed positions,
  both oldest first and paged with ``limit``: the adapter reads on from the last time it got until
  a page comes back short. Volumes are lots.

One shape for the CRM: a closed position becomes two deals, its opening (entry in) and its
closing (entry out), numbered ``4 × position`` and ``4 × position + 1``; a ledger operation is
deal ``4 × id + 2``, so the three never collide. The opening only shows once the position is
closed (the Broker API lists closed positions), so a first trade is seen at its close. Commission
is booked where the platform books it (``openCommission``/``closeCommission``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

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
    Side,
)
from .rest import RestAdapter, RestConfig, closed_in_window, in_window, iso_millis, split_name
from .rest import finite_decimal as _dec
from .rest import parse_time as _time
from .rest import records as _list
from .rest import to_millis as _msc

ACCESS = {AccessLevel.FULL: "FULL", AccessLevel.CLOSE_ONLY: "CLOSE_ONLY", AccessLevel.READ_ONLY: "NO_TRADING",
          AccessLevel.DISABLED: "LOCKED"}
ACCESS_OF = {v: k for k, v in ACCESS.items()}
LEDGER_KIND = {"DEPOSIT": (DealKind.BALANCE, 2), "WITHDRAWAL": (DealKind.BALANCE, 2),
               "CREDIT_IN": (DealKind.CREDIT, 3), "CREDIT_OUT": (DealKind.CREDIT, 3)}
MONEY_PATHS = {(BalanceKind.BALANCE, True): "/v1/deposits/manual", (BalanceKind.BALANCE, False): "/v1/withdrawals/manual",
               (BalanceKind.CREDIT, True): "/v1/credits/in", (BalanceKind.CREDIT, False): "/v1/credits/out"}
MAX_COMMENT = 255


@dataclass(frozen=True, kw_only=True)
class MatchTraderConfig(RestConfig):
    api_key: str
    system_uuid: str = ""  # empty: the first offer's system
    page_limit: int = 1000


def _rfc3339(when: dt.datetime) -> str:
    return iso_millis(when, zulu=True)


class MatchTraderAdapter(RestAdapter[MatchTraderConfig]):
    platform_name = "Match-Trader"

    def __init__(self, config: MatchTraderConfig) -> None:
        super().__init__(config)
        self._offers: list[Mapping[str, Any]] = []

    def _headers(self, method: str, path: str, params: dict[str, Any] | None, body: Any) -> dict[str, str]:
        return {"Authorization": self.config.api_key}

    @staticmethod
    def _error_text(doc: Mapping[str, Any]) -> str:
        return f"{doc.get('code', '')} {doc.get('message', '')}".strip()

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            platform="matchtrader", read_only=False, create_account=True, update_account=True,
            access_levels=frozenset(ACCESS), balance_kinds=frozenset({BalanceKind.BALANCE, BalanceKind.CREDIT}),
            find_balance_operation=True, account_states=True, deals=True, positions=True, quotes=True,
            server_time=True, max_logins_per_request=100, deal_window=dt.timedelta(days=31),
            max_comment_length=MAX_COMMENT,
        )

    # ------------------------------------------------------------------ offers
    def offers(self) -> list[Mapping[str, Any]]:
        if not self._offers:
            doc = self._request("GET", "/v1/offers")
            self._offers = _list(doc, "offers")
        return self._offers

    @property
    def system_uuid(self) -> str:
        if self.config.system_uuid:
            return self.config.system_uuid
        offers = self.offers()
        if not offers:
            raise PlatformProtocolError("the platform lists no offers")
        return str(offers[0]["systemUuid"])

    def _offer_of(self, group: str) -> str:
        for offer in self.offers():
            if str(offer.get("groupName", "")).lower() == group.lower():
                return str(offer["uuid"])
        raise PlatformRejected(3, f"no Match-Trader offer for group {group!r}")

    def _where(self, login: int) -> dict[str, Any]:
        return {"systemUuid": self.system_uuid, "login": int(login)}

    # ------------------------------------------------------------------ accounts
    def _info(self, doc: Any) -> AccountInfo:
        try:
            return AccountInfo(
                login=int(doc["login"]), group=str(doc["groupName"]), leverage=int(doc["leverage"]),
                name=str(doc.get("name", "")), email=str(doc.get("email", "")), access=ACCESS_OF[str(doc["access"])],
                rights=0, registered_at=_time(doc["created"]) if doc.get("created") else None, raw=doc,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise PlatformProtocolError(f"trading account without a valid {exc}") from None

    def create_account(self, account: NewAccount) -> AccountInfo:
        if account.login:
            raise PlatformUnsupported("Match-Trader chooses the login of a new trading account")
        first, last = split_name(account.name)
        body = {"email": account.email, "password": account.password, "offerUuid": self._offer_of(account.group),
                "leverage": account.leverage,
                "personalDetails": {"firstname": first, "lastname": last, "country": account.country}}
        doc = self._request("POST", "/v1/accounts", body=body, write=True)
        return self._info(doc.get("tradingAccount") if isinstance(doc, dict) else None)

    def update_account(self, login: int, changes: AccountChanges) -> AccountInfo:
        body: dict[str, Any] = {}
        if changes.group is not None:
            body["offerUuid"] = self._offer_of(changes.group)
        if changes.leverage is not None:
            body["leverage"] = changes.leverage
        if changes.name is not None:
            body["name"] = changes.name
        return self._info(self._request("PATCH", "/v1/trading-account", self._where(login), body))

    def get_account(self, login: int) -> AccountInfo:
        return self._info(self._request("GET", "/v1/trading-account", self._where(login)))

    def set_access(self, login: int, level: AccessLevel) -> AccountInfo:
        return self._info(self._request("PATCH", "/v1/trading-account", self._where(login), {"access": ACCESS[level]}))

    # ------------------------------------------------------------------ money
    def apply_balance_operation(self, login: int, kind: BalanceKind, amount: Decimal, comment: str) -> int:
        self.operation_check(amount, comment, max_length=MAX_COMMENT)
        path = MONEY_PATHS.get((kind, amount > 0))
        if path is None:
            raise PlatformUnsupported(f"Match-Trader has no {kind.value} operation")
        doc = self._request("POST", path, body={**self._where(login), "amount": format(abs(amount), "f"),
                                             "comment": comment}, write=True)
        try:
            return 4 * int(doc["id"]) + 2
        except (KeyError, TypeError, ValueError):
            raise PlatformProtocolError(f"{path} answered without an id") from None

    def _balance_deals(self, login: int, start: dt.datetime, end: dt.datetime) -> list[Deal]:
        return self._ledgers(login, start, end)

    def _account_doc(self, login: int) -> Any:
        return self._request("GET", "/v1/trading-account", self._where(login))

    def _state(self, doc: Any, observed: dt.datetime) -> AccountState:
        info = doc["financeInfo"]
        margin = _dec(info["margin"])
        balance, credit, equity = _dec(info["balance"]), _dec(info["credit"]), _dec(info["equity"])
        return AccountState(
            login=int(doc["login"]), balance=balance, credit=credit, equity=equity, margin=margin,
            free_margin=_dec(info["freeMargin"]), margin_level=_dec(info["marginLevel"]) if margin > 0 else None,
            floating_profit=_dec(info.get("profit") or 0), leverage=int(doc["leverage"]),
            margin_call=False, stop_out=False, observed_at=observed, raw=doc,
        )

    # ------------------------------------------------------------------ history
    def _paged(self, path: str, key: str, time_key: str, params: dict[str, Any], start: dt.datetime,
               end: dt.datetime) -> list[Mapping[str, Any]]:
        """Every record of a paged history read: ``from`` moves to the last time seen until a page
        comes back shorter than ``limit`` (records at that very time come again and are merged)."""
        limit = self.config.page_limit
        low = start
        out: list[Mapping[str, Any]] = []
        while True:
            doc = self._request("GET", path, {**params, "from": _rfc3339(low), "to": _rfc3339(end), "limit": limit})
            page = _list(doc, key)
            out.extend(page)
            if len(page) < limit:
                return out
            try:
                last = _time(page[-1][time_key])
            except (KeyError, ValueError) as exc:
                raise PlatformProtocolError(f"{path} record without a valid {exc}") from None
            if last <= low:
                raise PlatformProtocolError(f"{path}: more than {limit} records at {_rfc3339(low)}; raise page_limit")
            low = last

    def _ledgers(self, login: int, start: dt.datetime, end: dt.datetime) -> list[Deal]:
        rows = self._paged("/v1/ledgers", "operations", "time",
                           {**self._where(login), "types": ",".join(LEDGER_KIND)}, start, end)
        return [self._ledger_deal(r) for r in rows]

    def _history_deals(self, logins: list[int], start: dt.datetime, end: dt.datetime) -> Iterator[Deal]:
        for login in logins:
            yield from in_window(self._ledgers(login, start, end), start, end)
            rows = self._paged("/v1/closed-positions", "closedPositions", "closeTime", self._where(login), start, end)
            yield from closed_in_window((self._position_deals(row) for row in rows), start, end)

    def _ledger_deal(self, r: Mapping[str, Any]) -> Deal:
        try:
            kind, action = LEDGER_KIND.get(str(r["type"]), (DealKind.CORRECTION, 5))
            when = _time(r["time"])
            return Deal(
                deal_id=4 * int(r["id"]) + 2, login=int(r["login"]), time=when, platform_time_msc=_msc(when),
                kind=kind, action=action, entry=DealEntry.NONE, side=None, position_id=0, order_id=0, symbol="",
                volume=Decimal(0), price=Decimal(0), profit=_dec(r["amount"]), commission=Decimal(0),
                swap=Decimal(0), fee=Decimal(0), comment=str(r.get("comment") or ""), reason=2,
                market_bid=None, market_ask=None, raw=r,
            )
        except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
            raise PlatformProtocolError(f"ledger record without a valid {exc}") from None

    def _position_deals(self, r: Mapping[str, Any]) -> tuple[Deal, Deal]:
        try:
            position = int(r["id"])
            side = Side.BUY if r["side"] == "BUY" else Side.SELL
            closing_side = Side.SELL if side is Side.BUY else Side.BUY
            opened, closed = _time(r["openTime"]), _time(r["closeTime"])
            common: dict[str, Any] = {"login": int(r["login"]), "kind": DealKind.TRADE, "position_id": position,
                                      "symbol": str(r["symbol"]), "volume": _dec(r["volume"]).normalize(),
                                      "fee": Decimal(0), "reason": 0, "market_bid": None, "market_ask": None, "raw": r}
            opening = Deal(
                deal_id=4 * position, time=opened, platform_time_msc=_msc(opened), action=0 if side is Side.BUY else 1,
                entry=DealEntry.IN, side=side, order_id=int(r.get("openOrderId") or 0), price=_dec(r["openPrice"]),
                profit=Decimal(0), commission=_dec(r.get("openCommission") or 0), swap=Decimal(0),
                comment=str(r.get("openComment") or ""), **common,
            )
            closing = Deal(
                deal_id=4 * position + 1, time=closed, platform_time_msc=_msc(closed),
                action=0 if closing_side is Side.BUY else 1, entry=DealEntry.OUT, side=closing_side,
                order_id=int(r.get("closeOrderId") or 0), price=_dec(r["closePrice"]), profit=_dec(r["profit"]),
                commission=_dec(r.get("closeCommission") or 0), swap=_dec(r.get("swap") or 0),
                comment=str(r.get("comment") or ""), **common,
            )
            return opening, closing
        except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
            raise PlatformProtocolError(f"closed position without a valid {exc}") from None

    def open_positions(self, logins: Sequence[int]) -> list[Position]:
        out = []
        for login in sorted(set(int(x) for x in logins)):
            for r in _list(self._request("GET", "/v1/open-positions", self._where(login)), "positions"):
                try:
                    out.append(Position(
                        position_id=int(r["id"]), login=int(r["login"]), symbol=str(r["symbol"]),
                        side=Side.BUY if r["side"] == "BUY" else Side.SELL, volume=_dec(r["volume"]).normalize(),
                        price_open=_dec(r["openPrice"]), price_current=_dec(r.get("currentPrice") or 0),
                        profit=_dec(r.get("profit") or 0), swap=_dec(r.get("swap") or 0), opened_at=_time(r["openTime"]),
                        comment=str(r.get("comment") or ""), raw=r,
                    ))
                except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
                    raise PlatformProtocolError(f"position without a valid {exc}") from None
        return out

    def quotes(self, symbols: Sequence[str]) -> list[Quote]:
        if not symbols:
            return []
        doc = self._request("GET", "/v1/quotations", {"symbols": ",".join(symbols)})
        try:
            return [Quote(symbol=str(r["symbol"]), bid=_dec(r["bid"]), ask=_dec(r["ask"]), time=_time(r["time"]), raw=r)
                    for r in _list(doc, "quotations")]
        except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
            raise PlatformProtocolError(f"quotation without a valid {exc}") from None

    def _clock_read(self) -> None:
        self._request("GET", "/v1/offers")


__all__ = ["MatchTraderAdapter", "MatchTraderConfig"]
