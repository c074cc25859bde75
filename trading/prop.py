"""Prop-trading challenges: products with versioned rules, the evaluator, the platform actions.

Layering. Trading owns what the rules read (accounts, equity, deals, positions) and what a decision
does (the account's rights on the platform), so products, challenges, the evaluator and the
breach/pass actions are here. Trading sits below the wallet and cannot move money: the fee
(wallet.prop.challenge_buy posts it through the ledger, then calls ``challenge_create``) and the
payouts (wallet.prop.challenge_payout: ``challenge_payout_take`` here, then the wallet's withdrawal
queue) are the wallet's.

Rules (a product version's data; evaluated by ``challenges_evaluate`` after every account-state
poll of a server, and by ``challenges_deals_learn`` after every deal poll, in set-based SQL):
- daily loss: (the day's starting balance or equity - equity now) > pct of that start. The day is
  the UTC day; its start is the last equity/balance the CRM saw before the day began (the phase's
  starting balance on its first day). A loss exactly at the limit is allowed; beyond it, a breach.
- maximum loss: equity below start - pct of start (static) or below the highest equity seen
  minus pct of start (trailing). Exactly at the floor is allowed.
- profit target: balance and equity at least start + pct (profit closed, nothing open losing it
  back) once the phase's minimum of trading days (UTC days with a trade deal) is met.
- time limit: the phase not passed within its days from the phase's start: failed.
- allowed instruments: a trade deal in another symbol is a breach.
- weekend: a position open when a poll runs on a Saturday or Sunday (UTC) is a breach.
Not evaluated, for want of data: news trading (the CRM has no economic calendar; the product's
flag is shown to traders and staff as a rule that is checked by hand), equity between two polls
(a dip that recovers before the next poll is not seen), the platform's own trading-day boundary
(the CRM's UTC day is used).

Every decision is a ChallengeDecision row with the figures it was made from and a snapshot of the
account; ``decision_text`` puts it into words in the reader's language.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext

from crm.audit import audit_record
from crm.events import emit, emit_many
from crm.exceptions import FieldErrors, NotAllowed, NotFound, ValidationFailed
from crm.lib.money import Money, UnknownCurrency, currency_normalise, money_format, money_parse, to_decimal
from crm.lib.validation import InvalidValue
from crm.models import Brand, Client, User
from crm.permissions import user_can
from plumbing.sqlfiles import sql_text
from trading.accounts import (
    balance_operation_request,
    balance_operation_resolve,
    balance_operation_send,
    trading_account_open,
    trading_account_set_access,
)
from trading.adapters.base import AccessLevel as PlatformAccess
from trading.exceptions import PlatformFailed
from trading.lease import lease_hold
from trading.models import (
    AccessLevel,
    BalanceOperation,
    BalanceState,
    Challenge,
    ChallengeDecision,
    ChallengeEquityPoint,
    ChallengeProduct,
    PlatformServer,
    TradingAccount,
)
from trading.prop_models import (
    CHALLENGE_STATES,
    LIVE_STATES,
    BreachAction,
    ChallengeState,
    DailyLossBasis,
    DecisionKind,
    MaxLossMode,
)
from trading.registry import adapter_for

logger = logging.getLogger(__name__)

POINT_EVERY = dt.timedelta(minutes=1)
HUNDRED = Decimal(100)
MAX_PHASES = 5
# The lease one opening of a challenge holds (renewed while it runs; a dead worker's lapses).
OPEN_LEASE_SECONDS = 30.0


class Rule:
    DAILY_LOSS = "daily_loss"
    MAX_LOSS = "max_loss"
    PROFIT_TARGET = "profit_target"
    TIME_LIMIT = "time_limit"
    INSTRUMENT = "instrument"
    WEEKEND = "weekend"


BREACH_RULES = (Rule.DAILY_LOSS, Rule.MAX_LOSS, Rule.WEEKEND, Rule.INSTRUMENT)


def _require(actor: User | None, perm: str) -> None:
    if actor is not None and not user_can(actor, perm):
        raise NotAllowed()


# --- products ----------------------------------------------------------------------------------------

def _pct(value: Any, field_name: str, errors: FieldErrors, *, allow_none: bool = False,
         upper: Decimal = HUNDRED) -> Decimal | None:
    if value in (None, "") and allow_none:
        return None
    try:
        number = to_decimal(value, field=field_name)
    except InvalidValue as error:
        errors.add(field_name, error.message)
        return None
    if not (Decimal(0) < number < upper) or number != number.quantize(Decimal("0.01")):
        errors.add(field_name, gettext("Give a percentage above 0 and below %(upper)s, with at most two decimals.")
                   % {"upper": upper})
        return None
    return number


def _days(value: Any, field_name: str, errors: FieldErrors, *, allow_none: bool) -> int | None:
    if value in (None, "") and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit() \
            or not 0 <= int(value) <= 3650:
        errors.add(field_name, gettext("Give a whole number of days from 0 to 3650."))
        return None
    return int(value)


def phases_clean(value: Any, errors: FieldErrors) -> list[dict[str, Any]]:
    """The evaluation phases, checked field by field (named ``phases[i].field`` in errors)."""
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_PHASES:
        errors.add("phases", gettext("Give from 1 to %(n)s evaluation phases.") % {"n": MAX_PHASES})
        return []
    out: list[dict[str, Any]] = []
    for index, phase in enumerate(value):
        prefix = f"phases[{index}]"
        if not isinstance(phase, Mapping):
            errors.add(prefix, gettext("Each phase is an object."))
            continue
        name = str(phase.get("name") or "").strip()[:60]
        if not name:
            errors.add(f"{prefix}.name", gettext("Name the phase."))
        target = _pct(phase.get("profit_target_pct"), f"{prefix}.profit_target_pct", errors, upper=Decimal(1000))
        min_days = _days(phase.get("min_trading_days", 0), f"{prefix}.min_trading_days", errors, allow_none=False)
        limit = _days(phase.get("time_limit_days"), f"{prefix}.time_limit_days", errors, allow_none=True)
        if limit is not None and min_days is not None and limit and limit < min_days:
            errors.add(f"{prefix}.time_limit_days",
                       gettext("The time limit must leave room for the minimum of trading days."))
        out.append({"name": name, "profit_target_pct": str(target) if target is not None else None,
                    "min_trading_days": min_days or 0, "time_limit_days": limit or None})
    return out


def _symbols(value: Any, errors: FieldErrors) -> list[str]:
    if isinstance(value, str):
        value = [s for s in value.replace(",", " ").split() if s]
    if not isinstance(value, list) or not all(isinstance(s, str) and 0 < len(s.strip()) <= 32 for s in value):
        errors.add("allowed_symbols", gettext("List instrument symbols (up to 32 characters each), or none for all."))
        return []
    return sorted({s.strip() for s in value})


def _product_snapshot(product: ChallengeProduct) -> dict[str, Any]:
    return {"key": product.key, "version": product.version, "name": product.name, "on_sale": product.on_sale,
            "server": product.server_id, "account_type": product.account_type, "currency": product.currency,
            "account_size": str(product.account_size), "fee": str(product.fee), "phases": product.phases,
            "daily_loss_pct": str(product.daily_loss_pct), "daily_loss_basis": product.daily_loss_basis,
            "max_loss_pct": str(product.max_loss_pct), "max_loss_mode": product.max_loss_mode,
            "allowed_symbols": product.allowed_symbols, "news_trading_allowed": product.news_trading_allowed,
            "weekend_holding_allowed": product.weekend_holding_allowed, "breach_action": product.breach_action,
            "profit_split_pct": str(product.profit_split_pct)}


@transaction.atomic
def challenge_product_save(*, actor: User | None, brand: Brand, key: str, name: str, server: PlatformServer,
                           account_type: str, currency: str, account_size: Any, fee: Any, phases: Any,
                           daily_loss_pct: Any, daily_loss_basis: str, max_loss_pct: Any, max_loss_mode: str,
                           allowed_symbols: Any = (), news_trading_allowed: bool = True,
                           weekend_holding_allowed: bool = True, breach_action: str = BreachAction.DISABLED,
                           profit_split_pct: Any = "80", on_sale: bool = True) -> ChallengeProduct:
    """Write the next version of product `key` of `brand` (version 1 if new). The version before it
    goes off sale; challenges already sold keep the version they were sold with. Every field is
    checked and named in ValidationFailed; nothing is written on an error."""
    _require(actor, "trading.add_challengeproduct")
    errors = FieldErrors()
    key = (key or "").strip().lower()
    if not key or not key.replace("-", "").replace("_", "").isalnum() or len(key) > 40:
        errors.add("key", gettext("Give a short key of letters, digits and dashes."))
    name = (name or "").strip()
    if not name or len(name) > 120:
        errors.add("name", gettext("Name the product (up to 120 characters)."))
    if server.brand_id != brand.pk:
        errors.add("server", gettext("This server belongs to another brand."))
    elif server.account_type(account_type) is None:
        errors.add("account_type", gettext("Choose an account type of this server."))
    try:
        currency = currency_normalise(currency)
    except UnknownCurrency as error:
        errors.add("currency", error.message)
        currency = ""
    size = money_or_error(account_size, currency, "account_size", errors, positive=True)
    fee_value = money_or_error(fee, currency, "fee", errors, positive=False)
    cleaned_phases = phases_clean(phases, errors)
    daily = _pct(daily_loss_pct, "daily_loss_pct", errors)
    overall = _pct(max_loss_pct, "max_loss_pct", errors)
    split = _pct(profit_split_pct, "profit_split_pct", errors, upper=Decimal("100.01"))
    if daily_loss_basis not in DailyLossBasis.values:
        errors.add("daily_loss_basis", gettext("Choose the day's starting balance or equity."))
    if max_loss_mode not in MaxLossMode.values:
        errors.add("max_loss_mode", gettext("Choose static or trailing."))
    if breach_action not in BreachAction.values:
        errors.add("breach_action", gettext("Choose what a breach does to the account."))
    symbols = _symbols(list(allowed_symbols) if isinstance(allowed_symbols, tuple) else allowed_symbols, errors)
    if daily is not None and overall is not None and daily > overall:
        errors.add("daily_loss_pct", gettext("The daily loss limit cannot be above the maximum loss."))
    errors.raise_if_any()
    current = (ChallengeProduct.objects.select_for_update().filter(brand=brand, key=key)
               .order_by("-version").first())
    before = _product_snapshot(current) if current is not None else None
    if current is not None and current.on_sale:
        ChallengeProduct.objects.filter(pk=current.pk).update(on_sale=False)
    assert daily is not None and overall is not None and split is not None  # refused above when missing
    product = ChallengeProduct.objects.create(
        brand=brand, key=key, version=(current.version + 1) if current else 1, name=name, on_sale=on_sale,
        server=server, account_type=account_type, currency=currency, account_size=size, fee=fee_value,
        phases=cleaned_phases, daily_loss_pct=daily, daily_loss_basis=daily_loss_basis, max_loss_pct=overall,
        max_loss_mode=max_loss_mode, allowed_symbols=symbols, news_trading_allowed=bool(news_trading_allowed),
        weekend_holding_allowed=bool(weekend_holding_allowed), breach_action=breach_action,
        profit_split_pct=split, created_by=actor)
    audit_record(action="trading.challenge_product_save", obj=product, before=before,
                 after=_product_snapshot(product), actor=actor)
    return product


def money_or_error(value: Any, currency: str, field_name: str, errors: FieldErrors, *, positive: bool) -> Decimal:
    if not currency:
        return Decimal(0)
    try:
        # The one grammar of amounts (crm.lib.money): "1E4" or "١٠٠٠٠" is refused, not read.
        amount = money_parse(value, currency, field=field_name, positive=False).amount
    except InvalidValue as error:
        errors.add(error.field, error.message)
        return Decimal(0)
    if amount < 0 or (positive and amount == 0):
        errors.add(field_name, gettext("Give an amount above zero.") if positive
                   else gettext("Give an amount of zero or more."))
    return amount


def challenge_products_on_sale(*, brand_id: int) -> QuerySet[ChallengeProduct]:
    """What the trader's room offers: the version on sale of each product of a brand."""
    return ChallengeProduct.objects.filter(brand_id=brand_id, on_sale=True).order_by("account_size", "name")


def challenge_product_get_on_sale(*, brand_id: int, code: Any) -> ChallengeProduct:
    product = challenge_products_on_sale(brand_id=brand_id).filter(code=_uuid(code)).first()
    if product is None:
        raise NotFound()
    return product


def _uuid(code: Any) -> Any:
    try:
        return uuid.UUID(str(code))
    except ValueError:
        return None


# --- challenges: reads -------------------------------------------------------------------------------

def challenges_for_user(*, user: User) -> QuerySet[Challenge]:
    """Challenges of the clients `user` may see (crm scope), newest first."""
    from crm.permissions import client_queryset_for_user

    if not user_can(user, "trading.view_challenge"):
        return Challenge.objects.none()
    return (Challenge.objects.filter(client_id__in=client_queryset_for_user(user).order_by().values("pk"))
            .select_related("client", "product", "account", "account__server"))


def challenge_get_for_user(*, user: User, code: Any) -> Challenge:
    challenge = challenges_for_user(user=user).filter(code=_uuid(code)).first()
    if challenge is None:
        raise NotFound()
    return challenge


def challenges_for_client(*, client: Client) -> QuerySet[Challenge]:
    return Challenge.objects.filter(client=client).select_related("product", "account")


def challenge_get_for_client(*, client: Client, code: Any) -> Challenge:
    challenge = challenges_for_client(client=client).filter(code=_uuid(code)).first()
    if challenge is None:
        raise NotFound()
    return challenge


def challenge_products_for_user(*, user: User) -> QuerySet[ChallengeProduct]:
    qs = ChallengeProduct.objects.select_related("brand", "server")
    if not getattr(user, "is_authenticated", False) or not user_can(user, "trading.view_challengeproduct"):
        return qs.none()
    if user.is_administrator or user.all_brands:
        return qs
    return qs.filter(brand__in=user.brands.all())


@dataclass(frozen=True)
class Progress:
    """Where a challenge stands against each rule, for the pages."""

    profit: Money
    target: Money | None  # the equity that passes the phase
    daily_loss: Money
    daily_limit: Money
    floor: Money
    trading_days: int
    min_trading_days: int
    deadline: dt.datetime | None
    # The profit that passes the phase (the target less the starting balance), shown apart from the
    # profit made so far.
    target_profit: Money | None = None
    # The platform has not reported the account since it was opened (or since this phase began): its
    # equity here is not the account's yet, and figures from it would read as a blown account.
    awaiting_update: bool = False


def challenge_progress(challenge: Challenge) -> Progress | None:
    """Where the challenge stands against each rule; None while it is opening. Until the platform has
    reported the account (its state read since the phase began), ``awaiting_update`` is set and the
    pages say so instead of showing figures from an equity nobody has read yet."""
    account = challenge.account
    if account is None or challenge.state == ChallengeState.OPENING:
        return None
    p, cur = challenge.product, challenge.currency
    start = challenge.start_balance
    rules = challenge.phase_rules
    target = None
    if rules.get("profit_target_pct"):
        target = Money(start * (1 + Decimal(rules["profit_target_pct"]) / HUNDRED), cur)
    base = challenge.day_start_equity if p.daily_loss_basis == DailyLossBasis.EQUITY else challenge.day_start_balance
    floor_from = challenge.high_equity if p.max_loss_mode == MaxLossMode.TRAILING else start
    deadline = None
    if rules.get("time_limit_days") and challenge.phase_started_at:
        deadline = challenge.phase_started_at + dt.timedelta(days=int(rules["time_limit_days"]))
    # As the rules read it (_ROLL_SQL): the account's state stored after the phase began.
    synced = account.last_synced_at
    awaiting = synced is None or (challenge.phase_started_at is not None and synced <= challenge.phase_started_at)
    return Progress(
        profit=Money(account.equity - start, cur), target=target,
        target_profit=Money(target.amount - start, cur) if target is not None else None, awaiting_update=awaiting,
        daily_loss=Money(max(base - account.equity, Decimal(0)), cur),
        daily_limit=Money(base * p.daily_loss_pct / HUNDRED, cur),
        floor=Money(floor_from - start * p.max_loss_pct / HUNDRED, cur),
        trading_days=challenge.trading_days, min_trading_days=int(rules.get("min_trading_days") or 0),
        deadline=deadline)


def challenge_equity_curve(challenge: Challenge, *, limit: int = 500) -> list[tuple[dt.datetime, Decimal]]:
    rows = list(ChallengeEquityPoint.objects.filter(challenge=challenge).order_by("-at")
                .values_list("at", "equity")[:limit])
    return rows[::-1]


CURVE_W, CURVE_H = 640, 160


def equity_curve_svg(points: list[tuple[Any, Decimal]], *, floor: Decimal | None = None) -> dict[str, Any]:
    """An SVG polyline of the curve (and the loss floor as a line), scaled to the box."""
    if len(points) < 2:
        return {}
    values = [v for _at, v in points] + ([floor] if floor is not None else [])
    low, high = min(values), max(values)
    span = (high - low) or Decimal(1)
    step = Decimal(CURVE_W) / (len(points) - 1)

    def y(v: Decimal) -> str:
        return f"{float(Decimal(CURVE_H) - (v - low) / span * CURVE_H):.1f}"

    line = " ".join(f"{float(i * step):.1f},{y(v)}" for i, (_at, v) in enumerate(points))
    return {"line": line, "floor_y": y(floor) if floor is not None else None, "w": CURVE_W, "h": CURVE_H,
            "low": low, "high": high, "first": points[0][0], "last": points[-1][0]}



# --- words ---------------------------------------------------------------------------------------------

def _pct_text(value: Any) -> str:
    number = Decimal(str(value)).quantize(Decimal("0.01"))
    text = number_format(number, decimal_pos=2)
    return text.rstrip("0").rstrip(".,") if "." in str(number) else text


def _money_text(amount: Any, currency: str) -> str:
    return money_format(Money(Decimal(str(amount)), currency))


def _time_text(value: str) -> str:
    when = dt.datetime.fromisoformat(value).astimezone(dt.UTC)
    return when.strftime("%Y-%m-%d %H:%M:%S")


def decision_text(decision: ChallengeDecision) -> str:
    """The decision in words, in the active language, from the figures it was made from."""
    p = dict(decision.params or {})
    cur = p.get("currency", "USD")
    at = _time_text(p["at"]) if p.get("at") else ""
    rule = decision.rule
    if decision.kind == DecisionKind.BREACH and rule == Rule.DAILY_LOSS:
        basis = gettext("equity") if p.get("basis") == DailyLossBasis.EQUITY else gettext("balance")
        return gettext("Daily loss %(loss)s%% at %(at)s UTC; limit %(limit)s%% of %(base)s starting %(basis)s "
                       "(equity was %(equity)s).") % {
            "loss": _pct_text(p["loss_pct"]), "at": at, "limit": _pct_text(p["limit_pct"]),
            "base": _money_text(p["base"], cur), "basis": basis, "equity": _money_text(p["equity"], cur)}
    if decision.kind == DecisionKind.BREACH and rule == Rule.MAX_LOSS:
        if p.get("mode") == MaxLossMode.TRAILING:
            return gettext("Equity %(equity)s at %(at)s UTC is below the trailing floor of %(floor)s: the maximum "
                           "loss is %(limit)s%% of %(start)s below the highest equity, %(high)s.") % {
                "equity": _money_text(p["equity"], cur), "at": at, "floor": _money_text(p["floor"], cur),
                "limit": _pct_text(p["limit_pct"]), "start": _money_text(p["start"], cur),
                "high": _money_text(p["high"], cur)}
        return gettext("Equity %(equity)s at %(at)s UTC is below the floor of %(floor)s: the maximum loss is "
                       "%(limit)s%% of the %(start)s starting balance.") % {
            "equity": _money_text(p["equity"], cur), "at": at, "floor": _money_text(p["floor"], cur),
            "limit": _pct_text(p["limit_pct"]), "start": _money_text(p["start"], cur)}
    if decision.kind == DecisionKind.BREACH and rule == Rule.WEEKEND:
        return gettext("%(count)s position(s) open at %(at)s UTC, a weekend; this product does not allow holding "
                       "positions over the weekend.") % {"count": p.get("positions", 1), "at": at}
    if decision.kind == DecisionKind.BREACH and rule == Rule.INSTRUMENT:
        return gettext("A trade in %(symbol)s at %(at)s UTC; this product allows only %(allowed)s.") % {
            "symbol": p.get("symbol", ""), "at": at, "allowed": ", ".join(p.get("allowed", []))}
    if decision.kind == DecisionKind.FAILED:
        return gettext("The time limit of %(days)s days ended at %(at)s UTC before the profit target was "
                       "reached.") % {"days": p.get("days"), "at": at}
    if decision.kind == DecisionKind.PASSED:
        return gettext("Profit target reached in %(phase)s: balance %(balance)s at %(at)s UTC is at least %(target)s "
                       "(%(target_pct)s%% over %(start)s), after %(days)s trading day(s) (at least %(min_days)s).") % {
            "phase": p.get("phase_name", ""), "balance": _money_text(p["balance"], cur), "at": at,
            "target": _money_text(p["target"], cur), "target_pct": _pct_text(p["target_pct"]),
            "start": _money_text(p["start"], cur), "days": p.get("days"), "min_days": p.get("min_days")}
    if decision.kind == DecisionKind.ENFORCED:
        action = (gettext("set to close-only") if p.get("access") == AccessLevel.CLOSE_ONLY
                  else gettext("disabled"))
        return gettext("Account %(login)s was %(action)s on the platform at %(at)s UTC.") % {
            "login": p.get("login"), "action": action, "at": at}
    if decision.kind == DecisionKind.OPENED:
        return gettext("Account %(login)s opened for %(phase)s with %(size)s at %(at)s UTC.") % {
            "login": p.get("login"), "phase": p.get("phase_name", ""), "size": _money_text(p["size"], cur), "at": at}
    if decision.kind == DecisionKind.FUNDED:
        return gettext("Every phase passed: funded account %(login)s with %(size)s at %(at)s UTC.") % {
            "login": p.get("login"), "size": _money_text(p["size"], cur), "at": at}
    if decision.kind == DecisionKind.PAYOUT:
        return gettext("Payout of %(share)s (%(split)s%% of %(profit)s profit) at %(at)s UTC.") % {
            "share": _money_text(p["share"], cur), "split": _pct_text(p["split_pct"]),
            "profit": _money_text(p["profit"], cur), "at": at}
    if decision.kind == DecisionKind.PURCHASED:
        return gettext("Bought %(product)s for %(fee)s at %(at)s UTC.") % {
            "product": p.get("product", ""), "fee": _money_text(p["fee"], cur), "at": at}
    return str(p.get("text", ""))


@dataclass(frozen=True)
class Ending:
    """Why a challenge ended, set out for the reader: the rule, its limit in the challenge's money,
    the figure that crossed it, when, and what was done to the account on the platform."""

    kind: str  # "breach" or "failed"
    rule: str
    rule_label: str
    limit: str
    crossed: str  # the equity (or the trade, the open positions) that crossed the limit; "" for a time limit
    at: dt.datetime
    text: str
    account_action: str
    snapshot: dict[str, Any]


def _limit_text(decision: ChallengeDecision) -> tuple[str, str, str]:
    """(the rule's name, its limit in words, what crossed it) from a breach or failure's figures."""
    p = dict(decision.params or {})
    cur = p.get("currency", "USD")
    if decision.rule == Rule.DAILY_LOSS:
        base = Decimal(p["base"])
        limit_pct = Decimal(p["limit_pct"])
        basis = (gettext("the day's starting equity") if p.get("basis") == DailyLossBasis.EQUITY
                 else gettext("the day's starting balance"))
        limit = gettext("a loss of at most %(pct)s%% of %(basis)s, %(base)s: %(loss)s, so equity may not go below "
                        "%(floor)s that day") % {
            "pct": _pct_text(limit_pct), "basis": basis, "base": _money_text(base, cur),
            "loss": _money_text(base * limit_pct / HUNDRED, cur),
            "floor": _money_text(base - base * limit_pct / HUNDRED, cur)}
        crossed = gettext("equity %(equity)s, a loss of %(loss)s (%(pct)s%%)") % {
            "equity": _money_text(p["equity"], cur), "loss": _money_text(base - Decimal(p["equity"]), cur),
            "pct": _pct_text(p["loss_pct"])}
        return gettext("Maximum daily loss"), limit, crossed
    if decision.rule == Rule.MAX_LOSS:
        if p.get("mode") == MaxLossMode.TRAILING:
            limit = gettext("equity may not go more than %(pct)s%% of %(start)s below its highest, %(high)s: "
                            "floor %(floor)s") % {
                "pct": _pct_text(p["limit_pct"]), "start": _money_text(p["start"], cur),
                "high": _money_text(p["high"], cur), "floor": _money_text(p["floor"], cur)}
        else:
            limit = gettext("equity may not go more than %(pct)s%% below the %(start)s starting balance: floor "
                            "%(floor)s") % {"pct": _pct_text(p["limit_pct"]), "start": _money_text(p["start"], cur),
                                           "floor": _money_text(p["floor"], cur)}
        return gettext("Maximum loss"), limit, gettext("equity %(equity)s") % {
            "equity": _money_text(p["equity"], cur)}
    if decision.rule == Rule.WEEKEND:
        return (gettext("Weekend holding"), gettext("no position open on a Saturday or Sunday (UTC)"),
                gettext("%(count)s open position(s)") % {"count": p.get("positions", 1)})
    if decision.rule == Rule.INSTRUMENT:
        return (gettext("Allowed instruments"), ", ".join(p.get("allowed", [])),
                gettext("a trade in %(symbol)s") % {"symbol": p.get("symbol", "")})
    return (gettext("Time limit"), gettext("the profit target within %(days)s days") % {"days": p.get("days")}, "")


def challenge_ending(challenge: Challenge) -> Ending | None:
    """For a breached or failed challenge: the decision that ended it in parts (see Ending) and the
    account's fate on the platform (done, or still to be done, with the last error); None otherwise."""
    if challenge.state not in (ChallengeState.BREACHED, ChallengeState.FAILED):
        return None
    decisions = list(challenge.decisions.filter(kind__in=(DecisionKind.BREACH, DecisionKind.FAILED,
                                                          DecisionKind.ENFORCED)).order_by("-at", "-id"))
    final = next((d for d in decisions if d.kind in (DecisionKind.BREACH, DecisionKind.FAILED)), None)
    if final is None:
        return None
    rule_label, limit, crossed = _limit_text(final)
    enforced = next((d for d in decisions if d.kind == DecisionKind.ENFORCED), None)
    if enforced is not None:
        action = decision_text(enforced)
    elif challenge.state == ChallengeState.BREACHED and challenge.account is not None:
        wanted = (gettext("set to close-only") if challenge.product.breach_action == BreachAction.CLOSE_ONLY
                  else gettext("disabled"))
        action = gettext("Account %(login)s is being %(action)s on the platform.") % {
            "login": challenge.account.login, "action": wanted}
    else:
        action = ""
    return Ending(kind=final.kind, rule=final.rule, rule_label=rule_label, limit=limit, crossed=crossed, at=final.at,
                  text=decision_text(final), account_action=action, snapshot=dict(final.snapshot or {}))


# --- challenges: writes ------------------------------------------------------------------------------

def _event_data(challenge: Challenge, **extra: Any) -> dict[str, Any]:
    return {"challenge": str(challenge.code), "product": challenge.product.key,
            "version": challenge.product.version, "phase": challenge.phase, "state": challenge.state,
            "account": str(challenge.account.code) if challenge.account is not None else None,
            "login": challenge.account.login if challenge.account is not None else None, **extra}


def _decide(challenge: Challenge, *, kind: str, rule: str = "", params: dict[str, Any],
            snapshot: dict[str, Any] | None = None, at: dt.datetime | None = None) -> ChallengeDecision:
    at = at or timezone.now()
    params = {"currency": challenge.currency, "at": at.isoformat(), **params}
    return ChallengeDecision.objects.create(challenge=challenge, at=at, kind=kind, rule=rule, phase=challenge.phase,
                                            params=params, snapshot=snapshot or {})


@transaction.atomic
def challenge_create(*, client: Client, product: ChallengeProduct, purchase_ref: str,
                     actor: User | None = None, code: Any = None) -> Challenge:
    """Record a bought challenge (the fee is already posted by the caller, under `purchase_ref`);
    the account is opened by ``challenge_open_account`` after commit. "trading.challenge_purchased"."""
    if product.brand_id != client.brand_id or not product.on_sale:
        raise ValidationFailed(fields={"product": gettext("This product is not on sale.")})
    challenge = Challenge.objects.create(code=code or uuid.uuid4(), client=client, brand_id=client.brand_id,
                                         product=product,
                                         purchase_ref=purchase_ref[:80], currency=product.currency,
                                         start_balance=product.account_size)
    _decide(challenge, kind=DecisionKind.PURCHASED, params={"product": str(product), "fee": str(product.fee)})
    audit_record(action="trading.challenge_purchase", obj=challenge, actor=actor,
                 after={"product": product.key, "version": product.version, "fee": str(product.fee),
                        "currency": product.currency, "purchase_ref": purchase_ref})
    emit("trading.challenge_purchased", client=client, actor=actor, data=_event_data(
        challenge, fee=str(product.fee), currency=product.currency))
    return challenge


def _open_lease_key(challenge_id: int) -> str:
    return f"crm:trading:challenge-open:{challenge_id}"


def challenge_open_account(*, challenge_id: int) -> Challenge:
    """Open the account of the challenge's current phase on the product's server (through the
    adapter registry, whatever the platform) and fund it with the account size; the phase starts
    when the money is on the account. Safe to call again, and from two places at once (the buyer's
    request and beat's sweep take turns on a lease per challenge): a challenge with an account in
    this phase gets no second account, and the account size is never sent twice. A platform failure
    leaves the challenge OPENING with the error; ``challenges_open_due`` (beat) retries it. An
    account size whose answer was lost (UNKNOWN) is looked up by its reference when its check is
    due (``balance_operation_resolve``): found, the phase starts; proven not applied, a new one is
    sent; not known yet, the challenge waits for the next sweep."""
    challenge = Challenge.objects.select_related("product", "client", "product__server").get(pk=challenge_id)
    if challenge.state != ChallengeState.OPENING:
        return challenge
    with lease_hold(_open_lease_key(challenge.pk), ttl=OPEN_LEASE_SECONDS) as held:
        if held is None:
            return challenge  # being opened by another worker right now
        challenge.refresh_from_db()
        if challenge.state != ChallengeState.OPENING:
            return challenge
        product = challenge.product
        try:
            account = challenge.account or trading_account_open(
                actor=None, client=challenge.client, server=product.server, account_type=product.account_type,
                leverage=None, send_credentials=True)
            if challenge.account_id is None:
                Challenge.objects.filter(pk=challenge.pk).update(account=account, updated_at=timezone.now())
                challenge.account = account
            reason = f"challenge {str(challenge.code)[:8]} phase {challenge.phase + 1}"
            # An earlier attempt's operation (applied, or not yet known) is never sent a second time.
            op = (BalanceOperation.objects.filter(account=account, reason=reason).exclude(state=BalanceState.FAILED)
                  .order_by("-created_at").first())
            if op is not None and op.state == BalanceState.UNKNOWN and (
                    op.next_check_at is None or op.next_check_at <= timezone.now()):
                op = balance_operation_resolve(operation_id=op.pk)
                if op.state == BalanceState.FAILED:  # proven not applied: a new operation is safe
                    op = None
            if op is None:
                # Sent here and now (not after some outer commit): the phase starts when the money is on.
                op = balance_operation_request(actor=None, account=account, kind="balance",
                                               amount=product.account_size, reason=reason, send=False)
            op = balance_operation_send(operation_id=op.pk)
        except (PlatformFailed, ValidationFailed) as error:
            Challenge.objects.filter(pk=challenge.pk).update(last_error=str(error.message)[:500],
                                                             updated_at=timezone.now())
            raise
        if op.state != BalanceState.APPLIED:
            Challenge.objects.filter(pk=challenge.pk).update(
                last_error=gettext("The account size was not confirmed on the platform yet."),
                updated_at=timezone.now())
            return challenge
        return _phase_start(challenge, account=account, platform_start=op.platform_time_before)


@transaction.atomic
def _phase_start(challenge: Challenge, *, account: TradingAccount, platform_start: dt.datetime | None) -> Challenge:
    # Under the row lock and only from OPENING in the same phase: the phase starts once, whoever
    # saw the money arrive first.
    locked = Challenge.objects.select_for_update(of=("self",)).get(pk=challenge.pk)
    if locked.state != ChallengeState.OPENING or locked.phase != challenge.phase:
        challenge.refresh_from_db()
        return challenge
    now = timezone.now()
    size = challenge.product.account_size
    funded = challenge.phase >= len(challenge.product.evaluation_phases)
    started = ChallengeState.FUNDED if funded else ChallengeState.ACTIVE
    CHALLENGE_STATES.check(locked, started)  # the row is written in one statement below
    Challenge.objects.filter(pk=challenge.pk).update(
        account=account, state=started, start_balance=size,
        phase_started_at=now, platform_started_at=platform_start or now, day=now.astimezone(dt.UTC).date(), day_start_balance=size, day_start_equity=size, high_equity=size,
        trading_days=0, last_error="", updated_at=now, last_balance=size, last_equity=size)
    challenge.refresh_from_db()
    phase_name = challenge.phase_rules.get("name", "") if not funded else gettext("the funded stage")
    _decide(challenge, kind=DecisionKind.FUNDED if funded else DecisionKind.OPENED, at=now,
            params={"login": account.login, "size": str(size), "phase_name": phase_name})
    emit("trading.challenge_funded" if funded else "trading.challenge_opened", client=challenge.client,
         data=_event_data(challenge))
    return challenge


def challenges_open_due(*, limit: int = 100) -> dict[str, int]:
    """Beat (``trading.tasks.challenges_open_due``): try again to open the challenges still OPENING
    (a platform that failed, an account size whose answer was lost), oldest first. Returns how many
    were tried, how many opened and how many still wait."""
    counts = {"tried": 0, "opened": 0, "waiting": 0}
    pks = list(Challenge.objects.filter(state=ChallengeState.OPENING).order_by("updated_at", "pk")
               .values_list("pk", flat=True)[:limit])
    for pk in pks:
        counts["tried"] += 1
        try:
            challenge = challenge_open_account(challenge_id=pk)
        except (PlatformFailed, ValidationFailed):
            counts["waiting"] += 1
            continue
        counts["opened" if challenge.state != ChallengeState.OPENING else "waiting"] += 1
    return counts


# --- the evaluator -------------------------------------------------------------------------------------

@dataclass
class EvaluationResult:
    evaluated: int = 0
    decisions: dict[str, int] = field(default_factory=dict)
    breached: list[int] = field(default_factory=list)
    passed: list[int] = field(default_factory=list)


# The day's roll and the rules (trading/sql/prop/roll.sql, rules.sql), over the same challenges.
_ROLL_SQL = sql_text("trading", "prop/roll")
_RULES_SQL = sql_text("trading", "prop/rules")


def _amount(value: Decimal) -> str:
    """Decimal text without the column's trailing zeros, at least to the cent ("9499.99", "10000.00")."""
    number = value.quantize(Decimal("0.00000001")).normalize()
    if number.as_tuple().exponent > -2:  # type: ignore[operator]  # a finite number's exponent is an int
        number = number.quantize(Decimal("0.01"))
    return format(number, "f")


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value  # jsonb comes back as text from raw SQL


def _snapshot(row: Mapping[str, Any], now: dt.datetime) -> dict[str, Any]:
    return {"at": now.isoformat(), "login": row["login"], "balance": _amount(row["balance"]),
            "equity": _amount(row["equity"]), "day_start_balance": _amount(row["day_start_balance"]),
            "day_start_equity": _amount(row["day_start_equity"]), "high_equity": _amount(row["high_equity"]),
            "start_balance": _amount(row["start_balance"]), "trading_days": row["trading_days"]}


def _judge(row: Mapping[str, Any], now: dt.datetime) -> tuple[str, str, dict[str, Any]] | None:
    """The one decision a row gets (a breach first, then the time limit, then a pass)."""
    base, equity = row["base"], row["equity"]
    if base > 0 and base - equity > base * row["daily_loss_pct"] / HUNDRED:
        return DecisionKind.BREACH, Rule.DAILY_LOSS, {
            "loss_pct": str(((base - equity) * HUNDRED / base).quantize(Decimal("0.01"))),
            "limit_pct": str(row["daily_loss_pct"]), "base": _amount(base), "basis": row["daily_loss_basis"],
            "equity": _amount(equity)}
    if equity < row["floor"]:
        return DecisionKind.BREACH, Rule.MAX_LOSS, {
            "mode": row["max_loss_mode"], "equity": _amount(equity), "floor": _amount(row["floor"]),
            "limit_pct": str(row["max_loss_pct"]), "start": _amount(row["start_balance"]),
            "high": _amount(row["high_equity"])}
    if row["open_positions"]:
        return DecisionKind.BREACH, Rule.WEEKEND, {"positions": row["open_positions"]}
    ph = _json(row["ph"]) or {}
    if ph.get("time_limit_days") is not None and row["deadline"] is not None and now > row["deadline"]:
        return DecisionKind.FAILED, Rule.TIME_LIMIT, {"days": ph["time_limit_days"],
                                                      "deadline": row["deadline"].isoformat()}
    if ph.get("profit_target_pct") is not None:
        return DecisionKind.PASSED, Rule.PROFIT_TARGET, {
            "phase_name": ph.get("name", ""), "balance": _amount(row["balance"]), "target": _amount(row["target"]),
            "target_pct": ph["profit_target_pct"], "start": _amount(row["start_balance"]), "days": row["trading_days"],
            "min_days": ph.get("min_trading_days", 0)}
    return None


def challenges_evaluate(*, server_ids: Sequence[int], now: dt.datetime | None = None) -> EvaluationResult:
    """Evaluate every live challenge on `server_ids` against the figures the state sync stored:
    two statements for any number of challenges, then a row per decision. Returns the breached and
    passed challenges (their platform actions are ``challenges_act``'s, outside this transaction)."""
    now = now or timezone.now()
    result = EvaluationResult()
    params: dict[str, Any] = {"servers": list(server_ids), "today": now.astimezone(dt.UTC).date(), "now": now,
              "point_before": now - POINT_EVERY, "weekend": now.astimezone(dt.UTC).weekday() >= 5}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_ROLL_SQL, params)
        cursor.execute(_RULES_SQL, params)
        columns = [c.name for c in cursor.description or ()]
        rows = [dict(zip(columns, values, strict=True)) for values in cursor.fetchall()]
        result.evaluated = len(rows)
        _record(rows, now, result)
    return result


def _record(rows: Iterable[Mapping[str, Any]], now: dt.datetime, result: EvaluationResult,
            judged: Mapping[int, tuple[str, str, dict[str, Any]]] | None = None) -> None:
    decided: dict[int, tuple[str, str, dict[str, Any], dict[str, Any]]] = {}
    for row in rows:
        verdict = judged[row["id"]] if judged is not None else _judge(row, now)
        if verdict is not None:
            decided[row["id"]] = (*verdict, _snapshot(row, now)) if "balance" in row else (*verdict, {})
    if not decided:
        return
    # Lock and re-check the state: a challenge decided by a concurrent run is left alone. Then one
    # insert for the decisions, one update per new state, one insert for the events.
    live = {c.pk: c for c in Challenge.objects.select_for_update(of=("self",))
            .select_related("client", "product", "account").filter(pk__in=decided, state__in=LIVE_STATES)}
    new_state: dict[str, str] = {DecisionKind.BREACH: ChallengeState.BREACHED, DecisionKind.FAILED: ChallengeState.FAILED}
    decisions: list[ChallengeDecision] = []
    ended: dict[str, list[int]] = {}
    events: list[dict[str, Any]] = []
    for pk, (kind, rule, params, snap) in decided.items():
        challenge = live.get(pk)
        if challenge is None:
            continue
        full = {"currency": challenge.currency, "at": now.isoformat(), **params}
        decision = ChallengeDecision(challenge=challenge, at=now, kind=kind, rule=rule, phase=challenge.phase,
                                     params=full, snapshot=snap)
        decisions.append(decision)
        result.decisions[rule] = result.decisions.get(rule, 0) + 1
        if kind in new_state:
            CHALLENGE_STATES.check(challenge, new_state[kind])  # written set-based below, one update per state
            challenge.state = new_state[kind]
            ended.setdefault(challenge.state, []).append(pk)
            if kind == DecisionKind.BREACH:
                result.breached.append(pk)
            events.append({"name": "trading.challenge_breached" if kind == DecisionKind.BREACH
                           else "trading.challenge_failed", "client": challenge.client,
                           "data": _event_data(challenge, rule=rule, text=decision_text(decision))})
        else:
            result.passed.append(pk)
    ChallengeDecision.objects.bulk_create(decisions)
    for state, ids in ended.items():
        Challenge.objects.filter(pk__in=ids).update(state=state, ended_at=now, updated_at=now)
    emit_many(events)


def challenges_deals_learn(*, server_id: int, account_ids: Sequence[int], now: dt.datetime | None = None
                           ) -> EvaluationResult:
    """After a deal poll: the trading days of the live challenges of `account_ids` (UTC days with a
    trade deal since the phase began) and trades in instruments their product does not allow."""
    now = now or timezone.now()
    result = EvaluationResult()
    if not account_ids:
        return result
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql_text("trading", "prop/trading_days"), {"accounts": list(account_ids)})
        cursor.execute(sql_text("trading", "prop/instrument_breaches"), {"accounts": list(account_ids)})
        rows = [{"id": pk, "symbol": symbol, "time": when, "allowed": _json(allowed)}
                for pk, symbol, when, allowed in cursor.fetchall()]
        judged = {r["id"]: (DecisionKind.BREACH, Rule.INSTRUMENT,
                            {"symbol": r["symbol"], "allowed": r["allowed"], "deal_time": r["time"].isoformat()})
                  for r in rows}
        _record(rows, now, result, judged=judged)
    return result


def challenges_act(result: EvaluationResult) -> None:
    """The platform side of decisions, outside any transaction: breached accounts disabled or set
    close-only (the adapter's rights); passed phases move on. A failure is logged and retried by
    the next evaluation of the server (``challenges_enforce_due``)."""
    for pk in result.breached:
        try:
            challenge_enforce(challenge_id=pk)
        except PlatformFailed as error:
            logger.warning("challenge breach not enforced yet: %s", error.message, extra={"challenge": pk})
    for pk in result.passed:
        try:
            challenge_advance(challenge_id=pk)
        except (PlatformFailed, ValidationFailed) as error:
            logger.warning("challenge phase not advanced yet: %s", error.message, extra={"challenge": pk})


def challenge_enforce(*, challenge_id: int) -> Challenge:
    """Apply the product's breach action to the breached challenge's account on its platform (once:
    ``enforced_at``). Close-only where the server cannot set it falls back to disabling."""
    challenge = Challenge.objects.select_related("product", "account", "account__server", "client").get(
        pk=challenge_id)
    if challenge.state != ChallengeState.BREACHED or challenge.enforced_at is not None or challenge.account is None:
        return challenge
    breach = challenge.decisions.filter(kind=DecisionKind.BREACH).order_by("-at").first()
    reason = decision_text(breach) if breach is not None else gettext("Challenge breached.")
    try:
        account = _restrict(challenge.account, wanted=challenge.product.breach_action, reason=reason)
    except PlatformFailed as error:
        Challenge.objects.filter(pk=challenge.pk).update(last_error=str(error.message)[:500])
        raise
    with transaction.atomic():
        now = timezone.now()
        if Challenge.objects.filter(pk=challenge.pk, enforced_at__isnull=True).update(
                enforced_at=now, last_error="", updated_at=now):
            _decide(challenge, kind=DecisionKind.ENFORCED, at=now,
                    params={"login": account.login, "access": account.access},
                    snapshot={"access": account.access, "group": account.group})
    challenge.refresh_from_db()
    return challenge


def _restrict(account: TradingAccount, *, wanted: str, reason: str) -> TradingAccount:
    """Set `wanted` access through the account's adapter (whatever its platform); close-only where
    the platform cannot give it to this account (no close-only group for it) falls back to disabled."""
    levels = adapter_for(account.server).capabilities.access_levels
    if wanted == AccessLevel.CLOSE_ONLY and PlatformAccess.CLOSE_ONLY in levels:
        try:
            return trading_account_set_access(actor=None, account=account, access=AccessLevel.CLOSE_ONLY,
                                              reason=reason[:200])
        except PlatformFailed as error:
            if error.code == "platform_outcome_unknown":
                raise
    return trading_account_set_access(actor=None, account=account, access=AccessLevel.DISABLED, reason=reason[:200])


def challenges_enforce_due(*, server_ids: Sequence[int] | None = None) -> int:
    qs = Challenge.objects.filter(state=ChallengeState.BREACHED, enforced_at__isnull=True, account__isnull=False)
    if server_ids is not None:
        qs = qs.filter(account__server_id__in=list(server_ids))
    done = 0
    for pk in qs.values_list("pk", flat=True)[:200]:
        try:
            challenge_enforce(challenge_id=pk)
            done += 1
        except PlatformFailed:
            continue
    return done


def challenge_advance(*, challenge_id: int) -> Challenge:
    """A passed phase: the old account is set close-only (or disabled), the next phase (or the funded
    stage) gets a fresh account with the account size. Idempotent by the phase's last decision."""
    challenge = Challenge.objects.select_related("product", "account", "account__server", "client").get(
        pk=challenge_id)
    last = challenge.decisions.order_by("-at", "-id").first()
    if challenge.state not in LIVE_STATES or last is None or last.kind != DecisionKind.PASSED \
            or last.phase != challenge.phase:
        return challenge
    old = challenge.account
    if old is not None and old.access == AccessLevel.FULL:
        _restrict(old, wanted=AccessLevel.CLOSE_ONLY, reason=decision_text(last))
    CHALLENGE_STATES.check(challenge, ChallengeState.OPENING)  # the next phase opens from the one passed
    with transaction.atomic():
        Challenge.objects.filter(pk=challenge.pk).update(phase=challenge.phase + 1, state=ChallengeState.OPENING,
                                                         account=None, updated_at=timezone.now())
        emit("trading.challenge_passed", client=challenge.client, data=_event_data(challenge, text=decision_text(last)))
    return challenge_open_account(challenge_id=challenge.pk)


# --- payouts -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PayoutTake:
    challenge: Challenge
    profit: Money
    share: Money
    operation_code: str


def challenge_payable(challenge: Challenge) -> tuple[Money, Money]:
    """(the profit above the account size that has not been paid out, the trader's share of it)."""
    cur = challenge.currency
    if challenge.state != ChallengeState.FUNDED or challenge.account is None:
        return Money.zero(cur), Money.zero(cur)
    profit = Money(max(challenge.account.balance - challenge.start_balance, Decimal(0)), cur).quantize()
    share = Money(profit.amount * challenge.product.profit_split_pct / HUNDRED, cur).quantize()
    return profit, share


def challenge_payout_take(*, challenge: Challenge, actor: User | None = None) -> PayoutTake:
    """Take the funded account's profit off the platform (a balance operation, never applied twice)
    and record the payout decision; returns the trader's share for the wallet to pay out. Call inside
    the wallet's transaction: the platform operation is sent after it commits."""
    locked = Challenge.objects.select_for_update(of=("self",)).select_related("product", "account", "client").get(pk=challenge.pk)
    profit, share = challenge_payable(locked)
    if profit.amount <= 0:
        raise ValidationFailed(fields={"amount": gettext("There is no profit to pay out yet.")})
    assert locked.account is not None
    if locked.account.equity < locked.account.balance:
        raise ValidationFailed(fields={"amount": gettext("Close the losing positions first: equity is below "
                                                         "balance.")})
    op = balance_operation_request(actor=None, account=locked.account, kind="balance", amount=-profit.amount,
                                   reason="challenge payout")
    Challenge.objects.filter(pk=locked.pk).update(paid_profit=locked.paid_profit + profit.amount,
                                                  updated_at=timezone.now())
    _decide(locked, kind=DecisionKind.PAYOUT, params={
        "profit": str(profit.amount), "share": str(share.amount), "split_pct": str(locked.product.profit_split_pct),
        "operation": str(op.code)})
    emit("trading.challenge_payout", client=locked.client, actor=actor, data=_event_data(
        locked, profit=str(profit.amount), share=str(share.amount), currency=share.currency))
    return PayoutTake(challenge=locked, profit=profit, share=share, operation_code=str(op.code))
