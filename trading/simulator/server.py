"""HTTPS front of the simulator: the MT5 Web API subset under ``/api/`` and the control API under
``/_sim/``.

Web API routes served (GET, and POST with the same query parameters plus an optional JSON body):
``/api/auth/start``, ``/api/auth/answer``, ``/api/test/access``, ``/api/quit``,
``/api/time/server``, ``/api/time/get``, ``/api/user/add``, ``/api/user/update``, ``/api/user/get``,
``/api/user/get_batch``, ``/api/user/logins``, ``/api/user/account/get``,
``/api/user/account/get_batch``, ``/api/user/change_password``, ``/api/user/check_password``, ``/api/trade/balance``, ``/api/deal/get``,
``/api/deal/get_batch``, ``/api/position/get_batch``, ``/api/tick/last``.
A request without an authenticated session gets HTTP 403 with retcode "8 Not enough permissions";
business failures are HTTP 200 with a non-zero retcode, as the real server answers them.

The control API needs the header ``X-Sim-Token: <control_token>`` (see config.py) and speaks plain
JSON: ``GET /_sim/status``, ``POST /_sim/seed``, ``POST /_sim/persona``, ``POST /_sim/advance``,
``POST /_sim/prices``, ``POST /_sim/trade``, ``POST /_sim/close``, ``GET /_sim/ground_truth``,
``GET|POST /_sim/faults``, ``POST /_sim/faults/clear``, ``POST /_sim/clock_offset``,
``POST /_sim/sessions/expire``, ``POST /_sim/restart``.
"""

from __future__ import annotations

import hmac
import json
import secrets
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import simkit.http

from .config import SimConfig
from .engine import ApiError, Engine
from .faults import FaultPlan, FaultSpecError, parse_fault
from .market import BY_NAME
from .protocol import (
    MIN_CLIENT_VERSION,
    SESSION_COOKIE,
    VERSION_ACCESS,
    VERSION_TRADE,
    answer_matches,
    challenge_answer,
    parse_int,
    password_hash,
    retcode,
)
from .store import Store

MAX_BODY = 8 * 1024 * 1024


@dataclass
class Session:
    sid: str
    last_seen: float
    manager_login: int = 0
    srv_rand: bytes = b""
    challenge_at: float = 0.0
    authenticated: bool = False


@dataclass
class Reply:
    status: int
    body: dict[str, Any] | list[Any]
    committed: bool = False


class App:
    """Shared state of one simulator process: the engine, sessions, faults and connections."""

    def __init__(self, state_dir: Path, config: SimConfig, *, verbose: bool = False) -> None:
        self.state_dir = state_dir
        self.config = config
        self.verbose = verbose
        self.lock = threading.RLock()
        self.faults = FaultPlan(config.seed)
        self.engine = Engine(config, Store(state_dir), self.faults)
        self.sessions: dict[str, Session] = {}
        self.logins = 0  # successful manager authentications, for observing re-logins
        self._connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()

    # -- connections -------------------------------------------------------------------------
    def track(self, sock: socket.socket) -> None:
        with self._conn_lock:
            self._connections.add(sock)

    def untrack(self, sock: socket.socket) -> None:
        with self._conn_lock:
            self._connections.discard(sock)

    def drop_connections(self, keep: socket.socket | None = None) -> None:
        with self._conn_lock:
            victims = [s for s in self._connections if s is not keep]
        for sock in victims:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # -- sessions ----------------------------------------------------------------------------
    # Like the access server, the simulator forgets a challenge nobody answered within
    # challenge_seconds and a session silent for session_idle_seconds, and holds at most
    # max_sessions at once: a client that only ever calls auth/start cannot grow its memory.
    def _expired(self, session: Session, now: float) -> bool:
        if not session.authenticated and now - session.challenge_at > self.config.challenge_seconds:
            return True
        return now - session.last_seen > self.config.session_idle_seconds

    def live_session(self, sid: str | None) -> Session | None:
        if not sid:
            return None
        session = self.sessions.get(sid)
        if session is None:
            return None
        if self._expired(session, time.monotonic()):
            self.sessions.pop(sid, None)
            return None
        return session

    def sweep_sessions(self) -> int:
        """Drop expired sessions; returns how many. Called under ``lock``."""
        now = time.monotonic()
        dead = [sid for sid, session in self.sessions.items() if self._expired(session, now)]
        for sid in dead:
            del self.sessions[sid]
        return len(dead)

    def add_session(self, session: Session) -> None:
        """Keep a new session, making room first: expired ones go, then, while still full, the
        oldest pending challenges, then the longest-silent sessions. Called under ``lock``."""
        if len(self.sessions) >= self.config.max_sessions:
            self.sweep_sessions()
        excess = len(self.sessions) - self.config.max_sessions + 1
        if excess > 0:
            # Pending challenges first (a flood of auth/start must not log real managers out).
            order = sorted(self.sessions.values(), key=lambda s: (s.authenticated, s.last_seen))
            for victim in order[:excess]:
                del self.sessions[victim.sid]
        self.sessions[session.sid] = session

    def restart(self, keep: socket.socket | None) -> None:
        """What a process restart looks like from outside: sessions gone, connections cut, state
        reloaded from disk."""
        with self.lock:
            self.sessions.clear()
            self.drop_connections(keep)
            self.engine = Engine(self.config, Store(self.state_dir), self.faults)
            self.engine.clock_offset_s = self._sticky_offset()

    def _sticky_offset(self) -> int:
        rule = self.faults.sticky("clock_offset")
        return int(rule.params.get("seconds", 0)) if rule else 0

    # -- realtime clock ----------------------------------------------------------------------
    def start_realtime(self, interval: float) -> threading.Thread:
        """Keep the simulated clock on the wall clock, advancing every ``interval`` seconds."""

        def run() -> None:
            while True:
                time.sleep(interval)
                with self.lock:
                    wall = int(time.time() * 1000)
                    behind = (wall - self.engine.now_msc) // 1000
                    if behind > 7 * 86_400:
                        self.engine.now_msc = wall - 86_400_000
                        behind = 86_400
                    if behind >= 1:
                        self.engine.advance(int(behind))
                        self.engine.commit()

        thread = threading.Thread(target=run, name="mt5sim-clock", daemon=True)
        thread.start()
        return thread


class SimHTTPServer(simkit.http.SimHTTPServer):
    """HTTPS: the TLS handshake of each connection runs in that connection's thread."""

    def __init__(self, address: tuple[str, int], app: App, ssl_context: ssl.SSLContext,
                 handler_class: type[Handler] | None = None) -> None:
        self.ssl_context = ssl_context
        handler = type("BoundHandler", (handler_class or Handler,), {"timeout": float(app.config.session_idle_seconds)})
        super().__init__(address, app, handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The TLS handshake runs in the connection's own thread so a slow client blocks nobody.
        # Headers and body go out in separate writes; without NODELAY each answer would wait
        # for the client's delayed ACK.
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        request.settimeout(10)
        try:
            tls = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            try:
                request.close()
            except OSError:
                pass
            return
        self.app.track(tls)
        try:
            # typeshed types the attribute with Self, which mypy leaves unbound on access.
            self.RequestHandlerClass(tls, client_address, self)  # type: ignore[arg-type]  # typeshed's unbound Self, see above
        except (ssl.SSLError, OSError):
            pass
        finally:
            self.app.untrack(tls)
            try:
                tls.close()
            except OSError:
                pass


class Handler(simkit.http.SimHandler):
    server_version = "MT5WebAPI"
    log_name = "mt5sim"
    json_type = "application/json; charset=utf-8"
    server: SimHTTPServer

    def setup(self) -> None:
        super().setup()
        self.conn_session: Session | None = None
        self.set_cookie: str | None = None

    # -- plumbing ----------------------------------------------------------------------------
    @property
    def app(self) -> App:
        app: App = self.server.app
        return app

    def extra_headers(self) -> dict[str, str]:
        extra: dict[str, str] = {}
        if self.set_cookie:
            extra["Set-Cookie"] = self.set_cookie
            self.set_cookie = None
        if self.close_connection:
            extra["Connection"] = "close"
        return extra

    @staticmethod
    def _encode(body: Any) -> bytes:
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _cookie_sid(self) -> str | None:
        raw = self.headers.get("Cookie", "")
        for part in raw.split(";"):
            name, _, value = part.strip().partition("=")
            if name == SESSION_COOKIE and value:
                return value
        return None

    def _session(self) -> Session | None:
        session = self.conn_session
        if session is not None and self.app.live_session(session.sid) is session:
            return session
        return self.app.live_session(self._cookie_sid())

    # -- dispatch ----------------------------------------------------------------------------
    def too_large(self) -> None:
        self.send(413, self._encode({"retcode": retcode(3)}))

    def handle_request(self, method: str) -> None:
        url = urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        query = {k.lower(): v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        raw_body = self.read_body(MAX_BODY)
        if raw_body is None:
            return
        if path.startswith("/_sim/"):
            self._control(path, query, raw_body)
            return
        if not path.startswith("/api/"):
            self.send(404, self._encode({"retcode": retcode(13)}))
            return
        self._api(path, query, raw_body)

    def _api(self, path: str, query: dict[str, str], raw_body: bytes) -> None:
        faults = self.app.faults
        if self.injected(faults, path):
            return
        forced = faults.take("retcode", path)
        if forced is not None:
            self.send(200, self._encode({"retcode": str(forced.params["retcode"])}))
            return
        body: dict[str, Any] = {}
        if raw_body:
            try:
                parsed = json.loads(raw_body)
            except ValueError:
                self.send(200, self._encode({"retcode": retcode(3)}))
                return
            if isinstance(parsed, dict):
                body = parsed
        with self.app.lock:
            try:
                reply = self._route(path, query, body)
            except ApiError as exc:
                reply = Reply(200, {"retcode": retcode(exc.code)})
        after = faults.take("timeout_after_apply", path) if reply.committed else None
        if after is not None:
            if after.params.get("mode", "sleep") == "drop":
                self._drop()
                return
            time.sleep(float(after.params.get("seconds", 30)))
        payload = self._encode(reply.body)
        broken = faults.take("malformed", path)
        if broken is not None:
            payload = _mangle(reply.body, payload, str(broken.params.get("mode", "not_json")))
        self.send(reply.status, payload)
        if path == "/api/quit":
            self.close_connection = True

    def _route(self, path: str, query: dict[str, str], body: dict[str, Any]) -> Reply:
        if path == "/api/auth/start":
            return self._auth_start(query)
        if path == "/api/auth/answer":
            return self._auth_answer(query)
        session = self._session()
        if session is None or not session.authenticated:
            self.conn_session = None
            return Reply(403, {"retcode": retcode(8)})
        session.last_seen = time.monotonic()
        manager = self.app.engine.manager(session.manager_login)
        if manager is None:
            return Reply(403, {"retcode": retcode(8)})
        if path == "/api/test/access":
            return Reply(200, {"retcode": retcode(0)})
        if path == "/api/quit":
            self.app.sessions.pop(session.sid, None)
            self.conn_session = None
            return Reply(200, {"retcode": retcode(0)})
        route = self._API_ROUTES.get(path)
        if route is None:
            return Reply(404, {"retcode": retcode(3)})
        return route(self, manager, path, query, body)

    # -- the manager API, one method per family of paths (see _API_ROUTES) ----------------------
    def _time(self, manager: Any, path: str, query: dict[str, str], body: dict[str, Any]) -> Reply:
        engine = self.app.engine
        if path == "/api/time/server":
            return Reply(200, {"retcode": retcode(0), "answer": {"time": engine.server_time_text()}})
        minutes = engine.server_offset_s() // 60
        answer = {
            "Daylight": "0",
            "DaylightState": "0",
            "TimeZone": str(minutes),
            "TimeServer": "",
            "Days": [],
        }
        return Reply(200, {"retcode": retcode(0), "answer": answer})

    def _user_write(self, manager: Any, path: str, query: dict[str, str], body: dict[str, Any]) -> Reply:
        engine = self.app.engine
        fields = _user_fields(query, body)
        if path == "/api/user/add":
            account = engine.user_add(manager, fields)
        else:
            login = parse_int(fields.get("login"))
            if login is None:
                raise ApiError(3, "login is required")
            account = engine.user_update(manager, login, fields)
        engine.commit()
        return Reply(200, {"retcode": retcode(0), "answer": engine.user_wire(account)}, committed=True)

    def _user_password(self, manager: Any, path: str, query: dict[str, str], body: dict[str, Any]) -> Reply:
        engine = self.app.engine
        login = parse_int(query.get("login"))
        if login is None:
            raise ApiError(3, "login is required")
        kind = query.get("type", "main").strip().lower()
        password = query.get("password", "")
        if path == "/api/user/check_password":
            engine.user_check_password(manager, login, kind, password)
            return Reply(200, {"retcode": retcode(0)})
        engine.user_change_password(manager, login, kind, password)
        engine.commit()
        return Reply(200, {"retcode": retcode(0)}, committed=True)

    def _user_get(self, manager: Any, path: str, query: dict[str, str], body: dict[str, Any]) -> Reply:
        engine = self.app.engine
        login = parse_int(query.get("login"))
        if login is None:
            raise ApiError(3, "login is required")
        account = engine.account_for(manager, login)
        wire = engine.user_wire(account) if path == "/api/user/get" else engine.account_wire(account)
        return Reply(200, {"retcode": retcode(0), "answer": wire})

    def _user_batch(self, manager: Any, path: str, query: dict[str, str], body: dict[str, Any]) -> Reply:
        engine = self.app.engine
        logins = _int_list(query, body, "login")
        groups = _str_list(query, body, "group")
        if path == "/api/user/logins":
            if not groups:
                raise ApiError(3, "group is required")
            return Reply(
                200,
                {
                    "retcode": retcode(0),
                    "answer": [str(x) for x in engine.logins_in_groups(manager, groups)],
                },
            )
        if bool(logins) == bool(groups):
            raise ApiError(3, "pass login or group")
        chosen = logins if logins else engine.logins_in_groups(manager, groups)
        accounts = []
        for login in chosen:
            candidate = engine.accounts.get(login)
            if candidate is not None and engine.manages(manager, candidate.group):
                accounts.append(candidate)
        render = engine.user_wire if path == "/api/user/get_batch" else engine.account_wire
        return Reply(200, {"retcode": retcode(0), "answer": [render(a) for a in accounts]})

    def _trade_balance(self, manager: Any, path: str, query: dict[str, str], body: dict[str, Any]) -> Reply:
        engine = self.app.engine
        login = parse_int(query.get("login"))
        op_type = parse_int(query.get("type"))
        if login is None or op_type is None:
            raise ApiError(3, "login and type are required")
        check = query.get("check_margin", "1").strip() != "0"
        rec = engine.balance_op(
            manager, login, op_type, query.get("balance", ""), query.get("comment", ""), check
        )
        engine.commit()
        return Reply(200, {"retcode": retcode(0), "answer": {"Ticket": str(rec.id)}}, committed=True)

    def _deal_get(self, manager: Any, path: str, query: dict[str, str], body: dict[str, Any]) -> Reply:
        ticket = parse_int(query.get("ticket"))
        if ticket is None:
            raise ApiError(3, "ticket is required")
        found = self.app.engine.deals_query(manager, tickets=[ticket])
        if not found:
            raise ApiError(13)
        return Reply(200, {"retcode": retcode(0), "answer": found[0]})

    def _position_batch(self, manager: Any, path: str, query: dict[str, str], body: dict[str, Any]) -> Reply:
        positions = self.app.engine.positions_query(
            manager,
            logins=_int_list(query, body, "login"),
            groups=_str_list(query, body, "group"),
            tickets=_int_list(query, body, "ticket"),
            symbols=_str_list(query, body, "symbol"),
        )
        return Reply(200, {"retcode": retcode(0), "answer": positions})

    def _tick_last(self, manager: Any, path: str, query: dict[str, str], body: dict[str, Any]) -> Reply:
        engine = self.app.engine
        symbols = _str_list(query, body, "symbol")
        if not symbols:
            raise ApiError(3, "symbol is required")
        trans_id = str(engine.now_msc)
        return Reply(200, {"retcode": retcode(0), "trans_id": trans_id, "answer": engine.ticks(symbols)})

    def _deal_batch(self, manager: Any, path: str, query: dict[str, str], body: dict[str, Any]) -> Reply:
        engine = self.app.engine
        from_srv = parse_int(query.get("from")) if "from" in query else _body_int(body, "from")
        to_srv = parse_int(query.get("to")) if "to" in query else _body_int(body, "to")
        answer = engine.deals_query(
            manager,
            logins=_int_list(query, body, "login"),
            groups=_str_list(query, body, "group"),
            tickets=_int_list(query, body, "ticket"),
            from_srv=from_srv,
            to_srv=to_srv,
            symbols=_str_list(query, body, "symbol"),
        )
        dup = self.app.faults.take("duplicate_deals", path)
        if dup is not None and answer:
            copies = max(1, int(dup.params.get("copies", 1)))
            doubled: list[dict[str, str]] = []
            for wire in answer:
                doubled.append(wire)
                doubled.extend(dict(wire) for _ in range(copies))
            answer = doubled
        mutate = self.app.faults.budget("mutate_after_read", path)
        if mutate is not None and answer:
            rule, left = mutate
            changed = engine.mutate_after_read(answer, str(rule.params.get("mode", "edit")), left)
            if changed:
                self.app.faults.spend(rule, changed)
                engine.commit()
        return Reply(200, {"retcode": retcode(0), "answer": answer})

    _API_ROUTES: dict[str, Callable[[Handler, Any, str, dict[str, str], dict[str, Any]], Reply]] = {
        "/api/time/server": _time,
        "/api/time/get": _time,
        "/api/user/add": _user_write,
        "/api/user/update": _user_write,
        "/api/user/change_password": _user_password,
        "/api/user/check_password": _user_password,
        "/api/user/get": _user_get,
        "/api/user/account/get": _user_get,
        "/api/user/get_batch": _user_batch,
        "/api/user/account/get_batch": _user_batch,
        "/api/user/logins": _user_batch,
        "/api/trade/balance": _trade_balance,
        "/api/deal/get": _deal_get,
        "/api/deal/get_batch": _deal_batch,
        "/api/position/get_batch": _position_batch,
        "/api/tick/last": _tick_last,
    }

    # -- authentication ----------------------------------------------------------------------
    def _auth_start(self, query: dict[str, str]) -> Reply:
        version = parse_int(query.get("version"))
        agent = query.get("agent", "")
        login = parse_int(query.get("login"))
        if (
            version is None
            or version < MIN_CLIENT_VERSION
            or not agent
            or " " in agent
            or login is None
            or query.get("type", "").lower() != "manager"
        ):
            return Reply(200, {"retcode": retcode(3)})
        now = time.monotonic()
        session = Session(sid=secrets.token_hex(16), last_seen=now, manager_login=login)
        session.srv_rand = secrets.token_bytes(16)
        session.challenge_at = now
        self.app.add_session(session)
        self.conn_session = session
        self.set_cookie = f"{SESSION_COOKIE}={session.sid}; Path=/; Secure; HttpOnly"
        return Reply(
            200, {"retcode": retcode(0), "version_access": VERSION_ACCESS, "srv_rand": session.srv_rand.hex()}
        )

    def _auth_answer(self, query: dict[str, str]) -> Reply:
        session = self._session()
        if session is None or not session.srv_rand:
            return Reply(200, {"retcode": retcode(3)})
        srv_rand, started = session.srv_rand, session.challenge_at
        session.srv_rand = b""  # a challenge answers once
        cli_hex = query.get("cli_rand", "")
        try:
            cli_rand = bytes.fromhex(cli_hex)
        except ValueError:
            cli_rand = b""
        if len(cli_rand) != 16:
            return Reply(200, {"retcode": retcode(3)})
        if time.monotonic() - started > self.app.config.challenge_seconds:
            return Reply(200, {"retcode": retcode(9)})
        manager = self.app.engine.manager(session.manager_login)
        # An unknown login and a wrong password answer alike, so logins cannot be probed.
        pw_hash = password_hash(manager.password if manager else secrets.token_hex(16))
        if manager is None or not answer_matches(
            challenge_answer(pw_hash, srv_rand), query.get("srv_rand_answer", "")
        ):
            self.app.sessions.pop(session.sid, None)
            self.conn_session = None
            return Reply(200, {"retcode": retcode(1001)})
        session.authenticated = True
        session.last_seen = time.monotonic()
        self.app.logins += 1
        return Reply(
            200,
            {
                "retcode": retcode(0),
                "version_access": VERSION_ACCESS,
                "version_trade": VERSION_TRADE,
                "cli_rand_answer": challenge_answer(pw_hash, cli_rand),
            },
        )

    # -- control API -------------------------------------------------------------------------
    def _control(self, path: str, query: dict[str, str], raw_body: bytes) -> None:
        token = self.headers.get("X-Sim-Token", "")
        if not hmac.compare_digest(token.encode(), self.app.config.control_token.encode()):
            self.send(401, self._encode({"error": "control token required (X-Sim-Token)"}))
            return
        try:
            body = json.loads(raw_body) if raw_body else {}
        except ValueError:
            self.send(400, self._encode({"error": "body must be JSON"}))
            return
        try:
            status, result = self._control_route(path, query, body)
        except (ApiError, FaultSpecError, KeyError, ValueError, TypeError, InvalidOperation) as exc:
            status, result = 400, {"error": str(exc) or exc.__class__.__name__}
        self.send(status, self._encode(result))

    def _control_route(self, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        app = self.app
        if path == "/_sim/restart":
            app.restart(keep=self.connection)
            self.conn_session = None
            return 200, {"restarted": True, "deals": len(app.engine.deals)}
        route = self._CONTROL_ROUTES.get(path)
        if route is None:
            return 404, {"error": f"unknown control path {path}"}
        with app.lock:
            return route(self, body)

    # -- the control API, one method per path (see _CONTROL_ROUTES); each runs under the app's lock --
    def _sim_status(self, body: Any) -> tuple[int, Any]:
        app, engine = self.app, self.app.engine
        app.sweep_sessions()
        return 200, {
            "now_utc_msc": engine.now_msc,
            "server_time": engine.server_msc() // 1000,
            "server_offset_seconds": engine.server_offset_s(),
            "accounts": len(engine.accounts),
            "positions": len(engine.positions),
            "deals": len(engine.deals),
            "sessions": len(app.sessions),
            "logins": app.logins,
            "faults": app.faults.active(),
        }

    def _sim_ground_truth(self, body: Any) -> tuple[int, Any]:
        return 200, self.app.engine.ground_truth()

    def _sim_seed(self, body: Any) -> tuple[int, Any]:
        engine = self.app.engine
        specs = body.get("accounts", [])
        logins: list[int] = []
        for spec in specs:
            account = engine.seed_account(
                group=str(spec.get("group", "real\\standard")),
                persona=str(spec.get("persona", "")),
                balance=str(spec.get("balance", "10000")),
                leverage=int(spec.get("leverage", 100)),
                name=str(spec.get("name", f"Trader {engine.next_login}")),
                email=str(spec.get("email", "")),
                country=str(spec.get("country", "")),
            )
            logins.append(account.login)
        for index, spec in enumerate(specs):
            if "pair_with" in spec:
                other = logins[int(spec["pair_with"])]
                engine.accounts[logins[index]].partner = other
                engine.accounts[other].partner = logins[index]
        engine.commit()
        return 200, {"logins": logins}

    def _sim_persona(self, body: Any) -> tuple[int, Any]:
        engine = self.app.engine
        account = engine.set_persona(
            int(body["login"]), str(body.get("persona", "")), int(body.get("partner", 0))
        )
        if account.partner and account.partner in engine.accounts:
            engine.accounts[account.partner].partner = account.login
        engine.commit()
        return 200, {"login": account.login, "persona": account.persona, "partner": account.partner}

    def _sim_advance(self, body: Any) -> tuple[int, Any]:
        engine = self.app.engine
        seconds = (
            int(body["seconds"])
            if "seconds" in body
            else int(body.get("ticks", 1)) * self.app.config.tick_seconds
        )
        result = engine.advance(seconds)
        engine.commit()
        return 200, {
            **result,
            "now_utc_msc": engine.now_msc,
            "server_time": engine.server_msc() // 1000,
        }

    def _sim_prices(self, body: Any) -> tuple[int, Any]:
        engine = self.app.engine
        for symbol, quote in dict(body.get("quotes", {})).items():
            if symbol not in BY_NAME:
                raise ValueError(f"unknown symbol {symbol}")
            engine.market.set_quote(
                symbol, Decimal(str(quote["bid"])), Decimal(str(quote["ask"])), engine.now_msc
            )
        engine._stop_out()
        engine.commit()
        return 200, {"quotes": {s: engine.ticks([s])[0] for s in body.get("quotes", {})}}

    def _sim_trade(self, body: Any) -> tuple[int, Any]:
        engine = self.app.engine
        trader = engine.accounts.get(int(body["login"]))
        if trader is None:
            raise ApiError(13, "no such login")
        side = str(body.get("action", "buy")).lower()
        action = 0 if side in ("buy", "0") else 1
        price = Decimal(str(body["price"])) if body.get("price") is not None else None
        pos = engine.open_position(
            trader,
            str(body["symbol"]).upper(),
            action,
            Decimal(str(body.get("volume", "1"))),
            reason=int(body.get("reason", 0)),
            price=price,
            comment=str(body.get("comment", "")),
            check_margin=bool(body.get("check_margin", True)),
        )
        engine.commit()
        return 200, engine.position_wire(pos)

    def _sim_close(self, body: Any) -> tuple[int, Any]:
        engine = self.app.engine
        closing = engine.positions.get(int(body["position"]))
        if closing is None:
            raise ApiError(13, "no such position")
        price = Decimal(str(body["price"])) if body.get("price") is not None else None
        rec = engine.close_position(closing, reason=int(body.get("reason", 0)), price=price)
        engine.commit()
        return 200, rec.wire

    def _sim_faults(self, body: Any) -> tuple[int, Any]:
        app, engine = self.app, self.app.engine
        if not body:
            return 200, {"faults": app.faults.active()}
        for fault in app.faults.install(body, parse_fault):
            if fault.type == "clock_offset":
                engine.clock_offset_s = int(fault.params.get("seconds", 0))
        engine.commit()
        return 200, {"faults": app.faults.active()}

    def _sim_faults_clear(self, body: Any) -> tuple[int, Any]:
        engine = self.app.engine
        self.app.faults.clear()
        engine.clock_offset_s = 0
        engine.commit()
        return 200, {"faults": []}

    def _sim_clock_offset(self, body: Any) -> tuple[int, Any]:
        engine = self.app.engine
        engine.clock_offset_s = int(body.get("seconds", 0))
        engine.commit()
        return 200, {"server_offset_seconds": engine.server_offset_s()}

    def _sim_sessions_expire(self, body: Any) -> tuple[int, Any]:
        count = len(self.app.sessions)
        self.app.sessions.clear()
        return 200, {"expired": count}

    _CONTROL_ROUTES: dict[str, Callable[[Handler, Any], tuple[int, Any]]] = {
        "/_sim/status": _sim_status,
        "/_sim/ground_truth": _sim_ground_truth,
        "/_sim/seed": _sim_seed,
        "/_sim/persona": _sim_persona,
        "/_sim/advance": _sim_advance,
        "/_sim/prices": _sim_prices,
        "/_sim/trade": _sim_trade,
        "/_sim/close": _sim_close,
        "/_sim/faults": _sim_faults,
        "/_sim/faults/clear": _sim_faults_clear,
        "/_sim/clock_offset": _sim_clock_offset,
        "/_sim/sessions/expire": _sim_sessions_expire,
    }


def _user_fields(query: dict[str, str], body: dict[str, Any]) -> dict[str, str]:
    """User-record fields from query parameters and a JSON body, keys normalised so that
    ``pass_main``, ``PassMain`` and ``passmain`` are the same field."""
    fields: dict[str, str] = {}
    for source in (query, body):
        for key, value in source.items():
            if isinstance(value, (dict, list)):
                continue
            fields[key.lower().replace("_", "")] = "" if value is None else str(value)
    return fields


def _str_list(query: dict[str, str], body: dict[str, Any], key: str) -> list[str]:
    values: list[str] = []
    if query.get(key):
        values.extend(v.strip() for v in query[key].split(",") if v.strip())
    raw = body.get(key)
    if isinstance(raw, list):
        values.extend(str(v).strip() for v in raw if str(v).strip())
    elif isinstance(raw, str) and raw.strip():
        values.extend(v.strip() for v in raw.split(",") if v.strip())
    return values


def _int_list(query: dict[str, str], body: dict[str, Any], key: str) -> list[int]:
    out = []
    for value in _str_list(query, body, key):
        parsed = parse_int(value)
        if parsed is None:
            raise ApiError(3, f"{key} must be numbers")
        out.append(parsed)
    return out


def _body_int(body: dict[str, Any], key: str) -> int | None:
    value = body.get(key)
    return parse_int(str(value)) if value is not None else None


def _mangle(body: Any, payload: bytes, mode: str) -> bytes:
    if mode == "truncated":
        return payload[: max(1, len(payload) // 2)]
    if mode == "missing_retcode" and isinstance(body, dict):
        return json.dumps({k: v for k, v in body.items() if k != "retcode"}).encode()
    if mode == "wrong_shape" and isinstance(body, dict):
        answer = body.get("answer")
        broken = "unexpected" if isinstance(answer, list) else ["unexpected"]
        return json.dumps({**body, "answer": broken}).encode()
    return b"<html><body>502 Bad Gateway</body></html>"


def serve(app: App, host: str, port: int, ssl_context: ssl.SSLContext,
          handler_class: type[Handler] | None = None) -> SimHTTPServer:
    """Serve ``app`` over HTTPS; ``handler_class`` picks the face (the MT5 Web API by default,
    or one of trading.simulator.faces)."""
    return SimHTTPServer((host, port), app, ssl_context, handler_class)


__all__ = ["App", "Handler", "SimHTTPServer", "serve"]
