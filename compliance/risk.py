"""The client risk score (issue 35, item 2): factors give points, the points give a band (low, medium,
high), and each score is kept with each factor's finding and contribution.

Factors are a registry (`FACTORS`): each has a key, a label, its default parameters and the function that
reads what it needs through the owning apps' selectors (jurisdictions and screening here, the KYC
questionnaire's answers, the wallet's deposit figures). A brand's risk model (compliance.models.RiskModel)
overrides any factor's parameters and points, the band thresholds and the review period of each band;
saving it writes a new version, audited. Another part of compliance adds a factor in a few lines:

    risk_factor_register(RiskFactor(
        key="alerts", label=_("AML alerts"), defaults={"per_alert": 10, "max": 40, "days": 365},
        compute=_alert_points))   # reads compliance.selectors.aml_alert_count_for_client
    # and in handlers.py: @subscribe("compliance.alert_raised") -> risk_score_enqueue(client_id=...)

A score is recomputed when an event changes one of its factors (compliance.handlers) and written only
when the points or the findings changed. A client who becomes high risk gets an enhanced due diligence
task (and, while a KYC submission is open, the request for source-of-funds documents through KYC); each
score carries the date of the next periodic review for its band, and a beat pass raises the reviews
that fall due (`risk_reviews_raise`)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cached_property
from typing import Any

from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from compliance import permissions
from compliance.jurisdictions import jurisdiction_in_effect
from compliance.models import HitStatus, ListKind, RiskBand, RiskModel, RiskScore, ScreeningHit
from crm.audit import audit_record
from crm.events import emit
from crm.exceptions import DomainError, NotAllowed, ValidationFailed
from crm.lib.enqueue import task_named
from crm.lib.payloads import user_ref
from crm.models import Brand, Client, RoleCode, User
from crm.permissions import staff_of_brand, user_can

logger = logging.getLogger(__name__)

VIEW_PERMISSION = permissions.RISK_VIEW
RECOMPUTE_PERMISSION = permissions.RISK_RECOMPUTE
CONFIGURE_PERMISSION = permissions.RISK_CONFIGURE

DEFAULT_MEDIUM_FROM = 30
DEFAULT_HIGH_FROM = 60
DEFAULT_REVIEW_MONTHS: dict[str, int] = {RiskBand.LOW: 36, RiskBand.MEDIUM: 24, RiskBand.HIGH: 12}


# --- the factors ---------------------------------------------------------------------------------------

@dataclass
class RiskInput:
    """What the factors read about one client, each part fetched once and only when a factor asks."""

    client: Client
    now: dt.datetime

    @cached_property
    def answers(self) -> dict[str, list[str]]:
        from kyc.selectors import questionnaire_answers

        return questionnaire_answers(client=self.client)

    def deposits(self, since: dt.datetime | None = None) -> Any:
        from wallet.selectors import deposit_figures_for_client

        key = since.isoformat() if since else ""
        cache = self.__dict__.setdefault("_deposits", {})
        if key not in cache:
            cache[key] = deposit_figures_for_client(client_id=self.client.pk, since=since)
        return cache[key]


@dataclass(frozen=True)
class FactorResult:
    value: str  # what was found, in words for the officer
    points: int


@dataclass(frozen=True)
class RiskFactor:
    key: str
    label: Promise | str
    compute: Callable[[RiskInput, Mapping[str, Any]], FactorResult]
    defaults: dict[str, Any] = field(default_factory=dict)
    order: int = 100


FACTORS: dict[str, RiskFactor] = {}


def risk_factor_register(factor: RiskFactor) -> None:
    """Add (or replace) a factor; brands' models may then set its parameters under its key."""
    FACTORS[factor.key] = factor


def _int(params: Mapping[str, Any], key: str) -> int:
    try:
        return int(params.get(key) or 0)
    except (TypeError, ValueError):
        return 0


def _country(inp: RiskInput, params: Mapping[str, Any]) -> FactorResult:
    country = inp.client.country
    if not country:
        return FactorResult(gettext("No country"), _int(params, "unknown"))
    row = jurisdiction_in_effect(brand=inp.client.brand_id, country=country)
    status = row.status if row is not None else "allowed"
    label = row.get_status_display() if row is not None else gettext("Allowed")
    return FactorResult(f"{country}: {label}", _int(params, status))


def _nationality(inp: RiskInput, params: Mapping[str, Any]) -> FactorResult:
    """The brand's jurisdiction rule for the client's nationality, as for the country of residence."""
    nationality = inp.client.nationality
    if not nationality:
        return FactorResult(gettext("Not recorded"), _int(params, "unknown"))
    row = jurisdiction_in_effect(brand=inp.client.brand_id, country=nationality)
    status = row.status if row is not None else "allowed"
    label = row.get_status_display() if row is not None else gettext("Allowed")
    return FactorResult(f"{nationality}: {label}", _int(params, status))


def _screening(inp: RiskInput, params: Mapping[str, Any]) -> FactorResult:
    kinds = set(ScreeningHit.objects.filter(client_id=inp.client.pk, status=HitStatus.CONFIRMED)
                .values_list("watchlist__kind", flat=True))
    found = [str(ListKind(k).label) for k in sorted(kinds) if k in ListKind.values]
    points = (_int(params, "sanctions") if ListKind.SANCTIONS in kinds else 0) + (
        _int(params, "pep") if ListKind.PEP in kinds else 0)
    return FactorResult(gettext("Confirmed: %(lists)s") % {"lists": ", ".join(found)} if found
                        else gettext("No confirmed hit"), points)


def _answer_factor(inp: RiskInput, params: Mapping[str, Any]) -> FactorResult:
    question = str(params.get("question") or "")
    options = inp.answers.get(question) or []
    if not options:
        return FactorResult(gettext("Not declared"), _int(params, "undeclared"))
    points = params.get("points")
    table: Mapping[str, Any] = points if isinstance(points, dict) else {}
    return FactorResult(", ".join(options), max(_int(table, o) for o in options))


def _decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return Decimal(0)


def _deposits_vs_declared(inp: RiskInput, params: Mapping[str, Any]) -> FactorResult:
    """Credited deposits over the last `days` in `currency` against what the client declared (income
    plus savings, each answer's upper bound from `declared`)."""
    raw_table = params.get("declared")
    declared_table: Mapping[str, Any] = raw_table if isinstance(raw_table, dict) else {}
    declared = Decimal(0)
    for question in (params.get("income_question"), params.get("wealth_question")):
        options = inp.answers.get(str(question or "")) or []
        if options:
            declared += _decimal(declared_table.get(options[0], 0))
    currency = str(params.get("currency") or "USD")
    since = inp.now - dt.timedelta(days=_int(params, "days") or 365)
    deposited = inp.deposits(since).totals.get(currency, Decimal(0))
    if deposited <= 0:
        return FactorResult(gettext("No deposits in %(currency)s") % {"currency": currency}, 0)
    if declared <= 0:
        return FactorResult(gettext("%(amount)s %(currency)s deposited, nothing declared") % {
            "amount": deposited, "currency": currency}, _int(params, "undeclared"))
    ratio = deposited / declared
    points = (_int(params, "high") if ratio >= _decimal(params.get("high_ratio", 1))
              else _int(params, "medium") if ratio >= _decimal(params.get("medium_ratio", "0.5")) else 0)
    return FactorResult(gettext("%(amount)s %(currency)s deposited, %(pct)s%% of %(declared)s declared") % {
        "amount": deposited, "currency": currency, "pct": round(ratio * 100), "declared": declared}, points)


def _payment_methods(inp: RiskInput, params: Mapping[str, Any]) -> FactorResult:
    methods = inp.deposits(None).methods
    more_than = _int(params, "more_than")
    extra = max(0, methods - more_than)
    points = min(_int(params, "max") or 10**6, extra * _int(params, "per_extra")) if extra else 0
    return FactorResult(gettext("%(n)s payment methods") % {"n": methods}, points)


def _account_age(inp: RiskInput, params: Mapping[str, Any]) -> FactorResult:
    days = max(0, (inp.now - inp.client.created_at).days)
    points = _int(params, "points") if days < _int(params, "days_under") else 0
    return FactorResult(gettext("%(days)s days") % {"days": days}, points)


def _alerts(inp: RiskInput, params: Mapping[str, Any]) -> FactorResult:
    """The client's AML alerts over the last `days` (dismissed ones too: the history, not the outcome)."""
    from compliance.selectors import aml_alert_count_for_client

    count = aml_alert_count_for_client(client_id=inp.client.pk,
                                       since=inp.now - dt.timedelta(days=_int(params, "days") or 365))
    points = min(_int(params, "max") or 10**6, count * _int(params, "per_alert"))
    return FactorResult(gettext("%(n)s AML alerts") % {"n": count}, points)


def _chargebacks(inp: RiskInput, params: Mapping[str, Any]) -> FactorResult:
    """Chargebacks of the client's deposits over the last `days`, as known now (a chargeback won later
    still counts: acquirers count it, and so does fraud screening)."""
    from wallet.selectors import chargebacks_for_client

    count = chargebacks_for_client(client_id=inp.client.pk, since=inp.now - dt.timedelta(days=_int(params, "days") or 365),
                                   until=inp.now)
    points = min(_int(params, "max") or 10**6, count * _int(params, "per_chargeback"))
    return FactorResult(gettext("%(n)s chargebacks") % {"n": count}, points)


for _factor in (
    RiskFactor("country", _("Country risk"), _country, {"sanctioned": 100, "high_risk": 40, "unknown": 10}, order=10),
    RiskFactor("nationality", _("Nationality risk"), _nationality, {"sanctioned": 60, "high_risk": 25, "unknown": 0},
               order=15),
    RiskFactor("screening", _("PEP or confirmed screening hit"), _screening, {"pep": 40, "sanctions": 100}, order=20),
    RiskFactor("occupation", _("Occupation"), _answer_factor,
               {"question": "occupation", "points": {}, "undeclared": 0}, order=30),
    RiskFactor("source_of_funds", _("Source of funds"), _answer_factor,
               {"question": "source_of_funds", "undeclared": 10,
                "points": {"borrowed": 20, "inheritance": 10, "business": 10}}, order=40),
    RiskFactor("deposits_vs_declared", _("Deposits against declared income and wealth"), _deposits_vs_declared,
               {"income_question": "annual_income", "wealth_question": "savings", "currency": "USD", "days": 365,
                "declared": {"under_15k": 15000, "15k_50k": 50000, "50k_100k": 100000, "over_100k": 250000,
                             "under_5k": 5000, "5k_25k": 25000, "25k_100k": 100000},
                "medium_ratio": "0.5", "medium": 15, "high_ratio": "1", "high": 40, "undeclared": 20}, order=50),
    RiskFactor("payment_methods", _("Payment methods"), _payment_methods,
               {"more_than": 2, "per_extra": 10, "max": 30}, order=60),
    RiskFactor("alerts", _("AML alerts"), _alerts, {"per_alert": 10, "max": 40, "days": 365}, order=65),
    RiskFactor("chargebacks", _("Chargebacks"), _chargebacks, {"per_chargeback": 20, "max": 40, "days": 365},
               order=67),
    RiskFactor("account_age", _("Account age"), _account_age, {"days_under": 30, "points": 10}, order=70),
):
    risk_factor_register(_factor)


# --- the brand's model ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class ModelSettings:
    model: RiskModel | None
    factors: dict[str, dict[str, Any]]  # every registered factor's parameters, the brand's over the defaults
    medium_from: int
    high_from: int
    review_months: dict[str, int]

    @property
    def version(self) -> int:
        return self.model.version if self.model is not None else 0

    def band(self, score: int) -> str:
        return RiskBand.HIGH if score >= self.high_from else RiskBand.MEDIUM if score >= self.medium_from \
            else RiskBand.LOW


def risk_model_current(*, brand: Brand | int) -> RiskModel | None:
    return RiskModel.objects.filter(brand_id=getattr(brand, "pk", brand)).order_by("-version").first()


def risk_model_settings(*, brand: Brand | int) -> ModelSettings:
    """The brand's newest risk model over the built-in defaults."""
    model = risk_model_current(brand=brand)
    saved = model.factors if model is not None and isinstance(model.factors, dict) else {}
    factors = {key: {"enabled": True, **f.defaults, **(saved.get(key) or {})} for key, f in FACTORS.items()}
    if model is None:
        return ModelSettings(None, factors, DEFAULT_MEDIUM_FROM, DEFAULT_HIGH_FROM, dict(DEFAULT_REVIEW_MONTHS))
    return ModelSettings(model, factors, model.medium_from, model.high_from,
                         {b: model.review_months(b) for b in RiskBand.values})


def _factors_clean(factors: Any, errors: dict[str, list[str]]) -> dict[str, Any]:
    """The factors as given, with what is wrong with them added to `errors` under "factors"."""
    if not isinstance(factors, dict):
        errors["factors"] = [gettext("Give the factors as an object: {factor: {parameter: value}}.")]
        return {}
    problems: list[str] = []
    for key, params in factors.items():
        if key not in FACTORS:
            problems.append(gettext("Unknown factor %(key)s; one of %(known)s.") % {
                "key": key, "known": ", ".join(sorted(FACTORS))})
        elif not isinstance(params, dict):
            problems.append(gettext("%(key)s: give its parameters as an object.") % {"key": key})
        else:
            problems += [gettext("%(key)s.%(name)s: points cannot be negative.") % {"key": key, "name": name}
                         for name, value in params.items()
                         if isinstance(value, int) and not isinstance(value, bool) and value < 0]
    if problems:
        errors["factors"] = problems
    return factors


@transaction.atomic
def risk_model_save(*, brand: Brand, by: User | None, factors: Any, medium_from: Any, high_from: Any,
                    review_months: Mapping[str, Any] | None = None, note: str = "") -> RiskModel:
    """Save the brand's risk model as its next version (the scores keep the version they were computed
    with). Refuses, naming the field, unknown factors, parameters that are not objects, negative
    points, thresholds out of order and review periods that are not 1 to 120 months."""
    if by is not None and not user_can(by, CONFIGURE_PERMISSION):
        raise NotAllowed(gettext("Only compliance officers set the risk model."))
    errors: dict[str, list[str]] = {}
    factors = _factors_clean(factors, errors)
    thresholds: dict[str, int] = {}
    for name, value in (("medium_from", medium_from), ("high_from", high_from)):
        try:
            thresholds[name] = int(value)
            if thresholds[name] < 0:
                raise ValueError
        except (TypeError, ValueError):
            errors[name] = [gettext("Give a whole number of points, 0 or more.")]
    if len(thresholds) == 2 and thresholds["high_from"] <= thresholds["medium_from"]:
        errors["high_from"] = [gettext("High risk must start above medium risk.")]
    months: dict[str, int] = {}
    for band in RiskBand.values:
        raw = (review_months or {}).get(band, DEFAULT_REVIEW_MONTHS[band])
        try:
            months[band] = int(raw)
            if not 1 <= months[band] <= 120:
                raise ValueError
        except (TypeError, ValueError):
            errors[f"review_months_{band}"] = [gettext("Give a review period of 1 to 120 months.")]
    if errors:
        raise ValidationFailed(gettext("The risk model was not saved."), fields=errors)
    # Two saves racing for the same version: the unique constraint refuses the second.
    previous = risk_model_current(brand=brand)
    row = RiskModel.objects.create(
        brand=brand, version=(previous.version + 1) if previous else 1, factors=factors,
        medium_from=thresholds["medium_from"], high_from=thresholds["high_from"],
        review_months_low=months[RiskBand.LOW], review_months_medium=months[RiskBand.MEDIUM],
        review_months_high=months[RiskBand.HIGH], note=note[:300], created_by=by)
    audit_record(action="compliance.risk_model_saved", obj=row, actor=by, brand=brand,
                 before=_model_snapshot(previous) if previous else None, after=_model_snapshot(row))
    return row


def _model_snapshot(row: RiskModel) -> dict[str, Any]:
    return {"version": row.version, "factors": row.factors, "medium_from": row.medium_from,
            "high_from": row.high_from, "review_months": {b: row.review_months(b) for b in RiskBand.values}}


# --- scoring -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Evaluation:
    score: int
    band: str
    factors: list[dict[str, Any]]
    settings: ModelSettings


def risk_evaluate(*, client: Client, now: dt.datetime | None = None) -> Evaluation:
    """The client's score as the brand's model gives it now, without writing anything."""
    settings = risk_model_settings(brand=client.brand_id)
    inp = RiskInput(client=client, now=now or timezone.now())
    rows: list[dict[str, Any]] = []
    for factor in sorted(FACTORS.values(), key=lambda f: (f.order, f.key)):
        params = settings.factors.get(factor.key, {})
        if not params.get("enabled", True):
            continue
        result = factor.compute(inp, params)
        rows.append({"key": factor.key, "label": str(factor.label), "value": result.value,
                     "points": int(result.points)})
    score = sum(r["points"] for r in rows)
    return Evaluation(score=score, band=settings.band(score), factors=rows, settings=settings)


def _same(latest: RiskScore, ev: Evaluation) -> bool:
    def key(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return [(r.get("key"), r.get("points"), r.get("value")) for r in rows]

    return (latest.score == ev.score and latest.band == ev.band and latest.model_version == ev.settings.version
            and key(latest.factors) == key(ev.factors))


def _add_months(day: dt.date, months: int) -> dt.date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for d in (day.day, 30, 29, 28):
        try:
            return dt.date(year, month, d)
        except ValueError:
            continue
    return dt.date(year, month, 28)


def risk_score_latest(*, client: Client | int) -> RiskScore | None:
    return (RiskScore.objects.filter(client_id=getattr(client, "pk", client))
            .select_related("computed_by", "edd_task").order_by("-computed_at", "-pk").first())


@transaction.atomic
def risk_score_compute(*, client_id: int, trigger: str, actor: User | None = None,
                       review: bool = False) -> RiskScore | None:
    """Score the client now; write a new score when the points, the band, the model's version or a
    factor's finding changed (else return the latest). `review`: an officer's periodic review, which
    always writes a score and sets the next review date from today. A client who becomes high risk
    gets the enhanced due diligence task. None for a client that no longer exists."""
    client = Client.objects.select_for_update(of=("self",)).select_related("brand").filter(pk=client_id).first()
    if client is None:
        return None
    if review and (actor is None or not user_can(actor, RECOMPUTE_PERMISSION)):
        raise NotAllowed(gettext("Only compliance officers review a client's risk."))
    now = timezone.now()
    ev = risk_evaluate(client=client, now=now)
    latest = risk_score_latest(client=client)
    if latest is not None and not review and _same(latest, ev):
        return latest
    today = timezone.localdate(now)
    keep_review = latest is not None and not review and latest.band == ev.band
    row = RiskScore.objects.create(
        client=client, brand_id=client.brand_id, model=ev.settings.model, model_version=ev.settings.version,
        score=ev.score, band=ev.band, previous_band=latest.band if latest else "", factors=ev.factors,
        trigger=trigger[:80], computed_at=now, computed_by=actor if getattr(actor, "pk", None) else None,
        review_due=latest.review_due if keep_review and latest else _add_months(today, ev.settings.review_months[ev.band]),
        review_raised_at=latest.review_raised_at if keep_review and latest else None)
    audit_record(action="compliance.risk_scored", obj=row, actor=actor,
                 before={"band": latest.band, "score": latest.score} if latest else None,
                 after={"client": str(client.code), "band": row.band, "score": row.score, "trigger": row.trigger,
                        "model_version": row.model_version, "review_due": row.review_due.isoformat(),
                        "factors": {f["key"]: f["points"] for f in row.factors}})
    # Not the client's event (it would reach the timeline the sales floor reads): the client is in the data.
    emit("compliance.risk_changed", brand=client.brand_id, actor=actor, data={
        "score": str(row.code), "client": str(client.code), "band": row.band, "previous": row.previous_band or None,
        "points": row.score, "trigger": row.trigger, "review_due": row.review_due.isoformat(),
        "by": user_ref(actor) if getattr(actor, "pk", None) else None})
    if row.band == RiskBand.HIGH and (latest is None or latest.band != RiskBand.HIGH):
        row.edd_task = _edd_open(client, row, actor=actor)
        if row.edd_task is not None:
            row.save(update_fields=["edd_task"])
    return row


def _officer_for(client: Client, actor: User | None) -> User | None:
    if actor is not None and getattr(actor, "pk", None) and user_can(actor, RECOMPUTE_PERMISSION):
        return actor
    # The brand's compliance officers first: an administrator holds the permission too, but does not
    # work the compliance queue.
    officers = sorted(staff_of_brand(client.brand_id, permission=RECOMPUTE_PERMISSION),
                      key=lambda u: (u.role_code != RoleCode.COMPLIANCE, u.pk))
    return officers[0] if officers else None


def _edd_open(client: Client, row: RiskScore, *, actor: User | None) -> Any:
    """The enhanced due diligence task for an officer of the brand, linking the client's Compliance tab
    but not attached to the client (a client's tasks are listed on the profile and its timeline for
    everyone who sees the client: a high band is not for the sales floor); and, while a KYC submission
    is open, the request for source-of-funds documents through KYC."""
    from crm.services import task_create

    officer = _officer_for(client, actor)
    if officer is None:
        logger.warning("no compliance officer for brand %s: no due diligence task for client %s",
                       client.brand_id, client.pk)
        return None
    url = f"{reverse('client_detail', args=[client.code])}?tab=compliance"
    task = task_create(actor=actor if getattr(actor, "pk", None) else None, assignee=officer,
                       title=gettext("Enhanced due diligence: %(name)s") % {"name": client.full_name},
                       description=gettext("Review the client's source of funds and wealth, ask for the documents "
                                           "that prove them and record the outcome: %(url)s") % {"url": url},
                       due_at=timezone.now() + dt.timedelta(days=14))
    _request_source_of_funds(client, officer)
    return task


def _request_source_of_funds(client: Client, officer: User) -> None:
    from kyc.selectors import open_submission
    from kyc.services import submission_request_info

    submission = open_submission(client=client)
    if submission is None:
        return
    try:
        submission_request_info(submission=submission, actor=officer, message=gettext(
            "Please send documents that show where the money you deposit comes from (for example payslips, "
            "a bank statement, a sale or inheritance deed)."))
    except DomainError:  # the officer may not review KYC, or the submission is already being decided
        logger.info("source-of-funds request not sent for client %s", client.pk)


def risk_score_enqueue(*, client_id: int, trigger: str) -> None:
    """Recompute the client's score after the caller's transaction commits (a Celery task)."""

    def enqueue() -> None:
        from kombu.exceptions import OperationalError

        try:
            task_named("compliance.tasks.risk_score_client").delay(client_id, trigger)
        except OperationalError:
            logger.warning("could not queue the risk score of client %s", client_id, exc_info=True)

    transaction.on_commit(enqueue)


def risk_rescore_country(*, brand_id: int, country: str, trigger: str) -> int:
    """Recompute the score of every client of the brand living in `country` or of its nationality (a
    jurisdiction changed); each client in its own transaction."""
    ids = list(Client.objects.filter(Q(country=country) | Q(nationality=country), brand_id=brand_id)
               .values_list("pk", flat=True))
    for client_id in ids:
        risk_score_compute(client_id=client_id, trigger=trigger)
    return len(ids)


def risk_reviews_raise(*, today: dt.date | None = None) -> int:
    """The beat pass: open a review task for each client whose current score's review date has come,
    once (the score is marked raised). Set-based: one query finds the due scores."""
    from crm.services import task_create

    today = today or timezone.localdate()
    latest_ids = (RiskScore.objects.order_by("client_id", "-computed_at", "-id").distinct("client_id")
                  .values("id"))
    due = list(RiskScore.objects.filter(id__in=latest_ids, review_due__lte=today, review_raised_at__isnull=True)
               .values_list("id", flat=True))
    raised = 0
    for score_id in due:
        with transaction.atomic():
            row = (RiskScore.objects.select_for_update(of=("self",)).select_related("client", "client__brand")
                   .filter(pk=score_id, review_raised_at__isnull=True).first())
            if row is None:
                continue
            officer = _officer_for(row.client, None)
            if officer is not None:
                # Not attached to the client, as the due diligence task (its band is in the words).
                task_create(actor=None, assignee=officer,
                            title=gettext("Periodic review: %(name)s") % {"name": row.client.full_name},
                            description=gettext("The client's periodic review (%(band)s risk) is due: review the "
                                                "profile and record the risk again: %(url)s") % {
                                "band": row.get_band_display(),
                                "url": f"{reverse('client_detail', args=[row.client.code])}?tab=compliance"},
                            due_at=timezone.now() + dt.timedelta(days=7))
            row.review_raised_at = timezone.now()
            row.save(update_fields=["review_raised_at"])
            audit_record(action="compliance.risk_review_raised", obj=row, actor=None,
                         after={"client": str(row.client.code), "review_due": row.review_due.isoformat()})
            raised += 1
    return raised


# --- reads ---------------------------------------------------------------------------------------------

def risk_history(*, client: Client) -> QuerySet[RiskScore]:
    return (RiskScore.objects.filter(client=client).select_related("computed_by", "edd_task")
            .order_by("-computed_at", "-pk"))


def risk_distribution(*, brand_ids: list[int]) -> dict[str, int]:
    """How many clients of the brands are low, medium and high risk now (their newest score)."""
    latest = (RiskScore.objects.filter(brand_id__in=brand_ids).order_by("client_id", "-computed_at", "-id")
              .distinct("client_id").values("id"))
    counts = {b: 0 for b in RiskBand.values}
    for row in RiskScore.objects.filter(id__in=latest).values("band").annotate(n=Count("id")).order_by():
        counts[row["band"]] = row["n"]
    return counts
