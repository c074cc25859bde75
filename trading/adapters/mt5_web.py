"""MT5 Web API (REST) client adapter, written to MetaQuotes' documented protocol.

Protocol facts this client relies on (MetaQuotes "Web API" documentation: Authentication,
Maintaining Connections, Return Codes, Users, Trade Requests, Deals, Positions, Ticks pages):

* HTTPS to the access server; every answer is JSON with a string ``retcode`` ("0 Done",
  "13 Not found", ...) and, on success, an ``answer``. Numbers in answers are JSON strings.
* Login is a challenge on a *manager* account: ``/api/auth/start?version&agent&login&type=manager``
  gives ``srv_rand`` (16 bytes hex); we answer ``/api/auth/answer?srv_rand_answer&cli_rand`` within
  10 s where srv_rand_answer = MD5(password_hash || srv_rand) and password_hash =
  MD5(MD5(UTF-16LE password) || "WebAPI"), all binary. The server answers ``cli_rand_answer`` =
  MD5(password_hash || cli_rand), which we check so that an impostor server that does not know the
  password is refused (``AuthFailed``).
* The session belongs to the connection: one kept-alive HTTPS connection is reused; the server
  drops it after 180 s of silence, so the adapter pings ``/api/test/access`` when it has been idle
  for ``ping_interval`` (20 s documented as optimal) and re-authenticates when the ping or any call
  shows the session gone (HTTP 403, or the connection closed). Cookies the server sets are sent
  back too.
* ``/api/trade/balance?login&type&balance&comment&check_margin`` applies a balance operation as a
  deal and answers its ``Ticket``. ``type`` is IMTDeal::EnDealAction: 2 balance, 3 credit,
  4 charge, 5 correction, 6 bonus. A negative amount withdraws; 10019 "not enough money" refuses a
  withdrawal above free margin (with check_margin=1), credit or balance; one operation is limited
  to 1 000 000 000 (4005). The comment holds at most 31 characters (32 with the terminator);
  longer ones are cut by the server, so the adapter refuses them rather than lose the reference.
* ``/api/deal/get_batch?login=a,b|group=mask|ticket=..&from&to`` (from/to in server-time seconds,
  required with login or group) returns deals; the adapter splits long windows and login lists.
  ``Volume`` counts 1/10000 lot, ``VolumeExt`` 1/100000000 lot.
* ``/api/user/add`` (POST, user record as JSON: ``PassMain``, ``PassInvestor``, ``Group``,
  ``Name``, ``Leverage`` ...), ``/api/user/update`` (POST, ``Login`` plus changed fields),
  ``/api/user/get``, ``/api/user/account/get_batch``, ``/api/position/get_batch``,
  ``/api/tick/last?symbol=..&trans_id=0``, ``/api/time/server`` (its ``time`` starts with the
  server time in seconds).
* Access is per-user rights (IMTUser::EnUsersRights): 0x1 enabled (may connect), 0x4 trading
  disabled. MT5 has no per-account "close only" right; brokers use a group whose symbols are close
  only, so CLOSE_ONLY is done by moving the account to the group named in ``close_only_groups``.

Server time: MT5 stamps everything in the trade server's wall-clock time; ``server_tz`` (IANA
name) or ``server_tz_offset_minutes`` converts it to UTC at this edge; raw values stay in ``raw``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import http.client
import json
import os
import ssl
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from .base import (
    BALANCE_DEAL_KINDS,
    UTC,
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
    PlatformAdapter,
    PlatformError,
    PlatformProtocolError,
    PlatformRejected,
    PlatformTimeout,
    PlatformUnavailable,
    PlatformUnsupported,
    Position,
    Quote,
    ServerClock,
    ServerTime,
    Side,
    chunked,
    comment_has_reference,
)

RIGHT_ENABLED = 0x1
RIGHT_TRADE_DISABLED = 0x4
RIGHT_DEFAULT = 0x1 | 0x2 | 0x20 | 0x40 | 0x100  # enabled, password, trailing, expert, reports

BALANCE_TYPE = {
    BalanceKind.BALANCE: 2,
    BalanceKind.CREDIT: 3,
    BalanceKind.CHARGE: 4,
    BalanceKind.CORRECTION: 5,
    BalanceKind.BONUS: 6,
}
ACTION_KIND = {
    0: DealKind.TRADE,
    1: DealKind.TRADE,
    2: DealKind.BALANCE,
    3: DealKind.CREDIT,
    5: DealKind.CORRECTION,
    6: DealKind.BONUS,
    7: DealKind.COMMISSION,
    8: DealKind.COMMISSION,
    9: DealKind.COMMISSION,
    10: DealKind.COMMISSION,
    11: DealKind.COMMISSION,
    18: DealKind.COMMISSION,
}
ENTRY = {0: DealEntry.IN, 1: DealEntry.OUT, 2: DealEntry.INOUT, 3: DealEntry.OUT_BY}
BALANCE_ACTIONS = frozenset({2, 3, 4, 5, 6})
# What each failure proves about a write, class by class. Failing before the request left proves
# it was not applied: connection refused, connect or TLS-handshake timeout, an untrusted
# certificate (``_open``), and anything during the login that precedes the request (``_call``).
# Once the request has left:
#   read timeout, connection lost mid-answer .......................... unknown
#   HTTP 403 ............................................................ the session is gone: log
#       in and send again (the server answers 403 before looking at the command)
#   other HTTP 4xx (400, 404, 408, 413, 429, ...) ....................... refused: the HTTP front
#       turned the request away as malformed, unroutable or too frequent before running it
#   HTTP 501, 503, 505 .................................................. refused: the service does
#       not take the request at all (not implemented, not available, wrong version)
#   HTTP 500, 502, 504 and any other 5xx ................................ unknown: the server (or
#       one behind a gateway) may have run it and failed afterwards, or the gateway gave up waiting
#   HTTP 1xx/3xx, an answer that is not JSON, is cut off, has no retcode or the wrong shape ...
#                                                                          unknown: something
#       answered, possibly after running it
#   retcode 0, 1 ........................................................ done
#   retcode 10, 11, 12, 15 (no connection to the trade server, service not available, too
#       frequent requests, shutdown in progress) ........................ refused, retry later
#   retcode 9 (timeout), 7 (network error), 2 (common error), 5 (disk error), 6 (memory error),
#       14 (partial error) .............................................. unknown
#   retcode 1000-1099 (authorisation) ................................... refused (AuthFailed)
#   any other retcode (3 bad parameters, 8 permissions, 13 not found, 10019 no money, ...) ...
#                                                                          refused (PlatformRejected)
REFUSED_HTTP_5XX = frozenset({501, 503, 505})
REFUSED_RETCODES = frozenset({10, 11, 12, 15})
UNKNOWN_RETCODES = frozenset({2, 5, 6, 7, 14})
MAX_COMMENT = 31
VOLUME_DIV = Decimal(10_000)
VOLUME_EXT_DIV = Decimal(100_000_000)


@dataclass(frozen=True)
class MT5WebConfig:
    host: str
    login: int  # manager login
    password: str
    port: int = 443
    ca_file: str | None = None  # trust this certificate (e.g. a self-signed one) instead of system CAs
    verify_tls: bool = True
    timeout: float = 10.0  # seconds per read/write on the socket
    connect_timeout: float = 5.0
    agent: str = "BrokerageCRM"
    version: int = 4755  # any build number, at least 484
    server_tz_offset_minutes: int = 0
    server_tz: str = ""
    ping_interval: float = 20.0
    max_logins_per_request: int = 100
    deal_window: dt.timedelta = dt.timedelta(days=7)
    close_only_groups: Mapping[str, str] = field(default_factory=dict)


class _SessionLost(Exception):
    """The server no longer knows our session (HTTP 403): log in again, nothing was applied."""


def webapi_password_hash(password: str) -> bytes:
    inner = hashlib.md5(password.encode("utf-16-le"), usedforsecurity=False).digest()
    return hashlib.md5(inner + b"WebAPI", usedforsecurity=False).digest()


def webapi_answer(pw_hash: bytes, rand: bytes) -> str:
    return hashlib.md5(pw_hash + rand, usedforsecurity=False).hexdigest()


def parse_retcode(value: Any) -> tuple[int, str]:
    if not isinstance(value, str):
        raise PlatformProtocolError("answer without a retcode")
    head, _, text = value.strip().partition(" ")
    try:
        return int(head), text.strip()
    except ValueError:
        raise PlatformProtocolError(f"retcode {value!r} does not start with a number") from None


class MT5WebAdapter(PlatformAdapter):
    """A manager connection to one MT5 access server. Thread-safe; calls are serialised."""

    def __init__(self, config: MT5WebConfig, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        if config.version < 484:
            raise ValueError("MT5 Web API clients must report a version of at least 484")
        if not config.agent or " " in config.agent:
            raise ValueError("the agent name must be non-empty and without spaces")
        self.config = config
        self.clock = ServerClock(offset_minutes=config.server_tz_offset_minutes, tz_name=config.server_tz)
        self._monotonic = monotonic
        self._lock = threading.RLock()
        self._conn: http.client.HTTPSConnection | None = None
        self._cookies: dict[str, str] = {}
        self._authenticated = False
        self._last_ok = 0.0
        self._ssl = self._ssl_context()
        close_only = {k.lower(): v for k, v in config.close_only_groups.items()}
        self._close_only = close_only
        self._normal_of = {v.lower(): k for k, v in config.close_only_groups.items()}

    # ------------------------------------------------------------------ connection
    def _ssl_context(self) -> ssl.SSLContext:
        if not self.config.verify_tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            return ctx
        return ssl.create_default_context(cafile=self.config.ca_file)

    def _open(self) -> http.client.HTTPSConnection:
        conn = http.client.HTTPSConnection(
            self.config.host, self.config.port, timeout=self.config.connect_timeout, context=self._ssl
        )
        try:
            conn.connect()
        except ssl.SSLCertVerificationError as exc:
            conn.close()
            raise PlatformUnavailable(
                f"TLS certificate of {self.config.host} not trusted: {exc.verify_message}"
            ) from exc
        except TimeoutError as exc:
            conn.close()
            raise PlatformTimeout(
                f"connecting to {self.config.host}:{self.config.port} timed out", request_sent=False
            ) from exc
        except (OSError, ssl.SSLError) as exc:
            conn.close()
            raise PlatformUnavailable(
                f"cannot connect to {self.config.host}:{self.config.port}: {exc}"
            ) from exc
        self._conn = conn
        return conn

    def _reset(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except OSError:
                pass
        self._conn = None
        self._authenticated = False

    def _exchange(
        self, method: str, target: str, body: bytes | None, timeout: float | None
    ) -> tuple[int, bytes]:
        conn = self._conn or self._open()
        if conn.sock is None:
            self._reset()
            conn = self._open()
        conn.sock.settimeout(timeout or self.config.timeout)
        headers = {"Connection": "keep-alive", "Accept": "application/json", "User-Agent": self.config.agent}
        if self._cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self._cookies.items())
        if body is not None:
            headers["Content-Type"] = "application/json"
        path = target.split("?", 1)[0]
        try:
            conn.request(method, target, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
        except TimeoutError as exc:
            self._reset()
            raise PlatformTimeout(f"no answer to {path} within {timeout or self.config.timeout}s") from exc
        except (http.client.HTTPException, OSError, ssl.SSLError) as exc:
            self._reset()
            raise PlatformUnavailable(f"connection lost during {path}: {exc!r}", request_sent=True) from exc
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            if name.strip():
                self._cookies[name.strip()] = rest.split(";", 1)[0].strip()
        if response.will_close:
            # The server closes after this answer; a connection-bound session ends with it.
            self._reset()
        return response.status, data

    def _parse(self, status: int, data: bytes, path: str) -> dict[str, Any]:
        if status == 403:
            raise _SessionLost()
        if status == 429 or status >= 500:
            refused = status == 429 or status in REFUSED_HTTP_5XX
            raise PlatformUnavailable(f"HTTP {status} from {path}", request_sent=True, status=status, refused=refused)
        if status != 200:
            refused = 400 <= status < 500
            raise PlatformProtocolError(f"HTTP {status} from {path}", refused=refused, status=status)
        try:
            # A number sent as a JSON number (not the documented string) is read as a Decimal
            # from its text: a float would lose the 8th decimal of a crypto balance.
            doc = json.loads(data, parse_float=Decimal)
        except (ValueError, UnicodeDecodeError):
            raise PlatformProtocolError(f"answer to {path} is not JSON") from None
        if not isinstance(doc, dict):
            raise PlatformProtocolError(f"answer to {path} is not a JSON object")
        code, text = parse_retcode(doc.get("retcode"))
        if code in (0, 1):
            return doc
        message = f"{path}: {code} {text}".strip()
        if code == 9:
            raise PlatformTimeout(message)
        if code in REFUSED_RETCODES:
            raise PlatformUnavailable(message, request_sent=True, refused=True)
        if code in UNKNOWN_RETCODES:
            raise PlatformUnavailable(message, request_sent=True)
        if 1000 <= code < 1100:
            raise AuthFailed(message, retcode=code)
        raise PlatformRejected(code, message)

    # ------------------------------------------------------------------ session
    def _login(self) -> None:
        self._authenticated = False
        self._cookies.clear()
        start_params = {
            "version": self.config.version,
            "agent": self.config.agent,
            "login": self.config.login,
            "type": "manager",
        }
        doc = self._auth_step("/api/auth/start?" + urlencode(start_params))
        srv_hex = doc.get("srv_rand")
        try:
            srv_rand = bytes.fromhex(srv_hex) if isinstance(srv_hex, str) else b""
        except ValueError:
            srv_rand = b""
        if len(srv_rand) != 16:
            self._reset()
            raise PlatformProtocolError("auth/start answered without a 16-byte srv_rand", request_sent=False)
        pw_hash = webapi_password_hash(self.config.password)
        cli_rand = os.urandom(16)
        answer_params = {"srv_rand_answer": webapi_answer(pw_hash, srv_rand), "cli_rand": cli_rand.hex()}
        doc = self._auth_step("/api/auth/answer?" + urlencode(answer_params))
        proof = doc.get("cli_rand_answer")
        if not isinstance(proof, str) or not hmac.compare_digest(
            proof.lower(), webapi_answer(pw_hash, cli_rand)
        ):
            self._reset()
            raise AuthFailed(
                "the server could not prove it knows the manager password (cli_rand_answer mismatch)"
            )
        self._authenticated = True
        self._last_ok = self._monotonic()

    def _auth_step(self, target: str) -> dict[str, Any]:
        status, data = self._exchange("GET", target, None, None)
        try:
            return self._parse(status, data, target.split("?", 1)[0])
        except _SessionLost:
            raise AuthFailed("the server refused the authentication request (HTTP 403)") from None
        except PlatformRejected as exc:
            self._reset()
            raise AuthFailed(f"authentication refused: {exc.message}", retcode=exc.retcode) from exc

    def _ensure_session(self, *, write: bool) -> None:
        if not self._authenticated or self._conn is None:
            self._login()
            return
        idle = self._monotonic() - self._last_ok
        # Before every write make sure the connection is alive, so that a stale keep-alive
        # connection fails on the harmless ping rather than on the write, whose outcome would
        # then be unknown.
        if write or idle >= self.config.ping_interval:
            try:
                self._ping_once()
            except (_SessionLost, PlatformUnavailable, PlatformTimeout, PlatformProtocolError):
                self._reset()
                self._login()

    def _ping_once(self) -> None:
        status, data = self._exchange("GET", "/api/test/access", None, None)
        self._parse(status, data, "/api/test/access")
        self._last_ok = self._monotonic()

    def ping(self) -> None:
        """Keep the session alive (call about every 20 s on a long-lived adapter)."""
        self._call("/api/test/access", {})

    def _call(
        self,
        path: str,
        params: Mapping[str, Any],
        *,
        body: Mapping[str, Any] | None = None,
        write: bool = False,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """One Web API request with session handling. Reads are repeated once on a fresh
        connection when the old one turns out dead; writes never are."""
        target = path + ("?" + urlencode(params) if params else "")
        payload = json.dumps(body).encode() if body is not None else None
        method = "POST" if payload is not None else "GET"
        with self._lock:
            attempt = 0
            while True:
                attempt += 1
                try:
                    self._ensure_session(write=write)
                except PlatformError as exc:
                    exc.request_sent = False  # failed before our request left: nothing applied
                    raise
                try:
                    status, data = self._exchange(method, target, payload, timeout)
                    doc = self._parse(status, data, path)
                except _SessionLost:
                    self._authenticated = False
                    if attempt >= 2:
                        raise AuthFailed(
                            f"the server dropped the session again right after login ({path})"
                        ) from None
                    continue
                except PlatformUnavailable as exc:
                    if write or attempt >= 2 or exc.status is not None:
                        raise
                    continue
                self._last_ok = self._monotonic()
                return doc

    def close(self) -> None:
        with self._lock:
            if self._authenticated and self._conn is not None:
                try:
                    self._exchange("GET", "/api/quit", None, 2.0)
                except PlatformError:
                    pass
            self._reset()
            self._cookies.clear()

    # ------------------------------------------------------------------ capabilities
    @property
    def capabilities(self) -> Capabilities:
        levels = {AccessLevel.FULL, AccessLevel.READ_ONLY, AccessLevel.DISABLED}
        if self._close_only:
            levels.add(AccessLevel.CLOSE_ONLY)
        return Capabilities(
            platform="mt5",
            read_only=False,
            create_account=True,
            update_account=True,
            access_levels=frozenset(levels),
            balance_kinds=frozenset(BALANCE_TYPE),
            find_balance_operation=True,
            account_states=True,
            deals=True,
            positions=True,
            quotes=True,
            server_time=True,
            max_logins_per_request=self.config.max_logins_per_request,
            deal_window=self.config.deal_window,
            max_comment_length=MAX_COMMENT,
            change_password=True,
        )

    # ------------------------------------------------------------------ accounts
    def create_account(self, account: NewAccount) -> AccountInfo:
        record: dict[str, Any] = {
            "PassMain": account.password,
            "PassInvestor": account.investor_password,
            "Group": account.group,
            "Name": account.name,
            "Leverage": str(account.leverage),
            "Rights": str(RIGHT_DEFAULT),
            "Email": account.email,
            "Phone": account.phone,
            "Country": account.country,
            "City": account.city,
            "Comment": account.comment,
        }
        if account.login:
            record["Login"] = str(account.login)
        doc = self._call("/api/user/add", {}, body=record, write=True)
        return self._account_info(_answer_object(doc, "/api/user/add"))

    def update_account(self, login: int, changes: AccountChanges) -> AccountInfo:
        record: dict[str, Any] = {"Login": str(login)}
        names = {
            "group": "Group",
            "leverage": "Leverage",
            "name": "Name",
            "email": "Email",
            "phone": "Phone",
            "country": "Country",
            "city": "City",
            "comment": "Comment",
        }
        for key, value in changes.as_dict().items():
            record[names[key]] = str(value)
        # Setting the same values twice is harmless, so this may be repeated on a lost connection.
        doc = self._call("/api/user/update", {"login": login}, body=record)
        return self._account_info(_answer_object(doc, "/api/user/update"))

    def change_password(self, login: int, password: str, *, investor: bool = False) -> None:
        if not password:
            raise ValueError("password required")
        self._call("/api/user/change_password",
                   {"login": login, "type": "investor" if investor else "main", "password": password})

    def get_account(self, login: int) -> AccountInfo:
        doc = self._call("/api/user/get", {"login": login})
        return self._account_info(_answer_object(doc, "/api/user/get"))

    def set_access(self, login: int, level: AccessLevel) -> AccountInfo:
        info = self.get_account(login)
        rights = info.rights
        group = info.group
        normal_group = self._normal_of.get(group.lower(), group)
        if level is AccessLevel.CLOSE_ONLY:
            target = self._close_only.get(normal_group.lower())
            if target is None:
                raise PlatformUnsupported(
                    "MT5 has no per-account close-only right; map the account's group "
                    f"{normal_group!r} to a close-only group in close_only_groups"
                )
            group = target
            rights = (rights | RIGHT_ENABLED) & ~RIGHT_TRADE_DISABLED
        elif level is AccessLevel.FULL:
            group = normal_group
            rights = (rights | RIGHT_ENABLED) & ~RIGHT_TRADE_DISABLED
        elif level is AccessLevel.READ_ONLY:
            rights = rights | RIGHT_ENABLED | RIGHT_TRADE_DISABLED
        else:
            rights = (rights & ~RIGHT_ENABLED) | RIGHT_TRADE_DISABLED
        record: dict[str, Any] = {"Login": str(login), "Rights": str(rights)}
        if group != info.group:
            record["Group"] = group
        doc = self._call("/api/user/update", {"login": login}, body=record)
        return self._account_info(_answer_object(doc, "/api/user/update"))

    def _access_of(self, rights: int, group: str) -> AccessLevel:
        if not rights & RIGHT_ENABLED:
            return AccessLevel.DISABLED
        if rights & RIGHT_TRADE_DISABLED:
            return AccessLevel.READ_ONLY
        if group.lower() in self._normal_of:
            return AccessLevel.CLOSE_ONLY
        return AccessLevel.FULL

    def _account_info(self, wire: Mapping[str, Any]) -> AccountInfo:
        rights = _int(wire, "Rights")
        registration = _int(wire, "Registration", default=0)
        group = _str(wire, "Group")
        return AccountInfo(
            login=_int(wire, "Login"),
            group=group,
            leverage=_int(wire, "Leverage"),
            name=_str(wire, "Name"),
            email=_str(wire, "Email"),
            access=self._access_of(rights, group),
            rights=rights,
            registered_at=self.clock.to_utc(registration) if registration else None,
            raw=dict(wire),
        )

    # ------------------------------------------------------------------ money
    def apply_balance_operation(self, login: int, kind: BalanceKind, amount: Decimal, comment: str) -> int:
        if not isinstance(amount, Decimal) or not amount.is_finite() or amount == 0:
            raise ValueError("amount must be a non-zero finite Decimal")
        if len(comment) > MAX_COMMENT:
            raise ValueError(f"MT5 keeps only {MAX_COMMENT} comment characters; the reference would be cut")
        params = {
            "login": login,
            "type": BALANCE_TYPE[kind],
            "balance": format(amount, "f"),
            "comment": comment,
            "check_margin": 1,
        }
        doc = self._call("/api/trade/balance", params, write=True)
        answer = doc.get("answer")
        ticket = answer.get("Ticket") if isinstance(answer, dict) else None
        try:
            return int(str(ticket))
        except ValueError:
            raise PlatformProtocolError("trade/balance answered without a ticket") from None

    def find_balance_operation(self, login: int, reference: str, since: dt.datetime) -> int | None:
        now = dt.datetime.now(UTC)
        end = max(now, self.server_time().utc) + dt.timedelta(hours=1)
        found = [
            d.deal_id
            for d in self.deals(start=since, end=end, logins=[login])
            if (d.kind in BALANCE_DEAL_KINDS or d.action in BALANCE_ACTIONS)
            and comment_has_reference(d.comment, reference)
        ]
        return min(found) if found else None

    def account_states(self, logins: Sequence[int]) -> list[AccountState]:
        unique = sorted(set(int(x) for x in logins))
        states: list[AccountState] = []
        for chunk in chunked(unique, self.config.max_logins_per_request):
            doc = self._call("/api/user/account/get_batch", {"login": ",".join(map(str, chunk))})
            observed = dt.datetime.now(UTC)
            for wire in _answer_list(doc, "/api/user/account/get_batch"):
                states.append(self._account_state(wire, observed))
        return states

    def _account_state(self, wire: Mapping[str, Any], observed: dt.datetime) -> AccountState:
        margin = _dec(wire, "Margin")
        activation = _int(wire, "SOActivation", default=0)
        return AccountState(
            login=_int(wire, "Login"),
            balance=_dec(wire, "Balance"),
            credit=_dec(wire, "Credit"),
            equity=_dec(wire, "Equity"),
            margin=margin,
            free_margin=_dec(wire, "MarginFree"),
            margin_level=_dec(wire, "MarginLevel") if margin > 0 else None,
            floating_profit=_dec(wire, "Floating", default=Decimal(0)),
            leverage=_int(wire, "MarginLeverage", default=0),
            margin_call=activation == 1,
            stop_out=activation == 2,
            observed_at=observed,
            raw=dict(wire),
        )

    # ------------------------------------------------------------------ history
    def deals(
        self,
        *,
        start: dt.datetime,
        end: dt.datetime,
        logins: Sequence[int] | None = None,
        group: str | None = None,
    ) -> list[Deal]:
        if (logins is None) == (group is None):
            raise ValueError("pass either logins or group")
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("start and end must be aware datetimes")
        if end <= start:
            return []
        from_s = self.clock.from_utc(start)
        to_s = self.clock.from_utc(end)
        window = max(1, int(self.config.deal_window.total_seconds()))
        selectors: list[dict[str, str]]
        if group is not None:
            selectors = [{"group": group}]
        else:
            unique = sorted(set(int(x) for x in logins or ()))
            if not unique:
                return []
            selectors = [
                {"login": ",".join(map(str, chunk))}
                for chunk in chunked(unique, self.config.max_logins_per_request)
            ]
        seen: dict[int, Deal] = {}
        for selector in selectors:
            low = from_s
            while low <= to_s:
                high = min(low + window - 1, to_s)
                doc = self._call("/api/deal/get_batch", {**selector, "from": low, "to": high})
                for wire in _answer_list(doc, "/api/deal/get_batch"):
                    deal = self._deal(wire)
                    # A batch may repeat a deal; the first copy wins (later copies are identical
                    # or a stale repeat; a real edit is picked up by the next read's content hash).
                    seen.setdefault(deal.deal_id, deal)
                low = high + 1
        result = [d for d in seen.values() if start <= d.time < end]
        result.sort(key=lambda d: (d.time, d.deal_id))
        return result

    def _deal(self, wire: Mapping[str, Any]) -> Deal:
        # The hot path of every sync: plain indexing under one try instead of a helper per field.
        try:
            action = int(wire["Action"])
            kind = ACTION_KIND.get(action, DealKind.OTHER)
            time_msc = (
                int(wire["TimeMsc"]) if wire.get("TimeMsc") not in (None, "") else int(wire["Time"]) * 1000
            )
            volume_ext = wire.get("VolumeExt")
            if volume_ext not in (None, ""):
                volume = _decimal(volume_ext) / VOLUME_EXT_DIV
            else:
                volume = _decimal(wire["Volume"]) / VOLUME_DIV
            bid = _decimal(wire.get("MarketBid") or "0")
            ask = _decimal(wire.get("MarketAsk") or "0")
            return Deal(
                deal_id=int(wire["Deal"]),
                login=int(wire["Login"]),
                time=self.clock.to_utc_msc(time_msc),
                platform_time_msc=time_msc,
                kind=kind,
                action=action,
                entry=ENTRY.get(int(wire.get("Entry") or 0), DealEntry.IN)
                if kind is DealKind.TRADE
                else DealEntry.NONE,
                side=Side.BUY if action == 0 else Side.SELL if action == 1 else None,
                position_id=int(wire.get("PositionID") or 0),
                order_id=int(wire.get("Order") or 0),
                symbol=str(wire.get("Symbol") or ""),
                volume=volume,
                price=_decimal(wire.get("Price") or "0"),
                profit=_decimal(wire["Profit"]),
                commission=_decimal(wire.get("Commission") or "0"),
                swap=_decimal(wire.get("Storage") or "0"),
                fee=_decimal(wire.get("Fee") or "0"),
                comment=str(wire.get("Comment") or ""),
                reason=int(wire.get("Reason") or 0),
                market_bid=bid if bid else None,
                market_ask=ask if ask else None,
                raw=wire,
            )
        except KeyError as exc:
            raise PlatformProtocolError(f"deal record without {exc.args[0]}") from None
        except (ValueError, TypeError, InvalidOperation):
            raise PlatformProtocolError(f"deal record with a malformed number: {dict(wire)!r:.200}") from None

    def open_positions(self, logins: Sequence[int]) -> list[Position]:
        unique = sorted(set(int(x) for x in logins))
        positions: list[Position] = []
        for chunk in chunked(unique, self.config.max_logins_per_request):
            doc = self._call("/api/position/get_batch", {"login": ",".join(map(str, chunk))})
            for wire in _answer_list(doc, "/api/position/get_batch"):
                volume_ext = _int(wire, "VolumeExt", default=-1)
                volume = (
                    Decimal(volume_ext) / VOLUME_EXT_DIV
                    if volume_ext >= 0
                    else _dec(wire, "Volume") / VOLUME_DIV
                )
                created = _int(wire, "TimeCreateMsc", default=-1)
                if created < 0:
                    created = _int(wire, "TimeCreate") * 1000
                positions.append(
                    Position(
                        position_id=_int(wire, "Position"),
                        login=_int(wire, "Login"),
                        symbol=_str(wire, "Symbol"),
                        side=Side.BUY if _int(wire, "Action") == 0 else Side.SELL,
                        volume=volume,
                        price_open=_dec(wire, "PriceOpen"),
                        price_current=_dec(wire, "PriceCurrent", default=Decimal(0)),
                        profit=_dec(wire, "Profit"),
                        swap=_dec(wire, "Storage", default=Decimal(0)),
                        opened_at=self.clock.to_utc_msc(created),
                        comment=_str(wire, "Comment", default=""),
                        raw=dict(wire),
                    )
                )
        return positions

    def quotes(self, symbols: Sequence[str]) -> list[Quote]:
        if not symbols:
            return []
        doc = self._call("/api/tick/last", {"symbol": ",".join(symbols), "trans_id": 0})
        out = []
        for wire in _answer_list(doc, "/api/tick/last"):
            msc = _int(wire, "DatetimeMsc", default=-1)
            if msc < 0:
                msc = _int(wire, "Datetime") * 1000
            out.append(
                Quote(
                    symbol=_str(wire, "Symbol"),
                    bid=_dec(wire, "Bid"),
                    ask=_dec(wire, "Ask"),
                    time=self.clock.to_utc_msc(msc),
                    raw=dict(wire),
                )
            )
        return out

    def server_time(self) -> ServerTime:
        doc = self._call("/api/time/server", {})
        answer = _answer_object(doc, "/api/time/server")
        text = answer.get("time")
        head = str(text).split(" ", 1)[0] if text is not None else ""
        try:
            seconds = int(head)
        except ValueError:
            raise PlatformProtocolError(f"time/server answered {text!r}") from None
        return ServerTime(utc=self.clock.to_utc(seconds), platform_seconds=seconds, raw=str(text))


# ------------------------------------------------------------------------------ parsing helpers
_MISSING = object()


def _answer_object(doc: Mapping[str, Any], path: str) -> Mapping[str, Any]:
    answer = doc.get("answer")
    if not isinstance(answer, dict):
        raise PlatformProtocolError(f"{path} answered without an object")
    return answer


def _answer_list(doc: Mapping[str, Any], path: str) -> list[Mapping[str, Any]]:
    answer = doc.get("answer", [])
    if not isinstance(answer, list) or not all(isinstance(x, dict) for x in answer):
        raise PlatformProtocolError(f"{path} answered without a list of records")
    return answer


def _int(wire: Mapping[str, Any], key: str, default: Any = _MISSING) -> int:
    value = wire.get(key)
    if value is None or value == "":
        if default is _MISSING:
            raise PlatformProtocolError(f"record without {key}")
        return int(default)
    try:
        return int(str(value))
    except ValueError:
        raise PlatformProtocolError(f"{key}={value!r} is not an integer") from None


def _dec(wire: Mapping[str, Any], key: str, default: Any = _MISSING) -> Decimal:
    value = wire.get(key)
    if value is None or value == "":
        if default is _MISSING:
            raise PlatformProtocolError(f"record without {key}")
        return Decimal(default)
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        raise PlatformProtocolError(f"{key}={value!r} is not a number") from None
    if not result.is_finite():
        raise PlatformProtocolError(f"{key}={value!r} is not a finite number")
    return result


def _str(wire: Mapping[str, Any], key: str, default: Any = _MISSING) -> str:
    value = wire.get(key)
    if value is None:
        if default is _MISSING:
            raise PlatformProtocolError(f"record without {key}")
        return str(default)
    return str(value)


def _decimal(value: Any) -> Decimal:
    # MT5 sends numbers as strings; a JSON number is read through its text, never its binary value.
    result = Decimal(value) if type(value) is str else Decimal(str(value))
    if not result.is_finite():
        raise InvalidOperation(value)
    return result
