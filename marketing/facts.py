"""The facts a segment may filter clients on: a fixed registry, the only source of SQL identifiers.

Each fact reads another app's rows only through the views that app publishes (plumbing.sqlviews;
declared in its selectors): the client (crm_public_clients), KYC approvals (kyc_public_approvals),
wallet movements (wallet_public_client_movements), trading deals and accounts (trading_public_deals,
trading_public_accounts), partners (ib_public_attributions, ib_public_partners), risk scores
(compliance_public_risk_scores) and the clients' own sign-ins (crm_public_origins). The SQL here is
constant text; what a marketer types reaches the database only as a query parameter.

Kinds of fact, and what their SQL is:

- ``choice``: a column of the client (`column`), compared with a list of values;
- ``tags``: the client's tags, any of or none of a list;
- ``registered``: a moment column of the client, compared with a date or a window of days;
- ``moment``: a relation of (client_id, at) rows (`relation`) whose first or last row (`edge`) is
  compared; a client without a row has no such moment ("never");
- ``amount``: a relation of (client_id, value) rows, one per client, taking the currency as its one
  parameter; a client without a row counts as zero when `zero_default` (net deposits, balance);
- ``window``: as ``amount``, over the last N days (the relation's one parameter is the window's start);
- ``member``: a relation of (client_id, value) rows compared with a list of values (the partner's code,
  the risk band); a client without a row has none.

`permission`: a fact only those holding it may filter on (the risk band: compliance's use only).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext_lazy as _

RISK_PERMISSION = "marketing.segment_on_risk_band"

# -- relations (constant SQL over published views) --------------------------------------------------

_DEPOSITS = (
    "SELECT m.client_id, m.occurred_at AS at FROM wallet_public_client_movements m "
    "WHERE m.kind = 'deposit' AND m.amount > 0"
)
_TRADES = (
    "SELECT a.client_id, d.time AS at FROM trading_public_deals d "
    "JOIN trading_public_accounts a ON a.id = d.account_id "
    "WHERE d.kind = 'trade' AND d.deleted_at IS NULL AND NOT a.is_demo"
)
_APPROVALS = "SELECT k.client_id, k.approved_at AS at FROM kyc_public_approvals k"
_LOGINS = "SELECT o.client_id, o.at FROM crm_public_origins o WHERE o.action = 'portal.login' AND o.client_id IS NOT NULL"

# The currency is the one parameter of an amount's relation.
_NET_DEPOSITS = (
    "SELECT m.client_id, sum(m.amount) AS value FROM wallet_public_client_movements m "
    "WHERE m.kind IN ('deposit', 'withdrawal', 'deposit_refund', 'chargeback') AND m.currency = %s "
    "GROUP BY m.client_id"
)
_FIRST_DEPOSIT_AMOUNT = (
    "SELECT f.client_id, f.amount AS value FROM ("
    "SELECT DISTINCT ON (m.client_id) m.client_id, m.amount, m.currency "
    "FROM wallet_public_client_movements m WHERE m.kind = 'deposit' AND m.amount > 0 "
    "ORDER BY m.client_id, m.occurred_at, m.leg_id) f WHERE f.currency = %s"
)
_BALANCE = (
    "SELECT a.client_id, sum(a.balance) AS value FROM trading_public_accounts a "
    "WHERE NOT a.is_demo AND NOT a.is_archived AND a.currency = %s GROUP BY a.client_id"
)
_EQUITY = (
    "SELECT a.client_id, sum(a.equity) AS value FROM trading_public_accounts a "
    "WHERE NOT a.is_demo AND NOT a.is_archived AND a.currency = %s GROUP BY a.client_id"
)

# The window's start is the one parameter of a window's relation. Lots and trades count the deals
# that open a position (entry in), so that a round trip counts once.
_LOTS = (
    "SELECT a.client_id, sum(d.volume) AS value FROM trading_public_deals d "
    "JOIN trading_public_accounts a ON a.id = d.account_id "
    "WHERE d.kind = 'trade' AND d.entry = 'in' AND d.deleted_at IS NULL AND NOT a.is_demo AND d.time >= %s "
    "GROUP BY a.client_id"
)
_TRADE_COUNT = (
    "SELECT a.client_id, count(*) AS value FROM trading_public_deals d "
    "JOIN trading_public_accounts a ON a.id = d.account_id "
    "WHERE d.kind = 'trade' AND d.entry = 'in' AND d.deleted_at IS NULL AND NOT a.is_demo "
    "AND d.time >= %s GROUP BY a.client_id"
)

_PARTNER = (
    "SELECT t.client_id, p.code::text AS value FROM ib_public_attributions t "
    "JOIN ib_public_partners p ON p.id = t.partner_id WHERE t.effective_to IS NULL"
)
# A client's band now: its latest score's.
_RISK_BAND = (
    "SELECT r.client_id, r.band AS value FROM compliance_public_risk_scores r "
    "WHERE NOT EXISTS (SELECT 1 FROM compliance_public_risk_scores n WHERE n.client_id = r.client_id "
    "AND (n.computed_at, n.id) > (r.computed_at, r.id))"
)


@dataclass(frozen=True)
class Fact:
    key: str
    label: Any  # a lazy translation
    kind: str  # choice, tags, registered, moment, amount, window, member
    group: Any
    column: str = ""  # choice, registered: the client's column
    relation: str = ""  # moment, amount, window, member
    edge: str = "last"  # moment: which row counts ("first" deposit, "last" trade)
    zero_default: bool = False  # amount, window: a client without a row counts as 0
    choices: tuple[tuple[str, Any], ...] = ()  # member, choice: the values offered (empty: free or per brand)
    permission: str = ""
    help: Any = ""
    extra: dict[str, Any] = field(default_factory=dict)


_CLIENT = _("Client")
_MONEY = _("Money")
_TRADING = _("Trading")
_OTHER = _("Compliance and partners")

FACTS: dict[str, Fact] = {
    f.key: f
    for f in (
        Fact("stage", _("Stage"), "choice", _CLIENT, column="c.stage"),
        Fact("country", _("Country"), "choice", _CLIENT, column="c.country", help=_("ISO codes: GB DE ES")),
        Fact("language", _("Language"), "choice", _CLIENT, column="c.language", help=_("ISO codes: en es")),
        Fact("desk", _("Desk"), "choice", _CLIENT, column="c.desk_id"),
        Fact("owner", _("Owner"), "choice", _CLIENT, column="c.owner_id"),
        Fact("source", _("Source"), "choice", _CLIENT, column="c.source"),
        Fact("campaign", _("Campaign"), "choice", _CLIENT, column="c.campaign"),
        Fact("tags", _("Tags"), "tags", _CLIENT),
        Fact("registered", _("Registered"), "registered", _CLIENT, column="c.created_at"),
        Fact("last_login", _("Last sign-in to the trader's room"), "moment", _CLIENT, relation=_LOGINS),
        Fact("kyc_approved", _("KYC approved"), "moment", _OTHER, relation=_APPROVALS, edge="first"),
        Fact("first_deposit", _("First deposit"), "moment", _MONEY, relation=_DEPOSITS, edge="first"),
        Fact(
            "first_deposit_amount",
            _("First deposit amount"),
            "amount",
            _MONEY,
            relation=_FIRST_DEPOSIT_AMOUNT,
        ),
        Fact(
            "net_deposits",
            _("Net deposits"),
            "amount",
            _MONEY,
            relation=_NET_DEPOSITS,
            zero_default=True,
            help=_("Deposits less withdrawals, refunds and chargebacks, in one currency"),
        ),
        Fact("balance", _("Balance (live accounts)"), "amount", _MONEY, relation=_BALANCE, zero_default=True),
        Fact("equity", _("Equity (live accounts)"), "amount", _MONEY, relation=_EQUITY, zero_default=True),
        Fact("last_trade", _("Last trade"), "moment", _TRADING, relation=_TRADES),
        Fact("lots", _("Lots traded"), "window", _TRADING, relation=_LOTS, zero_default=True),
        Fact("trades", _("Trades opened"), "window", _TRADING, relation=_TRADE_COUNT, zero_default=True),
        Fact("partner", _("Partner"), "member", _OTHER, relation=_PARTNER, help=_("The partner's code")),
        Fact(
            "risk_band",
            _("Risk band"),
            "member",
            _OTHER,
            relation=_RISK_BAND,
            permission=RISK_PERMISSION,
            choices=(("low", _("Low")), ("medium", _("Medium")), ("high", _("High"))),
        ),
    )
}

# What each kind of fact may be compared with: operator -> its label.
OPERATORS: dict[str, dict[str, Any]] = {
    "choice": {"in": _("is one of"), "not_in": _("is none of")},
    "tags": {"any": _("has any of"), "none": _("has none of")},
    "registered": {
        "within_days": _("in the last N days"),
        "older_than_days": _("more than N days ago"),
        "on_or_after": _("on or after"),
        "before": _("before"),
    },
    "moment": {
        "exists": _("ever"),
        "not_exists": _("never"),
        "within_days": _("in the last N days"),
        "not_within_days": _("not in the last N days (or never)"),
        "older_than_days": _("more than N days ago"),
        "on_or_after": _("on or after"),
        "before": _("before"),
    },
    "amount": {"gte": _("at least"), "lte": _("at most"), "gt": _("more than"), "lt": _("less than")},
    "window": {"gte": _("at least"), "lte": _("at most"), "gt": _("more than"), "lt": _("less than")},
    "member": {
        "in": _("is one of"),
        "not_in": _("is none of"),
        "exists": _("has one"),
        "not_exists": _("has none"),
    },
}

# The comparison of an amount or window operator, in SQL and in Python (the zero rule).
COMPARISONS: dict[str, tuple[str, Callable[[Any, Any], bool]]] = {
    "gte": (">=", lambda a, b: a >= b),
    "lte": ("<=", lambda a, b: a <= b),
    "gt": (">", lambda a, b: a > b),
    "lt": ("<", lambda a, b: a < b),
}


def facts_for(user: Any) -> list[Fact]:
    """The facts `user` may filter on (None: every fact, as the system)."""
    from crm.permissions import user_can

    return [f for f in FACTS.values() if not f.permission or user is None or user_can(user, f.permission)]


def definition_words(definition: Any) -> str:
    """A stored definition in words, as the versions list shows it: "all of: Language is one of en;
    Net deposits at least 5000 USD; any of: (...)". A fact or operator not (or no longer) known is
    shown by its key."""
    from django.utils.translation import gettext

    if not isinstance(definition, dict):
        return str(definition)
    parts: list[str] = []
    for item in definition.get("conditions") or []:
        if isinstance(item, dict) and "conditions" in item:
            parts.append(f"({definition_words(item)})")
            continue
        if not isinstance(item, dict):
            continue
        fact = FACTS.get(str(item.get("fact")))
        op = str(item.get("op", ""))
        words = [str(fact.label) if fact else str(item.get("fact"))]
        words.append(str(OPERATORS.get(fact.kind, {}).get(op, op)) if fact else op)
        value = item.get("value")
        if isinstance(value, list | tuple):
            words.append(", ".join(str(v) for v in value))
        elif value not in (None, ""):
            words.append(str(value))
        if item.get("currency"):
            words.append(str(item["currency"]))
        if item.get("days") not in (None, ""):
            words.append(gettext("(%(days)s days)") % {"days": item["days"]})
        parts.append(" ".join(words))
    head = gettext("any of") if definition.get("match") == "any" else gettext("all of")
    return f"{head}: " + "; ".join(parts)

