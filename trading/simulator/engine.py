"""The simulated trade server: accounts, positions, deals, margin, stop-out and trader personas.

Money is ``Decimal`` at the account group's ``currency_digits`` (IMTConGroup::CurrencyDigits: 2 for
USD, 0 for JPY, 3 for KWD, 8 for BTC) so the ground truth is exact, and every money field of an answer
is a decimal string with that many decimals (the record's ``CurrencyDigits``); prices are
``Decimal`` quantised to the symbol's digits. Trading results are worked out in USD and converted to
the deposit currency at the market's mid price (crypto through BTCUSD/ETHUSD, stablecoins at par; a
currency the market does not quote is taken at par, a simulator's simplification). Volumes use MT5's integer units: ``Volume`` counts
1/10000 lot and ``VolumeExt`` 1/100000000 lot (IMTDeal::Volume / IMTDeal::VolumeExt).

Deal records are kept in the exact string-typed shape the Web API returns (``"Deal": "1000001"``,
``"Profit": "12.50"``) plus a few private fields for filtering. Deal actions follow
IMTDeal::EnDealAction (0 buy, 1 sell, 2 balance, 3 credit, 4 charge, 5 correction, 6 bonus,
7 commission ...), entries EnEntryFlags (0 in, 1 out, 2 in/out, 3 out by), reasons EnDealReason
(0 client, 1 expert, 2 dealer, 3 SL, 4 TP, 5 stop-out, 16 mobile, 17 web).

Times: the simulated clock is UTC milliseconds. Everything the server reports (deal Time/TimeMsc,
position and tick times, /api/time/server) is *server time*: the UTC instant shifted by the
server's time-zone offset (and by the injected clock skew), expressed as seconds "since 1970" of
that wall clock, which is how MT5 servers stamp their data. ``from``/``to`` of deal queries are in
the same server time.

Balance invariant kept by every operation, edits and deletions included: an account's balance is
the sum of Profit + Storage + Commission + Fee over its deals except credit deals, and its credit
is the sum of Profit over its credit deals.
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import hmac
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from .config import GroupConfig, ManagerConfig, SimConfig
from .faults import FaultPlan
from .market import BY_NAME, MAJORS, SYMBOLS, Market
from .protocol import fmt_decimal
from .store import Store

CENT = Decimal("0.01")
VOLUME_DIV = 10_000  # Volume units per lot
VOLUME_EXT_DIV = 100_000_000  # VolumeExt units per lot
MAX_BALANCE_OP = Decimal("1000000000")

# IMTUser::EnUsersRights
RIGHT_ENABLED = 0x1
RIGHT_PASSWORD = 0x2
RIGHT_TRADE_DISABLED = 0x4
RIGHT_INVESTOR = 0x8
RIGHT_TRAILING = 0x20
RIGHT_EXPERT = 0x40
RIGHT_REPORTS = 0x100
# Not an MT5 right: the cTrader and Match-Trader faces keep their per-account "close only" here.
RIGHT_CLOSE_ONLY = 0x1000_0000
RIGHT_DEFAULT = RIGHT_ENABLED | RIGHT_PASSWORD | RIGHT_TRAILING | RIGHT_EXPERT | RIGHT_REPORTS

DEAL_BUY, DEAL_SELL, DEAL_BALANCE, DEAL_CREDIT = 0, 1, 2, 3
BALANCE_TYPES = {2, 3, 4, 5, 6}
ENTRY_IN, ENTRY_OUT = 0, 1
REASON_CLIENT, REASON_EXPERT, REASON_DEALER, REASON_SO, REASON_MOBILE, REASON_WEB = 0, 1, 2, 5, 16, 17

PERSONAS = ("dormant", "scalper", "swing", "latency_arb", "hedger")


class ApiError(Exception):
    """A Web API failure answered as a retcode (``code``) with HTTP 200."""

    def __init__(self, code: int, detail: str = "") -> None:
        super().__init__(f"{code} {detail}".strip())
        self.code = code
        self.detail = detail


@dataclass
class Account:
    login: int
    group: str
    name: str
    leverage: int
    rights: int = RIGHT_DEFAULT
    email: str = ""
    phone: str = ""
    country: str = ""
    city: str = ""
    comment: str = ""
    balance: Decimal = Decimal("0.00")
    credit: Decimal = Decimal("0.00")
    registration: int = 0  # server seconds
    last_pass_change: int = 0
    main_password_sha: str = ""
    investor_password_sha: str = ""
    persona: str = ""
    partner: int = 0
    so_activation: int = 0
    so_time: int = 0
    so_level: Decimal = Decimal("0")
    so_equity: Decimal = Decimal("0")
    so_margin: Decimal = Decimal("0")

    def to_json(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        for key in ("balance", "credit", "so_level", "so_equity", "so_margin"):
            data[key] = str(data[key])
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Account:
        data = dict(data)
        for key in ("balance", "credit", "so_level", "so_equity", "so_margin"):
            data[key] = Decimal(data[key])
        return cls(**data)


@dataclass
class Position:
    position: int
    login: int
    symbol: str
    action: int  # 0 buy, 1 sell
    volume_ext: int
    price_open: Decimal
    time_create_msc: int  # server milliseconds
    reason: int
    comment: str = ""
    storage: Decimal = Decimal("0.00")
    close_at_msc: int = 0  # UTC simulated milliseconds when the persona plans to close
    pair: int = 0  # the hedge leg on the partner account
    time_update_msc: int = 0

    @property
    def lots(self) -> Decimal:
        return Decimal(self.volume_ext) / VOLUME_EXT_DIV

    def to_json(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["price_open"] = str(self.price_open)
        data["storage"] = str(self.storage)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Position:
        data = dict(data)
        data["price_open"] = Decimal(data["price_open"])
        data["storage"] = Decimal(data["storage"])
        return cls(**data)


@dataclass
class DealRec:
    id: int
    login: int
    time_srv: int  # server seconds, for from/to filtering
    visible_msc: int  # UTC simulated milliseconds from which deal/get_batch shows it (0 = always)
    wire: dict[str, str] = field(default_factory=dict)


def group_mask_matcher(masks: Iterable[str]) -> re.Pattern[str]:
    """MT5 group masks: comma lists, ``*`` wildcard, ``!`` excludes ("demo*,!demoforex")."""
    include: list[str] = []
    exclude: list[str] = []
    for raw in masks:
        for part in str(raw).split(","):
            part = part.strip()
            if not part:
                continue
            target = exclude if part.startswith("!") else include
            pattern = re.escape(part.lstrip("!")).replace(r"\*", ".*")
            target.append(pattern)
    inc = "|".join(include) or "(?!)"
    exc = "|".join(exclude)
    body = f"(?!(?:{exc})$)(?:{inc})" if exc else f"(?:{inc})"
    return re.compile(f"^{body}$", re.IGNORECASE)


def _money(value: Decimal, digits: int = 2) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_EVEN)


# USD value of a deposit currency that is not one of the market's majors.
_CRYPTO_USD = {"BTC": "BTCUSD", "ETH": "ETHUSD"}
_PAR_USD = frozenset({"USD", "USDT", "USDC"})


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def password_acceptable(password: str) -> bool:
    # MT5 servers insist on 8-16 characters mixing lower case, upper case and digits.
    return (
        8 <= len(password) <= 16
        and any(c.islower() for c in password)
        and any(c.isupper() for c in password)
        and any(c.isdigit() for c in password)
    )


class Engine:
    """All state of the simulated server. Not thread-safe: the HTTP layer holds one lock."""

    deals: list[DealRec]  # every deal, in id (= insertion) order
    deal_index: dict[int, DealRec]
    _by_login: dict[int, list[DealRec]]  # each login's deals in (time, id) order
    _openings: dict[str, DealRec]  # PositionID -> its opening trade deal

    def __init__(self, config: SimConfig, store: Store, faults: FaultPlan) -> None:
        self.config = config
        self.store = store
        self.faults = faults
        self._tz = ZoneInfo(config.server_tz) if config.server_tz else None
        self._pending: list[dict[str, Any]] = []
        self._in_tick = False
        self._event_msc = 0
        self._spacing = 1000
        loaded = store.load()
        if loaded is None:
            self._fresh()
            self.commit()
        else:
            self._restore(*loaded)

    # ------------------------------------------------------------------ state lifecycle
    def _fresh(self) -> None:
        if self.config.start_time:
            start = dt.datetime.fromisoformat(self.config.start_time.replace("Z", "+00:00"))
        else:
            start = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
        self.now_msc = int(start.timestamp() * 1000)
        self.clock_offset_s = 0
        self.rng = random.Random(self.config.seed)
        self.market = Market.fresh(self.now_msc)
        self.accounts: dict[int, Account] = {}
        self.positions: dict[int, Position] = {}
        self._reset_deals()
        self.deleted: list[int] = []
        self.next_deal = 1_000_001
        self.next_order = 5_000_001
        self.next_login = self.config.login_start
        self.last_rollover_day = self._server_day(self.now_msc)

    def _restore(self, snapshot: dict[str, Any], events: list[dict[str, Any]]) -> None:
        self.now_msc = int(snapshot["now_msc"])
        self.clock_offset_s = int(snapshot.get("clock_offset_s", 0))
        self.rng = random.Random()
        version, internal, gauss = snapshot["rng"]
        self.rng.setstate((version, tuple(internal), gauss))
        self.market = Market.from_json(snapshot["market"])
        self.accounts = {int(k): Account.from_json(v) for k, v in snapshot["accounts"].items()}
        self.positions = {int(k): Position.from_json(v) for k, v in snapshot["positions"].items()}
        self.next_deal = int(snapshot["next_deal"])
        self.next_order = int(snapshot["next_order"])
        self.next_login = int(snapshot["next_login"])
        self.last_rollover_day = int(snapshot["last_rollover_day"])
        self.deleted = [int(x) for x in snapshot.get("deleted", [])]
        self._reset_deals()
        removed: set[int] = set()
        for event in events:
            op = event["op"]
            if op == "add":
                self._keep_deal(DealRec(
                    int(event["id"]), int(event["login"]), int(event["t"]), int(event["v"]), event["d"]
                ))
            elif op == "edit":
                self.deal_index[int(event["id"])].wire = event["d"]
            elif op == "del":
                self._drop_deal(self.deal_index[int(event["id"])], keep_order=False)
                removed.add(int(event["id"]))
        if removed:  # one pass for all of the journal's deletions, not one scan each
            self.deals = [r for r in self.deals if r.id not in removed]

    # ------------------------------------------------------------------ deal storage
    # Every request that reads history asks for some logins' deals in a time window. Scanning the
    # whole history for each made a full read quadratic (the requests grow with the accounts, and
    # so does the history): the cTrader face's 16,000 requests for 1,000 accounts over 228,000
    # deals had not been answered after seven minutes. So each login's deals are also kept in
    # (time, id) order, and each position's opening deal by its id.
    def _reset_deals(self) -> None:
        self.deals, self.deal_index, self._by_login, self._openings = [], {}, {}, {}

    @staticmethod
    def _deal_order(rec: DealRec) -> tuple[int, int]:
        return rec.time_srv, rec.id

    def _keep_deal(self, rec: DealRec) -> None:
        self.deals.append(rec)
        self.deal_index[rec.id] = rec
        # Appended at the end while time runs forward; a clock set back puts a deal before others.
        bisect.insort(self._by_login.setdefault(rec.login, []), rec, key=self._deal_order)
        if rec.wire.get("Entry") == str(ENTRY_IN) and rec.wire.get("Action") in ("0", "1"):
            self._openings[rec.wire["PositionID"]] = rec

    def _drop_deal(self, rec: DealRec, *, keep_order: bool = True) -> None:
        del self.deal_index[rec.id]
        if keep_order:
            self.deals.remove(rec)
        mine = self._by_login[rec.login]
        del mine[bisect.bisect_left(mine, self._deal_order(rec), key=self._deal_order)]
        position = rec.wire.get("PositionID", "")
        if self._openings.get(position) is rec:
            del self._openings[position]

    def login_deals(self, login: int, from_srv: int | None = None, to_srv: int | None = None) -> list[DealRec]:
        """The deals of ``login`` (visible or not) with from_srv <= server time <= to_srv, in time order."""
        mine = self._by_login.get(login, [])
        low = 0 if from_srv is None else bisect.bisect_left(mine, (from_srv, 0), key=self._deal_order)
        high = len(mine) if to_srv is None else bisect.bisect_right(mine, (to_srv, 1 << 62), key=self._deal_order)
        return mine[low:high]

    def opening_deals(self, positions: Iterable[str]) -> dict[str, dict[str, str]]:
        """The opening trade deal's wire of each of ``positions`` (by PositionID) still stored."""
        return {p: self._openings[p].wire for p in positions if p in self._openings}

    def snapshot(self) -> dict[str, Any]:
        state = self.rng.getstate()
        return {
            "version": 1,
            "now_msc": self.now_msc,
            "clock_offset_s": self.clock_offset_s,
            "rng": [state[0], list(state[1]), state[2]],
            "market": self.market.to_json(),
            "accounts": {str(k): v.to_json() for k, v in self.accounts.items()},
            "positions": {str(k): v.to_json() for k, v in self.positions.items()},
            "next_deal": self.next_deal,
            "next_order": self.next_order,
            "next_login": self.next_login,
            "last_rollover_day": self.last_rollover_day,
            "deleted": self.deleted,
        }

    def commit(self) -> None:
        """Persist everything changed since the last commit (deal events first, then snapshot)."""
        self.store.commit(self.snapshot(), self._pending)
        self._pending = []

    # ------------------------------------------------------------------ time
    def server_offset_s(self, utc_msc: int | None = None) -> int:
        utc_msc = self.now_msc if utc_msc is None else utc_msc
        if self._tz is not None:
            instant = dt.datetime.fromtimestamp(utc_msc / 1000, dt.UTC)
            offset = instant.astimezone(self._tz).utcoffset() or dt.timedelta()
            base = int(offset.total_seconds())
        else:
            base = self.config.server_tz_offset_minutes * 60
        return base + self.clock_offset_s

    def server_msc(self, utc_msc: int | None = None) -> int:
        utc_msc = self.now_msc if utc_msc is None else utc_msc
        return utc_msc + self.server_offset_s(utc_msc) * 1000

    def _stamp_utc(self) -> int:
        """The UTC time of an event now. Inside a tick, events spread over the tick in order
        instead of all landing on its end."""
        if self._in_tick:
            self._event_msc = min(self.now_msc, self._event_msc + 1 + self.rng.randrange(self._spacing))
            return self._event_msc
        return self.now_msc

    def server_time_text(self) -> str:
        srv = self.server_msc() // 1000
        wall = dt.datetime.fromtimestamp(srv, dt.UTC).strftime("%Y.%m.%d %H:%M:%S")
        return f"{srv} {wall}"

    def _server_day(self, utc_msc: int) -> int:
        return self.server_msc(utc_msc) // 86_400_000

    # ------------------------------------------------------------------ access control
    def manager(self, login: int) -> ManagerConfig | None:
        for manager in self.config.managers:
            if manager.login == login:
                return manager
        return None

    @staticmethod
    def manager_may(manager: ManagerConfig, right: str) -> bool:
        return "all" in manager.rights or right in manager.rights

    def manages(self, manager: ManagerConfig, group: str) -> bool:
        return bool(group_mask_matcher(manager.groups).match(group))

    def account_for(self, manager: ManagerConfig, login: int) -> Account:
        account = self.accounts.get(login)
        if account is None or not self.manages(manager, account.group):
            raise ApiError(13, "account not found")
        return account

    def logins_in_groups(self, manager: ManagerConfig, masks: list[str]) -> list[int]:
        matcher = group_mask_matcher(masks)
        return sorted(
            a.login
            for a in self.accounts.values()
            if matcher.match(a.group) and self.manages(manager, a.group)
        )

    def group_of(self, account: Account) -> GroupConfig:
        group = self.config.group(account.group)
        if group is None:
            raise ApiError(4, f"group {account.group} is not configured")
        return group

    def digits_of(self, account: Account) -> int:
        """Decimals of the account's deposit currency (its group's CurrencyDigits)."""
        group = self.config.group(account.group)
        return group.currency_digits if group is not None else 2

    def account_usd_rate(self, account: Account) -> Decimal:
        """USD value of one unit of the account's deposit currency."""
        group = self.config.group(account.group)
        currency = (group.currency if group is not None else "USD").upper()
        if currency in _PAR_USD:
            return Decimal(1)
        if currency in _CRYPTO_USD:
            return self.market.quotes[_CRYPTO_USD[currency]].mid
        try:
            return self.market.usd_rate(currency)
        except KeyError:
            return Decimal(1)

    def _from_usd(self, account: Account, value: Decimal) -> Decimal:
        return value / self.account_usd_rate(account)

    # ------------------------------------------------------------------ users
    def user_add(self, manager: ManagerConfig, fields: dict[str, str]) -> Account:
        if not self.manager_may(manager, "users"):
            raise ApiError(8)
        group_name = fields.get("group", "")
        group = self.config.group(group_name)
        if group is None:
            raise ApiError(3, "unknown group")
        if not self.manages(manager, group.name):
            raise ApiError(8)
        leverage = _int(fields.get("leverage"), 100)
        if leverage is None or not 1 <= leverage <= group.leverage_max:
            raise ApiError(3, "leverage out of range")
        main = fields.get("passmain", "")
        investor = fields.get("passinvestor", "")
        if not password_acceptable(main) or not password_acceptable(investor):
            raise ApiError(3, "passwords must be 8-16 characters with upper, lower case and digits")
        name = fields.get("name") or " ".join(
            p for p in (fields.get("firstname", ""), fields.get("lastname", "")) if p
        )
        if not name.strip():
            raise ApiError(3, "name is required")
        login = _int(fields.get("login"), 0)
        if login is None or login < 0:
            raise ApiError(3, "invalid login")
        if login:
            if login in self.accounts:
                raise ApiError(3004)
        else:
            while self.next_login in self.accounts:
                self.next_login += 1
            login = self.next_login
            self.next_login += 1
        rights = _int(fields.get("rights"), RIGHT_DEFAULT)
        if rights is None or rights < 0:
            raise ApiError(3, "invalid rights")
        now_srv = self.server_msc(self._stamp_utc()) // 1000
        account = Account(
            login=login,
            group=group.name,
            name=name.strip()[:128],
            leverage=leverage,
            rights=rights,
            email=fields.get("email", "")[:64],
            phone=fields.get("phone", "")[:32],
            country=fields.get("country", "")[:32],
            city=fields.get("city", "")[:32],
            comment=fields.get("comment", "")[:64],
            registration=now_srv,
            last_pass_change=now_srv,
            main_password_sha=_sha(main),
            investor_password_sha=_sha(investor),
        )
        self.accounts[login] = account
        return account

    def user_change_password(self, manager: ManagerConfig, login: int, kind: str, password: str) -> None:
        if not self.manager_may(manager, "users"):
            raise ApiError(8)
        account = self.account_for(manager, login)
        if kind not in ("main", "investor"):
            raise ApiError(3, "type must be main or investor")
        if not password_acceptable(password):
            raise ApiError(3, "passwords must be 8-16 characters with upper, lower case and digits")
        if kind == "main":
            account.main_password_sha = _sha(password)
        else:
            account.investor_password_sha = _sha(password)

    def user_check_password(self, manager: ManagerConfig, login: int, kind: str, password: str) -> None:
        account = self.account_for(manager, login)
        if kind not in ("main", "investor"):
            raise ApiError(3, "type must be main or investor")
        stored = account.main_password_sha if kind == "main" else account.investor_password_sha
        if not password or not hmac.compare_digest(stored, _sha(password)):
            raise ApiError(3006)

    def user_update(self, manager: ManagerConfig, login: int, fields: dict[str, str]) -> Account:
        if not self.manager_may(manager, "users"):
            raise ApiError(8)
        account = self.account_for(manager, login)
        group = self.group_of(account)
        if "group" in fields and fields["group"] and fields["group"].lower() != account.group.lower():
            new_group = self.config.group(fields["group"])
            if new_group is None:
                raise ApiError(3, "unknown group")
            if not self.manages(manager, new_group.name):
                raise ApiError(8)
            group = new_group
        leverage = account.leverage
        if "leverage" in fields:
            parsed = _int(fields["leverage"], None)
            if parsed is None:
                raise ApiError(3, "invalid leverage")
            leverage = parsed
        if not 1 <= leverage <= group.leverage_max:
            raise ApiError(3, "leverage out of range")
        rights = account.rights
        if "rights" in fields:
            parsed = _int(fields["rights"], None)
            if parsed is None or parsed < 0:
                raise ApiError(3, "invalid rights")
            rights = parsed
        account.group = group.name
        account.leverage = leverage
        account.rights = rights
        for key, attr, limit in (
            ("name", "name", 128),
            ("email", "email", 64),
            ("phone", "phone", 32),
            ("country", "country", 32),
            ("city", "city", 32),
            ("comment", "comment", 64),
        ):
            if key in fields:
                setattr(account, attr, fields[key][:limit])
        return account

    # ------------------------------------------------------------------ money
    def balance_op(
        self,
        manager: ManagerConfig,
        login: int,
        kind: int,
        amount_text: str,
        comment: str,
        check_margin: bool,
    ) -> DealRec:
        if not self.manager_may(manager, "balance"):
            raise ApiError(8)
        if kind not in BALANCE_TYPES:
            raise ApiError(3, "invalid balance operation type")
        try:
            amount = Decimal(amount_text)
        except (InvalidOperation, TypeError):
            raise ApiError(3, "invalid amount") from None
        if not amount.is_finite() or amount == 0:
            raise ApiError(3, "invalid amount")
        if abs(amount) > MAX_BALANCE_OP:
            raise ApiError(4005)
        account = self.account_for(manager, login)
        # The amount is kept at the deposit currency's digits (the server rounds what it is sent).
        amount = _money(amount, self.digits_of(account))
        if amount == 0:
            raise ApiError(3, "invalid amount")
        if amount < 0:
            if kind == DEAL_CREDIT:
                if -amount > account.credit:
                    raise ApiError(10019)
            else:
                if -amount > account.balance:
                    raise ApiError(10019)
                if check_margin and -amount > self.account_state(account)["free"]:
                    raise ApiError(10019)
        # Documented: at most 32 characters including the terminator; longer comments are cut.
        return self._balance_deal(account, kind, amount, comment[:31], REASON_DEALER)

    def _balance_deal(
        self, account: Account, kind: int, amount: Decimal, comment: str, reason: int
    ) -> DealRec:
        if kind == DEAL_CREDIT:
            account.credit += amount
        else:
            account.balance += amount
        srv_msc = self.server_msc(self._stamp_utc())
        wire = self._wire_deal(
            deal=self.next_deal,
            login=account.login,
            order=0,
            action=kind,
            entry=ENTRY_IN,
            reason=reason,
            srv_msc=srv_msc,
            symbol="",
            price=None,
            volume_ext=0,
            profit=amount,
            storage=Decimal(0),
            commission=Decimal(0),
            position=0,
            comment=comment,
            price_position=None,
            market=None,
        )
        return self._add_deal(account.login, srv_msc, wire)

    # ------------------------------------------------------------------ reads
    def account_state(self, account: Account) -> dict[str, Decimal]:
        floating = Decimal("0")
        storage = Decimal("0")
        margin = Decimal("0")
        for pos in self._positions_of(account.login):
            floating += self.position_profit(pos)
            storage += pos.storage
            margin += self.position_margin(account, pos)
        digits = self.digits_of(account)
        margin = _money(margin, digits)
        floating = _money(floating, digits)
        equity = account.balance + account.credit + floating + storage
        free = equity - margin
        level = _money(equity / margin * 100) if margin > 0 else Decimal("0.00")
        return {
            "balance": account.balance,
            "credit": account.credit,
            "profit": floating,
            "storage": storage,
            "floating": floating + storage,
            "equity": equity,
            "margin": margin,
            "free": free,
            "level": level,
        }

    def user_wire(self, account: Account) -> dict[str, str]:
        state = self.account_state(account)
        d = self.digits_of(account)
        zero = fmt_decimal(Decimal(0), d)
        first, _, last = account.name.partition(" ")
        return {
            "Login": str(account.login),
            "Group": account.group,
            "CertSerialNumber": "0",
            "Rights": str(account.rights),
            "MQID": "",
            "Registration": str(account.registration),
            "LastAccess": str(account.registration),
            "LastPassChange": str(account.last_pass_change),
            "LastIP": "",
            "Name": account.name,
            "FirstName": first,
            "LastName": last,
            "MiddleName": "",
            "Company": "",
            "Account": "",
            "Country": account.country,
            "Language": "0",
            "ClientID": "0",
            "City": account.city,
            "State": "",
            "ZipCode": "",
            "Address": "",
            "Phone": account.phone,
            "Email": account.email,
            "ID": "",
            "Status": "",
            "Comment": account.comment,
            "Color": "4278190080",
            "PhonePassword": "",
            "Leverage": str(account.leverage),
            "Agent": "0",
            "LimitPositions": "0",
            "LimitOrders": "0",
            "CurrencyDigits": str(d),
            "Balance": fmt_decimal(account.balance, d),
            "Credit": fmt_decimal(account.credit, d),
            "InterestRate": "0.00",
            "CommissionDaily": zero,
            "CommissionMonthly": zero,
            "CommissionAgentDaily": zero,
            "CommissionAgentMonthly": zero,
            "BalancePrevDay": fmt_decimal(account.balance, d),
            "BalancePrevMonth": fmt_decimal(account.balance, d),
            "EquityPrevDay": fmt_decimal(state["equity"], d),
            "EquityPrevMonth": fmt_decimal(state["equity"], d),
            "TradeAccounts": "",
            "LeadCampaign": "",
            "LeadSource": "",
        }

    def account_wire(self, account: Account) -> dict[str, str]:
        state = self.account_state(account)
        d = self.digits_of(account)
        zero = fmt_decimal(Decimal(0), d)
        return {
            "Login": str(account.login),
            "CurrencyDigits": str(d),
            "Balance": fmt_decimal(state["balance"], d),
            "Credit": fmt_decimal(state["credit"], d),
            "Margin": fmt_decimal(state["margin"], d),
            "MarginFree": fmt_decimal(state["free"], d),
            "MarginLevel": fmt_decimal(state["level"], 2),
            "MarginLeverage": str(account.leverage),
            "MarginInitial": zero,
            "MarginMaintenance": zero,
            "Profit": fmt_decimal(state["profit"], d),
            "Storage": fmt_decimal(state["storage"], d),
            "Commission": zero,
            "Floating": fmt_decimal(state["floating"], d),
            "Equity": fmt_decimal(state["equity"], d),
            "SOActivation": str(account.so_activation),
            "SOTime": str(account.so_time),
            "SOLevel": fmt_decimal(account.so_level, 2),
            "SOEquity": fmt_decimal(account.so_equity, d),
            "SOMargin": fmt_decimal(account.so_margin, d),
            "Assets": zero,
            "Liabilities": zero,
            "BlockedCommission": zero,
            "BlockedProfit": zero,
        }

    def deals_query(
        self,
        manager: ManagerConfig,
        *,
        logins: list[int] | None = None,
        groups: list[str] | None = None,
        tickets: list[int] | None = None,
        from_srv: int | None = None,
        to_srv: int | None = None,
        symbols: list[str] | None = None,
    ) -> list[dict[str, str]]:
        if not self.manager_may(manager, "deals"):
            raise ApiError(8)
        given = sum(1 for x in (logins, groups, tickets) if x)
        if given != 1:
            raise ApiError(3, "pass exactly one of login, group, ticket")
        if tickets:
            recs = [self.deal_index[t] for t in tickets if t in self.deal_index]
        else:
            if from_srv is None or to_srv is None:
                raise ApiError(3, "from and to are required with login or group")
            wanted = set(logins) if logins else set(self.logins_in_groups(manager, groups or []))
            recs = [r for login in wanted for r in self.login_deals(login, from_srv, to_srv)]
            recs.sort(key=lambda r: r.id)  # the order of a scan of the whole history
        symbol_set = {s.upper() for s in symbols} if symbols else None
        out = []
        shown: dict[int, bool] = {}  # per login: its account exists and this manager manages its group
        for rec in recs:
            if rec.login not in shown:
                account = self.accounts.get(rec.login)
                shown[rec.login] = account is not None and self.manages(manager, account.group)
            if not shown[rec.login]:
                continue
            if rec.visible_msc and rec.visible_msc > self.now_msc:
                continue
            if symbol_set is not None and rec.wire["Symbol"].upper() not in symbol_set:
                continue
            out.append(rec.wire)
        return out

    def positions_query(
        self,
        manager: ManagerConfig,
        *,
        logins: list[int] | None = None,
        groups: list[str] | None = None,
        tickets: list[int] | None = None,
        symbols: list[str] | None = None,
    ) -> list[dict[str, str]]:
        if not self.manager_may(manager, "positions"):
            raise ApiError(8)
        if sum(1 for x in (logins, groups, tickets) if x) != 1:
            raise ApiError(3, "pass exactly one of login, group, ticket")
        if tickets:
            chosen = [self.positions[t] for t in tickets if t in self.positions]
        else:
            wanted = set(logins) if logins else set(self.logins_in_groups(manager, groups or []))
            chosen = [p for p in self.positions.values() if p.login in wanted]
        symbol_set = {s.upper() for s in symbols} if symbols else None
        out = []
        for pos in sorted(chosen, key=lambda p: p.position):
            account = self.accounts.get(pos.login)
            if account is None or not self.manages(manager, account.group):
                continue
            if symbol_set is not None and pos.symbol.upper() not in symbol_set:
                continue
            out.append(self.position_wire(pos))
        return out

    def position_wire(self, pos: Position) -> dict[str, str]:
        spec = BY_NAME[pos.symbol]
        quote = self.market.quotes[pos.symbol]
        current = quote.bid if pos.action == DEAL_BUY else quote.ask
        lots_units = pos.volume_ext // (VOLUME_EXT_DIV // VOLUME_DIV)
        update = pos.time_update_msc or pos.time_create_msc
        account = self.accounts.get(pos.login)
        d = self.digits_of(account) if account is not None else 2
        return {
            "Position": str(pos.position),
            "ExternalID": "",
            "Login": str(pos.login),
            "Dealer": "0",
            "Symbol": pos.symbol,
            "Action": str(pos.action),
            "Digits": str(spec.digits),
            "DigitsCurrency": str(d),
            "Reason": str(pos.reason),
            "ContractSize": str(spec.contract_size),
            "TimeCreate": str(pos.time_create_msc // 1000),
            "TimeUpdate": str(update // 1000),
            "TimeCreateMsc": str(pos.time_create_msc),
            "TimeUpdateMsc": str(update),
            "ModifyFlags": "0",
            "PriceOpen": fmt_decimal(pos.price_open, spec.digits),
            "PriceCurrent": fmt_decimal(current, spec.digits),
            "PriceSL": "0",
            "PriceTP": "0",
            "Volume": str(lots_units),
            "VolumeExt": str(pos.volume_ext),
            "Profit": fmt_decimal(self.position_profit(pos), d),
            "Storage": fmt_decimal(pos.storage, d),
            "RateProfit": str(self.market.usd_rate(spec.profit_ccy).quantize(Decimal("0.00000001"))),
            "RateMargin": str(self.market.usd_rate(spec.margin_ccy).quantize(Decimal("0.00000001"))),
            "ExpertID": "0",
            "ExpertPositionID": "0",
            "Comment": pos.comment,
            "ActivationMode": "0",
            "ActivationTime": "0",
            "ActivationPrice": "0",
            "ActivationFlags": "0",
        }

    def ticks(self, symbols: list[str]) -> list[dict[str, str]]:
        out = []
        for name in symbols:
            spec = BY_NAME.get(name.upper())
            if spec is None:
                continue
            quote = self.market.quotes[spec.name]
            srv = self.server_msc(quote.time_msc)
            out.append(
                {
                    "Symbol": spec.name,
                    "Digits": str(spec.digits),
                    "Datetime": str(srv // 1000),
                    "DatetimeMsc": str(srv),
                    "Bid": fmt_decimal(quote.bid, spec.digits),
                    "Ask": fmt_decimal(quote.ask, spec.digits),
                    "Last": "0",
                    "Volume": "0",
                    "VolumeReal": "0",
                }
            )
        return out

    # ------------------------------------------------------------------ trading
    def _positions_of(self, login: int) -> list[Position]:
        return sorted((p for p in self.positions.values() if p.login == login), key=lambda p: p.position)

    def position_profit(self, pos: Position) -> Decimal:
        quote = self.market.quotes[pos.symbol]
        close = quote.bid if pos.action == DEAL_BUY else quote.ask
        return self._profit(pos, close)

    def _profit(self, pos: Position, close: Decimal) -> Decimal:
        spec = BY_NAME[pos.symbol]
        direction = 1 if pos.action == DEAL_BUY else -1
        raw = (close - pos.price_open) * direction * pos.lots * spec.contract_size
        account = self.accounts[pos.login]
        usd = raw * self.market.usd_rate(spec.profit_ccy)
        return _money(self._from_usd(account, usd), self.digits_of(account))

    def position_margin(self, account: Account, pos: Position) -> Decimal:
        spec = BY_NAME[pos.symbol]
        leverage = Decimal(min(account.leverage, spec.max_leverage))
        notional = pos.lots * spec.contract_size
        if spec.fx:
            value = notional * self.market.usd_rate(spec.margin_ccy)
        else:
            value = notional * self.market.quotes[pos.symbol].mid * self.market.usd_rate(spec.profit_ccy)
        return self._from_usd(account, value) / leverage

    def trading_allowed(self, account: Account) -> bool:
        return (bool(account.rights & RIGHT_ENABLED) and not account.rights & RIGHT_TRADE_DISABLED
                and not account.rights & RIGHT_CLOSE_ONLY)

    def open_position(
        self,
        account: Account,
        symbol: str,
        action: int,
        lots: Decimal,
        *,
        reason: int = REASON_CLIENT,
        price: Decimal | None = None,
        comment: str = "",
        hold_seconds: int = 0,
        check_margin: bool = True,
    ) -> Position:
        spec = BY_NAME.get(symbol)
        if spec is None:
            raise ApiError(3, "unknown symbol")
        if action not in (DEAL_BUY, DEAL_SELL):
            raise ApiError(3, "action must be 0 (buy) or 1 (sell)")
        volume_ext = int((lots * VOLUME_EXT_DIV).to_integral_value())
        volume_ext -= volume_ext % spec.volume_step_ext
        if volume_ext <= 0:
            raise ApiError(3, "volume too small")
        if not self.trading_allowed(account) or self.group_of(account).trade_mode != "full":
            raise ApiError(10006, "trading disabled for the account")
        quote = self.market.quotes[symbol]
        fill = price if price is not None else (quote.ask if action == DEAL_BUY else quote.bid)
        srv_msc = self.server_msc(self._stamp_utc())
        order = self.next_order
        self.next_order += 1
        pos = Position(
            position=order,
            login=account.login,
            symbol=symbol,
            action=action,
            volume_ext=volume_ext,
            price_open=fill,
            time_create_msc=srv_msc,
            reason=reason,
            comment=comment[:31],
            close_at_msc=self.now_msc + hold_seconds * 1000 if hold_seconds else 0,
        )
        if check_margin:
            state = self.account_state(account)
            if self.position_margin(account, pos) > state["free"]:
                self.next_order -= 1
                raise ApiError(10019)
        commission = self._commission(account, pos.lots)
        account.balance += commission
        self.positions[pos.position] = pos
        wire = self._wire_deal(
            deal=self.next_deal,
            login=account.login,
            order=order,
            action=action,
            entry=ENTRY_IN,
            reason=reason,
            srv_msc=srv_msc,
            symbol=symbol,
            price=fill,
            volume_ext=volume_ext,
            profit=Decimal(0),
            storage=Decimal(0),
            commission=commission,
            position=pos.position,
            comment=pos.comment,
            price_position=None,
            market=quote,
        )
        self._add_deal(account.login, srv_msc, wire)
        return pos

    def close_position(
        self, pos: Position, *, reason: int = REASON_CLIENT, price: Decimal | None = None, comment: str = ""
    ) -> DealRec:
        account = self.accounts[pos.login]
        spec = BY_NAME[pos.symbol]
        quote = self.market.quotes[pos.symbol]
        fill = price if price is not None else (quote.bid if pos.action == DEAL_BUY else quote.ask)
        profit = self._profit(pos, fill)
        commission = self._commission(account, pos.lots)
        account.balance += profit + pos.storage + commission
        del self.positions[pos.position]
        order = self.next_order
        self.next_order += 1
        srv_msc = self.server_msc(self._stamp_utc())
        wire = self._wire_deal(
            deal=self.next_deal,
            login=account.login,
            order=order,
            action=DEAL_SELL if pos.action == DEAL_BUY else DEAL_BUY,
            entry=ENTRY_OUT,
            reason=reason,
            srv_msc=srv_msc,
            symbol=pos.symbol,
            price=fill,
            volume_ext=pos.volume_ext,
            profit=profit,
            storage=pos.storage,
            commission=commission,
            position=pos.position,
            comment=(comment or pos.comment)[:31],
            price_position=pos.price_open,
            market=quote,
        )
        wire["VolumeClosed"] = wire["Volume"]
        wire["VolumeClosedExt"] = wire["VolumeExt"]
        raw = (fill - pos.price_open) * (1 if pos.action == DEAL_BUY else -1) * pos.lots * spec.contract_size
        wire["ProfitRaw"] = fmt_decimal(raw, self.digits_of(account))
        return self._add_deal(account.login, srv_msc, wire)

    def _commission(self, account: Account, lots: Decimal) -> Decimal:
        per_lot = Decimal(self.group_of(account).commission_per_lot)  # USD
        return -_money(self._from_usd(account, per_lot * lots), self.digits_of(account))

    def _wire_deal(
        self,
        *,
        deal: int,
        login: int,
        order: int,
        action: int,
        entry: int,
        reason: int,
        srv_msc: int,
        symbol: str,
        price: Decimal | None,
        volume_ext: int,
        profit: Decimal,
        storage: Decimal,
        commission: Decimal,
        position: int,
        comment: str,
        price_position: Decimal | None,
        market: Any,
    ) -> dict[str, str]:
        spec = BY_NAME.get(symbol)
        digits = spec.digits if spec else 0
        rate_profit = self.market.usd_rate(spec.profit_ccy) if spec else Decimal(1)
        rate_margin = self.market.usd_rate(spec.margin_ccy) if spec else Decimal(1)
        point = spec.point if spec else Decimal(0)
        tick_value = point * spec.contract_size * rate_profit if spec else Decimal(0)
        account = self.accounts.get(login)
        d = self.digits_of(account) if account is not None else 2
        zero = fmt_decimal(Decimal(0), d)
        return {
            "Deal": str(deal),
            "ExternalID": "",
            "Login": str(login),
            "Dealer": "0",
            "Order": str(order),
            "Action": str(action),
            "Entry": str(entry),
            "Reason": str(reason),
            "Digits": str(digits),
            "DigitsCurrency": str(d),
            "ContractSize": str(spec.contract_size) if spec else "0",
            "Time": str(srv_msc // 1000),
            "TimeMsc": str(srv_msc),
            "Symbol": symbol,
            "Price": fmt_decimal(price, digits) if price is not None else "0",
            "Volume": str(volume_ext // (VOLUME_EXT_DIV // VOLUME_DIV)),
            "VolumeExt": str(volume_ext),
            "Profit": fmt_decimal(profit, d),
            "Storage": fmt_decimal(storage, d),
            "Commission": fmt_decimal(commission, d),
            "Fee": zero,
            "Value": zero,
            "RateProfit": str(rate_profit.quantize(Decimal("0.00000001"))),
            "RateMargin": str(rate_margin.quantize(Decimal("0.00000001"))),
            "ExpertID": "0",
            "PositionID": str(position),
            "Comment": comment,
            "ProfitRaw": fmt_decimal(profit, d) if not spec else zero,
            "PricePosition": fmt_decimal(price_position, digits) if price_position is not None else "0",
            "PriceSL": "0",
            "PriceTP": "0",
            "VolumeClosed": "0",
            "VolumeClosedExt": "0",
            "TickValue": str(tick_value.quantize(Decimal("0.00000001"))),
            "TickSize": str(point),
            "Flags": "0",
            "Gateway": "",
            "PriceGateway": "0",
            "ModifyFlags": "0",
            "MarketBid": fmt_decimal(market.bid, digits) if market is not None else "0",
            "MarketAsk": fmt_decimal(market.ask, digits) if market is not None else "0",
            "MarketLast": "0",
        }

    def _add_deal(self, login: int, srv_msc: int, wire: dict[str, str]) -> DealRec:
        deal_id = self.next_deal
        self.next_deal += 1
        visible = 0
        late = self.faults.budget("late_deals", "*")
        if late is not None:
            rule, _left = late
            visible = self.now_msc + int(float(rule.params.get("delay_seconds", 60)) * 1000)
            self.faults.spend(rule, 1)
        rec = DealRec(deal_id, login, srv_msc // 1000, visible, wire)
        self._keep_deal(rec)
        self._pending.append(
            {"op": "add", "id": deal_id, "login": login, "t": rec.time_srv, "v": visible, "d": wire}
        )
        return rec

    # ------------------------------------------------------------------ after-read mutations
    def mutate_after_read(self, returned: list[dict[str, str]], mode: str, limit: int) -> int:
        """Edit or delete up to ``limit`` of the just-returned deals that are safe to change
        (closing trade deals and balance-type deals), keeping the balance invariant."""
        changed = 0
        seen: set[int] = set()
        for wire in returned:
            if changed >= limit:
                break
            deal_id = int(wire["Deal"])
            if deal_id in seen or deal_id not in self.deal_index:
                continue
            seen.add(deal_id)
            rec = self.deal_index[deal_id]
            action, entry = int(rec.wire["Action"]), int(rec.wire["Entry"])
            if not (action in BALANCE_TYPES or entry == ENTRY_OUT):
                continue
            account = self.accounts.get(rec.login)
            if account is None:
                continue
            if mode == "delete":
                self._reverse(account, rec.wire)
                self._drop_deal(rec)
                self.deleted.append(deal_id)
                self._pending.append({"op": "del", "id": deal_id})
            else:
                digits = self.digits_of(account)
                delta = -Decimal(1 + self.rng.randrange(500)).scaleb(-digits)  # 1-500 minor units
                new = dict(rec.wire)
                new["Profit"] = fmt_decimal(Decimal(new["Profit"]) + delta, digits)
                new["ModifyFlags"] = "2"  # MODIFY_FLAGS_MANAGER
                if action == DEAL_CREDIT:
                    account.credit += delta
                else:
                    account.balance += delta
                rec.wire = new
                self._pending.append({"op": "edit", "id": deal_id, "d": new})
            changed += 1
        return changed

    @staticmethod
    def _reverse(account: Account, wire: dict[str, str]) -> None:
        if int(wire["Action"]) == DEAL_CREDIT:
            account.credit -= Decimal(wire["Profit"])
        else:
            account.balance -= (
                Decimal(wire["Profit"])
                + Decimal(wire["Storage"])
                + Decimal(wire["Commission"])
                + Decimal(wire["Fee"])
            )

    # ------------------------------------------------------------------ clock and activity
    def advance(self, seconds: int) -> dict[str, int]:
        """Move the clock ``seconds`` forward in ticks of ``tick_seconds``: prices walk, swaps roll
        at server midnight, personas trade, stop-outs close positions."""
        before = self.next_deal
        step = max(1, self.config.tick_seconds)
        remaining = max(0, int(seconds))
        ticks = 0
        while remaining > 0:
            dt_s = min(step, remaining)
            remaining -= dt_s
            self._event_msc = self.now_msc
            self._spacing = max(1, dt_s * 1000 // 40)
            self.now_msc += dt_s * 1000
            self.market.step(self.rng, dt_s, self.now_msc)
            self._rollover()
            self._in_tick = True
            try:
                self._activity(dt_s)
                self._stop_out()
            finally:
                self._in_tick = False
            ticks += 1
        return {"ticks": ticks, "deals": self.next_deal - before}

    def _rollover(self) -> None:
        day = self._server_day(self.now_msc)
        while self.last_rollover_day < day:
            self.last_rollover_day += 1
            weekday = dt.datetime.fromtimestamp(self.last_rollover_day * 86_400, dt.UTC).weekday()
            multiplier = 3 if weekday == 3 else 1  # Wednesday night books the weekend's swap
            for pos in sorted(self.positions.values(), key=lambda p: p.position):
                spec = BY_NAME[pos.symbol]
                rate = spec.swap_long if pos.action == DEAL_BUY else spec.swap_short
                notional = pos.lots * spec.contract_size * self.market.usd_rate(spec.margin_ccy)
                if not spec.fx:
                    notional = pos.lots * spec.contract_size * self.market.quotes[pos.symbol].mid
                    notional *= self.market.usd_rate(spec.profit_ccy)
                account = self.accounts[pos.login]
                swap = self._from_usd(account, notional * Decimal(repr(rate)) / 360 * multiplier)
                pos.storage += _money(swap, self.digits_of(account))

    def _stop_out(self) -> None:
        flagged = {a.login for a in self.accounts.values() if a.so_activation}
        for login in sorted({p.login for p in self.positions.values()} | flagged):
            account = self.accounts[login]
            group = self.group_of(account)
            state = self.account_state(account)
            if state["margin"] <= 0:
                account.so_activation = 0
                continue
            level = state["level"]
            if level < group.margin_call:
                if account.so_activation == 0:
                    account.so_activation = 1
                    account.so_time = self.server_msc() // 1000
                    account.so_level, account.so_equity, account.so_margin = (
                        level,
                        state["equity"],
                        state["margin"],
                    )
            else:
                account.so_activation = 0
            while level < group.stop_out and state["margin"] > 0:
                positions = self._positions_of(login)
                if not positions:
                    break
                worst = min(positions, key=lambda p: (self.position_profit(p) + p.storage, p.position))
                account.so_activation = 2
                account.so_time = self.server_msc() // 1000
                account.so_level, account.so_equity, account.so_margin = (
                    level,
                    state["equity"],
                    state["margin"],
                )
                self.close_position(worst, reason=REASON_SO, comment=f"[so {level}%]")
                state = self.account_state(account)
                level = state["level"]
            if account.so_activation == 2:
                # SOActivation describes the account now, not the episode that just ended.
                account.so_activation = 1 if state["margin"] > 0 and level < group.margin_call else 0

    def _activity(self, dt_s: int) -> None:
        now = self.now_msc
        for login in sorted(self.accounts):
            account = self.accounts[login]
            if not account.persona or account.persona == "dormant":
                continue
            if not self.trading_allowed(account):
                continue
            for pos in self._positions_of(login):
                if pos.position in self.positions and pos.close_at_msc and pos.close_at_msc <= now:
                    self._persona_close(account, pos)
            if self.group_of(account).trade_mode != "full":
                continue
            handler = getattr(self, f"_persona_{account.persona}", None)
            if handler is not None:
                handler(account, dt_s)

    def _p(self, per_minute: float, dt_s: int) -> bool:
        return bool(self.rng.random() < 1.0 - (1.0 - per_minute) ** (dt_s / 60.0))

    def _lots(self, account: Account, choices: tuple[str, ...]) -> Decimal:
        equity = self.account_state(account)["equity"]
        scale = min(Decimal(5), max(Decimal("0.01"), equity / 10_000))
        lots = Decimal(self.rng.choice(choices)) * scale
        return max(Decimal("0.01"), lots.quantize(CENT))

    def _try_open(
        self, account: Account, symbol: str, action: int, lots: Decimal, **kwargs: Any
    ) -> Position | None:
        try:
            return self.open_position(account, symbol, action, lots, **kwargs)
        except ApiError:
            return None

    def _persona_close(self, account: Account, pos: Position) -> None:
        price = None
        if account.persona == "latency_arb":
            # Exits at the previous tick's price when that price is the better one for the trader.
            prev = self.market.previous[pos.symbol]
            quote = self.market.quotes[pos.symbol]
            if pos.action == DEAL_BUY and prev.bid > quote.bid:
                price = prev.bid
            elif pos.action == DEAL_SELL and prev.ask < quote.ask:
                price = prev.ask
        self.close_position(pos, reason=pos.reason, price=price)
        if pos.pair and pos.pair in self.positions:
            self.close_position(self.positions[pos.pair], reason=pos.reason)

    def _persona_scalper(self, account: Account, dt_s: int) -> None:
        if len(self._positions_of(account.login)) >= 3 or not self._p(0.35, dt_s):
            return
        symbol = self.rng.choice((*MAJORS, "XAUUSD", "US500"))
        action = self.rng.choice((DEAL_BUY, DEAL_SELL))
        reason = self.rng.choice((REASON_EXPERT, REASON_WEB))
        hold = self.rng.randrange(60, 480)
        self._try_open(
            account,
            symbol,
            action,
            self._lots(account, ("0.1", "0.2", "0.5", "1")),
            reason=reason,
            hold_seconds=hold,
        )

    def _persona_swing(self, account: Account, dt_s: int) -> None:
        if len(self._positions_of(account.login)) >= 4 or not self._p(0.01, dt_s):
            return
        symbol = self.rng.choice([s.name for s in SYMBOLS])
        action = self.rng.choice((DEAL_BUY, DEAL_SELL))
        reason = self.rng.choice((REASON_CLIENT, REASON_MOBILE))
        hold = self.rng.randrange(4 * 3600, 72 * 3600)
        self._try_open(
            account,
            symbol,
            action,
            self._lots(account, ("0.2", "0.5", "1", "2")),
            reason=reason,
            hold_seconds=hold,
        )

    def _persona_latency_arb(self, account: Account, dt_s: int) -> None:
        if len(self._positions_of(account.login)) >= 2:
            return
        for symbol in (*MAJORS, "XAUUSD"):
            prev = self.market.previous[symbol]
            quote = self.market.quotes[symbol]
            spread = quote.ask - quote.bid
            move = quote.mid - prev.mid
            if spread <= 0 or abs(move) < 2 * spread or self.rng.random() >= 0.6:
                continue
            # Fills at the stale (previous) price in the direction the market already moved.
            action = DEAL_BUY if move > 0 else DEAL_SELL
            stale = prev.ask if action == DEAL_BUY else prev.bid
            hold = self.rng.randrange(60, 180)
            lots = self._lots(account, ("0.5", "1", "2"))
            self._try_open(
                account, symbol, action, lots, reason=REASON_EXPERT, price=stale, hold_seconds=hold
            )
            return

    def _persona_hedger(self, account: Account, dt_s: int) -> None:
        partner = self.accounts.get(account.partner)
        if partner is None or account.login > partner.login:
            return  # the lower login of the pair drives both legs
        if not self.trading_allowed(partner) or self.group_of(partner).trade_mode != "full":
            return
        if len(self._positions_of(account.login)) >= 2 or not self._p(0.03, dt_s):
            return
        symbol = self.rng.choice((*MAJORS, "XAUUSD", "US30", "GER40"))
        lots = min(self._lots(account, ("0.5", "1", "2")), self._lots(partner, ("0.5", "1", "2")))
        hold = self.rng.randrange(1800, 6 * 3600)
        leg_a = self._try_open(account, symbol, DEAL_BUY, lots, reason=REASON_CLIENT, hold_seconds=hold)
        if leg_a is None:
            return
        leg_b = self._try_open(partner, symbol, DEAL_SELL, lots, reason=REASON_CLIENT, hold_seconds=hold)
        if leg_b is None:
            self.close_position(leg_a, reason=REASON_CLIENT)
            return
        leg_a.pair, leg_b.pair = leg_b.position, leg_a.position

    # ------------------------------------------------------------------ control helpers
    def seed_account(
        self,
        *,
        group: str,
        persona: str,
        balance: str,
        leverage: int,
        name: str,
        partner: int = 0,
        email: str = "",
        country: str = "",
    ) -> Account:
        if persona and persona not in PERSONAS:
            raise ApiError(3, f"persona must be one of {PERSONAS}")
        root = ManagerConfig(login=0, password="", groups=("*",), rights=("all",))
        account = self.user_add(
            root,
            {
                "group": group,
                "leverage": str(leverage),
                "name": name,
                "email": email,
                "country": country,
                "passmain": "Main" + str(self.next_login) + "x",
                "passinvestor": "Inv" + str(self.next_login) + "xY",
            },
        )
        account.persona = persona
        account.partner = partner
        if Decimal(balance) > 0:
            self._balance_deal(
                account, DEAL_BALANCE, _money(Decimal(balance), self.digits_of(account)), "Initial deposit",
                REASON_DEALER
            )
        return account

    def set_persona(self, login: int, persona: str, partner: int = 0) -> Account:
        if persona and persona not in PERSONAS:
            raise ApiError(3, f"persona must be one of {PERSONAS}")
        account = self.accounts.get(login)
        if account is None:
            raise ApiError(13)
        account.persona = persona
        account.partner = partner
        return account

    def ground_truth(self) -> dict[str, Any]:
        return {
            "now_utc_msc": self.now_msc,
            "server_time": self.server_msc() // 1000,
            "server_offset_seconds": self.server_offset_s(),
            "accounts": [
                {**self.user_wire(a), **self.account_wire(a), "Persona": a.persona, "Partner": str(a.partner)}
                for a in sorted(self.accounts.values(), key=lambda a: a.login)
            ],
            "positions": [
                self.position_wire(p) for p in sorted(self.positions.values(), key=lambda p: p.position)
            ],
            "deals": [
                {**r.wire, "_visible": not r.visible_msc or r.visible_msc <= self.now_msc} for r in self.deals
            ],
            "deleted_deals": list(self.deleted),
        }


def _int(value: str | None, default: int | None) -> int | None:
    if value is None or str(value).strip() == "":
        return default
    try:
        return int(str(value).strip())
    except ValueError:
        return None
