"""AML transaction monitoring: rules as data, evaluated set-based in SQL, raising alerts once per set of facts.

A rule (compliance.models.AmlRule) is a kind of pattern for one brand and one client risk class; its
parameters are in versions (an edit adds one). Each kind is one SQL query over the wallet's published
movements (wallet_public_client_movements: every posting on a client's wallet), the core's clients
(crm_public_clients), trading's deals and accounts (for the lots traded), KYC's questionnaire answers
(kyc_public_questionnaire_answers: what the client declared), where clients and partners signed in from
(crm_public_origins: IP and browser), which partner a client belongs to (ib_public_partners,
ib_public_attributions) and compliance's own jurisdictions. A query
looks at the movements recorded in a window (since, until] (the triggers) and back in time from each as far as its pattern needs; it returns one row per pattern found: the client,
the ledger transactions that make it (sorted ids), a score of 1 to 100, the facts as JSON and a summary.

Raising is one INSERT ... SELECT of those rows per rule, ON CONFLICT (rule, client, fingerprint) DO
NOTHING: the fingerprint is the hash of the transaction ids, so the same facts found again (by the
client's event, the periodic pass, a new version of the rule) never raise a second alert. Only the
alerts actually inserted are audited and announced (compliance.alert_raised).

The dry run (`aml_rule_dry_run`) runs the same query as a plain SELECT: nothing is written.

A client's risk class is the band of its latest client risk score (another part of compliance:
compliance/sql/aml/_risk_class.sql); a client not yet scored has none, and only the rules for all
clients apply to it.

The queries are SQL files (compliance/sql/aml/, plumbing.sqlfiles): one per kind, the INSERT and the dry
run around it, and the fragments they share (the movements and the instruments of the brand's clients in
the rule's risk class).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import json
import logging
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from psycopg import sql
from psycopg.types.json import Jsonb

from compliance import permissions
from compliance.models import (
    AML_ALERT_STATES,
    AmlAlert,
    AmlAlertStatus,
    AmlRiskClass,
    AmlRule,
    AmlRuleKind,
    AmlRuleVersion,
    AmlRun,
)
from crm.audit import AuditEntry, audit_record, audit_record_many
from crm.events import emit_many
from crm.exceptions import ValidationFailed
from crm.lib.enqueue import task_named
from crm.lib.errors import DomainError
from crm.lib.money import amount_in_range, amount_read, currency_normalise, currency_table, to_decimal
from crm.models import Client
from plumbing.sqlfiles import sql_file, sql_text

logger = logging.getLogger(__name__)

VIEW_PERMISSION = permissions.AML_ALERT_VIEW
DECIDE_PERMISSION = permissions.AML_ALERT_DECIDE
RULES_VIEW_PERMISSION = permissions.AML_RULE_VIEW
RULES_EDIT_PERMISSION = permissions.AML_RULE_EDIT

# How far back the client's own evaluation (on its deposit or withdrawal event) looks for triggers; the
# periodic pass covers everything recorded since its previous run.
CLIENT_WINDOW = dt.timedelta(days=2)
# The periodic pass stops this far behind now, so that a posting recorded just before `until` but
# committed after the pass started is still in the next window.
PASS_LAG = dt.timedelta(seconds=30)
FIRST_PASS = dt.timedelta(days=1)
DRY_RUN_PERIOD = dt.timedelta(days=30)

# --- parameters, per kind ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Param:
    name: str
    # "amounts" ({currency: amount}), "ceilings" ({option code: amount}), "codes" ([question code, ...]),
    # "currency", "int", "decimal", "choice", "choices"
    kind: str
    label: Any
    help: Any = ""
    minimum: Decimal | int | None = None
    maximum: Decimal | int | None = None
    choices: tuple[str, ...] = ()
    # A parameter added to a kind later: a version may leave it out and gets `default` (what the versions
    # stored before it meant).
    default: Any = None


_DIRECTIONS = ("both", "deposit", "withdrawal")
# What the shared-instruments rule compares across clients. A version stored before IPs, devices and the
# partner were added names none of them: it compares instruments only (the parameters' defaults, which
# `_params` fills in).
SHARED_SIGNALS = ("instruments", "ips", "devices", "partner")
SHARED_DEFAULTS: dict[str, Any] = {"signals": ["instruments"], "max_clients_per_ip": 5, "max_clients_per_device": 5}
# Addresses that say nothing about who a client is: loopback, private (RFC 1918), link-local, unique-local
# IPv6, and the IPv4 ones written as IPv6. A sign-in or registration from one of them (testing from one
# machine, a proxy that does not pass the client's address on) counts as no IP for the shared-IP and
# partner patterns; its device (a non-empty user agent) still counts.
NON_PUBLIC_NETWORKS = ("127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16",
                       "::1/128", "fe80::/10", "fc00::/7", "::ffff:127.0.0.0/104", "::ffff:10.0.0.0/104",
                       "::ffff:172.16.0.0/108", "::ffff:192.168.0.0/112", "::ffff:169.254.0.0/112")
_STATUSES = ("high_risk", "sanctioned")

RULE_PARAMS: dict[str, tuple[Param, ...]] = {
    AmlRuleKind.LARGE_TRANSACTION: (
        Param("amounts", "amounts", _("Threshold per currency"), _("A movement of at least this amount fires."),
              minimum=Decimal("0.01")),
        Param("direction", "choice", _("Direction"), choices=_DIRECTIONS),
    ),
    AmlRuleKind.STRUCTURING: (
        Param("thresholds", "amounts", _("Reporting threshold per currency"),
              _("Deposits just under it count."), minimum=Decimal("0.01")),
        Param("band_percent", "int", _("Band under the threshold (%)"),
              _("A deposit within this share under the threshold counts."), minimum=1, maximum=50),
        Param("min_count", "int", _("Deposits"), _("At least this many within the days fire."), minimum=2,
              maximum=100),
        Param("days", "int", _("Days"), minimum=1, maximum=90),
    ),
    AmlRuleKind.RAPID_IN_OUT: (
        Param("days", "int", _("Days"), _("A withdrawal within this many days of the deposits."), minimum=1,
              maximum=90),
        Param("withdrawn_percent", "int", _("Withdrawn (%)"),
              _("The withdrawal takes at least this share of what was deposited."), minimum=1, maximum=100),
        Param("max_lots", "decimal", _("Lots traded below"),
              _("Fires when the client opened fewer lots than this in between."), minimum=Decimal("0")),
        Param("min_amounts", "amounts", _("Smallest deposit total per currency"), minimum=Decimal("0.01")),
    ),
    AmlRuleKind.HIGH_RISK_JURISDICTION: (
        Param("statuses", "choices", _("Jurisdiction statuses"), choices=_STATUSES),
        Param("min_amounts", "amounts", _("Smallest movement per currency"), minimum=Decimal("0")),
    ),
    AmlRuleKind.DORMANT_ACCOUNT: (
        Param("inactive_days", "int", _("Days without movement"), minimum=30, maximum=3650),
        Param("amounts", "amounts", _("Threshold per currency"), minimum=Decimal("0.01")),
    ),
    AmlRuleKind.THIRD_PARTY_FUNDING: (
        Param("checks", "choices", _("What differs"),
              _("name: the payer's name is not the client's; country: the card's or bank's country is not the "
                "client's residence."), choices=("country", "name")),
        Param("min_amounts", "amounts", _("Smallest deposit per currency"), minimum=Decimal("0")),
    ),
    AmlRuleKind.MANY_INSTRUMENTS: (
        Param("min_instruments", "int", _("Instruments"),
              _("Deposits from at least this many different cards or accounts within the days fire."),
              minimum=2, maximum=100),
        Param("days", "int", _("Days"), minimum=1, maximum=365),
        Param("new_destination_days", "int", _("New destination (days)"),
              _("A payout to a destination the client added less than this many days before fires, unless the "
                "client paid in from it."), minimum=1, maximum=365),
    ),
    AmlRuleKind.SHARED_INSTRUMENTS: (
        Param("min_clients", "int", _("Clients"),
              _("An instrument, IP or device used by at least this many of the brand's clients (this one "
                "included) fires."), minimum=2, maximum=100),
        Param("days", "int", _("Days"), _("How far back the other clients' use counts."), minimum=1,
              maximum=3650),
        Param("signals", "choices", _("What is shared"),
              _("instruments: cards and accounts paid from or to; ips, devices: the IPs and browsers of the "
                "clients' sign-ins and registrations; partner: a partner's own IP or browser used by a client "
                "attributed to it."), choices=SHARED_SIGNALS, default=SHARED_DEFAULTS["signals"]),
        Param("max_clients_per_ip", "int", _("Clients per IP, at most"),
              _("An IP seen for more of the brand's clients within the days (a public or mobile network) fires "
                "nothing."), minimum=2, maximum=100000, default=SHARED_DEFAULTS["max_clients_per_ip"]),
        Param("max_clients_per_device", "int", _("Clients per device, at most"),
              _("A browser seen for more of the brand's clients within the days (a common one) fires nothing."),
              minimum=2, maximum=100000, default=SHARED_DEFAULTS["max_clients_per_device"]),
    ),
    AmlRuleKind.OVER_DECLARED: (
        Param("days", "int", _("Days"), _("The deposits of this many days up to the latest count."), minimum=1,
              maximum=730),
        Param("percent", "int", _("Share of the declared (%)"),
              _("Fires when the deposits reach this share of what the client declared."), minimum=1, maximum=10000),
        Param("questions", "codes", _("Questions"),
              _("The questionnaire's questions whose answers are added up (such as annual_income, savings)."),
              minimum=1, maximum=10),
        Param("ceilings", "ceilings", _("Amount of each answer"),
              _("Each answer's upper bound, such as under_15k 15000, 15k_50k 50000. An answer not listed counts "
                "as nothing."), minimum=Decimal("0")),
        Param("currency", "currency", _("Currency"),
              _("The currency of the amounts; deposits in it are counted.")),
    ),
    AmlRuleKind.PROVIDER_RISK: (
        Param("min_score", "decimal", _("Risk score from"),
              _("Fires on a deposit the provider scores this high or higher: 0 is clean, 1 the riskiest "
                "(CoinsPaid scores the addresses the coins came from)."), minimum=Decimal("0"), maximum=Decimal("1")),
        Param("min_amounts", "amounts", _("Smallest deposit per currency"), minimum=Decimal("0")),
    ),
}

DEFAULT_PARAMETERS: dict[str, dict[str, Any]] = {
    AmlRuleKind.LARGE_TRANSACTION: {"amounts": {"USD": "10000", "EUR": "10000"}, "direction": "both"},
    AmlRuleKind.STRUCTURING: {"thresholds": {"USD": "10000", "EUR": "10000"}, "band_percent": 10, "min_count": 3,
                              "days": 7},
    AmlRuleKind.RAPID_IN_OUT: {"days": 3, "withdrawn_percent": 80, "max_lots": "1", "min_amounts": {"USD": "1000",
                                                                                                     "EUR": "1000"}},
    AmlRuleKind.HIGH_RISK_JURISDICTION: {"statuses": ["high_risk", "sanctioned"], "min_amounts": {"USD": "1000",
                                                                                                  "EUR": "1000"}},
    AmlRuleKind.DORMANT_ACCOUNT: {"inactive_days": 180, "amounts": {"USD": "5000", "EUR": "5000"}},
    AmlRuleKind.THIRD_PARTY_FUNDING: {"checks": ["country", "name"], "min_amounts": {"USD": "0", "EUR": "0"}},
    AmlRuleKind.MANY_INSTRUMENTS: {"min_instruments": 3, "days": 30, "new_destination_days": 3},
    AmlRuleKind.SHARED_INSTRUMENTS: {"min_clients": 2, "days": 365, "signals": list(SHARED_SIGNALS),
                                     "max_clients_per_ip": 5, "max_clients_per_device": 5},
    # The demo questionnaire's bands (kyc.questionnaire_demo), each at its upper bound; "over 100,000" as
    # 250,000, as the risk score's deposits_vs_declared factor counts them.
    AmlRuleKind.OVER_DECLARED: {"days": 90, "percent": 100, "questions": ["annual_income", "savings"],
                                "ceilings": {"under_15k": "15000", "15k_50k": "50000", "50k_100k": "100000",
                                             "over_100k": "250000", "under_5k": "5000", "5k_25k": "25000",
                                             "25k_100k": "100000"},
                                "currency": "USD"},
    # CoinsPaid's own guidance reads a score from 0.7 as high risk.
    AmlRuleKind.PROVIDER_RISK: {"min_score": "0.7", "min_amounts": {"USD": "0", "EUR": "0"}},
}


def _decimal(value: Any) -> Decimal:
    """crm.lib.money's exact decimal (a float, NaN or infinity refused) within what the columns hold;
    text by the one grammar of amounts (crm.lib.money.amount_read)."""
    try:
        return amount_read(value) if isinstance(value, str) else amount_in_range(to_decimal(value))
    except DomainError as error:
        raise ValueError(error.message) from None


def aml_parameters_clean(kind: str, raw: Any) -> dict[str, Any]:
    """`raw` checked against the kind's parameters, normalised (amounts and decimals as strings, ints
    as ints); ValidationFailed naming each bad parameter ("parameters.<name>") otherwise."""
    if kind not in RULE_PARAMS:
        raise ValidationFailed(fields={"kind": gettext("Unknown rule kind.")})
    if not isinstance(raw, dict):
        raise ValidationFailed(fields={"parameters": gettext("The parameters must be an object.")})
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}
    known = {p.name for p in RULE_PARAMS[kind]}
    for extra in sorted(set(raw) - known):
        errors[f"parameters.{extra}"] = gettext("Not a parameter of this rule.")
    for p in RULE_PARAMS[kind]:
        key = f"parameters.{p.name}"
        value = raw.get(p.name)
        if (value is None or value == "") and p.default is not None:
            value = p.default
        if value is None or value == "" or value == {} or value == []:
            errors[key] = gettext("Required.")
            continue
        try:
            out[p.name] = _clean_one(p, value)
        except ValueError as error:
            errors[key] = str(error)
    if errors:
        raise ValidationFailed(fields=errors)
    return out


def _bounds(p: Param, number: Decimal | int) -> None:
    if p.minimum is not None and number < p.minimum:
        raise ValueError(gettext("At least %(min)s.") % {"min": p.minimum})
    if p.maximum is not None and number > p.maximum:
        raise ValueError(gettext("At most %(max)s.") % {"max": p.maximum})


_CODE_MAX = 40


def _code(value: Any) -> str:
    """A questionnaire code as kyc.questionnaire writes them: lower case letters, digits, _ and -."""
    text = str(value).strip()
    if not text or len(text) > _CODE_MAX or not all(ch.isascii() and (ch.islower() or ch.isdigit() or ch in "_-")
                                                    for ch in text):
        raise ValueError(gettext("%(code)r is not a questionnaire code (lower case letters, digits, _ and -).")
                         % {"code": text})
    return text


def _clean_declared(p: Param, value: Any) -> Any:
    """The parameters of what a client declared: a currency, question codes, an amount per answer."""
    if p.kind == "currency":
        try:
            return currency_normalise(str(value))
        except DomainError as error:
            raise ValueError(error.message) from None
    if p.kind == "codes":
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list):
            raise ValueError(gettext("Question codes, separated by commas."))
        codes = sorted({_code(v) for v in items if str(v).strip()})
        if not codes:
            raise ValueError(gettext("Required."))
        _bounds(p, len(codes))
        return codes
    # ceilings: {"under_15k": "15000", ...}
    if not isinstance(value, dict):
        raise ValueError(gettext("An amount per answer, such as under_15k 15000."))
    ceilings: dict[str, str] = {}
    for option, amount in value.items():
        key = _code(option)
        try:
            dec = _decimal(amount)
            _bounds(p, dec)
        except ValueError as error:
            raise ValueError(f"{key}: {error}") from None
        ceilings[key] = str(dec)
    return ceilings


def _clean_one(p: Param, value: Any) -> Any:
    if p.kind in ("currency", "codes", "ceilings"):
        return _clean_declared(p, value)
    if p.kind == "int":
        if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.isdigit())):
            raise ValueError(gettext("A whole number."))
        number = int(value)
        _bounds(p, number)
        return number
    if p.kind == "decimal":
        dec = _decimal(value)
        _bounds(p, dec)
        return str(dec)
    if p.kind == "choice":
        if value not in p.choices:
            raise ValueError(gettext("One of: %(choices)s.") % {"choices": ", ".join(p.choices)})
        return value
    if p.kind == "choices":
        if not isinstance(value, list) or not value or any(v not in p.choices for v in value):
            raise ValueError(gettext("One or more of: %(choices)s.") % {"choices": ", ".join(p.choices)})
        return sorted(set(value))
    # amounts: {"USD": "10000", ...}
    if not isinstance(value, dict):
        raise ValueError(gettext("Amounts per currency, such as USD 10000."))
    amounts: dict[str, str] = {}
    for currency, amount in value.items():
        try:
            code = currency_normalise(str(currency))
        except DomainError as error:
            raise ValueError(error.message) from None
        try:
            dec = _decimal(amount)
            _bounds(p, dec)
        except ValueError as error:
            raise ValueError(f"{code}: {error}") from None
        amounts[code] = str(dec)
    return amounts


def amounts_text(amounts: dict[str, str]) -> str:
    """{"USD": "10000"} as "USD 10000" (the edit form's way of writing amounts)."""
    return ", ".join(f"{c} {a}" for c, a in sorted(amounts.items()))


def amounts_parse(text: str, *, keys_upper: bool = True) -> dict[str, str]:
    """"USD 10000, EUR 9000" as {"USD": "10000", "EUR": "9000"} (checked by aml_parameters_clean); with
    `keys_upper` False the keys stay as written ("under_15k 15000": an answer's amount)."""
    out: dict[str, str] = {}
    for part in text.replace(";", ",").split(","):
        bits = part.split()
        if not bits:
            continue
        if len(bits) != 2:
            raise ValueError(gettext("Write each as a currency and an amount: USD 10000, EUR 9000.") if keys_upper
                             else gettext("Write each as an answer and an amount: under_15k 15000, 15k_50k 50000."))
        out[bits[0].upper() if keys_upper else bits[0]] = bits[1]
    return out


# --- the queries, per kind ----------------------------------------------------------------------------
# Each kind's query is compliance/sql/aml/<kind>.sql (plumbing.sqlfiles). It gives rows (client_id,
# transaction_ids bigint[] sorted, score int, facts jsonb, summary text) for the triggers recorded in
# (since, until] of the brand's clients (of one client when `client` is not NULL) in the rule's risk
# class. Its parameters are the version's, each by its name (`_params`), and the run's: brand, rule,
# version, client, risk_class, since, until, the amounts' formats and the non-public networks.

# Each currency's pattern of to_char: thousands separated, at the decimals of the currency whatever the
# locale of the server ("25,000.00" USD, "150,000" JPY, "0.05000000" BTC); a currency the table does
# not know gets two decimals (the queries say so where they use it).
_AMOUNT_PATTERN = "FM999,999,999,999,990"


def _amount_formats() -> dict[str, str]:
    return {code: _AMOUNT_PATTERN + ("." + "0" * exponent if exponent > 0 else "")
            for code, exponent in currency_table().items()}


def _rule_sql(kind: str) -> sql.Composed:
    """The query of rule `kind` (compliance/sql/aml/<kind>.sql, with its fragments)."""
    return sql_file("compliance", f"aml/{kind}")


def _bound(param: Param, value: Any) -> Any:
    """A version's parameter as its query binds it: amounts as jsonb, lists as text[], numbers as numbers."""
    if param.kind in ("amounts", "ceilings"):
        return Jsonb(value)
    if param.kind == "int":
        return int(value)
    if param.kind == "decimal":
        return Decimal(str(value))
    if param.kind in ("choices", "codes"):
        return list(value)
    return str(value)


def _params(version: AmlRuleVersion, *, since: dt.datetime, until: dt.datetime,
            client_id: int | None) -> dict[str, Any]:
    rule = version.rule
    stored = version.parameters
    # A parameter added to a kind later is missing from the versions stored before it: its default.
    values = {p.name: _bound(p, stored[p.name] if p.name in stored else p.default) for p in RULE_PARAMS[rule.kind]}
    return {**values, "brand": rule.brand_id, "rule": rule.pk, "version": version.pk, "client": client_id,
            "risk_class": rule.risk_class, "since": since, "until": until, "formats": Jsonb(_amount_formats()),
            "non_public_networks": [str(ipaddress.ip_network(n)) for n in NON_PUBLIC_NETWORKS]}


def fingerprint_of(transaction_ids: list[int], key: str | None = None) -> str:
    """What the INSERT computes in SQL: md5 of the sorted ids joined by commas, then "|" and the facts'
    `fingerprint` when a rule gives one (facts without transactions: what is shared, by whom)."""
    text = ",".join(str(i) for i in sorted(transaction_ids)) + (f"|{key}" if key is not None else "")
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


# --- versions in force ------------------------------------------------------------------------------

def version_in_force(rule: AmlRule, *, at: dt.datetime | None = None) -> AmlRuleVersion | None:
    """The rule's version in force at `at` (now): the latest effective_from not after it."""
    at = at or timezone.now()
    return (rule.versions.filter(effective_from__lte=at).order_by("-effective_from", "-number")
            .select_related("rule").first())


def _rules_in_force(*, brand_id: int | None = None, rule_ids: list[int] | None = None,
                    at: dt.datetime | None = None) -> list[AmlRuleVersion]:
    rules = AmlRule.objects.filter(is_active=True)
    if brand_id is not None:
        rules = rules.filter(brand_id=brand_id)
    if rule_ids is not None:
        rules = rules.filter(pk__in=rule_ids)
    out = []
    for rule in rules.order_by("pk"):
        version = version_in_force(rule, at=at)
        if version is not None:
            out.append(version)
    return out


# --- evaluation ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class EvaluationReport:
    rules: int
    raised: list[int]  # the new alerts' ids


def aml_evaluate(*, since: dt.datetime, until: dt.datetime, client_id: int | None = None,
                 brand_id: int | None = None, rule_ids: list[int] | None = None) -> EvaluationReport:
    """Run every active rule's version in force over the movements recorded in (since, until] (of one
    client when `client_id` is given): one INSERT ... SELECT per rule. Each new alert is audited and
    announced (compliance.alert_raised); facts already alerted on raise nothing."""
    if client_id is not None and brand_id is None:
        brand_id = Client.objects.filter(pk=client_id).values_list("brand_id", flat=True).first()
    versions = _rules_in_force(brand_id=brand_id, rule_ids=rule_ids, at=until)
    raised: list[int] = []
    for version in versions:
        began = time.monotonic()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql_text("compliance", "aml/insert_alerts", found=_rule_sql(version.rule.kind)),
                           _params(version, since=since, until=until, client_id=client_id))
            ids = [row[0] for row in cursor.fetchall()]
            if ids:
                _announce(ids)
            raised.extend(ids)
        logger.info("AML rule %s v%s: %s alerts in %.3f s", version.rule.kind, version.number, len(ids),
                    time.monotonic() - began)
    return EvaluationReport(rules=len(versions), raised=raised)


def _announce(ids: list[int]) -> None:
    """The new alerts' audit rows and compliance.alert_raised events, each written in one statement."""
    alerts = list(AmlAlert.objects.filter(pk__in=ids).select_related("rule", "rule_version").order_by("pk"))
    audit_record_many([AuditEntry(
        action="compliance.alert_raised", obj=a, actor=None, brand=a.brand_id,
        after={"client": a.client_id, "rule": a.rule.kind, "rule_version": a.rule_version.number, "score": a.score,
               "transactions": list(a.transaction_ids), "summary": a.summary}) for a in alerts])
    emit_many([{"name": "compliance.alert_raised", "brand": a.brand_id, "actor": None, "data": {
        "alert_id": a.pk, "rule": a.rule.kind, "rule_version": a.rule_version.number, "score": a.score}}
        for a in alerts])


def aml_evaluate_client(*, client_id: int, now: dt.datetime | None = None) -> EvaluationReport:
    """The rules over one client's movements of the last days (on its deposit or withdrawal)."""
    now = now or timezone.now()
    return aml_evaluate(since=now - CLIENT_WINDOW, until=now, client_id=client_id)


def aml_periodic_pass(*, now: dt.datetime | None = None) -> AmlRun:
    """The rules over everything recorded since the previous pass (the first: the last day). One pass at a
    time (an advisory lock); each window is evaluated once and recorded as an AmlRun."""
    now = now or timezone.now()
    started = time.monotonic()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext('compliance.aml_periodic_pass'))")
        last = AmlRun.objects.order_by("-until").first()
        until = now - PASS_LAG
        since = last.until if last is not None else until - FIRST_PASS
        if until <= since:
            return last  # type: ignore[return-value]  # a pass just ran
        report = aml_evaluate(since=since, until=until)
        return AmlRun.objects.create(since=since, until=until, raised=len(report.raised),
                                     seconds=time.monotonic() - started)


# --- the dry run --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DryRunRow:
    client_id: int
    transaction_ids: list[int]
    score: int
    facts: dict[str, Any]
    summary: str
    already_alerted: bool


@dataclass(frozen=True)
class DryRun:
    version: AmlRuleVersion
    since: dt.datetime
    until: dt.datetime
    rows: list[DryRunRow]

    @property
    def new(self) -> int:
        return sum(1 for r in self.rows if not r.already_alerted)


def aml_rule_dry_run(*, version: AmlRuleVersion, until: dt.datetime | None = None,
                     period: dt.timedelta = DRY_RUN_PERIOD) -> DryRun:
    """What `version` would have fired over the movements recorded in the period before `until` (the last
    month): the same query as the evaluation, as a plain SELECT. Nothing is written."""
    until = until or timezone.now()
    since = until - period
    with connection.cursor() as cursor:
        cursor.execute(sql_text("compliance", "aml/dry_run", found=_rule_sql(version.rule.kind)),
                       _params(version, since=since, until=until, client_id=None))
        rows = cursor.fetchall()
    facts = [r[3] if isinstance(r[3], dict) else json.loads(r[3]) for r in rows]
    prints = [fingerprint_of(r[1], f.get("fingerprint")) for r, f in zip(rows, facts, strict=True)]
    existing = set(AmlAlert.objects.filter(rule=version.rule, fingerprint__in=prints)
                   .values_list("client_id", "fingerprint"))
    out = [DryRunRow(client_id=r[0], transaction_ids=list(r[1]), score=r[2], facts=f, summary=r[4],
                     already_alerted=(r[0], fp) in existing) for r, f, fp in zip(rows, facts, prints, strict=True)]
    return DryRun(version=version, since=since, until=until, rows=out)


# --- rules and versions -------------------------------------------------------------------------------

@transaction.atomic
def aml_rule_create(*, brand: Any, kind: str, name: str, parameters: dict[str, Any], actor: Any,
                    risk_class: str = AmlRiskClass.ALL, effective_from: dt.datetime | None = None) -> AmlRule:
    """A new rule of `kind` for `brand` and `risk_class`, with its first version."""
    errors: dict[str, str] = {}
    if kind not in RULE_PARAMS:
        errors["kind"] = gettext("Unknown rule kind.")
    if risk_class not in AmlRiskClass.values:
        errors["risk_class"] = gettext("Unknown risk class.")
    if not name.strip():
        errors["name"] = gettext("Required.")
    if errors:
        raise ValidationFailed(fields=errors)
    if AmlRule.objects.filter(brand=brand, kind=kind, risk_class=risk_class).exists():
        raise ValidationFailed(fields={"kind": gettext("This brand has this rule for this risk class already: "
                                                       "edit it (a new version).")})
    clean = aml_parameters_clean(kind, parameters)
    rule = AmlRule.objects.create(brand=brand, kind=kind, risk_class=risk_class, name=name.strip()[:120],
                                  created_by=actor if getattr(actor, "pk", None) else None)
    _version_add(rule, clean, actor=actor, effective_from=effective_from, note="")
    audit_record(action="compliance.aml_rule_created", obj=rule, actor=actor, brand=rule.brand_id,
                 after={"kind": kind, "risk_class": risk_class, "name": rule.name, "parameters": clean})
    return rule


def _version_add(rule: AmlRule, parameters: dict[str, Any], *, actor: Any, effective_from: dt.datetime | None,
                 note: str) -> AmlRuleVersion:
    last = rule.versions.order_by("-number").first()
    return AmlRuleVersion.objects.create(
        rule=rule, number=(last.number + 1) if last else 1, parameters=parameters,
        effective_from=effective_from or timezone.now(), note=note[:300],
        created_by=actor if getattr(actor, "pk", None) else None)


@transaction.atomic
def aml_rule_version_add(*, rule: AmlRule, parameters: dict[str, Any], actor: Any,
                         effective_from: dt.datetime | None = None, note: str = "") -> AmlRuleVersion:
    """An edit of `rule`: a new version with these parameters, in force from `effective_from` (now). The
    earlier versions and the alerts they raised are kept as they were."""
    clean = aml_parameters_clean(rule.kind, parameters)
    rule = AmlRule.objects.select_for_update().get(pk=rule.pk)
    before = version_in_force(rule)
    version = _version_add(rule, clean, actor=actor, effective_from=effective_from, note=note)
    audit_record(action="compliance.aml_rule_version_added", obj=rule, actor=actor, brand=rule.brand_id,
                 before={"version": before.number if before else None,
                         "parameters": before.parameters if before else None},
                 after={"version": version.number, "parameters": clean,
                        "effective_from": version.effective_from.isoformat()}, reason=note)
    return version


@transaction.atomic
def aml_rule_active_set(*, rule: AmlRule, active: bool, actor: Any) -> AmlRule:
    rule = AmlRule.objects.select_for_update().get(pk=rule.pk)
    if rule.is_active != active:
        rule.is_active = active
        rule.save(update_fields=["is_active"])
        audit_record(action="compliance.aml_rule_active_set", obj=rule, actor=actor, brand=rule.brand_id,
                     before={"is_active": not active}, after={"is_active": active})
    return rule


# --- alerts -------------------------------------------------------------------------------------------

@transaction.atomic
def aml_alert_dismiss(*, alert: AmlAlert, actor: Any, reason: str) -> AmlAlert:
    """An officer dismisses an open alert, with the reason."""
    if not reason.strip():
        raise ValidationFailed(fields={"reason": gettext("Say why the alert is dismissed.")})
    alert = AmlAlert.objects.select_for_update().get(pk=alert.pk)
    AML_ALERT_STATES.move(alert, AmlAlertStatus.DISMISSED, save=(),
                          also={"status_reason": reason.strip(), "status_by": actor, "status_at": timezone.now()})
    audit_record(action="compliance.alert_dismissed", obj=alert, actor=actor, brand=alert.brand_id,
                 before={"status": AmlAlertStatus.OPEN}, after={"status": alert.status}, reason=alert.status_reason)
    return alert


@transaction.atomic
def aml_alert_mark_in_case(*, alert_id: int, actor: Any = None, case_ref: str = "") -> AmlAlert:
    """An open alert taken into a case (for the cases part of compliance)."""
    alert = AmlAlert.objects.select_for_update().get(pk=alert_id)
    if AML_ALERT_STATES.allows(alert.status, AmlAlertStatus.IN_CASE):  # taken once; a repeat changes nothing
        AML_ALERT_STATES.move(alert, AmlAlertStatus.IN_CASE, save=(), also={
            "status_reason": case_ref[:300], "status_by": actor if getattr(actor, "pk", None) else None,
            "status_at": timezone.now()})
        audit_record(action="compliance.alert_in_case", obj=alert, actor=actor, brand=alert.brand_id,
                     before={"status": AmlAlertStatus.OPEN}, after={"status": alert.status, "case": case_ref})
    return alert


def aml_client_enqueue(*, client_id: int) -> None:
    """Queue the rules over `client_id`'s last days once the caller's transaction commits."""

    def enqueue() -> None:
        from kombu.exceptions import OperationalError

        try:
            task_named("compliance.tasks.aml_client").delay(client_id)
        except OperationalError:
            logger.warning("could not queue a client's AML evaluation", extra={"client_id": client_id}, exc_info=True)

    transaction.on_commit(enqueue)
