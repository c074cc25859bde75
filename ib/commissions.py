"""Services of commission plans and runs: instruments, FX rates, plans and their versions and rules,
assignments and account overrides, the deposit and chargeback facts, and the runs of the engine
(regular, recalculation, daily increment, what-if) with their settlement markers.

Keyword-only, atomic, audited; staff need "ib.run_commissions" for runs and "ib.manage_partners"
for plans; `actor=None` is the system (the Celery task, the import).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from django.db import connection, transaction
from django.db.models import Max, Sum
from django.utils import timezone
from django.utils.translation import gettext

from crm.audit import audit_record
from crm.events import emit
from crm.lib.money import Money, currency_normalise, decimal_text, money_parse, money_round
from crm.lib.validation import InvalidValue
from crm.models import Brand, Client, User
from crm.permissions import user_can
from ib import engine
from ib.exceptions import Conflict, NotAllowed, NotFound, ValidationFailed
from ib.models import (
    RUN_STATES,
    ClawbackScope,
    ClientChargeback,
    ClientDeposit,
    ClientQualification,
    CommissionLine,
    CommissionPlan,
    CommissionRun,
    CommissionSettlement,
    CommissionTotal,
    CpaAnchor,
    FxRate,
    HedgeMode,
    Instrument,
    InstrumentGroup,
    LegacyCommissionTotal,
    Partner,
    PassUpBase,
    PlanAssignment,
    PlanRule,
    PlanVersion,
    RevshareBasis,
    RuleKind,
    RunKind,
    RunStatus,
    SplitMode,
)
from trading.selectors import live_accounts_by_login

if TYPE_CHECKING:
    from trading.models import TradingAccount  # for annotations only

MANAGE = "ib.manage_partners"
RUN = "ib.run_commissions"


def _require(actor: User | None, brand_id: int, perm: str = MANAGE) -> None:
    if actor is None:
        return
    if not user_can(actor, perm):
        raise NotAllowed()
    if not (actor.is_administrator or actor.all_brands or actor.brands.filter(pk=brand_id).exists()):
        raise NotFound()


def _dec(value: Any, field: str, *, positive: bool = False, allow_zero: bool = True) -> Decimal:
    try:
        out = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        raise ValidationFailed(fields={field: gettext("Enter a number.")}) from None
    if not out.is_finite() or (positive and (out < 0 or (not allow_zero and out == 0))):
        raise ValidationFailed(fields={field: gettext("Enter a positive number.")})
    return out


def _money_opt(value: Any, currency: str, field: str) -> Decimal | None:
    """An amount of zero or more in `currency` (a plan's cap or minimum, a CPA rule's minimum
    deposit), read by the one parser (crm.lib.money.money_parse): at most the currency's decimals,
    refused by name, never rounded. None when not given."""
    if value is None or value == "":
        return None
    if isinstance(value, float):
        value = repr(value)  # a JSON number (json gives a float): its shortest text, as written
    try:
        amount = money_parse(value, currency, field=field, typed=False, positive=False)
    except InvalidValue as error:
        raise ValidationFailed(fields={field: error.message}) from None
    if amount.amount < 0:
        raise ValidationFailed(fields={field: gettext("Enter a positive number.")})
    return amount.amount


# --- instruments and FX ---------------------------------------------------------------------------

@transaction.atomic
def instrument_group_save(*, actor: User | None, brand: Brand, code: str, name: str = "",
                          units_per_lot: Decimal | str = "100000") -> InstrumentGroup:
    _require(actor, brand.pk)
    code = (code or "").strip()
    if not code:
        raise ValidationFailed(fields={"code": gettext("This field is required.")})
    units = _dec(units_per_lot, "units_per_lot", positive=True, allow_zero=False)
    group, _created = InstrumentGroup.objects.update_or_create(
        brand=brand, code=code, defaults={"name": name, "units_per_lot": units})
    audit_record(action="ib.instrument_group_saved", obj=group, actor=actor,
                 after={"code": code, "units_per_lot": str(units)})
    return group


@transaction.atomic
def instrument_save(*, actor: User | None, brand: Brand, symbol: str, group: InstrumentGroup,
                    contract_size: Decimal | str, profit_currency: str = "USD",
                    units_per_lot: Decimal | str | None = None,
                    markup_per_lot: Decimal | str | None = None) -> Instrument:
    """A symbol in `group`, `contract_size` units a platform lot; `units_per_lot`: its own standard
    lot when it differs from its group's; `markup_per_lot`: the broker's spread markup per standard
    lot in the profit currency (a spread share's basis when a deal has no bid and ask)."""
    _require(actor, brand.pk)
    symbol = (symbol or "").strip()
    if not symbol:
        raise ValidationFailed(fields={"symbol": gettext("This field is required.")})
    if group.brand_id != brand.pk:
        raise ValidationFailed(fields={"group": gettext("The group belongs to another brand.")})
    size = _dec(contract_size, "contract_size", positive=True, allow_zero=False)
    ccy = currency_normalise(profit_currency, field="profit_currency")
    units = None if units_per_lot in (None, "") else _dec(units_per_lot, "units_per_lot", positive=True,
                                                          allow_zero=False)
    markup = None if markup_per_lot in (None, "") else _dec(markup_per_lot, "markup_per_lot", positive=True)
    instrument, _created = Instrument.objects.update_or_create(
        brand=brand, symbol=symbol, defaults={"group": group, "contract_size": size, "profit_currency": ccy,
                                              "units_per_lot": units, "markup_per_lot": markup})
    audit_record(action="ib.instrument_saved", obj=instrument, actor=actor,
                 after={"symbol": symbol, "group": group.code, "contract_size": str(size)})
    return instrument


@transaction.atomic
def fx_rate_set(*, actor: User | None, base: str, quote: str, day: dt.date, rate: Decimal | str,
                source: str = "manual") -> FxRate:
    """One unit of `base` is worth `rate` of `quote` on `day` (replaces that day's rate)."""
    base = currency_normalise(base, field="base")
    quote = currency_normalise(quote, field="quote")
    if base == quote:
        raise ValidationFailed(fields={"quote": gettext("Choose two different currencies.")})
    value = _dec(rate, "rate", positive=True, allow_zero=False)
    fx, _created = FxRate.objects.update_or_create(base=base, quote=quote, day=day,
                                                   defaults={"rate": value, "source": source,
                                                             "recorded_at": timezone.now()})
    audit_record(action="ib.fx_rate_set", obj=fx, actor=actor, after={"pair": f"{base}/{quote}", "day": str(day),
                                                                      "rate": str(value)})
    return fx


# --- plans ----------------------------------------------------------------------------------------

@transaction.atomic
def plan_create(*, actor: User | None, brand: Brand, name: str, currency: str = "USD") -> CommissionPlan:
    _require(actor, brand.pk)
    name = (name or "").strip()
    if not name:
        raise ValidationFailed(fields={"name": gettext("This field is required.")})
    if CommissionPlan.objects.filter(brand=brand, name=name).exists():
        raise ValidationFailed(fields={"name": gettext("A plan of this name exists already.")})
    plan = CommissionPlan.objects.create(brand=brand, name=name,
                                         currency=currency_normalise(currency, field="currency"))
    audit_record(action="ib.plan_created", obj=plan, actor=actor, after={"name": name, "currency": plan.currency})
    return plan


RULE_FIELDS = {"code", "kind", "group", "account_type", "basis", "currency", "rate", "level_rates",
               "carry_negative", "cpa_min_deposit", "cpa_min_lots", "cpa_within_days", "cpa_require_kyc",
               "cpa_countries", "clawback_on_chargeback", "tiers", "tier_window_days", "negative_owed",
               "net_with_commission", "net_with_swap", "net_with_fee", "min_hold_seconds", "period_cap",
               "cpa_window_from", "cpa_kyc_within_window", "clawback_scope"}
NET_FLAGS = ("net_with_commission", "net_with_swap", "net_with_fee")


def _choice(spec: Mapping[str, Any], name: str, choices: Any, where: str) -> str:
    value = spec.get(name) or choices.values[0]
    if value not in choices.values:
        raise ValidationFailed(fields={f"{where}.{name}" if where else name: gettext("Choose %(choices)s.")
                                       % {"choices": ", ".join(choices.values)}})
    return str(value)


def _shape_fields(plan: CommissionPlan, spec: Mapping[str, Any], where: str, currency: str) -> dict[str, Any]:
    """The plan-shape choices of a rule (see PlanRule), validated."""
    hold = spec.get("min_hold_seconds")
    if hold not in (None, ""):
        try:
            hold = int(hold)
        except (TypeError, ValueError):
            hold = -1
        if hold < 0:
            raise ValidationFailed(fields={f"{where}.min_hold_seconds": gettext("Enter a positive number.")})
    return {
        "negative_owed": bool(spec.get("negative_owed", False)),
        **{name: bool(spec.get(name, True)) for name in NET_FLAGS},
        "min_hold_seconds": None if hold in (None, "") else hold,
        "period_cap": _money_opt(spec.get("period_cap"), plan.currency, f"{where}.period_cap"),
        "cpa_window_from": _choice(spec, "cpa_window_from", CpaAnchor, where),
        "cpa_kyc_within_window": bool(spec.get("cpa_kyc_within_window", False)),
        "clawback_scope": _choice(spec, "clawback_scope", ClawbackScope, where),
    }


def _rule_clean(plan: CommissionPlan, index: int, spec: Mapping[str, Any], groups: dict[str, InstrumentGroup],
                split_mode: str) -> PlanRule:
    where = f"rules[{index}]"
    unknown = set(spec) - RULE_FIELDS
    if unknown:
        raise ValidationFailed(fields={where: gettext("Unknown fields: %(f)s.") % {"f": ", ".join(sorted(unknown))}})
    code = str(spec.get("code") or "").strip()
    if not code:
        raise ValidationFailed(fields={f"{where}.code": gettext("This field is required.")})
    kind = spec.get("kind")
    if kind not in RuleKind.values:
        raise ValidationFailed(fields={f"{where}.kind": gettext("Choose per_lot, revshare or cpa.")})
    basis = spec.get("basis") or ""
    if kind == RuleKind.REVSHARE and basis not in RevshareBasis.values:
        raise ValidationFailed(fields={f"{where}.basis": gettext("Choose spread, commission or net_loss.")})
    group = None
    if spec.get("group"):
        group = groups.get(spec["group"])
        if group is None:
            raise ValidationFailed(fields={f"{where}.group": gettext("Unknown instrument group %(g)s.")
                                           % {"g": spec["group"]}})
    level_rates = [_dec(r, f"{where}.level_rates", positive=True) for r in spec.get("level_rates") or []]
    rate = _dec(spec.get("rate", level_rates[0] if level_rates else 0), f"{where}.rate", positive=True)
    if split_mode == SplitMode.LEVELS and not level_rates:
        raise ValidationFailed(fields={f"{where}.level_rates": gettext("Give at least the first level's rate.")})
    tiers = _tiers_clean(spec.get("tiers") or [], f"{where}.tiers", kind)
    window = spec.get("tier_window_days") or 30
    try:
        window = int(window)
    except (TypeError, ValueError):
        window = 0
    if not 1 <= window <= 366:
        raise ValidationFailed(fields={f"{where}.tier_window_days": gettext("Give a window of 1 to 366 days.")})

    def opt(name: str) -> Decimal | None:
        return None if spec.get(name) in (None, "") else _dec(spec[name], f"{where}.{name}", positive=True)

    currency = currency_normalise(spec["currency"], field=f"{where}.currency") if spec.get("currency") else ""
    countries = [str(c).upper() for c in spec.get("cpa_countries") or []]
    if any(len(c) != 2 for c in countries):
        raise ValidationFailed(fields={f"{where}.cpa_countries": gettext("Use two-letter country codes.")})
    return PlanRule(
        code=code, kind=kind, instrument_group=group, account_type=str(spec.get("account_type") or ""), basis=basis,
        currency=currency, rate=rate, level_rates=level_rates, carry_negative=bool(spec.get("carry_negative", True)),
        cpa_min_deposit=_money_opt(spec.get("cpa_min_deposit"), currency or plan.currency, f"{where}.cpa_min_deposit"),
        cpa_min_lots=opt("cpa_min_lots"),
        cpa_within_days=int(spec["cpa_within_days"]) if spec.get("cpa_within_days") else None,
        cpa_require_kyc=bool(spec.get("cpa_require_kyc", False)), cpa_countries=countries,
        clawback_on_chargeback=bool(spec.get("clawback_on_chargeback", True)),
        tiers=tiers, tier_window_days=window, **_shape_fields(plan, spec, where, currency))


def rule_spec(rule: PlanRule) -> dict[str, Any]:
    """A stored rule in the form `plan_version_record` and the import take (the fields that differ
    from their defaults), to start the next version from."""
    spec: dict[str, Any] = {"code": rule.code, "kind": rule.kind}
    if rule.instrument_group is not None:
        spec["group"] = rule.instrument_group.code
    for name in ("account_type", "basis", "currency"):
        if getattr(rule, name):
            spec[name] = getattr(rule, name)
    if rule.level_rates:
        spec["level_rates"] = [decimal_text(r) for r in rule.level_rates]
    else:
        spec["rate"] = decimal_text(rule.rate)
    if rule.kind == RuleKind.REVSHARE and not rule.carry_negative:
        spec["carry_negative"] = False
    if rule.negative_owed:
        spec["negative_owed"] = True
    for name in NET_FLAGS:
        if not getattr(rule, name):
            spec[name] = False
    if rule.min_hold_seconds is not None:
        spec["min_hold_seconds"] = rule.min_hold_seconds
    if rule.period_cap is not None:
        spec["period_cap"] = format(rule.period_cap, "f")
    if rule.kind == RuleKind.CPA:
        spec.update(_cpa_spec(rule))
    if rule.tiers:
        spec["tiers"] = rule.tiers
        spec["tier_window_days"] = rule.tier_window_days
    return spec


def _cpa_spec(rule: PlanRule) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("cpa_min_deposit", "cpa_min_lots"):
        if getattr(rule, name) is not None:
            out[name] = decimal_text(getattr(rule, name))
    if rule.cpa_within_days:
        out["cpa_within_days"] = rule.cpa_within_days
    if rule.cpa_require_kyc:
        out["cpa_require_kyc"] = True
    if rule.cpa_countries:
        out["cpa_countries"] = list(rule.cpa_countries)
    if not rule.clawback_on_chargeback:
        out["clawback_on_chargeback"] = False
    if rule.cpa_window_from != CpaAnchor.FIRST_DEPOSIT:
        out["cpa_window_from"] = rule.cpa_window_from
    if rule.cpa_kyc_within_window:
        out["cpa_kyc_within_window"] = True
    if rule.clawback_scope != ClawbackScope.ANY_DEPOSIT:
        out["clawback_scope"] = rule.clawback_scope
    return out


TIER_METRICS = ("min_lots", "min_clients")


def _tiers_clean(tiers: Any, where: str, kind: str) -> list[dict[str, str]]:
    """Tier steps as stored: [{"min_lots" | "min_clients": "N", "factor": "F"}, ...], one metric,
    thresholds strictly ascending, factors not negative."""
    if not tiers:
        return []
    if kind == RuleKind.CPA:
        raise ValidationFailed(fields={where: gettext("Tiers apply to per-lot and revenue-share rules only.")})
    if not isinstance(tiers, list) or not all(isinstance(step, Mapping) for step in tiers):
        raise ValidationFailed(fields={where: gettext("Give the tiers as a list of steps.")})
    metrics = {name for step in tiers for name in TIER_METRICS if name in step}
    if len(metrics) != 1:
        raise ValidationFailed(fields={where: gettext("Give every step min_lots, or every step min_clients.")})
    metric = metrics.pop()
    out: list[dict[str, str]] = []
    for i, step in enumerate(tiers):
        unknown = set(step) - {metric, "factor"}
        if unknown or metric not in step or "factor" not in step:
            raise ValidationFailed(fields={f"{where}[{i}]": gettext("A step has %(metric)s and factor, nothing else.")
                                           % {"metric": metric}})
        minimum = _dec(step[metric], f"{where}[{i}].{metric}", positive=True)
        factor = _dec(step["factor"], f"{where}[{i}].factor", positive=True)
        if out and minimum <= Decimal(out[-1][metric]):
            raise ValidationFailed(fields={f"{where}[{i}].{metric}": gettext(
                "Each step's threshold must be above the one before.")})
        out.append({metric: str(minimum), "factor": str(factor)})
    return out


PASS_UP_CHAIN_MAX = 10


def pass_up_chain_clean(values: Any, *, split_mode: str, pass_up_percent: Decimal = Decimal(0)) -> list[Decimal]:
    """A version's pass-up chain (`pass_up_percents`): a list of percentages, each above 0 and
    under 100 (a 0 would end the chain: what follows it could never be reached), at most
    PASS_UP_CHAIN_MAX, with the pass-up split only and not beside a single `pass_up_percent`.
    Empty (or None): no chain. Each problem is named by the entry's path (pass_up_percents[1])."""
    if values is None or values == []:
        return []
    if isinstance(values, str | bytes) or not isinstance(values, Sequence):
        raise ValidationFailed(fields={"pass_up_percents": gettext(
            "Give a list of percentages, the first what the client's partner passes to its parent.")})
    if split_mode != SplitMode.PASS_UP:
        raise ValidationFailed(fields={"pass_up_percents": gettext(
            "A pass-up chain needs split_mode pass_up.")})
    if pass_up_percent:
        raise ValidationFailed(fields={"pass_up_percents": gettext(
            "Give either pass_up_percent (one percentage for every level) or pass_up_percents (one per level), "
            "not both.")})
    if len(values) > PASS_UP_CHAIN_MAX:
        raise ValidationFailed(fields={"pass_up_percents": gettext(
            "At most %(n)s levels.") % {"n": PASS_UP_CHAIN_MAX}})
    chain = []
    for i, value in enumerate(values):
        where = f"pass_up_percents[{i}]"
        if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
            raise ValidationFailed(fields={where: gettext("Enter a number.")})
        percent = _dec(repr(value) if isinstance(value, float) else value, where, positive=True)
        if percent == 0 or percent >= 100:
            raise ValidationFailed(fields={where: gettext("Enter a percentage above 0 and under 100.")})
        if percent != percent.quantize(Decimal("0.000001")):
            raise ValidationFailed(fields={where: gettext("At most 6 decimals.")})
        chain.append(percent)
    return chain


@transaction.atomic
def plan_version_record(*, actor: User | None, plan: CommissionPlan, effective_from: dt.datetime,
                        rules: Sequence[Mapping[str, Any]], min_hold_seconds: int = 0,
                        split_mode: str = SplitMode.LEVELS,
                        pass_up_percent: Decimal | str = "0",  # noqa: S107 (a percentage, not a password)
                        period_cap: Decimal | str | None = None, period_minimum: Decimal | str | None = None,
                        note: str = "", draft: bool = False, recorded_at: dt.datetime | None = None,
                        pass_up_base: str = PassUpBase.OUT_OF, hedge_mode: str = HedgeMode.LATER_UNPAID,
                        client_cap: Decimal | str | None = None,
                        pass_up_percents: Sequence[Decimal | str] | None = None) -> PlanVersion:
    """Record a version of `plan` applying from `effective_from` (a correction when another version
    has the same effective_from: runs as of after `recorded_at` see this one). Rules are validated
    together; nothing is written when one is bad. `pass_up_percents` (pass_up only): the chain, the
    k-th what level k - 1 passes to level k, instead of `pass_up_percent` at every level."""
    _require(actor, plan.brand_id)
    if split_mode not in SplitMode.values:
        raise ValidationFailed(fields={"split_mode": gettext("Choose %(choices)s.")
                                       % {"choices": ", ".join(SplitMode.values)}})
    pass_up_base = _choice({"pass_up_base": pass_up_base}, "pass_up_base", PassUpBase, "")
    hedge_mode = _choice({"hedge_mode": hedge_mode}, "hedge_mode", HedgeMode, "")
    pass_up = _dec(pass_up_percent, "pass_up_percent", positive=True)
    if pass_up >= 100:
        raise ValidationFailed(fields={"pass_up_percent": gettext("Enter a percentage under 100.")})
    chain = pass_up_chain_clean(pass_up_percents, split_mode=split_mode, pass_up_percent=pass_up)
    if not rules:
        raise ValidationFailed(fields={"rules": gettext("Give at least one rule.")})
    groups = {g.code: g for g in InstrumentGroup.objects.filter(brand_id=plan.brand_id)}
    cleaned = [_rule_clean(plan, i, spec, groups, split_mode) for i, spec in enumerate(rules)]
    if len({r.code for r in cleaned}) != len(cleaned):
        raise ValidationFailed(fields={"rules": gettext("Each rule needs its own code.")})
    if min_hold_seconds < 0:
        raise ValidationFailed(fields={"min_hold_seconds": gettext("Enter a positive number.")})
    plan = CommissionPlan.objects.select_for_update().get(pk=plan.pk)
    number = (plan.versions.aggregate(n=Max("number"))["n"] or 0) + 1
    version = PlanVersion.objects.create(
        plan=plan, number=number, effective_from=effective_from, recorded_at=recorded_at or timezone.now(),
        min_hold_seconds=min_hold_seconds, split_mode=split_mode, pass_up_percent=pass_up,
        period_cap=_money_opt(period_cap, plan.currency, "period_cap"),
        period_minimum=_money_opt(period_minimum, plan.currency, "period_minimum"),
        client_cap=_money_opt(client_cap, plan.currency, "client_cap"), pass_up_base=pass_up_base,
        pass_up_percents=chain, hedge_mode=hedge_mode, note=note, is_draft=draft, actor=actor)
    for rule in cleaned:
        rule.version = version
    PlanRule.objects.bulk_create(cleaned)
    audit_record(action="ib.plan_version_recorded", obj=version, actor=actor,
                 after={"plan": plan.name, "number": number, "effective_from": effective_from.isoformat(),
                        "rules": [r.code for r in cleaned], "draft": draft})
    return version


def account_for_override(*, brand: Brand, login: int) -> TradingAccount:
    """The brand's live trading account with `login` (for a personal plan override); refused by
    name when there is none, or when servers of the brand each have one."""
    accounts = live_accounts_by_login(brand=brand, login=login, limit=3)
    if not accounts:
        raise ValidationFailed(fields={"login": gettext("No live trading account %(login)s on this brand.")
                                       % {"login": login}})
    if len(accounts) > 1:
        raise ValidationFailed(fields={"login": gettext("Login %(login)s is on several servers (%(servers)s).")
                                       % {"login": login, "servers": ", ".join(a.server.name for a in accounts)}})
    return accounts[0]


def version_start(plan: CommissionPlan, day: dt.date) -> dt.datetime:
    """When a version recorded for `day` applies from: the exact start of a version already in
    force from that day (the new one then corrects it), else midnight UTC."""
    midnight = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    same = (plan.versions.filter(is_draft=False, effective_from__gte=midnight,
                                 effective_from__lt=midnight + dt.timedelta(days=1))
            .order_by("effective_from").values_list("effective_from", flat=True).first())
    return same or midnight


@transaction.atomic
def plan_assign(*, actor: User | None, plan: CommissionPlan, effective_from: dt.datetime,
                partner: Partner | None = None, account: TradingAccount | None = None,
                recorded_at: dt.datetime | None = None) -> PlanAssignment:
    """From `effective_from`, `plan` applies to `partner`'s clients, or (a personal override) to
    one trading account. The target's open assignment ends where this one begins. `recorded_at`
    (a migration: when the old system knew it; default now) is what runs as of a moment read by."""
    if (partner is None) == (account is None):
        raise ValidationFailed(fields={"partner": gettext("Choose a partner or a trading account.")})
    _require(actor, plan.brand_id)
    if partner is not None and partner.brand_id != plan.brand_id:
        raise ValidationFailed(fields={"partner": gettext("The partner belongs to another brand.")})
    target = {"partner": partner} if partner is not None else {"account": account}
    current = PlanAssignment.objects.select_for_update().filter(effective_to__isnull=True, **target).first()
    if current is not None:
        if current.effective_from >= effective_from:
            raise ValidationFailed(fields={"effective_from": gettext("Choose a date after the current assignment's.")})
        current.effective_to = effective_from
        current.save(update_fields=["effective_to"])
    assignment = PlanAssignment.objects.create(plan=plan, effective_from=effective_from, actor=actor,
                                               recorded_at=recorded_at or timezone.now(), **target)
    audit_record(action="ib.plan_assigned", obj=assignment, actor=actor,
                 after={"plan": plan.name, "partner": getattr(partner, "pk", None),
                        "account": getattr(account, "pk", None), "effective_from": effective_from.isoformat()})
    return assignment


# --- facts ----------------------------------------------------------------------------------------

def _positive(amount: Money) -> Decimal:
    if not isinstance(amount, Money) or not amount.amount.is_finite() or amount.amount <= 0:
        raise ValidationFailed(fields={"amount": gettext("Enter a positive number.")})
    return amount.amount


@transaction.atomic
def deposit_record(*, client: Client, amount: Money, at: dt.datetime, reference: str,
                   source: str = "wallet", recorded_at: dt.datetime | None = None) -> ClientDeposit:
    """A confirmed deposit, in its own currency (idempotent by `reference`: a repeated call returns
    the row recorded first): the wallet's deposit events (ib.handlers) and the import.
    `recorded_at`: when it became known, if later than `at` (a run as of an earlier time ignores it)."""
    value = _positive(amount)
    _known_after(at, recorded_at)
    deposit, _created = ClientDeposit.objects.get_or_create(
        reference=reference, defaults={"client": client, "amount": value, "at": at, "source": source,
                                       "currency": amount.currency, "recorded_at": recorded_at})
    return deposit


@transaction.atomic
def chargeback_record(*, client: Client, amount: Money, at: dt.datetime, reference: str,
                      kind: str = "chargeback", deposit_reference: str = "",
                      recorded_at: dt.datetime | None = None) -> ClientChargeback:
    """A chargeback or refund of a client's deposit (`deposit_reference`: that deposit's reference,
    when known), in its own currency (idempotent by `reference`). `recorded_at`: when it became
    known, if later than `at` (a chargeback dated in March, learnt of in April)."""
    value = _positive(amount)
    if kind not in ("chargeback", "refund"):
        raise ValidationFailed(fields={"kind": gettext("Choose chargeback or refund.")})
    _known_after(at, recorded_at)
    row, _created = ClientChargeback.objects.get_or_create(
        reference=reference, defaults={"client": client, "amount": value, "at": at, "kind": kind,
                                       "currency": amount.currency, "deposit_reference": deposit_reference,
                                       "recorded_at": recorded_at})
    return row


def _known_after(at: dt.datetime, recorded_at: dt.datetime | None) -> None:
    if recorded_at is not None and recorded_at < at:
        raise ValidationFailed(fields={"recorded_at": gettext("A fact cannot be known before it happened.")})


@transaction.atomic
def legacy_total_record(*, partner: Partner, period: dt.date, amount: Money, note: str = "") \
        -> tuple[LegacyCommissionTotal, bool]:
    """What the old CRM paid `partner` for `period` (a migration import; the backtest's other
    column): one figure per partner, period and currency; a re-import with another amount replaces
    it (audited). Returns the row and whether it is new or changed."""
    period = period.replace(day=1)
    row = LegacyCommissionTotal.objects.select_for_update().filter(
        partner=partner, period=period, currency=amount.currency).first()
    if row is not None and row.amount == amount.amount:
        return row, False
    before = {"amount": str(row.amount)} if row is not None else None
    if row is None:
        row = LegacyCommissionTotal(brand_id=partner.brand_id, partner=partner, period=period,
                                    currency=amount.currency)
    row.amount, row.note = amount.amount, note[:200]
    row.save()
    audit_record(action="ib.legacy_total_record", obj=partner, actor=None, before=before,
                 after={"period": f"{period:%Y-%m}", "amount": str(amount.amount), "currency": amount.currency})
    return row, True


# --- runs -----------------------------------------------------------------------------------------

def period_before(day: dt.date | None = None) -> dt.date:
    """The first day of the month before `day`'s (today's, in UTC, by default)."""
    day = day or timezone.now().astimezone(dt.UTC).date()
    return (day.replace(day=1) - dt.timedelta(days=1)).replace(day=1)


def period_bounds(period: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime(period.year, period.month, 1, tzinfo=dt.UTC)
    end = dt.datetime(period.year + (period.month == 12), period.month % 12 + 1, 1, tzinfo=dt.UTC)
    return start, end


def period_parse(text: str) -> dt.date:
    try:
        day = dt.datetime.strptime(text, "%Y-%m").replace(tzinfo=dt.UTC).date()
    except ValueError:
        raise ValidationFailed(fields={"period": gettext("Give the period as YYYY-MM.")}) from None
    return day


def _settled(brand_id: int, period: dt.date) -> dict[tuple[int, str], Decimal]:
    rows = (CommissionSettlement.objects.filter(brand_id=brand_id, period=period)
            .values_list("partner_id", "currency").annotate(total=Sum("amount")))
    return {(p, c): t for p, c, t in rows}


def _carry_in(brand_id: int, period: dt.date) -> dict[tuple[int, str], Decimal]:
    """The carry out of the previous period's latest regular run."""
    run = (CommissionRun.objects.filter(brand_id=brand_id, period=period_before(period), kind=RunKind.REGULAR, status=RunStatus.DONE)
           .order_by("-number").first())
    if run is None:
        return {}
    return {(t.partner_id, t.currency): t.carry_out for t in run.totals.all() if t.carry_out}


def _write_totals(run: CommissionRun, sums: dict[tuple[int, str], engine.PartnerSum] | None = None) -> None:
    """The run's totals from its lines' sums (all its lines summed, unless an increment passes the
    sums it corrected)."""
    sums = engine.with_limits(engine.line_sums(run.pk) if sums is None else sums)
    carry = _carry_in(run.brand_id, run.period)
    settled = _settled(run.brand_id, run.period) if run.kind == RunKind.REGULAR else {}
    keys = set(sums) | set(carry) | set(settled)
    shapes = engine.shapes(run.pk)
    run.totals.all().delete()
    rows = []
    for key in sorted(keys):
        partner_id, currency = key
        s = sums.get(key, engine.PartnerSum())
        total = engine.total_of(gross=s.gross, carry_in=carry.get(key, engine.ZERO), cap=s.cap, minimum=s.minimum,
                                currency=currency, shape=shapes.get(key))
        paid = settled.get(key, engine.ZERO)
        rows.append(CommissionTotal(run=run, partner_id=partner_id, currency=currency, gross=total.gross,
                                    carry_in=total.carry_in, capped=total.capped, payable=total.payable,
                                    carry_out=total.carry_out, settled=paid, delta=total.payable - paid,
                                    lines=s.lines, plan_version_id=s.version_id))
    CommissionTotal.objects.bulk_create(rows)


# The run's clients with a CPA line who never qualified before: recorded once each, with the client's
# own partner (the chain's last element) and the earliest of their CPA lines.
QUALIFICATIONS_SQL = """
INSERT INTO ib_clientqualification (client_id, partner_id, rule_code, qualified_at, run_id, created_at)
SELECT DISTINCT ON (l.client_id) l.client_id, l.chain[cardinality(l.chain)], l.rule_code, l.business_time, l.run_id,
       now()
FROM ib_commissionline l
WHERE l.run_id = %s AND l.source_kind = 'cpa' AND l.client_id IS NOT NULL
ORDER BY l.client_id, l.business_time, l.level
ON CONFLICT (client_id) DO NOTHING
RETURNING id
"""


def _qualifications_record(run: CommissionRun) -> int:
    """Record the clients this regular run found qualified for the first time and emit
    `ib.client_qualified` for each (in the run's transaction). Returns how many."""
    if run.kind != RunKind.REGULAR:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(QUALIFICATIONS_SQL, [run.pk])
        ids = [row[0] for row in cursor.fetchall()]
    rows = ClientQualification.objects.filter(pk__in=ids).select_related("client", "partner").order_by("pk")
    for row in rows:
        emit("ib.client_qualified", client=row.client, actor=None, data={
            "partner": {"code": str(row.partner.code), "name": row.partner.display_name},
            "rule": row.rule_code, "qualified_at": row.qualified_at.isoformat(), "run": str(run.code)})
    return len(ids)


def _compute(run: CommissionRun, *, drafts: Sequence[int] = (), accounts: list[int] | None = None,
             since: dt.datetime | None = None, partners: list[int] | None = None,
             added: dict[tuple[int, str], engine.PartnerSum] | None = None) -> dict[str, int]:
    start, end = period_bounds(run.period)
    try:
        return engine.compute_lines(engine.Scope(run.brand_id, start, end, run.as_of, run.pk, list(drafts), accounts,
                                                 since, partners), added)
    except engine.FxMissing as missing:
        message = gettext("No FX rate for %(pairs)s.") % {"pairs": str(missing)}
        raise ValidationFailed(message, fields={"fx_rate": message}, code="fx_missing") from None


def _run_open(*, actor: User | None, brand: Brand, period: dt.date, as_of: dt.datetime | None,
              what_if_versions: Sequence[PlanVersion]) -> CommissionRun:
    """A new run of `brand`'s `period` as of `as_of` (now), still running: numbered when regular."""
    _require(actor, brand.pk, RUN)
    period = period.replace(day=1)
    as_of = as_of or timezone.now()
    kind = RunKind.WHAT_IF if what_if_versions else RunKind.REGULAR
    for version in what_if_versions:
        if version.plan.brand_id != brand.pk:
            raise ValidationFailed(fields={"version": gettext("The version belongs to another brand's plan.")})
    number = None
    if kind == RunKind.REGULAR:
        # Runs of one period are numbered in order: lock the brand's row for the count.
        # (FOR NO KEY UPDATE, crm.models.locks: the brand's events and rows are inserted meanwhile.)
        Brand.objects.select_for_update(no_key=True).get(pk=brand.pk)
        number = (CommissionRun.objects.filter(brand=brand, period=period, kind=RunKind.REGULAR)
                  .aggregate(n=Max("number"))["n"] or 0) + 1
    return CommissionRun.objects.create(brand=brand, period=period, as_of=as_of, number=number, kind=kind,
                                        actor=actor, what_if={"versions": [v.pk for v in what_if_versions]})


def _run_finish(run: CommissionRun) -> CommissionRun:
    """Compute a running run: its lines, totals and (regular runs) the qualifications found; done."""
    run.stats = _compute(run, drafts=list((run.what_if or {}).get("versions") or []))
    _write_totals(run)
    _qualifications_record(run)
    RUN_STATES.move(run, RunStatus.DONE, also={"finished_at": timezone.now()}, save=("stats",))
    audit_record(action="ib.commission_run", obj=run, actor=run.actor,
                 after={"period": f"{run.period:%Y-%m}", "number": run.number, "kind": run.kind,
                        "as_of": run.as_of.isoformat(), **run.stats})
    return run


@transaction.atomic
def commission_run(*, actor: User | None, brand: Brand, period: dt.date, as_of: dt.datetime | None = None,
                   what_if_versions: Sequence[PlanVersion] = ()) -> CommissionRun:
    """Compute `brand`'s `period` from what was known at `as_of` (now by default): a new numbered
    run (a recalculation when the period has runs already) whose totals carry their difference
    against what was settled. With `what_if_versions` (draft versions), a what-if run: the drafts
    apply as if recorded, nothing is numbered or can be settled."""
    run = _run_open(actor=actor, brand=brand, period=period, as_of=as_of, what_if_versions=what_if_versions)
    return _run_finish(run)


RUN_JOB_KIND = "ib.commission_run"


@transaction.atomic
def commission_run_start(*, actor: User, brand: Brand, period: dt.date,
                         what_if_versions: Sequence[PlanVersion] = ()) -> CommissionRun:
    """`commission_run` started from a page: the run is opened now (its as-of: what is known at
    this moment) and computed by a django-rq job the IB manager watches (crm.jobs); the run's page
    shows it running, then its totals, or why it failed."""
    from django.urls import reverse

    from crm.jobs import job_start

    if period.replace(day=1) > timezone.now().astimezone(dt.UTC).date().replace(day=1):
        raise ValidationFailed(fields={"period": gettext("%(period)s has not begun yet.")
                                       % {"period": f"{period:%Y-%m}"}})
    run = _run_open(actor=actor, brand=brand, period=period, as_of=None, what_if_versions=what_if_versions)
    label = (gettext("What-if run %(period)s of %(brand)s") if what_if_versions
             else gettext("Commission run %(period)s of %(brand)s")) % {"period": f"{run.period:%Y-%m}", "brand": brand.name}
    run.job = job_start(kind=RUN_JOB_KIND, actor=actor, title=label, func="ib.commissions.commission_run_job",
                        kwargs={"run_id": run.pk}, link=reverse("ib_run_detail", args=[run.code]), brand=brand)
    run.save(update_fields=["job"])
    return run


def commission_run_job(handle: Any, *, run_id: int) -> None:
    """The job: compute the run in one transaction. A run that cannot be computed (a missing FX
    rate, an error) is marked failed with the reason, and nothing of it is kept."""
    run = CommissionRun.objects.get(pk=run_id)
    if run.status != RunStatus.RUNNING:
        return
    try:
        with transaction.atomic():
            done = _run_finish(CommissionRun.objects.select_for_update().get(pk=run_id))
    except ValidationFailed as error:
        run_fail(run, error.message)
        raise
    except Exception as error:
        run_fail(run, gettext("The computation stopped on an unexpected error (%(error)s).")
                 % {"error": type(error).__name__})
        raise
    handle.progress(1, 1, lines=sum(int(v) for k, v in done.stats.items() if k.endswith("_lines")),
                    partners=done.totals.count(), force=True)


def run_fail(run: CommissionRun, reason: str) -> None:
    """Mark a run that is still running as failed, with `reason`. It has no lines: a run is
    computed in one transaction, which a failure or a dead worker rolls back."""
    CommissionRun.objects.filter(pk=run.pk, status__in=RUN_STATES.sources(RunStatus.FAILED)).update(
        status=RunStatus.FAILED, finished_at=timezone.now(), stats={"error": str(reason)})


def run_job_check(run: CommissionRun) -> CommissionRun:
    """A running run whose job ended without finishing it (the worker died, the job was lost or
    cancelled) is marked failed with the job's reason."""
    from crm.jobs import job_liveness_check
    from crm.models import JobStatus

    if run.status != RunStatus.RUNNING or run.job is None:
        return run
    job = job_liveness_check(run.job)
    if job.status in (JobStatus.FAILED, JobStatus.CANCELLED):
        run_fail(run, job.failure_reason or gettext("The job computing this run stopped."))
        run.refresh_from_db()
    return run


CHANGE_MARGIN = dt.timedelta(minutes=15)  # longer than any sync transaction


def _increment_accounts(run: CommissionRun, *, as_of: dt.datetime, start: dt.datetime,
                        end: dt.datetime) -> tuple[dict[str, int], int]:
    """Recompute the run's lines of the accounts whose deals changed since its as-of (and every CPA
    and chargeback line), correcting its totals by what was removed and added."""
    engine.increment_settings()
    with connection.cursor() as cursor:
        # Deals new, edited or deleted since the run's as-of: every such change sets updated_at
        # (trading.sync), which is indexed, so this reads the changes only. updated_at is its sync
        # transaction's start, which may commit after this run's as-of: changes are read back
        # CHANGE_MARGIN before it (their accounts are recomputed again, which changes nothing).
        cursor.execute(
            "SELECT d.account_id, min(d.time) FROM trading_public_deals d "
            "JOIN trading_public_servers s ON s.id = d.server_id AND s.brand_id = %s "
            "WHERE d.updated_at > %s AND d.time >= %s AND d.time < %s AND d.kind = 'trade' "
            "AND d.first_seen_at <= %s GROUP BY d.account_id",
            [run.brand_id, run.as_of - CHANGE_MARGIN, start, end, as_of])
        changed = cursor.fetchall()
        changed_accounts = [account_id for account_id, _t in changed]
        since = min((t for _a, t in changed), default=end)
        # Lines are kept in batches per client's partner and day: the batches of the partners the
        # changed accounts had from that day on are computed again, from all of those partners'
        # accounts (a batch holds every source of its partner and day).
        cursor.execute(
            "SELECT DISTINCT at.partner_id FROM trading_public_accounts a "
            "JOIN ib_clientattribution at ON at.client_id = a.client_id "
            "WHERE a.id = ANY(%s) AND at.effective_from < %s AND (at.effective_to IS NULL OR at.effective_to > %s)",
            [changed_accounts, end, since])
        partners = [row[0] for row in cursor.fetchall()]
        cursor.execute(
            "SELECT DISTINCT a.id FROM ib_clientattribution at "
            "JOIN trading_public_accounts a ON a.client_id = at.client_id "
            "JOIN trading_public_servers s ON s.id = a.server_id AND s.brand_id = %s "
            "WHERE at.partner_id = ANY(%s) AND at.effective_from < %s AND (at.effective_to IS NULL OR at.effective_to > %s)",
            [run.brand_id, partners, end, since])
        accounts = [row[0] for row in cursor.fetchall()]
        cursor.execute("SELECT count(*) FROM trading_public_accounts a "
                       "JOIN trading_public_servers s ON s.id = a.server_id AND s.brand_id = %s", [run.brand_id])
        everyone = len(accounts) == (cursor.fetchone() or (0,))[0]
    # The totals are corrected by what the increment removes and adds, not summed again.
    sums = {(t.partner_id, t.currency): engine.PartnerSum(t.gross, t.lines, t.plan_version_id)
            for t in run.totals.all()}
    for key, removed in engine.lines_forget(run.pk, partners=partners, since=since).items():
        sums[key] = sums.get(key, engine.PartnerSum()).plus(removed, -1)
    run.as_of = as_of
    # A day on which every account traded reads the day's deals without a list of accounts to match.
    stats = _compute(run, accounts=None if everyone else accounts, since=since, partners=partners, added=sums)
    _write_totals(run, {key: s for key, s in sums.items() if s.lines})
    return stats, len(changed_accounts)


@transaction.atomic
def commission_run_increment(*, brand: Brand, period: dt.date, as_of: dt.datetime | None = None) -> CommissionRun:
    """The daily run: bring the period's latest unsettled run up to `as_of` by recomputing only the
    accounts whose deals arrived, changed or were deleted since its as-of (and every CPA and
    chargeback line). A period without runs, or whose latest run was settled, gets a full new run.
    Plan, assignment and attribution changes need a full run (a recalculation)."""
    period = period.replace(day=1)
    as_of = as_of or timezone.now()
    run = (CommissionRun.objects.select_for_update()
           .filter(brand=brand, period=period, kind=RunKind.REGULAR, status=RunStatus.DONE)
           .order_by("-number").first())
    if run is None or run.settled_at is not None or run.settlements.exists():
        return commission_run(actor=None, brand=brand, period=period, as_of=as_of)
    start, end = period_bounds(period)
    if PlanRule.objects.filter(version__plan__brand=brand).exclude(tiers=[]).exists():
        # A tier moves with every deal of the partner's other clients too: the whole period is
        # computed again into the same run (no new number), not only the changed accounts.
        engine.lines_delete(run.pk)
        run.as_of = as_of
        stats = _compute(run)
        _write_totals(run)
        changed_accounts: int | None = None
    else:
        stats, changed_accounts = _increment_accounts(run, as_of=as_of, start=start, end=end)
    _qualifications_record(run)
    run.stats = {**run.stats, "increments": int(run.stats.get("increments", 0)) + 1,
                 "last_increment": {"accounts": changed_accounts, **stats}}
    run.finished_at = timezone.now()
    run.save(update_fields=["as_of", "stats", "finished_at"])
    return run


@transaction.atomic
def commission_run_refresh(*, brand: Brand, period: dt.date, as_of: dt.datetime | None = None) -> CommissionRun | None:
    """The frequent live refresh (beat, every few minutes): the period's latest unsettled run is
    incremented (`commission_run_increment`), a period without runs gets its first. A period whose
    latest run was settled is left alone (None): a recalculation is the daily run's or the IB
    manager's decision, not one new run every few minutes."""
    period = period.replace(day=1)
    latest = (CommissionRun.objects.filter(brand=brand, period=period, kind=RunKind.REGULAR, status=RunStatus.DONE)
              .order_by("-number").first())
    if latest is not None and (latest.settled_at is not None or latest.settlements.exists()):
        return None
    return commission_run_increment(brand=brand, period=period, as_of=as_of)


@transaction.atomic
def commission_run_settle(*, actor: User | None, run: CommissionRun,
                          partners: Collection[int] | None = None) -> list[CommissionSettlement]:
    """Mark the run's totals as settled: one row per partner with the difference between its
    payable and what the period's earlier settlements added up to (positive: to pay; negative: to
    claw back). Only the period's latest regular run can be settled, and each of its totals once.
    `partners` (ids): settle only these partners' totals (the settlement schedule,
    ib.settlement); without it, every total of the run not settled yet (none left: Conflict)."""
    _require(actor, run.brand_id, RUN)
    run = CommissionRun.objects.select_for_update().get(pk=run.pk)
    if run.kind != RunKind.REGULAR or run.status != RunStatus.DONE:
        raise Conflict(gettext("Only a finished regular run can be settled."))
    latest = (CommissionRun.objects.filter(brand_id=run.brand_id, period=run.period, kind=RunKind.REGULAR)
              .exclude(status=RunStatus.FAILED).aggregate(n=Max("number"))["n"])
    if run.number != latest:
        raise Conflict(gettext("A newer run of this period exists: settle that one."))
    done = set(run.settlements.values_list("partner_id", "currency"))
    every = list(run.totals.all())
    totals = [t for t in every if (t.partner_id, t.currency) not in done and (partners is None or t.partner_id in partners)]
    if not totals:
        if partners is None and (run.settled_at is not None or done):
            raise Conflict(gettext("This run was settled already."))
        if partners is None:
            # A run without totals (nothing earned, nothing carried): settled, with nothing to pay.
            _run_mark_settled(run, actor=actor, rows=[])
        return []
    settled = _settled(run.brand_id, run.period)
    rows = []
    for total in totals:
        paid = settled.get((total.partner_id, total.currency), engine.ZERO)
        rows.append(CommissionSettlement(brand_id=run.brand_id, partner_id=total.partner_id, period=run.period,
                                         currency=total.currency, run=run, amount=total.payable - paid,
                                         payable=total.payable, actor=actor))
    CommissionSettlement.objects.bulk_create(rows)
    if len(done) + len(rows) >= len(every):
        _run_mark_settled(run, actor=actor, rows=rows)
    else:
        _settle_audit(run, actor=actor, rows=rows)
    return rows


def _settle_audit(run: CommissionRun, *, actor: User | None, rows: list[CommissionSettlement]) -> None:
    audit_record(action="ib.commission_settled", obj=run, actor=actor,
                 after={"period": f"{run.period:%Y-%m}", "number": run.number,
                        "amounts": {f"{r.partner_id}:{r.currency}": format(r.amount, "f") for r in rows}})


def _run_mark_settled(run: CommissionRun, *, actor: User | None, rows: list[CommissionSettlement]) -> None:
    """Every total of the run is settled (or it has none): the run is the period's settled one."""
    run.settled_at = timezone.now()
    run.save(update_fields=["settled_at"])
    _settle_audit(run, actor=actor, rows=rows)


@dataclass(frozen=True)
class TotalView:
    partner_id: int
    partner: str
    currency: str
    payable: Decimal
    settled: Decimal
    delta: Decimal
    carry_out: Decimal


def run_totals(run: CommissionRun) -> list[TotalView]:
    rows = run.totals.select_related("partner").order_by("partner__path", "currency")
    return [TotalView(t.partner_id, t.partner.display_name, t.currency, money_round(t.payable, t.currency),
                      money_round(t.settled, t.currency), money_round(t.delta, t.currency), t.carry_out)
            for t in rows]


@dataclass(frozen=True)
class ComparedTotal:
    partner: str
    currency: str
    regular: Decimal  # the period's latest regular run's payable (0: not in it)
    what_if: Decimal
    difference: Decimal


def run_compared(run: CommissionRun) -> tuple[CommissionRun | None, list[ComparedTotal]]:
    """A what-if run beside the period's latest finished regular run: each partner's payable in
    both and the difference. (None, []) for a regular run."""
    if run.kind != RunKind.WHAT_IF or run.status != RunStatus.DONE:
        return None, []
    regular = (CommissionRun.objects.filter(brand_id=run.brand_id, period=run.period, kind=RunKind.REGULAR,
                                            status=RunStatus.DONE).order_by("-number").first())
    names: dict[tuple[int, str], str] = {}
    payable: dict[tuple[int, str], list[Decimal]] = {}
    for side, source in enumerate((regular, run)):
        for t in run_totals(source) if source is not None else []:
            names[(t.partner_id, t.currency)] = t.partner
            payable.setdefault((t.partner_id, t.currency), [engine.ZERO, engine.ZERO])[side] = t.payable
    rows = [ComparedTotal(names[key], key[1], base, mine, mine - base) for key, (base, mine) in payable.items()]
    return regular, sorted(rows, key=lambda r: (r.partner, r.currency))


def run_lines(run: CommissionRun) -> list[CommissionLine]:
    return list(run.lines.order_by("business_time", "source_kind", "source_id", "level"))


def line_record(line: CommissionLine) -> dict[str, Any]:
    """A line as the commands print it in JSON (amounts as plain decimal strings)."""
    return {"time": line.business_time.isoformat(), "source": f"{line.source_kind}:{line.source_id}",
            "partner": line.beneficiary_id, "rule": line.rule_code, "level": line.level,
            "chain": line.chain, "plan_version": line.plan_version_id, "basis": decimal_text(line.basis),
            "basis_currency": line.basis_currency, "rate": decimal_text(line.rate),
            "fx_rate": decimal_text(line.fx_rate), "amount": decimal_text(line.amount), "currency": line.currency}


def line_text(line: Mapping[str, Any]) -> str:
    """One line of `line_record` as the commands print it in text."""
    return (f"{line['time']} {line['source']:<16} {line['rule']:<12} L{line['level']} "
            f"partner {line['partner']:<6} {line['basis']} x {line['rate']} x fx {line['fx_rate']} "
            f"= {line['amount']} {line['currency']}")


# --- backtest against the old CRM -------------------------------------------------------------------

@dataclass(frozen=True)
class BacktestRow:
    partner_id: int
    partner: str
    partner_code: str
    currency: str
    engine: Decimal  # the run's payable (0: no total in it)
    old: Decimal | None  # what the old CRM paid (None: the import gave no figure)
    difference: Decimal  # engine - old (old missing counts as 0)
    lines: list[CommissionLine]


@dataclass(frozen=True)
class Backtest:
    run: CommissionRun
    rows: list[BacktestRow]

    @property
    def has_old_totals(self) -> bool:
        return any(row.old is not None for row in self.rows)

    @property
    def differing(self) -> list[BacktestRow]:
        return [row for row in self.rows if row.difference != 0]


def legacy_periods(brand_ids: Sequence[int]) -> list[dt.date]:
    """The periods for which an import gave the old CRM's totals, newest first."""
    return list(LegacyCommissionTotal.objects.filter(brand_id__in=brand_ids).order_by("-period")
                .values_list("period", flat=True).distinct())


def run_backtest(run: CommissionRun, *, lines_of: Sequence[int] | None = None) -> Backtest:
    """The run's totals beside what the old CRM paid for its period (LegacyCommissionTotal, from
    the migration import), per partner and currency, with the difference (engine - old; both
    rounded to the currency) and the run's lines behind each engine total: every partner's, or
    only those of `lines_of` (partner ids; the page shows one partner's at a time)."""
    totals = {(t.partner_id, t.currency): t for t in run_totals(run)}
    old = {(row.partner_id, row.currency): row for row in
           LegacyCommissionTotal.objects.filter(brand_id=run.brand_id, period=run.period)}
    partners = Partner.objects.in_bulk({key[0] for key in [*totals, *old]})
    wanted = set(partners) if lines_of is None else set(lines_of)
    lines: dict[int, list[CommissionLine]] = {}
    if wanted:
        for line in run.lines.filter(beneficiary_id__in=wanted).order_by("business_time", "source_kind",
                                                                         "source_id", "level"):
            lines.setdefault(line.beneficiary_id, []).append(line)
    rows = []
    for key in sorted({*totals, *old}, key=lambda k: (partners[k[0]].path, k[1])):
        partner = partners[key[0]]
        engine_total = totals[key].payable if key in totals else engine.ZERO
        paid = money_round(old[key].amount, key[1]) if key in old else None
        rows.append(BacktestRow(partner.pk, partner.display_name, str(partner.code), key[1], engine_total, paid,
                                engine_total - (paid or engine.ZERO),
                                [x for x in lines.get(partner.pk, []) if x.currency == key[1]]))
    return Backtest(run, rows)


def backtest_as_of(period: dt.date) -> dt.datetime:
    """The default moment of a backtest: the end of the period (what was known when it closed)."""
    return period_bounds(period)[1]
