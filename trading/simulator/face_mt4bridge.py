"""The MT4 bridge face: the HTTP contract of docs/mt4-bridge.md over the shared engine.

MetaTrader 4 has no web API, only the Windows Manager API, so a broker runs a small bridge next to
the MT4 server that speaks this contract (``python -m trading.simulator --face mt4bridge``). This
face is what such a bridge answers, over the same engine, market, personas, control API and faults
as the other faces (``GET /_sim/face_truth`` lists every history record as the bridge shows it).

What the face shows, as MT4 keeps it: a trade is one ticket (the engine's position id) with its
open and close; a balance or credit operation is a ticket of its own (the engine's deal id, cmd 6
or 7); volumes are lots × 100; times are seconds of the server's wall clock (the engine's server
time, whose zone ``GET /v1/time`` states); commission is the trade's total. Requests are signed like
the project's other REST APIs (``X-Api-Key`` = the manager login, ``X-Timestamp``, ``X-Signature``:
HMAC-SHA256 with the manager password as the shared key over ``"<ts>.<METHOD>.<target>.<body>"``).
Balance operations are idempotent by ``(login, reference)``: a repeat answers the first result with
``"replayed": true``; the journal lives for the process (across ``/_sim/restart``).
"""

from __future__ import annotations

import email.utils
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from .config import ManagerConfig
from .engine import ApiError
from .faces import (
    BALANCE_ACTIONS,
    LOTS_EXT,
    FaceError,
    FaceHandler,
    _login,
    _route,
    ct_access,
    ct_rights,
)
from .server import Reply

V1 = "/v1"
HISTORY = f"{V1}/trades/history"
BALANCE = f"{V1}/accounts/{{login}}/balance"
MAX_WINDOW_SECONDS = 7 * 86_400
MAX_LOGINS = 100
MAX_COMMENT = 31  # TradeRecord.comment is char[32]
MAX_REFERENCE = 64
SIGNATURE_TOLERANCE = 300.0
ACCESS_NAMES = {"FULL_ACCESS": "full", "CLOSE_ONLY": "close_only", "NO_TRADING": "read_only",
                "NO_LOGIN": "disabled"}
ACCESS_RIGHTS = {v: k for k, v in ACCESS_NAMES.items()}
OP_BALANCE, OP_CREDIT = 6, 7
TYPES = {"balance": (2, OP_BALANCE), "credit": (3, OP_CREDIT)}  # type -> (engine action, MT4 cmd)


def _volume(volume_ext: str) -> int:
    """Lots × 100, MT4's volume unit."""
    return int(Decimal(volume_ext) * 100 / LOTS_EXT)


def _seconds(msc: str | int) -> int:
    return int(msc) // 1000


def balance_record(wire: dict[str, str]) -> dict[str, Any]:
    """A balance-type engine deal as an MT4 balance or credit trade record."""
    seconds = _seconds(wire["TimeMsc"])
    return {
        "ticket": int(wire["Deal"]), "login": int(wire["Login"]),
        "cmd": OP_CREDIT if int(wire["Action"]) == 3 else OP_BALANCE, "symbol": "", "digits": 0, "volume": 0,
        "open_time": seconds, "close_time": seconds, "open_price": "0", "close_price": "0",
        "commission": "0", "storage": "0", "taxes": "0", "profit": wire["Profit"], "comment": wire["Comment"],
    }


def closed_record(opening: dict[str, str] | None, closing: dict[str, str]) -> dict[str, Any]:
    """A closed trade from its engine deals: the opening (None when it is gone) and the closing."""
    commission = Decimal(closing["Commission"]) + (Decimal(opening["Commission"]) if opening else Decimal(0))
    return {
        "ticket": int(closing["PositionID"]), "login": int(closing["Login"]),
        "cmd": 1 if closing["Action"] == "0" else 0,  # the closing deal trades the other way
        "symbol": closing["Symbol"], "digits": int(closing["Digits"]), "volume": _volume(closing["VolumeExt"]),
        "open_time": _seconds(opening["TimeMsc"] if opening else closing["TimeMsc"]),
        "close_time": _seconds(closing["TimeMsc"]),
        "open_price": closing["PricePosition"], "close_price": closing["Price"],
        "commission": format(commission, "f"), "storage": closing["Storage"], "taxes": "0",
        "profit": closing["Profit"], "comment": closing["Comment"],
    }


def open_record(wire: dict[str, str], commission: str) -> dict[str, Any]:
    """An open position as an MT4 open trade (close price = the current price)."""
    return {
        "ticket": int(wire["Position"]), "login": int(wire["Login"]), "cmd": int(wire["Action"]),
        "symbol": wire["Symbol"], "digits": int(wire["Digits"]), "volume": _volume(wire["VolumeExt"]),
        "open_time": _seconds(wire["TimeCreateMsc"]), "close_time": 0, "open_price": wire["PriceOpen"],
        "close_price": wire["PriceCurrent"], "commission": commission, "storage": wire["Storage"], "taxes": "0",
        "profit": wire["Profit"], "comment": wire["Comment"],
    }


class MT4BridgeHandler(FaceHandler):
    server_version = "MT4Bridge"
    log_name = "mt4bridgesim"
    face = "mt4bridge"
    LIST_KEYS = {HISTORY: "trades"}

    def error_body(self, code: str, message: str) -> dict[str, Any]:
        return {"error": {"code": code, "message": message}}

    def date_time_string(self, timestamp: float | None = None) -> str:
        # HTTP dates are UTC (the bridge's own clock); the server's wall clock is in /v1/time.
        engine = self.app.engine
        return email.utils.formatdate(engine.now_msc / 1000 + engine.clock_offset_s, usegmt=True)

    # ------------------------------------------------------------------ auth
    def _serve(self, template: str, func: Callable[..., Reply], params: dict[str, str], query: dict[str, str],
               raw_body: bytes) -> None:
        key_id = self.headers.get("X-Api-Key", "")
        manager = next((m for m in self.app.config.managers if str(m.login) == key_id), None)
        refused = (401, "UNAUTHORIZED", "unknown API key") if manager is None else self.api_refusal(
            api_key=str(manager.login), api_secret=manager.password, tolerance=SIGNATURE_TOLERANCE,
            method=self.command, target=self.path, body=raw_body)
        if refused is not None:
            status, code, message = refused
            self.send_json(status, self.error_body(code.upper(), message))
            return
        self._manager = manager
        super()._serve(template, func, params, query, raw_body)

    def authenticate(self, template: str, query: dict[str, str], body: Any) -> ManagerConfig:
        assert self._manager is not None  # noqa: S101 - _serve sets it before any route runs
        return self._manager

    # ------------------------------------------------------------------ helpers
    def _logins(self, query: dict[str, str]) -> list[int]:
        try:
            logins = sorted({int(x) for x in query.get("logins", "").split(",") if x.strip()})
        except ValueError:
            raise FaceError(400, "INVALID_REQUEST", "logins must be comma-separated numbers") from None
        if not logins:
            raise FaceError(400, "INVALID_REQUEST", "logins is required")
        if len(logins) > MAX_LOGINS:
            raise FaceError(400, "INVALID_REQUEST", f"at most {MAX_LOGINS} logins per request")
        return logins

    def _window(self, query: dict[str, str]) -> tuple[int, int]:
        try:
            start, end = int(query["from"]), int(query["to"])
        except (KeyError, ValueError):
            raise FaceError(400, "INVALID_REQUEST", "from and to are required, in server-time seconds") from None
        if end < start:
            raise FaceError(400, "INVALID_REQUEST", "to is before from")
        if end - start > MAX_WINDOW_SECONDS:
            raise FaceError(400, "INVALID_REQUEST", "the window between from and to must not exceed 7 days")
        return start, end

    def _money(self, value: Decimal, digits: int) -> str:
        return format(value.quantize(Decimal(1).scaleb(-digits)), "f")

    def account(self, login: int) -> dict[str, Any]:
        engine = self.app.engine
        account = engine.accounts[login]
        group = engine.config.group(account.group)
        access = ACCESS_NAMES[ct_access(account.rights)]
        return {
            "login": account.login, "group": account.group, "leverage": account.leverage, "name": account.name,
            "email": account.email, "phone": account.phone, "country": account.country, "city": account.city,
            "comment": account.comment, "access": access, "enable": access != "disabled",
            "enable_read_only": access == "read_only", "registered": account.registration,
            "currency": group.currency if group else "USD",
        }

    def margin(self, login: int) -> dict[str, Any]:
        engine = self.app.engine
        account = engine.accounts[login]
        state = engine.account_state(account)
        group = engine.group_of(account)
        d = engine.digits_of(account)
        level = state["level"]
        used = state["margin"] > 0
        level_type = "ok"
        if used and level <= group.stop_out:
            level_type = "stop_out"
        elif used and level <= group.margin_call:
            level_type = "margin_call"
        return {
            "login": login, "group": account.group, "leverage": account.leverage, "currency": group.currency,
            "balance": self._money(state["balance"], d), "credit": self._money(state["credit"], d),
            "equity": self._money(state["equity"], d), "margin": self._money(state["margin"], d),
            "free_margin": self._money(state["free"], d), "margin_level": format(level, "f"),
            "profit": self._money(state["floating"], d), "level_type": level_type,
        }

    def _fields(self, body: dict[str, Any]) -> dict[str, str]:
        fields: dict[str, str] = {k: str(body[k]) for k in ("group", "name", "email", "phone", "country", "city", "comment")
                  if k in body}
        if "leverage" in body:
            fields["leverage"] = str(int(body["leverage"]))
        return fields

    def _access(self, body: dict[str, Any]) -> str | None:
        access = body.get("access")
        if access is not None and access not in ACCESS_RIGHTS:
            raise FaceError(400, "INVALID_REQUEST", "access must be one of " + ", ".join(ACCESS_RIGHTS))
        return None if access is None else str(access)

    # ------------------------------------------------------------------ routes
    def _server_time(self, manager: ManagerConfig, params: dict[str, str], query: dict[str, str],
              body: dict[str, Any]) -> Reply:
        engine = self.app.engine
        zone_offset = engine.server_offset_s() - engine.clock_offset_s  # a skewed clock is not a zone
        return Reply(200, {"server_time": engine.server_msc() // 1000, "utc_offset_minutes": zone_offset // 60,
                           "timezone": engine.config.server_tz})

    def _create(self, manager: ManagerConfig, params: dict[str, str], query: dict[str, str],
                body: dict[str, Any]) -> Reply:
        engine = self.app.engine
        access = self._access(body)
        fields = self._fields(body)
        fields.update(passmain=str(body.get("password", "")), passinvestor=str(body.get("investor_password", "")),
                      login=str(int(body.get("login") or 0)))
        account = engine.user_add(manager, fields)
        if access is not None:
            account.rights = ct_rights(account.rights, ACCESS_RIGHTS[access])
        engine.commit()
        return Reply(200, self.account(account.login), committed=True)

    def _get(self, manager: ManagerConfig, params: dict[str, str], query: dict[str, str],
             body: dict[str, Any]) -> Reply:
        return Reply(200, self.account(self.app.engine.account_for(manager, _login(params)).login))

    def _patch(self, manager: ManagerConfig, params: dict[str, str], query: dict[str, str],
               body: dict[str, Any]) -> Reply:
        engine = self.app.engine
        access = self._access(body)
        account = engine.user_update(manager, _login(params), self._fields(body))
        if access is not None:
            account.rights = ct_rights(account.rights, ACCESS_RIGHTS[access])
        engine.commit()
        return Reply(200, self.account(account.login), committed=True)

    def _password(self, manager: ManagerConfig, params: dict[str, str], query: dict[str, str],
                  body: dict[str, Any]) -> Reply:
        engine = self.app.engine
        login = _login(params)
        engine.user_change_password(manager, login, "investor" if body.get("investor") else "main",
                                    str(body.get("password", "")))
        engine.commit()
        return Reply(200, {"login": login}, committed=True)

    def _balance(self, manager: ManagerConfig, params: dict[str, str], query: dict[str, str],
                 body: dict[str, Any]) -> Reply:
        engine = self.app.engine
        login = _login(params)
        kind = str(body.get("type", ""))
        if kind not in TYPES:
            raise FaceError(400, "INVALID_REQUEST", "type must be balance or credit")
        try:
            amount = Decimal(str(body["amount"]))
        except (KeyError, InvalidOperation):
            raise FaceError(400, "INVALID_REQUEST", "amount is required, as a decimal string") from None
        if not amount.is_finite() or amount == 0:
            raise FaceError(400, "INVALID_REQUEST", "amount must be a non-zero number")
        comment = str(body.get("comment", ""))
        reference = str(body.get("reference", ""))
        if len(comment) > MAX_COMMENT:
            raise FaceError(400, "INVALID_REQUEST", f"comment holds at most {MAX_COMMENT} characters")
        if not 1 <= len(reference) <= MAX_REFERENCE:
            raise FaceError(400, "INVALID_REQUEST", f"reference is required, at most {MAX_REFERENCE} characters")
        journal: dict[tuple[int, str], dict[str, Any]] = self.app.__dict__.setdefault("mt4bridge_journal", {})
        first = journal.get((login, reference))
        if first is not None:
            if (first["type"], Decimal(first["amount"])) != (kind, amount):
                raise FaceError(409, "REFERENCE_CONFLICT",
                                f"reference {reference} was used for {first['type']} {first['amount']}")
            return Reply(200, {**first, "replayed": True})
        action, _cmd = TYPES[kind]
        rec = engine.balance_op(manager, login, action, format(amount, "f"), comment, True)
        engine.commit()
        result = {"ticket": rec.id, "login": login, "type": kind, "amount": rec.wire["Profit"],
                  "time": _seconds(rec.wire["TimeMsc"]), "comment": rec.wire["Comment"]}
        journal[(login, reference)] = result
        return Reply(200, {**result, "replayed": False}, committed=True)

    def _margins(self, manager: ManagerConfig, params: dict[str, str], query: dict[str, str],
                 body: dict[str, Any]) -> Reply:
        engine = self.app.engine
        out = []
        for login in self._logins(query):
            try:
                engine.account_for(manager, login)
            except ApiError:
                continue  # logins the server does not know (or this manager may not see) are left out
            out.append(self.margin(login))
        return Reply(200, {"server_time": engine.server_msc() // 1000, "margins": out})

    def _history(self, manager: ManagerConfig, params: dict[str, str], query: dict[str, str],
                 body: dict[str, Any]) -> Reply:
        logins = self._logins(query)
        start, end = self._window(query)
        wires = self.engine_deals(manager, HISTORY, logins, start * 1000, end * 1000 + 999)
        closing = [w for w in wires if w["Action"] in ("0", "1") and w["Entry"] == "1"]
        openings = self._openings({w["PositionID"] for w in closing})
        out = []
        for wire in wires:
            if int(wire["Action"]) in BALANCE_ACTIONS:
                out.append(balance_record(wire))
            elif wire["Action"] in ("0", "1") and wire["Entry"] == "1":
                out.append(closed_record(openings.get(wire["PositionID"]), wire))
        return Reply(200, {"trades": out})

    def _open(self, manager: ManagerConfig, params: dict[str, str], query: dict[str, str],
              body: dict[str, Any]) -> Reply:
        wires = self.app.engine.positions_query(manager, logins=self._logins(query))
        openings = self._openings({w["Position"] for w in wires})
        return Reply(200, {"trades": [open_record(w, openings[w["Position"]]["Commission"]
                                                  if w["Position"] in openings else "0") for w in wires]})

    def _quotes(self, manager: ManagerConfig, params: dict[str, str], query: dict[str, str],
                body: dict[str, Any]) -> Reply:
        symbols = [s.strip() for s in query.get("symbols", "").split(",") if s.strip()]
        return Reply(200, {"quotes": [{"symbol": t["Symbol"], "bid": t["Bid"], "ask": t["Ask"],
                                       "time": int(t["Datetime"])} for t in self.app.engine.ticks(symbols)]})

    def _openings(self, positions: set[str]) -> dict[str, dict[str, str]]:
        """The opening engine deal of each of ``positions``."""
        return self.app.engine.opening_deals(positions)

    def face_truth(self) -> list[dict[str, Any]]:
        engine = self.app.engine
        closing = {r.wire["PositionID"] for r in engine.deals if r.wire["Entry"] == "1"}
        openings = self._openings(closing)
        out: list[dict[str, Any]] = []
        for rec in engine.deals:
            wire = rec.wire
            if int(wire["Action"]) in BALANCE_ACTIONS:
                out.append(balance_record(wire))
            elif wire["Action"] in ("0", "1") and wire["Entry"] == "1":
                out.append(closed_record(openings.get(wire["PositionID"]), wire))
        return out

    ROUTES = [
        _route("GET", f"{V1}/time", _server_time),
        _route("POST", f"{V1}/accounts", _create),
        _route("GET", f"{V1}/accounts/{{login}}", _get),
        _route("PATCH", f"{V1}/accounts/{{login}}", _patch),
        _route("POST", f"{V1}/accounts/{{login}}/password", _password),
        _route("POST", BALANCE, _balance),
        _route("GET", f"{V1}/margins", _margins),
        _route("GET", HISTORY, _history),
        _route("GET", f"{V1}/trades/open", _open),
        _route("GET", f"{V1}/quotes", _quotes),
    ]


__all__ = ["MT4BridgeHandler", "balance_record", "closed_record"]
