"""The Sirix face of the simulator: Leverate's Sirix management REST service over the shared engine.

``python -m trading.simulator --face sirix``. Same engine, market, personas, control API
(``/_sim/...``) and fault injection as the other faces (inherited from ``FaceHandler``), plus
``GET /_sim/face_truth``. faces.py registers it in ``FACES`` (import that module, not this one,
first: this one builds on its ``FaceHandler``).

What public material says about the service (client code that calls live Sirix servers; Leverate
publishes no open reference, so this is thin), restated:

* Every call is ``POST`` with a JSON body and ``Authorization: Bearer <token>`` (a token the
  platform issues to the broker). Calls live under ``/api/ManagementService/`` (GetUser,
  GetAccountBalance, DepositBalanceWithResult, WithdrawBalanceWithResult answering ``OrderID``,
  DisableUser, EnableUser, GetOpenPositionsForUser, GetClosedPositionsForUser and
  GetAccountDepositsForUser with ``userID``, ``startTime`` and ``endTime``, GetPlatformTime
  answering ``PlatformTime``, GetAllInstruments), ``/api/UserActions/`` (CreateUser with
  ``GroupName``, ``UserDetails``, ``Passwords``, ``MarginRequirements.Leverage``, ``Currency``,
  answering ``User.UserID``; UpdateUser with ``UserID`` and the fields to change) and
  ``/api/UserStatus/GetUserTransactions`` (``UserData`` with ``GroupInfo``,
  ``MarginRequirements``, ``AccountBalance`` {Balance, Equity, Margin, Credit, OpenPnL,
  MarginLevel, FreeMargin}, ``TradingState``; and, on request, the open and closed positions and
  monetary transactions).
* Closed positions carry ``OrderID``, ``UserID``, ``InstrumentName``, ``ActionType`` (0 buy, 1
  sell), ``AmountLots``, ``OpenTime``, ``CloseTime``, ``OpenRate``, ``CloseRate``,
  ``ProfitInAccountCurrency``, ``RolloverInAccountCurrency``, ``CommissionInAccountCurrency``.
  Open positions of a user carry ``Amount`` in units (not lots), ``OpenRate``, ``CurrentRate``.
  Monetary transactions carry ``Time``, ``OrderNumber``, ``Type``, signed ``Amount`` (a
  withdrawal is negative) and ``Comment``. Request times are ISO-8601 UTC (``...Z``); the times in
  records have no zone and are the server's wall clock (clients convert them from the server's
  zone). Money and prices are JSON numbers. Parameter names are matched case-insensitively
  (clients send both ``userID`` and ``UserID``).
* The only free text a balance operation carries is its ``comment``: the platform's idempotency
  reference is there, and it is found again among the user's deposits (GetAccountDepositsForUser).

The simulator's reading where the material is silent: GetUser answers ``{"User": {UserID, FullName,
GroupName, Leverage, Balance, IsEnabled, TradingState, Email, CreationTime, Currency}}``;
``TradingState`` 0 trading, 1 close only, 2 no trading (a disabled user cannot log in at all);
UpdateUser, DisableUser and EnableUser answer the user record; GetAccountDepositsForUser answers
``{"AccountDeposits": [...]}`` with the monetary-transaction fields and ``Type`` 0 balance, 1
credit, 2 charge, 3 correction, 4 bonus; ``subType`` 0 (a plain balance operation) is the only
one served; errors answer an HTTP status with ``{"ErrorCode", "ErrorMessage"}``; the HTTP ``Date``
header carries UTC.
"""

from __future__ import annotations

import datetime as dt
import email.utils
from decimal import Decimal, InvalidOperation
from typing import Any

from .config import ManagerConfig
from .engine import RIGHT_CLOSE_ONLY, RIGHT_ENABLED, RIGHT_TRADE_DISABLED
from .faces import (
    BALANCE_ACTIONS,
    LOTS_EXT,
    FaceError,
    FaceHandler,
    _engine_password,
    _num,
    _parse_time,
    _route,
)
from .market import BY_NAME, SYMBOLS
from .server import Reply

SX = "/api/ManagementService"
UA = "/api/UserActions"
US = "/api/UserStatus"
DEPOSIT_TYPES = {2: 0, 3: 1, 4: 2, 5: 3, 6: 4}  # engine action -> Sirix monetary Type (simulator's reading)
TRADING, CLOSE_ONLY, NO_TRADING = 0, 1, 2
EPOCH = dt.datetime(1970, 1, 1)  # noqa: DTZ001 - server wall-clock readings carry no zone


def sx_wall(msc: int) -> str:
    """Server wall-clock milliseconds as Sirix writes a time: ISO-8601 without a zone."""
    when = EPOCH + dt.timedelta(milliseconds=msc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{msc % 1000:03d}"


def sx_state(rights: int) -> int:
    if rights & RIGHT_TRADE_DISABLED:
        return NO_TRADING
    if rights & RIGHT_CLOSE_ONLY:
        return CLOSE_ONLY
    return TRADING


def sx_with_state(rights: int, state: int) -> int:
    rights &= ~(RIGHT_TRADE_DISABLED | RIGHT_CLOSE_ONLY)
    if state == NO_TRADING:
        return rights | RIGHT_TRADE_DISABLED
    if state == CLOSE_ONLY:
        return rights | RIGHT_CLOSE_ONLY
    return rights


def _lots(volume_ext: str) -> Decimal:
    return (Decimal(volume_ext) / LOTS_EXT).normalize()


def sx_deposit(wire: dict[str, str]) -> dict[str, Any]:
    """A balance-type engine deal as a Sirix monetary transaction."""
    return {"OrderNumber": int(wire["Deal"]), "UserID": int(wire["Login"]), "Time": sx_wall(int(wire["TimeMsc"])),
            "Type": DEPOSIT_TYPES.get(int(wire["Action"]), 3), "Amount": _num(wire["Profit"]),
            "Comment": wire["Comment"]}


def sx_closed(open_wire: dict[str, str] | None, close: dict[str, str]) -> dict[str, Any]:
    """A closed position from its engine deals: the opening one (None when it is gone) and the closing."""
    open_msc = int(open_wire["TimeMsc"]) if open_wire else int(close["TimeMsc"])
    lots = _lots(close["VolumeExt"])
    spec = BY_NAME.get(close["Symbol"])
    commission = Decimal(close["Commission"]) + (Decimal(open_wire["Commission"]) if open_wire else Decimal(0))
    return {
        "OrderID": int(close["PositionID"]), "UserID": int(close["Login"]), "InstrumentName": close["Symbol"],
        "ActionType": 1 if close["Action"] == "0" else 0,  # the closing deal trades the other way
        "AmountLots": _num(lots), "Amount": _num(lots * (spec.contract_size if spec else 1)),
        "OpenTime": sx_wall(open_msc), "CloseTime": sx_wall(int(close["TimeMsc"])),
        "OpenRate": _num(close["PricePosition"]), "CloseRate": _num(close["Price"]),
        "ProfitInAccountCurrency": _num(close["Profit"]), "RolloverInAccountCurrency": _num(close["Storage"]),
        "CommissionInAccountCurrency": _num(commission), "OrderNumber": int(close["Order"]),
        "Comment": close["Comment"],
    }


class SirixHandler(FaceHandler):
    server_version = "Sirix-REST"
    log_name = "sirixsim"
    face = "sirix"
    LIST_KEYS = {f"{SX}/GetClosedPositionsForUser": "ClosedPositions",
                 f"{SX}/GetAccountDepositsForUser": "AccountDeposits"}

    def error_body(self, code: str, message: str) -> dict[str, Any]:
        return {"ErrorCode": code, "ErrorMessage": message}

    def date_time_string(self, timestamp: float | None = None) -> str:
        # UTC (skewed by a clock_offset fault), unlike the records' server wall clock.
        engine = self.app.engine
        return email.utils.formatdate((engine.now_msc + engine.clock_offset_s * 1000) / 1000, usegmt=True)

    def authenticate(self, template: str, query: dict[str, str], body: Any) -> ManagerConfig:
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        manager = self.manager_by_password(token.strip()) if scheme.lower() == "bearer" else None
        if manager is None:
            raise FaceError(401, "UNAUTHORIZED", "invalid bearer token")
        return manager

    # ------------------------------------------------------------------ request fields
    @staticmethod
    def _field(body: dict[str, Any], name: str) -> Any:
        wanted = name.lower()
        for key, value in body.items():
            if key.lower() == wanted:
                return value
        return None

    def _user(self, manager: ManagerConfig, body: dict[str, Any]) -> int:
        value = self._field(body, "userID")
        try:
            login = int(str(value))
        except ValueError:
            raise FaceError(400, "INVALID_REQUEST", "userID must be a number") from None
        self.app.engine.account_for(manager, login)
        return login

    def _window(self, body: dict[str, Any]) -> tuple[int, int]:
        """The server wall-clock window of ``startTime``/``endTime`` (UTC in the request)."""
        engine = self.app.engine
        start = _parse_time(self._field(body, "startTime"), "startTime")
        end = _parse_time(self._field(body, "endTime"), "endTime")
        if end < start:
            raise FaceError(400, "INVALID_REQUEST", "endTime is before startTime")
        return engine.server_msc(start), engine.server_msc(end)

    # ------------------------------------------------------------------ records
    def user_record(self, login: int) -> dict[str, Any]:
        engine = self.app.engine
        account = engine.accounts[login]
        group = engine.config.group(account.group)
        return {
            "UserID": account.login, "FullName": account.name, "GroupName": account.group,
            "Leverage": account.leverage, "Balance": _num(account.balance),
            "IsEnabled": bool(account.rights & RIGHT_ENABLED), "TradingState": sx_state(account.rights),
            "Email": account.email, "CreationTime": sx_wall(account.registration * 1000),
            "Currency": group.currency if group else "USD",
        }

    def balance_record(self, login: int) -> dict[str, Any]:
        engine = self.app.engine
        state = engine.account_state(engine.accounts[login])
        return {"UserID": login, "Balance": _num(state["balance"]), "Equity": _num(state["equity"]),
                "Margin": _num(state["margin"]), "Credit": _num(state["credit"]),
                "OpenPnL": _num(state["floating"]), "MarginLevel": _num(state["level"]),
                "FreeMargin": _num(state["free"])}

    def user_data(self, login: int) -> dict[str, Any]:
        engine = self.app.engine
        account = engine.accounts[login]
        group = engine.config.group(account.group)
        group_id = next((i for i, g in enumerate(engine.config.groups, 1) if g.name == account.group), 0)
        return {
            "UserID": login,
            "UserDetails": {"FullName": account.name, "Email": account.email, "Phone": account.phone,
                            "Country": account.country, "City": account.city, "Comment": account.comment,
                            "CreationTime": sx_wall(account.registration * 1000)},
            "TradingState": sx_state(account.rights), "Tradability": 0,
            "GroupInfo": {"GroupId": group_id, "GroupName": account.group},
            "MarginRequirements": {"Leverage": account.leverage, "MarginCoefficient": 1,
                                   "UseAccountMarginRequirements": True},
            "AccountBalance": self.balance_record(login), "Currency": group.currency if group else "USD",
        }

    def open_positions(self, manager: ManagerConfig, login: int) -> list[dict[str, Any]]:
        out = []
        for w in self.app.engine.positions_query(manager, logins=[login]):
            spec = BY_NAME.get(w["Symbol"])
            out.append({
                "OrderID": int(w["Position"]), "UserID": int(w["Login"]), "InstrumentName": w["Symbol"],
                "Symbol": w["Symbol"], "ActionType": int(w["Action"]),
                "Amount": _num(_lots(w["VolumeExt"]) * (spec.contract_size if spec else 1)),
                "OpenRate": _num(w["PriceOpen"]), "CurrentRate": _num(w["PriceCurrent"]),
                "OpenTime": sx_wall(int(w["TimeCreateMsc"])), "ProfitInAccountCurrency": _num(w["Profit"]),
                "RolloverInAccountCurrency": _num(w["Storage"]), "Comment": w["Comment"],
            })
        return out

    def _openings(self, positions: set[str] | None = None) -> dict[str, dict[str, str]]:
        engine = self.app.engine
        if positions is None:
            positions = {r.wire["PositionID"] for r in engine.deals}
        return engine.opening_deals(positions)

    # ------------------------------------------------------------------ users
    def _create(self, manager: ManagerConfig, params: dict[str, str], query: dict[str, str],
                body: dict[str, Any]) -> Reply:
        engine = self.app.engine
        details = self._field(body, "UserDetails") or {}
        passwords = self._field(body, "Passwords") or {}
        margin = self._field(body, "MarginRequirements") or {}
        if not isinstance(details, dict) or not isinstance(passwords, dict) or not isinstance(margin, dict):
            raise FaceError(400, "INVALID_REQUEST", "UserDetails, Passwords and MarginRequirements must be objects")
        main, investor = str(passwords.get("Password") or ""), str(passwords.get("InvestorPassword") or "")
        if not main:
            raise FaceError(400, "INVALID_REQUEST", "Passwords.Password is required")
        account = engine.user_add(manager, {
            "group": str(self._field(body, "GroupName") or ""), "leverage": str(margin.get("Leverage", 100)),
            "passmain": _engine_password(main), "passinvestor": _engine_password(investor or main),
            "name": str(self._field(body, "FullName") or details.get("FullName") or ""),
            "email": str(details.get("Email") or ""), "phone": str(details.get("Phone") or ""),
            "country": str(details.get("Country") or ""), "city": str(details.get("City") or ""),
            "comment": str(details.get("Comment") or ""),
        })
        account.rights = sx_with_state(account.rights, int(self._field(body, "TradingState") or 0))
        initial = self._field(body, "InitialDepositRequestDetails") or {}
        if isinstance(initial, dict) and Decimal(str(initial.get("Balance") or 0)) > 0:
            engine.balance_op(manager, account.login, 2, str(initial["Balance"]),
                              str(initial.get("InitialDepositComment") or ""), False)
        engine.commit()
        return Reply(200, {"User": self.user_record(account.login)}, committed=True)

    def _update(self, manager: ManagerConfig, params: dict[str, str], query: dict[str, str],
                body: dict[str, Any]) -> Reply:
        engine = self.app.engine
        login = self._user(manager, body)
        fields: dict[str, str] = {}
        if self._field(body, "GroupName") is not None:
            fields["group"] = str(self._field(body, "GroupName"))
        if self._field(body, "FullName") is not None:
            fields["name"] = str(self._field(body, "FullName"))
        margin = self._field(body, "MarginRequirements")
        if isinstance(margin, dict) and "Leverage" in margin:
            fields["leverage"] = str(int(margin["Leverage"]))
        details = self._field(body, "UserDetails")
        if isinstance(details, dict):
            for key, name in (("Email", "email"), ("Phone", "phone"), ("Country", "country"), ("City", "city"),
                              ("Comment", "comment")):
                if details.get(key) is not None:
                    fields[name] = str(details[key])
        state = self._field(body, "TradingState")
        if state is not None and state not in (TRADING, CLOSE_ONLY, NO_TRADING):
            raise FaceError(400, "INVALID_REQUEST", "TradingState must be 0, 1 or 2")
        passwords = self._field(body, "Passwords")
        account = engine.user_update(manager, login, fields)
        if state is not None:
            account.rights = sx_with_state(account.rights, int(state))
        if isinstance(passwords, dict):
            for key, kind in (("Password", "main"), ("InvestorPassword", "investor")):
                if passwords.get(key):
                    engine.user_change_password(manager, login, kind, _engine_password(str(passwords[key])))
        engine.commit()
        return Reply(200, {"User": self.user_record(login)}, committed=True)

    def _enabled(self, manager: ManagerConfig, body: dict[str, Any], enabled: bool) -> Reply:
        engine = self.app.engine
        login = self._user(manager, body)
        account = engine.accounts[login]
        account.rights = account.rights | RIGHT_ENABLED if enabled else account.rights & ~RIGHT_ENABLED
        engine.commit()
        return Reply(200, {"User": self.user_record(login)}, committed=True)

    def _disable(self, manager: ManagerConfig, params: dict[str, str], query: dict[str, str],
                 body: dict[str, Any]) -> Reply:
        return self._enabled(manager, body, False)

    def _enable(self, manager: ManagerConfig, params: dict[str, str], query: dict[str, str],
                body: dict[str, Any]) -> Reply:
        return self._enabled(manager, body, True)

    def _get_user(self, manager: ManagerConfig, params: dict[str, str], query: dict[str, str],
                  body: dict[str, Any]) -> Reply:
        return Reply(200, {"User": self.user_record(self._user(manager, body))})

    def _balance(self, manager: ManagerConfig, params: dict[str, str], query: dict[str, str],
                 body: dict[str, Any]) -> Reply:
        return Reply(200, {"AccountBalance": self.balance_record(self._user(manager, body))})

    def _transactions(self, manager: ManagerConfig, params: dict[str, str], query: dict[str, str],
                      body: dict[str, Any]) -> Reply:
        engine = self.app.engine
        login = self._user(manager, body)
        reply: dict[str, Any] = {"UserData": self.user_data(login)}
        if self._field(body, "GetOpenPositions"):
            reply["OpenPositions"] = self.open_positions(manager, login)
        wires = [r.wire for r in sorted(engine.login_deals(login), key=lambda r: r.id)]
        if self._field(body, "GetClosePositions"):
            openings = self._openings({w["PositionID"] for w in wires})
            reply["ClosedPositions"] = [sx_closed(openings.get(w["PositionID"]), w) for w in wires
                                        if w["Action"] in ("0", "1") and w["Entry"] == "1"]
        if self._field(body, "GetMonetaryTransactions"):
            reply["MonetaryTransactions"] = [sx_deposit(w) for w in wires if int(w["Action"]) in BALANCE_ACTIONS]
        return Reply(200, reply)

    # ------------------------------------------------------------------ money
    def _money(self, manager: ManagerConfig, body: dict[str, Any], sign: int) -> Reply:
        engine = self.app.engine
        login = self._user(manager, body)
        try:
            amount = Decimal(str(self._field(body, "amount")))
        except InvalidOperation:
            raise FaceError(400, "INVALID_REQUEST", "amount is required") from None
        if not amount.is_finite() or amount <= 0:
            raise FaceError(400, "INVALID_REQUEST", "amount must be a positive number")
        if int(self._field(body, "subType") or 0) != 0:
            raise FaceError(400, "INVALID_REQUEST", "only subType 0 (a balance operation) is served")
        rec = engine.balance_op(manager, login, 2, format(amount * sign, "f"), str(self._field(body, "comment") or ""),
                                True)
        engine.commit()
        return Reply(200, {"OrderID": rec.id}, committed=True)

    def _deposit(self, manager: ManagerConfig, params: dict[str, str], query: dict[str, str],
                 body: dict[str, Any]) -> Reply:
        return self._money(manager, body, 1)

    def _withdraw(self, manager: ManagerConfig, params: dict[str, str], query: dict[str, str],
                  body: dict[str, Any]) -> Reply:
        return self._money(manager, body, -1)

    # ------------------------------------------------------------------ history
    def _deposits(self, manager: ManagerConfig, params: dict[str, str], query: dict[str, str],
                  body: dict[str, Any]) -> Reply:
        login = self._user(manager, body)
        start, end = self._window(body)
        wires = self.engine_deals(manager, f"{SX}/GetAccountDepositsForUser", [login], start, end)
        return Reply(200, {"AccountDeposits": [sx_deposit(w) for w in wires if int(w["Action"]) in BALANCE_ACTIONS]})

    def _closed(self, manager: ManagerConfig, params: dict[str, str], query: dict[str, str],
                body: dict[str, Any]) -> Reply:
        login = self._user(manager, body)
        start, end = self._window(body)
        wires = self.engine_deals(manager, f"{SX}/GetClosedPositionsForUser", [login], start, end)
        engine = self.app.engine
        closing = [w for w in wires if w["Action"] in ("0", "1") and w["Entry"] == "1"
                   and int(w["Deal"]) in engine.deal_index]
        openings = self._openings({w["PositionID"] for w in closing})
        return Reply(200, {"ClosedPositions": [sx_closed(openings.get(w["PositionID"]), w) for w in closing]})

    def _open(self, manager: ManagerConfig, params: dict[str, str], query: dict[str, str],
              body: dict[str, Any]) -> Reply:
        return Reply(200, {"OpenPositions": self.open_positions(manager, self._user(manager, body))})

    def _platform_time(self, manager: ManagerConfig, params: dict[str, str], query: dict[str, str],
                       body: dict[str, Any]) -> Reply:
        return Reply(200, {"PlatformTime": sx_wall(self.app.engine.server_msc())})

    def _instruments(self, manager: ManagerConfig, params: dict[str, str], query: dict[str, str],
                     body: dict[str, Any]) -> Reply:
        return Reply(200, {"Instruments": [{"Symbol": s.name, "InstrumentName": s.name, "Digits": s.digits,
                                            "ContractSize": s.contract_size} for s in SYMBOLS]})

    def face_truth(self) -> list[dict[str, Any]]:
        openings = self._openings()
        out: list[dict[str, Any]] = []
        for rec in self.app.engine.deals:
            wire = rec.wire
            if int(wire["Action"]) in BALANCE_ACTIONS:
                out.append({"deposit": sx_deposit(wire)})
            elif wire["Entry"] == "1":
                out.append({"closed": sx_closed(openings.get(wire["PositionID"]), wire)})
        return out

    ROUTES = [
        _route("POST", f"{UA}/CreateUser", _create),
        _route("POST", f"{UA}/UpdateUser", _update),
        _route("POST", f"{SX}/GetUser", _get_user),
        _route("POST", f"{SX}/DisableUser", _disable),
        _route("POST", f"{SX}/EnableUser", _enable),
        _route("POST", f"{SX}/GetAccountBalance", _balance),
        _route("POST", f"{US}/GetUserTransactions", _transactions),
        _route("POST", f"{SX}/DepositBalanceWithResult", _deposit),
        _route("POST", f"{SX}/WithdrawBalanceWithResult", _withdraw),
        _route("POST", f"{SX}/GetAccountDepositsForUser", _deposits),
        _route("POST", f"{SX}/GetClosedPositionsForUser", _closed),
        _route("POST", f"{SX}/GetOpenPositionsForUser", _open),
        _route("POST", f"{SX}/GetPlatformTime", _platform_time),
        _route("POST", f"{SX}/GetAllInstruments", _instruments),
    ]


__all__ = ["SirixHandler", "sx_closed", "sx_deposit", "sx_wall"]
