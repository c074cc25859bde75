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

Client risk classes come from the client risk score (another part of compliance); until it registers
its SQL expression (`aml_register_risk_class_sql`), every client's class is unknown and only the rules
for all clients apply.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

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
from crm.lib.money import amount_in_range, amount_read, currency_normalise, to_decimal
from crm.models import Client

logger = logging.getLogger(__name__)

VIEW_PERMISSION = "compliance.view_amlalert"
DECIDE_PERMISSION = "compliance.change_amlalert"
RULES_VIEW_PERMISSION = "compliance.view_amlrule"
RULES_EDIT_PERMISSION = "compliance.change_amlrule"

# How far back the client's own evaluation (on its deposit or withdrawal event) looks for triggers; the
# periodic pass covers everything recorded since its previous run.
CLIENT_WINDOW = dt.timedelta(days=2)
# The periodic pass stops this far behind now, so that a posting recorded just before `until` but
# committed after the pass started is still in the next window.
PASS_LAG = dt.timedelta(seconds=30)
FIRST_PASS = dt.timedelta(days=1)
DRY_RUN_PERIOD = dt.timedelta(days=30)

_RISK_CLASS_SQL = "NULL::text"


def aml_register_risk_class_sql(expression: str) -> None:
    """The client risk score tells the rules each client's class: a SQL expression over `c.id` (the
    client's id) giving 'low', 'medium', 'high' or NULL. Called once at start (AppConfig.ready)."""
    global _RISK_CLASS_SQL
    _RISK_CLASS_SQL = f"({expression})"


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
# partner were added names none of them: it compares instruments only (the SQL's defaults below).
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
# Each gives rows (client_id, transaction_ids bigint[] sorted, score int, facts jsonb, summary text) for
# the triggers recorded in (%(since)s, %(until)s] of the brand's clients (of one client when
# %(client)s is not NULL) in the rule's risk class.

def _amt(expr: str, currency: str) -> str:
    """An amount as people read it in an alert's summary: thousands separated, at the decimals of
    its currency ("25,000.00" USD, "150,000" JPY, "0.05000000" BTC), whatever the locale of the
    server. `currency`: the SQL expression of its code; the decimals are crm.lib.money's table,
    given to each rule's query as %(exponents)s (see `_params`)."""
    exponent = f"coalesce((%(exponents)s::jsonb ->> ({currency}))::int, 2)"
    return (f"to_char({expr}, 'FM999,999,999,999,990' || CASE WHEN {exponent} > 0 "
            f"THEN '.' || repeat('0', {exponent}) ELSE '' END)")


_TX_JSON = ("jsonb_build_object('id', {a}.transaction_id, 'kind', {a}.kind, 'amount', {a}.amount::text, "
            "'currency', {a}.currency, 'occurred_at', {a}.occurred_at)")


def _movements(alias: str = "m") -> str:
    """The brand's clients' wallet movements, in the rule's risk class (one client when asked)."""
    return (f"wallet_public_client_movements {alias} "
            f"JOIN crm_public_clients c ON c.id = {alias}.client_id AND c.brand_id = %(brand)s "
            f"AND (%(client)s::bigint IS NULL OR {alias}.client_id = %(client)s::bigint) "
            f"AND (%(risk_class)s = 'all' OR {_RISK_CLASS_SQL} = %(risk_class)s)")


def _sql_large() -> str:
    return f"""
SELECT m.client_id, ARRAY[m.transaction_id] AS transaction_ids,
       least(100, greatest(1, round(50 * abs(m.amount) / th.amount::numeric)))::int AS score,
       jsonb_build_object('transactions', jsonb_build_array({_TX_JSON.format(a='m')}),
                          'threshold', th.amount, 'currency', m.currency) AS facts,
       m.kind || ' of ' || {_amt('abs(m.amount)', 'm.currency')} || ' ' || m.currency || ' (threshold '
         || {_amt('th.amount::numeric', 'm.currency')} || ')'
         AS summary
FROM {_movements()}
JOIN jsonb_each_text(%(p)s::jsonb -> 'amounts') th(currency, amount) ON th.currency = m.currency
WHERE m.recorded_at > %(since)s AND m.recorded_at <= %(until)s
  AND m.kind = ANY(CASE %(p)s::jsonb ->> 'direction' WHEN 'deposit' THEN ARRAY['deposit']
                   WHEN 'withdrawal' THEN ARRAY['withdrawal'] ELSE ARRAY['deposit', 'withdrawal'] END)
  AND abs(m.amount) >= th.amount::numeric
"""  # noqa: S608 (only this module's fragments; values are bound parameters)


def _sql_structuring() -> str:
    # The deposits within the band under the threshold, recorded in the window or far enough before it to
    # be in a trigger's days; for each client and currency the latest trigger's set of the days before it.
    return f"""
WITH th AS (SELECT currency, amount::numeric AS amount,
                   amount::numeric * (100 - (%(p)s::jsonb ->> 'band_percent')::int) / 100 AS low
            FROM jsonb_each_text(%(p)s::jsonb -> 'thresholds') t(currency, amount)),
q AS (SELECT m.transaction_id, m.client_id, m.kind, m.amount, m.currency, m.occurred_at, m.recorded_at
      FROM {_movements()}
      JOIN th ON th.currency = m.currency
      WHERE m.kind = 'deposit' AND m.amount >= th.low AND m.amount < th.amount
        AND m.recorded_at > %(since)s::timestamptz - make_interval(days => (%(p)s::jsonb ->> 'days')::int + 7)
        AND m.recorded_at <= %(until)s),
hits AS (
  SELECT DISTINCT ON (t.client_id, t.currency) t.client_id, t.currency, agg.*
  FROM q t
  CROSS JOIN LATERAL (
      SELECT array_agg(q2.transaction_id ORDER BY q2.transaction_id) AS transaction_ids, count(*) AS n,
             sum(q2.amount) AS total, jsonb_agg({_TX_JSON.format(a='q2')} ORDER BY q2.occurred_at) AS txs
      FROM q q2
      WHERE q2.client_id = t.client_id AND q2.currency = t.currency AND q2.occurred_at <= t.occurred_at
        AND q2.occurred_at > t.occurred_at - make_interval(days => (%(p)s::jsonb ->> 'days')::int)) agg
  WHERE t.recorded_at > %(since)s AND agg.n >= (%(p)s::jsonb ->> 'min_count')::int
  ORDER BY t.client_id, t.currency, t.occurred_at DESC, t.transaction_id DESC)
SELECT h.client_id, h.transaction_ids,
       least(100, 40 + 20 * (h.n - (%(p)s::jsonb ->> 'min_count')::int + 1))::int AS score,
       jsonb_build_object('transactions', h.txs, 'count', h.n, 'total', h.total::text, 'currency', h.currency,
                          'threshold', th.amount::text) AS facts,
       h.n::text || ' deposits totalling ' || {_amt('h.total', 'h.currency')} || ' ' || h.currency || ', each just under '
         || {_amt('th.amount', 'h.currency')} || ', within ' || (%(p)s::jsonb ->> 'days') || ' days' AS summary
FROM hits h JOIN th ON th.currency = h.currency
"""  # noqa: S608 (only this module's fragments; values are bound parameters)


def _sql_rapid() -> str:
    # Each withdrawal recorded in the window against the client's deposits (same currency) of the days
    # before it, and the lots the client opened (trading's deals of its live accounts) since the first.
    return f"""
WITH w AS (SELECT m.transaction_id, m.client_id, m.kind, m.amount, m.currency, m.occurred_at
           FROM {_movements()}
           WHERE m.kind = 'withdrawal' AND m.amount < 0
             AND m.recorded_at > %(since)s AND m.recorded_at <= %(until)s),
hits AS (
  SELECT w.*, d.*, lots.lots
  FROM w
  CROSS JOIN LATERAL (
      SELECT array_agg(d.transaction_id ORDER BY d.transaction_id) AS deposit_ids, sum(d.amount) AS deposited,
             min(d.occurred_at) AS first_at,
             jsonb_agg({_TX_JSON.format(a='d')} ORDER BY d.occurred_at) AS txs
      FROM wallet_public_client_movements d
      WHERE d.client_id = w.client_id AND d.currency = w.currency AND d.kind = 'deposit' AND d.amount > 0
        AND d.occurred_at < w.occurred_at
        AND d.occurred_at >= w.occurred_at - make_interval(days => (%(p)s::jsonb ->> 'days')::int)) d
  CROSS JOIN LATERAL (
      SELECT coalesce(sum(dl.volume), 0) AS lots
      FROM trading_public_accounts a
      JOIN trading_public_deals dl ON dl.account_id = a.id
      WHERE a.client_id = w.client_id AND NOT a.is_demo AND dl.kind = 'trade' AND dl.entry IN ('in', 'inout')
        AND dl.deleted_at IS NULL AND dl.time >= d.first_at AND dl.time <= w.occurred_at) lots
  JOIN jsonb_each_text(%(p)s::jsonb -> 'min_amounts') th(currency, amount) ON th.currency = w.currency
  WHERE d.deposited >= th.amount::numeric
    AND -w.amount * 100 >= d.deposited * (%(p)s::jsonb ->> 'withdrawn_percent')::int
    AND lots.lots < (%(p)s::jsonb ->> 'max_lots')::numeric)
SELECT h.client_id,
       (SELECT array_agg(x ORDER BY x) FROM unnest(h.deposit_ids || h.transaction_id) x) AS transaction_ids,
       least(100, 60 + round(40 * least(1, -h.amount / h.deposited)))::int AS score,
       jsonb_build_object('transactions', h.txs || jsonb_build_array({_TX_JSON.format(a='h')}),
                          'deposited', h.deposited::text, 'withdrawn', (-h.amount)::text, 'currency', h.currency,
                          'lots', h.lots::text) AS facts,
       {_amt('-h.amount', 'h.currency')} || ' ' || h.currency || ' withdrawn after deposits of '
         || {_amt('h.deposited', 'h.currency')}
         || ' with ' || h.lots::text || ' lots traded' AS summary
FROM hits h
"""  # noqa: S608 (only this module's fragments; values are bound parameters)


def _sql_jurisdiction() -> str:
    return f"""
SELECT m.client_id, ARRAY[m.transaction_id] AS transaction_ids,
       (CASE j.status WHEN 'sanctioned' THEN 90 ELSE 60 END)::int AS score,
       jsonb_build_object('transactions', jsonb_build_array({_TX_JSON.format(a='m')}),
                          'country', c.country, 'status', j.status) AS facts,
       m.kind || ' of ' || {_amt('abs(m.amount)', 'm.currency')} || ' ' || m.currency || ' by a client in ' || c.country
         || ' (' || j.status || ')' AS summary
FROM {_movements()}
JOIN compliance_jurisdiction j ON j.brand_id = c.brand_id AND j.country = c.country AND j.region = ''
  AND j.status IN (SELECT jsonb_array_elements_text(%(p)s::jsonb -> 'statuses'))
  AND j.effective_from <= m.occurred_at::date AND (j.effective_to IS NULL OR m.occurred_at::date < j.effective_to)
JOIN jsonb_each_text(%(p)s::jsonb -> 'min_amounts') th(currency, amount) ON th.currency = m.currency
WHERE m.recorded_at > %(since)s AND m.recorded_at <= %(until)s
  AND m.kind IN ('deposit', 'withdrawal') AND abs(m.amount) >= th.amount::numeric
"""  # noqa: S608 (only this module's fragments; values are bound parameters)


def _sql_dormant() -> str:
    # A large movement of a client registered before the inactive days, with no other wallet movement in
    # the inactive days before it.
    return f"""
SELECT m.client_id, ARRAY[m.transaction_id] AS transaction_ids,
       least(100, 10 + round(50 * abs(m.amount) / th.amount::numeric))::int AS score,
       jsonb_build_object('transactions', jsonb_build_array({_TX_JSON.format(a='m')}),
                          'inactive_days', (%(p)s::jsonb ->> 'inactive_days')::int,
                          'last_movement', (SELECT max(o.occurred_at) FROM wallet_public_client_movements o
                                            WHERE o.client_id = m.client_id AND o.occurred_at < m.occurred_at)
                          ) AS facts,
       m.kind || ' of ' || {_amt('abs(m.amount)', 'm.currency')} || ' ' || m.currency || ' after '
         || (%(p)s::jsonb ->> 'inactive_days') || ' days or more without movement' AS summary
FROM {_movements()}
JOIN jsonb_each_text(%(p)s::jsonb -> 'amounts') th(currency, amount) ON th.currency = m.currency
WHERE m.recorded_at > %(since)s AND m.recorded_at <= %(until)s
  AND m.kind IN ('deposit', 'withdrawal') AND abs(m.amount) >= th.amount::numeric
  AND c.created_at < m.occurred_at - make_interval(days => (%(p)s::jsonb ->> 'inactive_days')::int)
  AND NOT EXISTS (SELECT 1 FROM wallet_public_client_movements o
                  WHERE o.client_id = m.client_id AND o.transaction_id <> m.transaction_id
                    AND o.occurred_at < m.occurred_at
                    AND o.occurred_at >= m.occurred_at - make_interval(days => (%(p)s::jsonb ->> 'inactive_days')::int))
"""  # noqa: S608 (only this module's fragments; values are bound parameters)


# --- rules over payment instruments (wallet_public_payment_instruments) ----------------------------------
# One row per credited deposit and paid-out withdrawal with its payer and instrument (a keyed hash, never
# the number). Whether the payer is the client was decided by the shared name matcher when it was recorded.

_INSTRUMENT_JSON = ("jsonb_build_object('id', {a}.transaction_id, 'kind', {a}.direction, 'amount', {a}.amount::text, "
                    "'currency', {a}.currency, 'occurred_at', {a}.occurred_at, 'client', {a}.client_id, "
                    "'method', {a}.method, 'payer', {a}.payer_name, 'country', {a}.instrument_country, "
                    "'last4', {a}.instrument_last4)")


def _instruments(alias: str = "i") -> str:
    """The brand's clients' deposits and payouts with their instruments, in the rule's risk class."""
    return (f"wallet_public_payment_instruments {alias} "
            f"JOIN crm_public_clients c ON c.id = {alias}.client_id AND c.brand_id = %(brand)s "
            f"AND (%(client)s::bigint IS NULL OR {alias}.client_id = %(client)s::bigint) "
            f"AND (%(risk_class)s = 'all' OR {_RISK_CLASS_SQL} = %(risk_class)s)")


def _sql_third_party() -> str:
    # Each deposit recorded in the window whose payer is known not to be the client (the name check), or
    # whose card or bank is of another country than the client's residence (the country check).
    return f"""
SELECT i.client_id, ARRAY[i.transaction_id] AS transaction_ids,
       (CASE WHEN d.name_differs AND d.country_differs THEN 85 WHEN d.name_differs THEN 70 ELSE 50 END)::int AS score,
       jsonb_build_object('transactions', jsonb_build_array({_INSTRUMENT_JSON.format(a='i')}),
                          'payer', i.payer_name, 'payer_is_client', i.payer_is_client,
                          'instrument_country', i.instrument_country, 'client_country', c.country,
                          'name_differs', d.name_differs, 'country_differs', d.country_differs) AS facts,
       'deposit of ' || {_amt('i.amount', 'i.currency')} || ' ' || i.currency
         || CASE WHEN d.name_differs THEN ' paid by ' || i.payer_name || ', not the client' ELSE '' END
         || CASE WHEN d.name_differs AND d.country_differs THEN ' and' ELSE '' END
         || CASE WHEN d.country_differs THEN ' from a ' || i.method || ' of ' || i.instrument_country
                 || ' (the client lives in ' || c.country || ')' ELSE '' END AS summary
FROM {_instruments()}
JOIN jsonb_each_text(%(p)s::jsonb -> 'min_amounts') th(currency, amount) ON th.currency = i.currency
CROSS JOIN LATERAL (SELECT
    (%(p)s::jsonb -> 'checks' ? 'name') AND i.payer_is_client IS FALSE AS name_differs,
    (%(p)s::jsonb -> 'checks' ? 'country') AND i.instrument_country <> '' AND c.country <> ''
      AND i.instrument_country <> c.country AS country_differs) d
WHERE i.direction = 'deposit' AND i.recorded_at > %(since)s AND i.recorded_at <= %(until)s
  AND i.amount >= th.amount::numeric AND (d.name_differs OR d.country_differs)
"""  # noqa: S608 (only this module's fragments; values are bound parameters)


def _sql_many_instruments() -> str:
    # Two patterns. Many: for each client with a deposit recorded in the window, its latest such deposit
    # and the deposits of the days before it: fires when they come from at least min_instruments different
    # instruments. New destination: a payout recorded in the window to a destination the client first asked
    # for less than new_destination_days before it, that the client never paid in from.
    return f"""
WITH q AS (SELECT i.transaction_id, i.client_id, i.direction, i.amount, i.currency, i.occurred_at, i.recorded_at,
                  i.method, i.payer_name, i.instrument_country, i.instrument_last4, i.instrument_fingerprint
           FROM {_instruments()}
           WHERE i.direction = 'deposit' AND i.instrument_fingerprint <> ''
             AND i.recorded_at > %(since)s::timestamptz - make_interval(days => (%(p)s::jsonb ->> 'days')::int + 7)
             AND i.recorded_at <= %(until)s),
latest AS (SELECT DISTINCT ON (q.client_id) q.client_id, q.occurred_at
           FROM q WHERE q.recorded_at > %(since)s ORDER BY q.client_id, q.occurred_at DESC, q.transaction_id DESC),
-- Joined and grouped, not a lateral subquery per client: a CTE has no index, so a lateral scan of it per
-- client is quadratic in a day of a large brand. First the clients that reach the count, then their facts.
reaching AS (
  SELECT l.client_id, l.occurred_at
  FROM latest l JOIN q q2 ON q2.client_id = l.client_id AND q2.occurred_at <= l.occurred_at
    AND q2.occurred_at > l.occurred_at - make_interval(days => (%(p)s::jsonb ->> 'days')::int)
  GROUP BY l.client_id, l.occurred_at
  HAVING count(DISTINCT q2.instrument_fingerprint) >= (%(p)s::jsonb ->> 'min_instruments')::int),
many AS (
  SELECT r.client_id, array_agg(q2.transaction_id ORDER BY q2.transaction_id) AS transaction_ids,
         count(DISTINCT q2.instrument_fingerprint) AS n,
         jsonb_agg({_INSTRUMENT_JSON.format(a='q2')} ORDER BY q2.occurred_at) AS txs
  FROM reaching r JOIN q q2 ON q2.client_id = r.client_id AND q2.occurred_at <= r.occurred_at
    AND q2.occurred_at > r.occurred_at - make_interval(days => (%(p)s::jsonb ->> 'days')::int)
  GROUP BY r.client_id)
SELECT m.client_id, m.transaction_ids,
       least(100, 40 + 15 * (m.n - (%(p)s::jsonb ->> 'min_instruments')::int + 1))::int AS score,
       jsonb_build_object('transactions', m.txs, 'instruments', m.n, 'days', (%(p)s::jsonb ->> 'days')::int,
                          'pattern', 'many') AS facts,
       'deposits from ' || m.n::text || ' different payment instruments within ' || (%(p)s::jsonb ->> 'days')
         || ' days' AS summary
FROM many m
UNION ALL
SELECT i.client_id, ARRAY[i.transaction_id],
       60::int,
       jsonb_build_object('transactions', jsonb_build_array({_INSTRUMENT_JSON.format(a='i')}),
                          'destination_added_at', i.destination_added_at, 'pattern', 'new_destination',
                          'days', (%(p)s::jsonb ->> 'new_destination_days')::int),
       'payout of ' || {_amt('i.amount', 'i.currency')} || ' ' || i.currency || ' to ' || i.method || ' …' || i.instrument_last4
         || ', a destination added ' || to_char(i.destination_added_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI')
         || ' UTC, less than ' || (%(p)s::jsonb ->> 'new_destination_days') || ' days before'
FROM {_instruments()}
WHERE i.direction = 'withdrawal' AND i.recorded_at > %(since)s AND i.recorded_at <= %(until)s
  AND i.instrument_fingerprint <> '' AND i.destination_added_at IS NOT NULL
  AND i.occurred_at < i.destination_added_at + make_interval(days => (%(p)s::jsonb ->> 'new_destination_days')::int)
  AND NOT EXISTS (SELECT 1 FROM wallet_public_payment_instruments s
                  WHERE s.client_id = i.client_id AND s.direction = 'deposit'
                    AND s.instrument_fingerprint = i.instrument_fingerprint AND s.instrument_fingerprint <> '')
"""  # noqa: S608 (only this module's fragments; values are bound parameters)


def _shared(name: str) -> str:
    """A parameter of the shared-instruments rule, its default when the version predates it."""
    default = SHARED_DEFAULTS[name]
    if isinstance(default, list):
        return f"coalesce(%(p)s::jsonb -> '{name}', '{json.dumps(default)}'::jsonb)"
    return f"coalesce((%(p)s::jsonb ->> '{name}')::int, {int(default)})"


def _public_ip(column: str) -> str:
    """SQL: the text IP in `column`, NULL when it is in NON_PUBLIC_NETWORKS (a module constant, no input)."""
    networks = ", ".join(f"'{ipaddress.ip_network(n)}'::inet" for n in NON_PUBLIC_NETWORKS)
    return f"CASE WHEN {column}::inet <<= ANY (ARRAY[{networks}]) THEN NULL ELSE {column} END"


def _sql_shared_instruments() -> str:
    # Three patterns, each on if the version's `signals` names it (a version without `signals`: instruments).
    # Instruments: each deposit or payout recorded in the window with an instrument that other clients of the
    # brand used in the days before it: fires when at least min_clients clients (this one included) share
    # it; the facts are the instrument's transactions of every client sharing it.
    # IPs and devices: each client's latest sign-in or registration in the window (crm_public_origins) from a
    # public IP (not NON_PUBLIC_NETWORKS), or with a browser, that other clients of the brand used in the days
    # before it: fires when at least min_clients and at most the cap of clients share it (more is a public
    # network or a common browser).
    # Partner: a client attributed to a partner (ib_public_attributions) signing in from the partner's own
    # IP (within the cap) or browser (within the cap) of the partner's sign-ins (or its own client record's)
    # within the days, one of the two in the window. The origins' alerts carry no transactions: their
    # fingerprint is the facts' `fingerprint` (what is shared and by whom), so the same facts raise once.
    signals = _shared("signals")
    days = "make_interval(days => (%(p)s::jsonb ->> 'days')::int)"
    min_clients = "(%(p)s::jsonb ->> 'min_clients')::int"
    cap = (f"CASE {{via}} WHEN 'ip' THEN {_shared('max_clients_per_ip')} "
           f"ELSE {_shared('max_clients_per_device')} END")
    in_class = (f"(%(client)s::bigint IS NULL OR c.id = %(client)s::bigint) "
                f"AND (%(risk_class)s = 'all' OR {_RISK_CLASS_SQL} = %(risk_class)s)")
    return f"""
WITH t AS (SELECT DISTINCT ON (i.client_id, i.instrument_fingerprint)
                  i.client_id, i.instrument_fingerprint, i.occurred_at, i.method, i.instrument_last4
           FROM {_instruments()}
           WHERE i.recorded_at > %(since)s AND i.recorded_at <= %(until)s AND i.instrument_fingerprint <> ''
             AND {signals} ? 'instruments'
           ORDER BY i.client_id, i.instrument_fingerprint, i.occurred_at DESC, i.transaction_id DESC),
reach AS (  -- first the instruments shared by enough clients (a count), then the facts of those only
  SELECT t.* FROM t
  WHERE (SELECT count(DISTINCT s.client_id)
         FROM wallet_public_payment_instruments s
         JOIN crm_public_clients sc ON sc.id = s.client_id AND sc.brand_id = %(brand)s
         WHERE s.instrument_fingerprint = t.instrument_fingerprint AND s.instrument_fingerprint <> ''
           AND s.occurred_at <= t.occurred_at AND s.occurred_at > t.occurred_at - {days}) >= {min_clients}),
hits AS (
  SELECT t.client_id, t.method, t.instrument_last4, agg.*
  FROM reach t
  CROSS JOIN LATERAL (
      SELECT array_agg(s.transaction_id ORDER BY s.transaction_id) AS transaction_ids,
             count(DISTINCT s.client_id) AS n,
             array_agg(DISTINCT s.client_id) FILTER (WHERE s.client_id <> t.client_id) AS others,
             jsonb_agg({_INSTRUMENT_JSON.format(a='s')} ORDER BY s.occurred_at) AS txs
      FROM wallet_public_payment_instruments s
      JOIN crm_public_clients sc ON sc.id = s.client_id AND sc.brand_id = %(brand)s
      -- "<> ''" repeats the partial index's predicate so that the lookup may use it (the planner cannot
      -- infer it from the equality with a value of the outer row).
      WHERE s.instrument_fingerprint = t.instrument_fingerprint AND s.instrument_fingerprint <> ''
        AND s.occurred_at <= t.occurred_at
        AND s.occurred_at > t.occurred_at - {days}) agg
  WHERE agg.n >= {min_clients}),
origins AS (  -- the brand's clients' sign-ins and registrations, as far back as the window's triggers look
  SELECT o.id, o.at, o.client_id, {_public_ip('o.ip')} AS ip, nullif(o.user_agent, '') AS ua
  FROM crm_public_origins o
  JOIN crm_public_clients oc ON oc.id = o.client_id AND oc.brand_id = %(brand)s AND NOT ('merged' = ANY(oc.tags))
  WHERE o.at > %(since)s::timestamptz - {days} AND o.at <= %(until)s
    AND ({signals} ?| array['ips', 'devices', 'partner'])),
spots AS (
  SELECT 'ip' AS via, o.ip AS value, o.client_id, o.id, o.at FROM origins o
  WHERE o.ip IS NOT NULL AND {signals} ? 'ips'
  UNION ALL
  SELECT 'device', o.ua, o.client_id, o.id, o.at FROM origins o WHERE o.ua IS NOT NULL AND {signals} ? 'devices'),
triggers AS (
  SELECT DISTINCT ON (s.client_id, s.via, s.value) s.client_id, s.via, s.value, s.at
  FROM spots s JOIN crm_public_clients c ON c.id = s.client_id
  WHERE s.at > %(since)s AND {in_class}
  ORDER BY s.client_id, s.via, s.value, s.at DESC),
crowd AS (
  SELECT 'ip' AS via, o.ip AS value, count(DISTINCT o.client_id) AS n FROM origins o WHERE o.ip IS NOT NULL
  GROUP BY o.ip
  UNION ALL
  SELECT 'device', o.ua, count(DISTINCT o.client_id) FROM origins o WHERE o.ua IS NOT NULL GROUP BY o.ua),
uses AS (  -- joined and grouped (a lateral scan of a CTE per trigger is quadratic); crowded values left out first
  SELECT tr.client_id AS trigger_client, tr.via, tr.value, s.client_id, count(*) AS times, min(s.at) AS first_at,
         max(s.at) AS last_at
  FROM triggers tr
  JOIN crowd cr ON cr.via = tr.via AND cr.value = tr.value AND cr.n <= {cap.format(via='tr.via')}
  JOIN spots s ON s.via = tr.via AND s.value = tr.value AND s.at <= tr.at AND s.at > tr.at - {days}
  GROUP BY tr.client_id, tr.via, tr.value, s.client_id),
shared_spots AS (
  SELECT u.trigger_client AS client_id, u.via, u.value, count(*) AS n,
         array_agg(u.client_id ORDER BY u.client_id) AS clients,
         array_agg(u.client_id ORDER BY u.client_id) FILTER (WHERE u.client_id <> u.trigger_client) AS others,
         jsonb_agg(jsonb_build_object('client', u.client_id, 'times', u.times, 'first_at', u.first_at,
                                      'last_at', u.last_at) ORDER BY u.client_id) AS uses
  FROM uses u
  GROUP BY u.trigger_client, u.via, u.value
  HAVING count(*) >= {min_clients}),
partners AS (
  SELECT p.id, p.code::text AS code, p.client_id AS own_client
  FROM ib_public_partners p WHERE p.brand_id = %(brand)s AND {signals} ? 'partner'),
partner_origins AS (  -- the partner's own sign-ins, and those of its own client record
  SELECT pa.id AS partner_id, o.at, {_public_ip('o.ip')} AS ip, nullif(o.user_agent, '') AS ua
  FROM partners pa JOIN crm_public_origins o ON o.object_type = 'ib.partner' AND o.object_id = pa.code
  WHERE o.at > %(since)s::timestamptz - {days} AND o.at <= %(until)s
  UNION ALL
  SELECT pa.id, o.at, o.ip, o.ua FROM partners pa JOIN origins o ON o.client_id = pa.own_client),
partner_pairs AS (
  SELECT DISTINCT a.partner_id, a.client_id, v.via, v.value
  FROM ib_public_attributions a
  JOIN partners pa ON pa.id = a.partner_id
  JOIN crm_public_clients c ON c.id = a.client_id AND c.id IS DISTINCT FROM pa.own_client
  JOIN origins co ON co.client_id = a.client_id
  JOIN partner_origins po ON po.partner_id = a.partner_id
  CROSS JOIN LATERAL (VALUES ('ip', po.ip, co.ip), ('device', po.ua, co.ua)) v(via, value, theirs)
  JOIN crowd cr ON cr.via = v.via AND cr.value = v.value
  WHERE v.value = v.theirs AND cr.n <= {cap.format(via='v.via')}
    AND greatest(po.at, co.at) > %(since)s AND abs(extract(epoch FROM po.at - co.at)) <= extract(epoch FROM {days})
    AND co.at >= a.effective_from AND (a.effective_to IS NULL OR co.at < a.effective_to)
    AND {in_class}),
partner_hits AS (
  SELECT pp.partner_id, pp.client_id, pa.code AS partner_code,
         jsonb_agg(jsonb_build_object('via', pp.via, 'value', pp.value) ORDER BY pp.via, pp.value) AS shared,
         string_agg(CASE pp.via WHEN 'ip' THEN 'IP ' || pp.value ELSE 'device "' || left(pp.value, 60) || '"' END,
                    ' and ' ORDER BY pp.via DESC, pp.value) AS shared_text,
         string_agg(pp.via || '=' || pp.value, ',' ORDER BY pp.via, pp.value) AS key
  FROM partner_pairs pp JOIN partners pa ON pa.id = pp.partner_id
  GROUP BY pp.partner_id, pp.client_id, pa.code)
SELECT h.client_id, h.transaction_ids,
       least(100, 50 + 15 * (h.n - {min_clients} + 1))::int AS score,
       jsonb_build_object('pattern', 'instrument', 'transactions', h.txs, 'clients', h.n,
                          'other_clients', to_jsonb(h.others),
                          'instrument', h.method || ' …' || h.instrument_last4) AS facts,
       h.method || ' …' || h.instrument_last4 || ' used by ' || h.n::text || ' clients within '
         || (%(p)s::jsonb ->> 'days') || ' days' AS summary
FROM hits h
UNION ALL
SELECT x.client_id, ARRAY[]::bigint[],
       least(100, (CASE x.via WHEN 'ip' THEN 45 ELSE 40 END) + 15 * (x.n - {min_clients} + 1))::int,
       jsonb_build_object('pattern', x.via, 'value', x.value, 'clients', x.n, 'other_clients', to_jsonb(x.others),
                          'uses', x.uses, 'days', (%(p)s::jsonb ->> 'days')::int,
                          'fingerprint', x.via || ':' || x.value || ':' || array_to_string(x.clients, ',')),
       CASE x.via WHEN 'ip' THEN 'IP ' || x.value ELSE 'device "' || left(x.value, 80) || '"' END
         || ' used by ' || x.n::text || ' clients within ' || (%(p)s::jsonb ->> 'days') || ' days (with clients '
         || array_to_string(x.others, ', ') || ')'
FROM shared_spots x
UNION ALL
SELECT ph.client_id, ARRAY[]::bigint[], 80,
       jsonb_build_object('pattern', 'partner', 'partner', ph.partner_id, 'partner_code', ph.partner_code,
                          'shared', ph.shared, 'days', (%(p)s::jsonb ->> 'days')::int,
                          'fingerprint', 'partner:' || ph.partner_id || ':' || ph.key),
       'signed in from the ' || ph.shared_text || ' of partner ' || left(ph.partner_code, 8)
         || ', to whom the client is attributed'
FROM partner_hits ph
"""  # noqa: S608 (only this module's fragments; values are bound parameters)


# --- deposits against what the client declared (kyc_public_questionnaire_answers) -----------------------

def _sql_over_declared() -> str:
    # What the client declared: the rule's questions answered in the client's latest questionnaire response,
    # each at its answer's amount (`ceilings`; the largest when several options are chosen), added up. For
    # each client with a deposit in the rule's currency recorded in the window, the latest such deposit and
    # every deposit of the days up to it: fires when they reach `percent` of the declared. At most one alert
    # per client in `days`: a deposit within the days after the trigger of the rule's previous alert for the
    # client (the same facts grown by one more deposit) raises nothing; once the days have passed, deposits
    # still out of line raise a new one. A client who declared nothing the rule counts is left to the risk
    # score (its deposits_vs_declared factor).
    days = "make_interval(days => (%(p)s::jsonb ->> 'days')::int)"
    return f"""
WITH q AS (SELECT m.transaction_id, m.client_id, m.kind, m.amount, m.currency, m.occurred_at, m.recorded_at
           FROM {_movements()}
           WHERE m.kind = 'deposit' AND m.amount > 0 AND m.currency = %(p)s::jsonb ->> 'currency'
             AND m.recorded_at > %(since)s::timestamptz - make_interval(days => (%(p)s::jsonb ->> 'days')::int + 7)
             AND m.recorded_at <= %(until)s),
latest AS (SELECT DISTINCT ON (q.client_id) q.client_id, q.transaction_id, q.occurred_at
           FROM q WHERE q.recorded_at > %(since)s ORDER BY q.client_id, q.occurred_at DESC, q.transaction_id DESC),
answered AS (
  SELECT DISTINCT ON (a.client_id, a.question) a.client_id, a.question, a.option, ce.amount::numeric AS amount
  FROM kyc_public_questionnaire_answers a
  JOIN jsonb_each_text(%(p)s::jsonb -> 'ceilings') ce(option, amount) ON ce.option = a.option
  WHERE a.client_id IN (SELECT client_id FROM latest)
    AND a.question IN (SELECT jsonb_array_elements_text(%(p)s::jsonb -> 'questions'))
  ORDER BY a.client_id, a.question, ce.amount::numeric DESC),
declared AS (
  SELECT client_id, sum(amount) AS amount, jsonb_object_agg(question, option) AS answers,
         string_agg(question || ' ' || option, ', ' ORDER BY question) AS answers_text
  FROM answered GROUP BY client_id),
hits AS (  -- joined and grouped, not a lateral scan of the CTE per client (quadratic in a large day)
  SELECT l.client_id, l.occurred_at AS trigger_at, d.amount AS declared, d.answers, d.answers_text,
         array_agg(q2.transaction_id ORDER BY q2.transaction_id) AS transaction_ids, count(*) AS n,
         sum(q2.amount) AS total, jsonb_agg({_TX_JSON.format(a='q2')} ORDER BY q2.occurred_at) AS txs
  FROM latest l
  JOIN declared d ON d.client_id = l.client_id AND d.amount > 0
  JOIN q q2 ON q2.client_id = l.client_id AND (q2.occurred_at, q2.transaction_id) <= (l.occurred_at, l.transaction_id)
    AND q2.occurred_at > l.occurred_at - {days}
  GROUP BY l.client_id, l.occurred_at, d.amount, d.answers, d.answers_text
  HAVING sum(q2.amount) * 100 >= d.amount * (%(p)s::jsonb ->> 'percent')::int
    AND NOT EXISTS (SELECT 1 FROM compliance_amlalert a
                    WHERE a.rule_id = %(rule)s AND a.client_id = l.client_id
                      AND (a.facts ->> 'trigger_at')::timestamptz < l.occurred_at
                      AND (a.facts ->> 'trigger_at')::timestamptz > l.occurred_at - {days}))
SELECT h.client_id, h.transaction_ids,
       least(100, 40 + round(20 * h.total / h.declared))::int AS score,
       jsonb_build_object('transactions', h.txs, 'count', h.n, 'total', h.total::text,
                          'currency', %(p)s::jsonb ->> 'currency', 'declared', h.declared::text,
                          'answers', h.answers, 'days', (%(p)s::jsonb ->> 'days')::int,
                          'percent', (%(p)s::jsonb ->> 'percent')::int, 'trigger_at', h.trigger_at) AS facts,
       h.n::text || CASE WHEN h.n = 1 THEN ' deposit of ' ELSE ' deposits totalling ' END || {_amt('h.total', "%(p)s::jsonb ->> 'currency'")} || ' '
         || (%(p)s::jsonb ->> 'currency') || ' within ' || (%(p)s::jsonb ->> 'days') || ' days: '
         || round(100 * h.total / h.declared)::text || '%% of the ' || {_amt('h.declared', "%(p)s::jsonb ->> 'currency'")} || ' '
         || (%(p)s::jsonb ->> 'currency') || ' the client declared (' || h.answers_text || '); the rule fires from '
         || (%(p)s::jsonb ->> 'percent') || '%%' AS summary
FROM hits h
"""  # noqa: S608 (only this module's fragments; values are bound parameters)


RULE_SQL: dict[str, Callable[[], str]] = {
    AmlRuleKind.LARGE_TRANSACTION: _sql_large,
    AmlRuleKind.STRUCTURING: _sql_structuring,
    AmlRuleKind.RAPID_IN_OUT: _sql_rapid,
    AmlRuleKind.HIGH_RISK_JURISDICTION: _sql_jurisdiction,
    AmlRuleKind.DORMANT_ACCOUNT: _sql_dormant,
    AmlRuleKind.THIRD_PARTY_FUNDING: _sql_third_party,
    AmlRuleKind.MANY_INSTRUMENTS: _sql_many_instruments,
    AmlRuleKind.SHARED_INSTRUMENTS: _sql_shared_instruments,
    AmlRuleKind.OVER_DECLARED: _sql_over_declared,
}

INSERT_SQL = """
WITH found AS ({found})
INSERT INTO compliance_amlalert (code, client_id, brand_id, rule_id, rule_version_id, score, fingerprint,
                                 transaction_ids, facts, summary, status, status_reason, created_at)
SELECT gen_random_uuid(), f.client_id, %(brand)s, %(rule)s, %(version)s, f.score,
       md5(array_to_string(f.transaction_ids, ',') || coalesce('|' || (f.facts ->> 'fingerprint'), '')),
       f.transaction_ids, f.facts, left(f.summary, 500),
       'open', '', now()
FROM found f
ON CONFLICT (rule_id, client_id, fingerprint) DO NOTHING
RETURNING id
"""


def _params(version: AmlRuleVersion, *, since: dt.datetime, until: dt.datetime,
            client_id: int | None) -> dict[str, Any]:
    from crm.lib.money import currency_table

    rule = version.rule
    return {"brand": rule.brand_id, "rule": rule.pk, "version": version.pk, "client": client_id,
            "risk_class": rule.risk_class, "p": json.dumps(version.parameters), "since": since, "until": until,
            "exponents": json.dumps(currency_table())}


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
            cursor.execute(INSERT_SQL.format(found=RULE_SQL[version.rule.kind]()),
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
    sql = RULE_SQL[version.rule.kind]()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT f.client_id, f.transaction_ids, f.score, f.facts, f.summary FROM ({sql}) f "  # noqa: S608
                       "ORDER BY f.score DESC, f.client_id LIMIT 1000",
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
    if kind not in RULE_SQL:
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
