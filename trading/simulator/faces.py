"""Other platforms' APIs on the same simulated trade server: one engine, several faces.

A face is a request handler that speaks one platform's documented manager API over the engine of
``engine.py`` (accounts, positions, deals, margin, personas), so every face trades the same market
the same way and passes the same fault plans. Each runs as its own process
(``python -m trading.simulator --face ctrader``) with the control API of server.py unchanged
(``/_sim/...``: seed, advance, trade, close, faults, restart, ground truth) plus
``GET /_sim/face_truth``: every deal as this face shows it, for tests to compare with.

Faces run with the server clock on UTC (``--server-tz-offset 0``: both platforms document UTC);
the ``clock_offset`` fault still skews it.

Faults match a route by its *template* (``/v2/webserv/traders/{login}/changebalance``), since the
paths carry logins. The ``retcode`` fault type takes an MT5 return code and answers what this
platform answers for that failure: 9 (timeout) and 2/5/6/7/14 -> HTTP 504/500 (unknown outcome),
10/11/15 -> 503 and 12 -> 429 (refused), any other -> HTTP 400 with an error code. ``malformed``
modes: ``not_json`` and ``truncated`` as for MT5; ``missing_retcode`` answers ``{}`` and
``wrong_shape`` puts a string where a list or object belongs.

cTrader (Spotware "Web Services API", paths under ``/v2/webserv``; facts restated from its public
documentation): a manager token from ``POST /managers/token`` (``login``, ``hashedPassword`` = MD5
hex of the password) is appended to every request as ``?token=``; traders are created with
``POST /traders`` (``accessRights`` FULL_ACCESS | CLOSE_ONLY | NO_TRADING | NO_LOGIN,
``groupName``, ``hashedPassword``, ``leverageInCents``, ``depositCurrency`` ...), read with
``GET /traders/{login}``, changed with ``PATCH /traders/{login}``; money moves with
``POST /traders/{login}/changebalance`` (``type`` DEPOSIT | WITHDRAW, ``preciseAmount``,
``comment``, ``externalId``), answering ``balanceHistoryId``. Money in answers is an integer in
minor units with ``moneyDigits``; volumes are in cents of units (1 lot of EURUSD = 100 000
units = 10 000 000); times are epoch milliseconds UTC; ``from``/``to`` of history reads are
ISO-8601 UTC (``2026-03-02T08:00:00.000``) and may span at most two days. The simulator's reading
where the public pages are thin: deals at ``GET /deals``, balance history at
``GET /traders/{login}/balanceHistory``, open positions at ``GET /openPositions``, symbols (with
``lotSize`` in cents of units) at ``GET /symbols``; lists come as ``{"<entity>": [...]}``; errors
as ``{"errorCode", "description"}``; the server time in the HTTP ``Date`` header.

Match-Trader (Match-Trade "Broker API", paths under ``/v1``): the API key is the ``Authorization``
header (the simulator takes a manager's password as the key); offers (a group, a currency, a
``systemUuid``) at ``GET /v1/offers``; ``POST /v1/accounts`` opens a user with a trading account on
an offer; ``GET``/``PATCH /v1/trading-account?systemUuid&login``; money with
``POST /v1/deposits/manual`` and ``POST /v1/withdrawals/manual`` (``systemUuid``, ``login``,
``amount``, ``comment``); history from ``GET /v1/ledgers`` (``types`` DEPOSIT, WITHDRAWAL,
CREDIT_IN, CREDIT_OUT ...) and ``GET /v1/closed-positions``, both with ``from``/``to`` (RFC 3339
UTC) and ``limit``, oldest first; ``GET /v1/open-positions``, ``GET /v1/quotations``. Volumes are
lots; money and prices decimal strings. Access is the simulator's reading: ``access`` FULL |
CLOSE_ONLY | NO_TRADING | LOCKED on the trading account.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import hmac
import json
import re
import time
import uuid
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .config import ManagerConfig
from .engine import (
    RIGHT_CLOSE_ONLY,
    RIGHT_ENABLED,
    RIGHT_TRADE_DISABLED,
    ApiError,
)
from .market import BY_NAME, SYMBOLS
from .server import MAX_BODY, Handler, Reply

UNKNOWN_CODES = {2: 500, 5: 500, 6: 500, 7: 500, 9: 504, 14: 500}
REFUSED_CODES = {10: 503, 11: 503, 12: 429, 15: 503}
LOTS_EXT = Decimal(100_000_000)  # the engine's VolumeExt per lot
BALANCE_ACTIONS = {2, 3, 4, 5, 6}


class FaceError(Exception):
    def __init__(self, status: int, code: str, message: str = "") -> None:
        super().__init__(message or code)
        self.status, self.code, self.message = status, code, message or code


def _error_status(code: int) -> tuple[int, str]:
    """The HTTP status and error code a REST platform answers for an engine (MT5) return code."""
    if code in UNKNOWN_CODES:
        return UNKNOWN_CODES[code], "INTERNAL_ERROR" if code != 9 else "TIMEOUT"
    if code in REFUSED_CODES:
        return REFUSED_CODES[code], "TOO_MANY_REQUESTS" if code == 12 else "SERVICE_UNAVAILABLE"
    if code == 13:
        return 404, "NOT_FOUND"
    if code == 8:
        return 403, "ACCESS_DENIED"
    if code == 3004:
        return 409, "ALREADY_EXISTS"
    if code == 10019:
        return 400, "NOT_ENOUGH_MONEY"
    if 1000 <= code < 1100:
        return 401, "UNAUTHORIZED"
    return 400, "INVALID_REQUEST"


def _minor(value: Decimal | str, digits: int) -> int:
    return int((Decimal(value) * (Decimal(10) ** digits)).to_integral_value())


def _num(value: Decimal | str) -> float:
    # JSON numbers as the platforms send them; a float's repr is the shortest text that reads back
    # to it, so "1.08512" stays "1.08512" for a client that parses numbers as decimals.
    return float(Decimal(value))


def _iso(msc: int) -> str:
    return dt.datetime.fromtimestamp(msc / 1000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{msc % 1000:03d}Z"


def _parse_time(text: str | None, name: str) -> int:
    """Epoch milliseconds of an ISO-8601 / RFC 3339 UTC time (a missing zone means UTC)."""
    if not text:
        raise FaceError(400, "INVALID_REQUEST", f"{name} is required")
    try:
        when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise FaceError(400, "INVALID_REQUEST", f"{name} is not an ISO-8601 time") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(when.timestamp() * 1000)


class FaceHandler(Handler):
    """The plumbing every face shares: routing by template, auth, faults, error answers."""

    face = "face"
    # (method, compiled path, route template, handler)
    ROUTES: list[tuple[str, re.Pattern[str], str, Callable[..., Reply]]] = []

    # ------------------------------------------------------------------ dispatch
    def do_PATCH(self) -> None:  # noqa: N802 - stdlib naming
        self.dispatch("PATCH")

    def handle_request(self, method: str) -> None:
        url = urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        raw_body = self.read_body(MAX_BODY)
        if raw_body is None:
            return
        if path.startswith("/_sim/"):
            self._control(path, {k.lower(): v for k, v in query.items()}, raw_body)
            return
        for route_method, pattern, template, func in self.ROUTES:
            match = pattern.fullmatch(path)
            if match and route_method == method:
                self._serve(template, func, match.groupdict(), query, raw_body)
                return
        self.send_json(404, self.error_body("NOT_FOUND", f"no route {method} {path}"))

    def error_body(self, code: str, message: str) -> dict[str, Any]:
        return {"errorCode": code, "description": message}

    def date_time_string(self, timestamp: float | None = None) -> str:
        # The platform's clock in the Date header every answer carries (the adapters read server time there).
        return email.utils.formatdate(self.app.engine.server_msc() / 1000, usegmt=True)

    def _serve(self, template: str, func: Callable[..., Reply], params: dict[str, str], query: dict[str, str],
               raw_body: bytes) -> None:
        faults = self.app.faults
        if self.injected(faults, template):
            return
        forced = faults.take("retcode", template)
        if forced is not None:
            code = int(str(forced.params["retcode"]).split(" ")[0])
            status, name = _error_status(code)
            self.send_json(status, self.error_body(name, str(forced.params["retcode"])))
            return
        body: Any = {}
        if raw_body:
            try:
                body = json.loads(raw_body)
            except ValueError:
                self.send_json(400, self.error_body("INVALID_REQUEST", "body is not JSON"))
                return
        with self.app.lock:
            try:
                manager = self.authenticate(template, query, body)
                reply = func(self, manager, params, query, body if isinstance(body, dict) else {})
            except FaceError as exc:
                reply = Reply(exc.status, self.error_body(exc.code, exc.message))
            except ApiError as exc:
                status, name = _error_status(exc.code)
                reply = Reply(status, self.error_body(name, str(exc) or name))
            except (KeyError, ValueError, TypeError, InvalidOperation) as exc:
                reply = Reply(400, self.error_body("INVALID_REQUEST", f"bad request: {exc}"))
        after = faults.take("timeout_after_apply", template) if reply.committed else None
        if after is not None:
            if after.params.get("mode", "sleep") == "drop":
                self._drop()
                return
            time.sleep(float(after.params.get("seconds", 30)))
        reply = self._listed(template, reply)
        payload = self._encode(reply.body)
        broken = faults.take("malformed", template)
        if broken is not None:
            payload = _mangle(reply.body, payload, str(broken.params.get("mode", "not_json")))
        self.send(reply.status, payload)

    def authenticate(self, template: str, query: dict[str, str], body: Any) -> ManagerConfig:
        raise NotImplementedError

    # ------------------------------------------------------------------ deal-list faults
    LIST_KEYS: dict[str, str] = {}  # route template -> the key of its record list

    def _listed(self, template: str, reply: Reply) -> Reply:
        """``duplicate_deals`` repeats the records of a history answer."""
        key = self.LIST_KEYS.get(template)
        if key is None or reply.status != 200 or not isinstance(reply.body, dict):
            return reply
        records = reply.body.get(key)
        dup = self.app.faults.take("duplicate_deals", template) if records else None
        if dup is not None and isinstance(records, list):
            copies = max(1, int(dup.params.get("copies", 1)))
            doubled: list[Any] = []
            for record in records:
                doubled.append(record)
                doubled.extend(dict(record) for _ in range(copies))
            reply.body[key] = doubled
        return reply

    def engine_deals(self, manager: ManagerConfig, template: str, logins: list[int], from_msc: int,
                     to_msc: int) -> list[dict[str, str]]:
        """The engine's visible deals of ``logins`` in [from, to] (server-time ms), after which a
        ``mutate_after_read`` rule may edit or delete some of them (as MT5's deal reads do)."""
        engine = self.app.engine
        wires = engine.deals_query(manager, logins=logins, from_srv=from_msc // 1000 - 1,
                                   to_srv=to_msc // 1000 + 1)
        wires = [w for w in wires if from_msc <= int(w["TimeMsc"]) <= to_msc]
        self._after_read(template, wires)
        return wires

    def _after_read(self, template: str, wires: list[dict[str, str]]) -> None:
        mutate = self.app.faults.budget("mutate_after_read", template)
        if mutate is not None and wires:
            rule, left = mutate
            changed = self.app.engine.mutate_after_read(wires, str(rule.params.get("mode", "edit")), left)
            if changed:
                self.app.faults.spend(rule, changed)
                self.app.engine.commit()

    def manager_by_password(self, secret: str) -> ManagerConfig | None:
        for manager in self.app.config.managers:
            if secret and hmac.compare_digest(secret.encode(), manager.password.encode()):
                return manager
        return None

    def _sim_face_truth(self, body: Any) -> tuple[int, Any]:
        return 200, {"records": self.face_truth(), "deleted_deals": list(self.app.engine.deleted)}

    def face_truth(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    # Called on a FaceHandler only, which the base class's mapping type cannot say.
    _CONTROL_ROUTES = {**Handler._CONTROL_ROUTES, "/_sim/face_truth": _sim_face_truth}  # type: ignore[dict-item]  # a FaceHandler's route, see above


def _route(method: str, template: str, func: Callable[..., Reply]) -> tuple[str, re.Pattern[str], str, Callable[..., Reply]]:
    pattern = re.compile(re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template))
    return method, pattern, template, func


def _login(params: dict[str, str], name: str = "login") -> int:
    try:
        return int(params[name])
    except (KeyError, ValueError):
        raise FaceError(400, "INVALID_REQUEST", f"{name} must be a number") from None


def _engine_password(seed: str) -> str:
    """A password the engine accepts, derived from what the platform stores (a hash, a password)."""
    digest = hashlib.sha256(seed.encode()).hexdigest()
    return "Aa1" + digest[:11]


# ======================================================================================= cTrader
CT = "/v2/webserv"
CT_ACCESS = {"FULL_ACCESS", "CLOSE_ONLY", "NO_TRADING", "NO_LOGIN"}
CT_MAX_WINDOW_MS = 2 * 86_400_000


def ct_access(rights: int) -> str:
    if not rights & RIGHT_ENABLED:
        return "NO_LOGIN"
    if rights & RIGHT_TRADE_DISABLED:
        return "NO_TRADING"
    if rights & RIGHT_CLOSE_ONLY:
        return "CLOSE_ONLY"
    return "FULL_ACCESS"


def ct_rights(rights: int, access: str) -> int:
    rights &= ~(RIGHT_TRADE_DISABLED | RIGHT_CLOSE_ONLY)
    rights |= RIGHT_ENABLED
    if access == "NO_LOGIN":
        return (rights & ~RIGHT_ENABLED) | RIGHT_TRADE_DISABLED
    if access == "NO_TRADING":
        return rights | RIGHT_TRADE_DISABLED
    if access == "CLOSE_ONLY":
        return rights | RIGHT_CLOSE_ONLY
    return rights


def ct_lot_size(symbol: str) -> int:
    """Cents of units per lot of ``symbol``."""
    spec = BY_NAME.get(symbol)
    return spec.contract_size * 100 if spec else 0


def ct_deal(wire: dict[str, str]) -> dict[str, Any]:
    """An engine deal as cTrader shows it: a trade deal, or a balance history entry."""
    action = int(wire["Action"])
    md = int(wire.get("DigitsCurrency") or 2)
    msc = int(wire["TimeMsc"])
    if action in BALANCE_ACTIONS:
        profit = Decimal(wire["Profit"])
        out = profit < 0
        kind = {2: "WITHDRAW" if out else "DEPOSIT",
                3: "WITHDRAW_NONWITHDRAWABLE_BONUS" if out else "DEPOSIT_NONWITHDRAWABLE_BONUS",
                6: "WITHDRAW_BONUS" if out else "DEPOSIT_BONUS"}.get(action, "ADJUSTMENT")
        return {"balanceHistoryId": int(wire["Deal"]), "login": int(wire["Login"]), "type": kind,
                "delta": _minor(profit, md), "moneyDigits": md, "changeTimestamp": msc,
                "externalId": wire["Comment"], "comment": wire["Comment"], "externalNote": ""}
    volume = int(Decimal(wire["VolumeExt"]) * ct_lot_size(wire["Symbol"]) / LOTS_EXT)
    record: dict[str, Any] = {
        "dealId": int(wire["Deal"]), "orderId": int(wire["Order"]), "positionId": int(wire["PositionID"]),
        "login": int(wire["Login"]), "symbolName": wire["Symbol"], "volume": volume, "filledVolume": volume,
        "tradeSide": "BUY" if action == 0 else "SELL", "executionPrice": _num(wire["Price"]),
        "createTimestamp": msc, "executionTimestamp": msc, "dealStatus": "FILLED",
        "commission": _minor(wire["Commission"], md), "moneyDigits": md, "comment": wire["Comment"],
    }
    if wire.get("Entry") == "1":
        record["closePositionDetail"] = {
            "entryPrice": _num(wire["PricePosition"]), "grossProfit": _minor(wire["Profit"], md),
            "swap": _minor(wire["Storage"], md), "commission": _minor(wire["Commission"], md),
            "closedVolume": volume, "moneyDigits": md,
        }
    return record


class CTraderHandler(FaceHandler):
    server_version = "cTrader-WebServices"
    log_name = "ctradersim"
    face = "ctrader"
    LIST_KEYS = {f"{CT}/deals": "deal", f"{CT}/traders/{{login}}/balanceHistory": "balanceHistory"}

    def authenticate(self, template: str, query: dict[str, str], body: Any) -> ManagerConfig:
        if template == f"{CT}/managers/token":
            raise FaceError(400, "INVALID_REQUEST", "no token needed to get a token")  # never reached
        token = query.get("token", "")
        for manager in self.app.config.managers:
            if token and hmac.compare_digest(token, self.token_of(manager)):
                return manager
        raise FaceError(403, "ACCESS_DENIED", "invalid token")

    def token_of(self, manager: ManagerConfig) -> str:
        # Tokens do not expire and survive restarts; a new password gives a new token (documented).
        digest = hmac.new(self.app.config.control_token.encode(), f"{manager.login}:{manager.password}".encode(),
                          hashlib.sha256).hexdigest()
        return str(uuid.UUID(digest[:32]))

    def _serve(self, template: str, func: Callable[..., Reply], params: dict[str, str], query: dict[str, str],
               raw_body: bytes) -> None:
        if template == f"{CT}/managers/token":
            try:
                body = json.loads(raw_body or b"{}")
                login = int(body["login"])
                hashed = str(body["hashedPassword"]).lower()
            except (ValueError, KeyError, TypeError):
                self.send_json(400, self.error_body("INVALID_REQUEST", "login and hashedPassword are required"))
                return
            manager = self.app.engine.manager(login)
            expected = hashlib.md5(manager.password.encode(), usedforsecurity=False).hexdigest() if manager else ""
            if manager is None or not hmac.compare_digest(hashed, expected):
                self.send_json(403, self.error_body("ACCESS_DENIED", "invalid login or password"))
                return
            self.send_json(200, {"webservToken": self.token_of(manager)})
            return
        super()._serve(template, func, params, query, raw_body)

    # ------------------------------------------------------------------ traders
    def trader(self, login: int) -> dict[str, Any]:
        engine = self.app.engine
        account = engine.accounts[login]
        state = engine.account_state(account)
        md = engine.digits_of(account)
        group = engine.config.group(account.group)
        return {
            "login": account.login, "groupName": account.group, "accessRights": ct_access(account.rights),
            "depositCurrency": group.currency if group else "USD", "accountType": "HEDGED",
            "brokerName": "SIMBROKER", "name": account.name, "contactDetails": {"email": account.email},
            "balance": _minor(state["balance"], md), "bonus": 0, "nonWithdrawableBonus": _minor(state["credit"], md),
            "equity": _minor(state["equity"], md), "usedMargin": _minor(state["margin"], md),
            "freeMargin": _minor(state["free"], md), "leverageInCents": account.leverage * 100,
            "moneyDigits": md, "registrationTimestamp": account.registration * 1000,
            "marginLevel": _num(state["level"]), "totalMarginCalculationType": "MAX",
        }

    def _create(self, manager: ManagerConfig, params: dict[str, str], query: dict[str, str],
                body: dict[str, Any]) -> Reply:
        engine = self.app.engine
        access = str(body.get("accessRights", ""))
        if access not in CT_ACCESS:
            raise FaceError(400, "INVALID_REQUEST", "accessRights must be one of " + ", ".join(sorted(CT_ACCESS)))
        hashed = str(body.get("hashedPassword", ""))
        if not re.fullmatch(r"[0-9a-fA-F]{32}", hashed):
            raise FaceError(400, "INVALID_REQUEST", "hashedPassword must be the MD5 of the password")
        leverage_cents = int(body["leverageInCents"])
        if leverage_cents % 100:
            raise FaceError(400, "INVALID_REQUEST", "leverageInCents must be whole leverage")
        contact = body.get("contactDetails") or {}
        password = _engine_password(hashed)
        account = engine.user_add(manager, {
            "group": str(body.get("groupName", "")), "leverage": str(leverage_cents // 100),
            "passmain": password, "passinvestor": password,
            "name": " ".join(p for p in (str(body.get("name", "")), str(body.get("lastName", ""))) if p),
            "email": str(contact.get("email", "")), "phone": str(contact.get("phone", "")),
            "comment": str(body.get("description", "")),
        })
        account.rights = ct_rights(account.rights, access)
        engine.commit()
        return Reply(200, self.trader(account.login), committed=True)

    def _get(self, manager: ManagerConfig, params: dict[str, str], query: dict[str, str],
             body: dict[str, Any]) -> Reply:
        account = self.app.engine.account_for(manager, _login(params))
        return Reply(200, self.trader(account.login))

    def _patch(self, manager: ManagerConfig, params: dict[str, str], query: dict[str, str],
               body: dict[str, Any]) -> Reply:
        engine = self.app.engine
        login = _login(params)
        fields: dict[str, str] = {}
        if "groupName" in body:
            fields["group"] = str(body["groupName"])
        if "leverageInCents" in body:
            cents = int(body["leverageInCents"])
            if cents % 100:
                raise FaceError(400, "INVALID_REQUEST", "leverageInCents must be whole leverage")
            fields["leverage"] = str(cents // 100)
        if "name" in body:
            fields["name"] = str(body["name"])
        if isinstance(body.get("contactDetails"), dict) and "email" in body["contactDetails"]:
            fields["email"] = str(body["contactDetails"]["email"])
        access = body.get("accessRights")
        if access is not None and access not in CT_ACCESS:
            raise FaceError(400, "INVALID_REQUEST", "accessRights must be one of " + ", ".join(sorted(CT_ACCESS)))
        account = engine.user_update(manager, login, fields)
        if access is not None:
            account.rights = ct_rights(account.rights, str(access))
        engine.commit()
        return Reply(200, self.trader(login), committed=True)

    def _changebalance(self, manager: ManagerConfig, params: dict[str, str], query: dict[str, str],
                       body: dict[str, Any]) -> Reply:
        engine = self.app.engine
        login = _login(params)
        kind = str(body.get("type", ""))
        actions = {"DEPOSIT": (2, 1), "WITHDRAW": (2, -1), "DEPOSIT_NONWITHDRAWABLE_BONUS": (3, 1),
                   "WITHDRAW_NONWITHDRAWABLE_BONUS": (3, -1)}
        if kind not in actions:
            raise FaceError(400, "INVALID_REQUEST", "type must be " + ", ".join(actions))
        try:
            amount = Decimal(str(body["preciseAmount"]))
        except (KeyError, InvalidOperation):
            raise FaceError(400, "INVALID_REQUEST", "preciseAmount is required") from None
        if not amount.is_finite() or amount <= 0:
            raise FaceError(400, "INVALID_REQUEST", "preciseAmount must be a positive number")
        action, sign = actions[kind]
        # The external id is what the broker finds the operation by; the engine keeps it as the
        # deal's comment (the comment proper is kept when there is no external id).
        reference = str(body.get("externalId") or body.get("comment") or "")
        rec = engine.balance_op(manager, login, action, format(amount * sign, "f"), reference, True)
        engine.commit()
        return Reply(200, {"balanceHistoryId": rec.id}, committed=True)

    # ------------------------------------------------------------------ history
    def _window(self, query: dict[str, str]) -> tuple[int, int]:
        start, end = _parse_time(query.get("from"), "from"), _parse_time(query.get("to"), "to")
        if end < start:
            raise FaceError(400, "INVALID_REQUEST", "to is before from")
        if end - start > CT_MAX_WINDOW_MS:
            raise FaceError(400, "INVALID_REQUEST", "the interval between from and to must not exceed 2 days")
        return start, end

    def _deals(self, manager: ManagerConfig, params: dict[str, str], query: dict[str, str],
               body: dict[str, Any]) -> Reply:
        start, end = self._window(query)
        logins = [int(x) for x in query.get("login", "").split(",") if x.strip()]
        if not logins:
            raise FaceError(400, "INVALID_REQUEST", "login is required")
        wires = self.engine_deals(manager, f"{CT}/deals", logins, start, end)
        return Reply(200, {"deal": [ct_deal(w) for w in wires if int(w["Action"]) in (0, 1)]})

    def _balance_history(self, manager: ManagerConfig, params: dict[str, str], query: dict[str, str],
                         body: dict[str, Any]) -> Reply:
        start, end = self._window(query)
        login = _login(params)
        self.app.engine.account_for(manager, login)
        wires = self.engine_deals(manager, f"{CT}/traders/{{login}}/balanceHistory", [login], start, end)
        return Reply(200, {"balanceHistory": [ct_deal(w) for w in wires if int(w["Action"]) in BALANCE_ACTIONS]})

    def _open_positions(self, manager: ManagerConfig, params: dict[str, str], query: dict[str, str],
                        body: dict[str, Any]) -> Reply:
        engine = self.app.engine
        logins = [int(x) for x in query.get("login", "").split(",") if x.strip()]
        out = []
        for wire in engine.positions_query(manager, logins=logins) if logins else []:
            md = int(wire["DigitsCurrency"])
            volume = int(Decimal(wire["VolumeExt"]) * ct_lot_size(wire["Symbol"]) / LOTS_EXT)
            out.append({
                "positionId": int(wire["Position"]), "login": int(wire["Login"]), "symbolName": wire["Symbol"],
                "tradeSide": "BUY" if wire["Action"] == "0" else "SELL", "volume": volume,
                "entryPrice": _num(wire["PriceOpen"]), "currentPrice": _num(wire["PriceCurrent"]),
                "openTimestamp": int(wire["TimeCreateMsc"]), "swap": _minor(wire["Storage"], md),
                "profit": _minor(wire["Profit"], md), "moneyDigits": md, "comment": wire["Comment"],
            })
        return Reply(200, {"position": out})

    def _symbols(self, manager: ManagerConfig, params: dict[str, str], query: dict[str, str],
                 body: dict[str, Any]) -> Reply:
        return Reply(200, {"symbol": [{"name": s.name, "digits": s.digits, "lotSize": s.contract_size * 100}
                                      for s in SYMBOLS]})

    def face_truth(self) -> list[dict[str, Any]]:
        engine = self.app.engine
        return [ct_deal(r.wire) for r in engine.deals]

    ROUTES = [
        _route("POST", f"{CT}/managers/token", lambda *a: Reply(500, {})),
        _route("POST", f"{CT}/traders", _create),
        _route("GET", f"{CT}/traders/{{login}}", _get),
        _route("PATCH", f"{CT}/traders/{{login}}", _patch),
        _route("POST", f"{CT}/traders/{{login}}/changebalance", _changebalance),
        _route("GET", f"{CT}/traders/{{login}}/balanceHistory", _balance_history),
        _route("GET", f"{CT}/deals", _deals),
        _route("GET", f"{CT}/openPositions", _open_positions),
        _route("GET", f"{CT}/symbols", _symbols),
    ]


# ================================================================================== Match-Trader
MT_ACCESS = {"FULL", "CLOSE_ONLY", "NO_TRADING", "LOCKED"}
MT_LEDGER_TYPES = {2: ("DEPOSIT", "WITHDRAWAL"), 3: ("CREDIT_IN", "CREDIT_OUT")}
SYSTEM_UUID = "5f1c6a0e-0000-4000-8000-000000000001"


def mt_offer_uuid(group: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"match-trader-sim:{group.lower()}"))


def mt_access(rights: int) -> str:
    return {"NO_LOGIN": "LOCKED", "FULL_ACCESS": "FULL"}.get(ct_access(rights), ct_access(rights))


def mt_rights(rights: int, access: str) -> int:
    return ct_rights(rights, {"LOCKED": "NO_LOGIN", "FULL": "FULL_ACCESS"}.get(access, access))


def _lots(volume_ext: str) -> str:
    return format((Decimal(volume_ext) / LOTS_EXT).normalize(), "f")


def mt_ledger(wire: dict[str, str]) -> dict[str, Any]:
    profit = Decimal(wire["Profit"])
    names = MT_LEDGER_TYPES.get(int(wire["Action"]), ("ADJUSTMENT", "ADJUSTMENT"))
    return {"id": int(wire["Deal"]), "login": int(wire["Login"]), "type": names[1] if profit < 0 else names[0],
            "amount": wire["Profit"], "time": _iso(int(wire["TimeMsc"])), "comment": wire["Comment"]}


def mt_closed(open_wire: dict[str, str] | None, close: dict[str, str]) -> dict[str, Any]:
    """A closed position from its engine deals: the opening one (None when it is gone) and the closing."""
    open_time = int(open_wire["TimeMsc"]) if open_wire else int(close["TimeMsc"])
    commission = Decimal(close["Commission"]) + (Decimal(open_wire["Commission"]) if open_wire else Decimal(0))
    return {
        "id": int(close["PositionID"]), "login": int(close["Login"]), "symbol": close["Symbol"],
        "side": "SELL" if close["Action"] == "0" else "BUY",  # the closing deal trades the other way
        "volume": _lots(close["VolumeExt"]), "openPrice": close["PricePosition"], "closePrice": close["Price"],
        "openTime": _iso(open_time), "closeTime": _iso(int(close["TimeMsc"])),
        "profit": close["Profit"], "swap": close["Storage"], "commission": format(commission, "f"),
        "openCommission": open_wire["Commission"] if open_wire else "0", "closeCommission": close["Commission"],
        "openComment": open_wire["Comment"] if open_wire else "", "comment": close["Comment"],
        "openOrderId": int(open_wire["Order"]) if open_wire else 0, "closeOrderId": int(close["Order"]),
        "closeReason": int(close["Reason"]),
    }


class MatchTraderHandler(FaceHandler):
    server_version = "MatchTrader-BrokerAPI"
    log_name = "matchtradersim"
    face = "matchtrader"
    LIST_KEYS = {"/v1/ledgers": "operations", "/v1/closed-positions": "closedPositions"}

    def error_body(self, code: str, message: str) -> dict[str, Any]:
        return {"code": code, "message": message}

    def authenticate(self, template: str, query: dict[str, str], body: Any) -> ManagerConfig:
        manager = self.manager_by_password(self.headers.get("Authorization", ""))
        if manager is None:
            raise FaceError(401, "UNAUTHORIZED", "invalid API key")
        return manager

    def _system(self, query: dict[str, str], body: dict[str, Any]) -> int:
        system = str(query.get("systemUuid") or body.get("systemUuid") or "")
        if system != SYSTEM_UUID:
            raise FaceError(400, "INVALID_REQUEST", "unknown systemUuid")
        return _login({"login": str(query.get("login") or body.get("login") or "")})

    def offers(self) -> list[dict[str, Any]]:
        return [{"uuid": mt_offer_uuid(g.name), "name": g.name, "groupName": g.name, "currency": g.currency,
                 "systemUuid": SYSTEM_UUID, "demo": g.demo, "maxLeverage": g.leverage_max}
                for g in self.app.config.groups]

    def offer_group(self, offer_uuid: str) -> str:
        for offer in self.offers():
            if offer["uuid"] == offer_uuid:
                return str(offer["groupName"])
        raise FaceError(400, "INVALID_REQUEST", "unknown offerUuid")

    def trading_account(self, login: int) -> dict[str, Any]:
        engine = self.app.engine
        account = engine.accounts[login]
        state = engine.account_state(account)
        d = engine.digits_of(account)
        group = engine.config.group(account.group)

        def money(value: Decimal) -> str:
            return format(value.quantize(Decimal(1).scaleb(-d)), "f")

        return {
            "login": account.login, "systemUuid": SYSTEM_UUID, "offerUuid": mt_offer_uuid(account.group),
            "groupName": account.group, "leverage": account.leverage, "access": mt_access(account.rights),
            "currency": group.currency if group else "USD", "name": account.name, "email": account.email,
            "created": _iso(account.registration * 1000),
            "financeInfo": {
                "balance": money(state["balance"]), "credit": money(state["credit"]), "equity": money(state["equity"]),
                "margin": money(state["margin"]), "freeMargin": money(state["free"]),
                "marginLevel": format(state["level"], "f"), "profit": money(state["floating"]),
            },
        }

    def _offers(self, manager: ManagerConfig, params: dict[str, str], query: dict[str, str],
                body: dict[str, Any]) -> Reply:
        return Reply(200, {"offers": self.offers()})

    def _create(self, manager: ManagerConfig, params: dict[str, str], query: dict[str, str],
                body: dict[str, Any]) -> Reply:
        engine = self.app.engine
        group = self.offer_group(str(body.get("offerUuid", "")))
        details = body.get("personalDetails") or {}
        password = str(body.get("password", ""))
        if len(password) < 8:
            raise FaceError(400, "INVALID_REQUEST", "password must have at least 8 characters")
        secret = _engine_password(password)
        account = engine.user_add(manager, {
            "group": group, "leverage": str(body.get("leverage", 100)), "passmain": secret, "passinvestor": secret,
            "name": " ".join(p for p in (str(details.get("firstname", "")), str(details.get("lastname", ""))) if p),
            "email": str(body.get("email", "")), "country": str(details.get("country", "")),
        })
        engine.commit()
        return Reply(200, {"uuid": str(uuid.uuid4()), "email": account.email,
                           "tradingAccount": self.trading_account(account.login)}, committed=True)

    def _account_get(self, manager: ManagerConfig, params: dict[str, str], query: dict[str, str],
                     body: dict[str, Any]) -> Reply:
        login = self._system(query, body)
        self.app.engine.account_for(manager, login)
        return Reply(200, self.trading_account(login))

    def _account_patch(self, manager: ManagerConfig, params: dict[str, str], query: dict[str, str],
                       body: dict[str, Any]) -> Reply:
        engine = self.app.engine
        login = self._system(query, {})
        fields: dict[str, str] = {}
        if "offerUuid" in body:
            fields["group"] = self.offer_group(str(body["offerUuid"]))
        if "leverage" in body:
            fields["leverage"] = str(int(body["leverage"]))
        if "name" in body:
            fields["name"] = str(body["name"])
        access = body.get("access")
        if access is not None and access not in MT_ACCESS:
            raise FaceError(400, "INVALID_REQUEST", "access must be one of " + ", ".join(sorted(MT_ACCESS)))
        account = engine.user_update(manager, login, fields)
        if access is not None:
            account.rights = mt_rights(account.rights, str(access))
        engine.commit()
        return Reply(200, self.trading_account(login), committed=True)

    def _money(self, manager: ManagerConfig, body: dict[str, Any], sign: int, action: int) -> Reply:
        engine = self.app.engine
        login = self._system({}, body)
        try:
            amount = Decimal(str(body["amount"]))
        except (KeyError, InvalidOperation):
            raise FaceError(400, "INVALID_REQUEST", "amount is required") from None
        if not amount.is_finite() or amount <= 0:
            raise FaceError(400, "INVALID_REQUEST", "amount must be a positive number")
        rec = engine.balance_op(manager, login, action, format(amount * sign, "f"), str(body.get("comment", "")), True)
        engine.commit()
        return Reply(200, {"id": rec.id, "status": "DONE", "login": login, "amount": format(amount, "f")},
                     committed=True)

    def _deposit(self, manager: ManagerConfig, params: dict[str, str], query: dict[str, str],
                 body: dict[str, Any]) -> Reply:
        return self._money(manager, body, 1, 2)

    def _withdraw(self, manager: ManagerConfig, params: dict[str, str], query: dict[str, str],
                  body: dict[str, Any]) -> Reply:
        return self._money(manager, body, -1, 2)

    def _credit_in(self, manager: ManagerConfig, params: dict[str, str], query: dict[str, str],
                   body: dict[str, Any]) -> Reply:
        return self._money(manager, body, 1, 3)

    def _credit_out(self, manager: ManagerConfig, params: dict[str, str], query: dict[str, str],
                    body: dict[str, Any]) -> Reply:
        return self._money(manager, body, -1, 3)

    def _page(self, query: dict[str, str]) -> tuple[int, int, int]:
        start = _parse_time(query.get("from"), "from") if query.get("from") else 0
        end = _parse_time(query.get("to"), "to") if query.get("to") else self.app.engine.server_msc() + 86_400_000
        try:
            limit = int(query.get("limit") or 1000)
        except ValueError:
            raise FaceError(400, "INVALID_REQUEST", "limit must be a number") from None
        if not 1 <= limit <= 10_000:
            raise FaceError(400, "INVALID_REQUEST", "limit must be within 1..10000")
        return start, end, limit

    def _ledgers(self, manager: ManagerConfig, params: dict[str, str], query: dict[str, str],
                 body: dict[str, Any]) -> Reply:
        login = self._system(query, body)
        start, end, limit = self._page(query)
        types = {t.strip() for t in query.get("types", "").split(",") if t.strip()}
        wires = self.engine_deals(manager, "/v1/ledgers", [login], start, end)
        rows = [mt_ledger(w) for w in wires if int(w["Action"]) in BALANCE_ACTIONS]
        rows = [r for r in rows if not types or r["type"] in types]
        return Reply(200, {"operations": rows[:limit]})

    def _closed(self, manager: ManagerConfig, params: dict[str, str], query: dict[str, str],
                body: dict[str, Any]) -> Reply:
        login = self._system(query, body)
        start, end, limit = self._page(query)
        wires = self.engine_deals(manager, "/v1/closed-positions", [login], start, end)
        engine = self.app.engine
        closing = [w for w in wires if w["Action"] in ("0", "1") and w["Entry"] == "1"
                   and int(w["Deal"]) in engine.deal_index]
        openings = self._openings({w["PositionID"] for w in closing})
        rows = [mt_closed(openings.get(w["PositionID"]), w) for w in closing]
        return Reply(200, {"closedPositions": rows[:limit]})

    def _openings(self, positions: set[str] | None = None) -> dict[str, dict[str, str]]:
        """The opening deal of each position (of ``positions``, or all)."""
        engine = self.app.engine
        if positions is None:
            positions = {r.wire["PositionID"] for r in engine.deals}
        return engine.opening_deals(positions)

    def _open_positions(self, manager: ManagerConfig, params: dict[str, str], query: dict[str, str],
                        body: dict[str, Any]) -> Reply:
        login = self._system(query, body)
        out = [{"id": int(w["Position"]), "login": int(w["Login"]), "symbol": w["Symbol"],
                "side": "BUY" if w["Action"] == "0" else "SELL", "volume": _lots(w["VolumeExt"]),
                "openPrice": w["PriceOpen"], "currentPrice": w["PriceCurrent"],
                "openTime": _iso(int(w["TimeCreateMsc"])), "profit": w["Profit"], "swap": w["Storage"],
                "comment": w["Comment"]}
               for w in self.app.engine.positions_query(manager, logins=[login])]
        return Reply(200, {"positions": out})

    def _quotations(self, manager: ManagerConfig, params: dict[str, str], query: dict[str, str],
                    body: dict[str, Any]) -> Reply:
        symbols = [s.strip() for s in query.get("symbols", "").split(",") if s.strip()]
        out = [{"symbol": t["Symbol"], "bid": t["Bid"], "ask": t["Ask"], "time": _iso(int(t["DatetimeMsc"]))}
               for t in self.app.engine.ticks(symbols)]
        return Reply(200, {"quotations": out})

    def face_truth(self) -> list[dict[str, Any]]:
        engine = self.app.engine
        out: list[dict[str, Any]] = []
        openings = self._openings()
        for rec in engine.deals:
            wire = rec.wire
            if int(wire["Action"]) in BALANCE_ACTIONS:
                out.append({"ledger": mt_ledger(wire)})
            elif wire["Entry"] == "1":
                out.append({"closed": mt_closed(openings.get(wire["PositionID"]), wire)})
        return out

    ROUTES = [
        _route("GET", "/v1/offers", _offers),
        _route("POST", "/v1/accounts", _create),
        _route("GET", "/v1/trading-account", _account_get),
        _route("PATCH", "/v1/trading-account", _account_patch),
        _route("POST", "/v1/deposits/manual", _deposit),
        _route("POST", "/v1/withdrawals/manual", _withdraw),
        _route("POST", "/v1/credits/in", _credit_in),
        _route("POST", "/v1/credits/out", _credit_out),
        _route("GET", "/v1/ledgers", _ledgers),
        _route("GET", "/v1/closed-positions", _closed),
        _route("GET", "/v1/open-positions", _open_positions),
        _route("GET", "/v1/quotations", _quotations),
    ]


def _mangle(body: Any, payload: bytes, mode: str) -> bytes:
    if mode == "truncated":
        return payload[: max(1, len(payload) // 2)]
    if mode == "missing_retcode":
        return b"{}"
    if mode == "wrong_shape" and isinstance(body, dict):
        return json.dumps({k: ("unexpected" if isinstance(v, (list, dict)) else ["unexpected"])
                           for k, v in body.items()}).encode()
    return b"<html><body>502 Bad Gateway</body></html>"


__all__ = ["SYSTEM_UUID", "CTraderHandler", "MatchTraderHandler", "mt_offer_uuid"]
