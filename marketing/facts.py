"""Marketing's facts for segments, registered into the segment engine (plumbing.segments, whose
docstring says what each kind of fact is and what its SQL is) beside the client's own facts that leads
registers (leads.segment_facts): sign-ins, KYC approval, deposits and money, trading, partners and risk.

Each fact reads another app's rows only through the views that app publishes (plumbing.sqlviews;
declared in its selectors): KYC approvals (kyc_public_approvals), wallet movements
(wallet_public_client_movements) and each client's first deposit and net deposits per currency
(wallet_public_client_money, kept as legs are posted), trading deals and accounts (trading_public_deals,
trading_public_accounts), each client's trading per day (trading_public_client_trade_days, kept as
deals are stored) and its balance and equity per currency on live accounts
(trading_public_client_balances, kept as accounts change), partners (ib_public_attributions,
ib_public_partners), risk scores (compliance_public_risk_scores) and the clients' own sign-ins
(crm_public_origins). The SQL here is constant text; what a marketer types reaches the database only
as a query parameter.

`permission`: a fact only those holding it may filter on (the risk band: compliance's use only).
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from plumbing import segments
from plumbing.segments import FACTS, Fact, fact_register

RISK_PERMISSION = "marketing.segment_on_risk_band"

# -- relations (constant SQL over published views) --------------------------------------------------

# The first deposit in each currency (wallet's per-client summary, exact as of the last posting): the
# earliest of them is the client's first deposit, and an edge="first" test over their rows is the test
# over every deposit ("one on or after and none before" holds of the minima as of the deposits).
_DEPOSITS = (
    "SELECT m.client_id, m.first_deposit_at AS at FROM wallet_public_client_money m "
    "WHERE m.first_deposit_at IS NOT NULL"
)
# Trades (not deleted, on live accounts) by the client-day they fall on (trading's per-client summary,
# exact as of the last change of a deal): each day's last trade stands for the day's trades, which is
# all an edge="last" test asks ("one on or after", "one at all").
_TRADES = (
    "SELECT t.client_id, t.last_trade_at AS at FROM trading_public_client_trade_days t "
    "WHERE t.last_trade_at IS NOT NULL"
)
_APPROVALS = "SELECT k.client_id, k.approved_at AS at FROM kyc_public_approvals k"
_LOGINS = "SELECT o.client_id, o.at FROM crm_public_origins o WHERE o.action = 'portal.login' AND o.client_id IS NOT NULL"

# The currency is the one parameter of an amount's relation.
# Deposits less withdrawals, refunds and chargebacks: one row per client and currency in the summary.
_NET_DEPOSITS = (
    "SELECT m.client_id, m.net_deposits AS value FROM wallet_public_client_money m WHERE m.currency = %s"
)
_FIRST_DEPOSIT_AMOUNT = (
    "SELECT f.client_id, f.amount AS value FROM ("
    "SELECT DISTINCT ON (m.client_id) m.client_id, m.amount, m.currency "
    "FROM wallet_public_client_movements m WHERE m.kind = 'deposit' AND m.amount > 0 "
    "ORDER BY m.client_id, m.occurred_at, m.leg_id) f WHERE f.currency = %s"
)
# The balances and equities of the client's live (not demo, not archived) accounts in that currency,
# summed: trading's per-client summary, exact as of the accounts' last change.
_BALANCE = (
    "SELECT b.client_id, b.balance AS value FROM trading_public_client_balances b WHERE b.currency = %s"
)
_EQUITY = "SELECT b.client_id, b.equity AS value FROM trading_public_client_balances b WHERE b.currency = %s"

# The window's start is the one parameter of a window's relation. Lots and trades count the deals
# that open a position (entry in), so that a round trip counts once: the client-days after the day the
# window starts on (trading's summary, UTC days), and that first day's deals from its start on.
_WINDOW = (
    "SELECT t.client_id, sum(t.value) AS value FROM ("
    "SELECT s.client_id, s.{day} AS value FROM trading_public_client_trade_days s "
    "WHERE s.day > (%s::timestamptz AT TIME ZONE 'UTC')::date "
    "UNION ALL "
    "SELECT a.client_id, {deal} AS value FROM trading_public_deals d "
    "JOIN trading_public_accounts a ON a.id = d.account_id "
    "WHERE d.kind = 'trade' AND d.entry = 'in' AND d.deleted_at IS NULL AND NOT a.is_demo AND d.time >= %s "
    "AND d.time < (((%s::timestamptz AT TIME ZONE 'UTC')::date + 1)::timestamp AT TIME ZONE 'UTC')"
    ") t GROUP BY t.client_id"
)
_LOTS = _WINDOW.format(day="lots_in", deal="d.volume")
_TRADE_COUNT = _WINDOW.format(day="trades_in", deal="1")

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


_CLIENT = _("Client")
_MONEY = _("Money")
_TRADING = _("Trading")
_OTHER = _("Compliance and partners")

fact_register(
    Fact("last_login", _("Last sign-in to the trader's room"), "moment", _CLIENT, 100, relation=_LOGINS),
    Fact("kyc_approved", _("KYC approved"), "moment", _OTHER, 110, relation=_APPROVALS, edge="first"),
    Fact("first_deposit", _("First deposit"), "moment", _MONEY, 120, relation=_DEPOSITS, edge="first"),
    Fact("first_deposit_amount", _("First deposit amount"), "amount", _MONEY, 130, relation=_FIRST_DEPOSIT_AMOUNT),
    Fact(
        "net_deposits",
        _("Net deposits"),
        "amount",
        _MONEY,
        140,
        relation=_NET_DEPOSITS,
        zero_default=True,
        help=_("Deposits less withdrawals, refunds and chargebacks, in one currency"),
    ),
    Fact("balance", _("Balance (live accounts)"), "amount", _MONEY, 150, relation=_BALANCE, zero_default=True),
    Fact("equity", _("Equity (live accounts)"), "amount", _MONEY, 160, relation=_EQUITY, zero_default=True),
    Fact("last_trade", _("Last trade"), "moment", _TRADING, 170, relation=_TRADES),
    Fact("lots", _("Lots traded"), "window", _TRADING, 180, relation=_LOTS, zero_default=True),
    Fact("trades", _("Trades opened"), "window", _TRADING, 190, relation=_TRADE_COUNT, zero_default=True),
    Fact("partner", _("Partner"), "member", _OTHER, 200, relation=_PARTNER, help=_("The partner's code")),
    Fact(
        "risk_band",
        _("Risk band"),
        "member",
        _OTHER,
        210,
        relation=_RISK_BAND,
        permission=RISK_PERMISSION,
        choices=(("low", _("Low")), ("medium", _("Medium")), ("high", _("High"))),
    ),
)


def facts_for(user: Any) -> list[Fact]:
    """The facts `user` may filter on (None: every fact, as the system), the client's own first."""
    from crm.permissions import user_can

    return [f for f in FACTS if not f.permission or user is None or user_can(user, f.permission)]


def definition_words(definition: Any) -> str:
    """A stored definition in words, as the versions list shows it (plumbing.segments.definition_words)."""
    return segments.definition_words(definition, translate=gettext)
