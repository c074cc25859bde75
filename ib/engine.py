"""The commission engine: a brand's period computed from the synced deals and the deposit and
chargeback facts, as known at a moment, with set-based SQL (a handful of statements over the whole
period, never a loop over deals).

What a run does (``compute_lines``), inside the caller's transaction:

1. ``_ver``: the plan versions in force, per plan, as recorded by ``as_of`` (drafts only when a
   what-if run names them): [valid_from, valid_to) from each version's effective_from to the next
   one's; of two versions with one effective_from the later recorded wins (a correction).
   ``_asg``: the plan assignments recorded by ``as_of`` (partner-wide, and per account).
   ``_pick``: for every (version, instrument group, account type) the most specific rule of each
   kind and basis (group and type > group > type > neither), with its formula. ``_attr``: the
   scope's accounts with their clients' dated partner attributions; ``_inst``: the brand's
   instruments; ``_seg``: each account's time segments over which its client, partner, plan (its
   own override, else its partner's) and version stay the same (a deal finds all four by one join).
2. ``_pos``: the positions with deals in the period, from one aggregate over the deals: when each
   opened (its "in" deal, looked for back to the period start minus the longest minimum holding
   time) and whether it was hedged: another position of the opposite side on the same account and
   symbol, opened before it, was still open when it opened. Of a hedged pair only the first opened
   earns (opposite positions open at the same time count once). One window pass per account and
   symbol over the positions, not a self-join. Kept are the positions a closing deal of which can
   lose its line (hedged, or first closed sooner than the longest minimum hold after opening).
   ``_src``: the period's trade deals first seen by ``as_of`` and not deleted, each with its
   segment (client, partner at the deal's time, plan, version at the deal's time), its instrument
   (group, contract size) and two flags: held (open at least the version's minimum holding time)
   and hedged (its position's); a closing deal of a position not kept was held and not hedged.
3. Lines, as batches (ib.models.CommissionBatch: the sources of one client's partner, rule and
   business day, one array element each) and their shares (one per level of the partner's chain with a rate),
   in two INSERT ... SELECT statements. The sources:
     - per_lot: closing deals that were held and not hedged: lots = volume x contract size /
       group's units per standard lot, times the level's amount per lot;
     - revshare: spread (closing deals, held, not hedged: (ask - bid) x volume x contract size, in
       the instrument's profit currency), commission (-commission of every trade deal) or net loss
       (-(profit + swap + commission + fee) of every trade deal), times the level's percentage;
     - cpa: a client qualifies at the moment the last condition is met (first deposit of at least
       X; Y lots within Z days of it; KYC approved; country allowed); the line is in the period of
       that moment, so it is paid once;
     - chargeback: the first chargeback or refund after a qualification claws the CPA back, as
       negative lines in the chargeback's period.
   Each level's rate (per-level rates, or the pass-up split) is the share's; amounts are converted
   to the plan's currency with ``_fx`` (the rate of the source's own day, else the latest before; a
   missing rate stops the run and names the pair and day). A line (the view ``ib_commissionline``)
   is one source of a batch under one share: basis x rate (x tier factor) x unit x FX, never
   rounded; a share's amount is the sum of its lines. A source is in one batch per run and rule,
   and batches are unique per key: a re-run of the same statement cannot double a line.
4. Totals per partner (ib.commissions): the shares' sum, the carry from the previous period
   (negative revenue share, totals under the minimum), the cap, the payable rounded once half to
   even, and the difference against what was settled for the period (CommissionSettlement).

Other apps' rows are read through the views they publish for it, never their tables (crm.lib.
sqlviews): trading's deals, accounts and servers (trading.selectors.PUBLISHED_VIEWS), the core's
clients (crm.selectors) and KYC's approvals (kyc.selectors), each inlined by PostgreSQL into the
statements above, so the plans are those over the tables behind them.

Two connections (``_Half``): a full run of at least settings.IB_ENGINE_PARALLEL_DEALS deals splits
the partners in two halves of about as many accounts; a second connection, in a thread, reads the
caller's snapshot and computes steps 1 to 3 for its half's deal sources while the caller's
connection computes the other half and the CPA and chargeback lines; its batches stream back as
binary COPY rows and are written in the caller's transaction (step 3's shares and step 4 then see
one run). Not when the caller's transaction wrote to the tables a run reads and has not committed
(the second connection could not see it), nor for an increment (small).

Incremental (``commission_run_increment``): the latest regular run of an unsettled period is
brought up to a later as-of by recomputing the batches of the partners whose clients' deals changed
since (new, late, edited or deleted), from the first changed day on, and the CPA and chargeback
batches (few); its totals are corrected by the shares removed and added.

Limits (documented): the chain is the partners' paths at run time (moves recorded in
PartnerParentChange are not replayed into older chains); a deal edited after ``as_of`` is read in
its latest content (the deal table keeps no older content); an increment looks for the opening of
a position closed on its first day at most a day before it (a full run: back to the period start).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection, connections

from crm.lib.money import money_round

ZERO = Decimal("0")
logger = logging.getLogger(__name__)


class FxMissing(Exception):
    def __init__(self, pairs: list[tuple[str, str, dt.date]]) -> None:
        self.pairs = pairs
        super().__init__(", ".join(f"{a}/{b} on {d}" for a, b, d in pairs))


@dataclass
class Scope:
    brand_id: int
    start: dt.datetime
    end: dt.datetime
    as_of: dt.datetime
    run_id: int
    draft_versions: list[int] = field(default_factory=list)
    accounts: list[int] | None = None  # incremental: only these accounts' deals
    since: dt.datetime | None = None  # incremental: only deals from this day's start (context: a day before)
    partners: list[int] | None = None  # incremental: only the deal batches of these client's partners


def _params(scope: Scope) -> dict[str, Any]:
    since = scope.since.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0) if scope.since else None
    return {"brand": scope.brand_id, "start": scope.start, "end": scope.end, "as_of": scope.as_of,
            "run": scope.run_id, "drafts": scope.draft_versions, "accounts": scope.accounts,
            "all_accounts": scope.accounts is None, "from": max(since, scope.start) if since else scope.start,
            "partners": scope.partners, "all_partners": scope.partners is None}


VER_SQL = """
CREATE TEMP TABLE _ver ON COMMIT DROP AS
WITH seen AS (
    SELECT DISTINCT ON (v.plan_id, v.effective_from) v.id, v.plan_id, v.effective_from, v.min_hold_seconds,
           v.split_mode, v.pass_up_percent / 100 AS pass_up, p.currency, v.pass_up_base, v.hedge_mode
    FROM ib_planversion v JOIN ib_commissionplan p ON p.id = v.plan_id AND p.brand_id = %(brand)s
    WHERE (v.recorded_at <= %(as_of)s AND NOT v.is_draft) OR v.id = ANY(%(drafts)s)
    ORDER BY v.plan_id, v.effective_from, (v.id = ANY(%(drafts)s)) DESC, v.recorded_at DESC, v.id DESC
)
SELECT *, effective_from AS valid_from,
       COALESCE(lead(effective_from) OVER (PARTITION BY plan_id ORDER BY effective_from), 'infinity') AS valid_to
FROM seen;

CREATE TEMP TABLE _asg ON COMMIT DROP AS
SELECT a.plan_id, a.partner_id, a.account_id, a.effective_from, COALESCE(a.effective_to, 'infinity') AS effective_to
FROM ib_planassignment a JOIN ib_commissionplan p ON p.id = a.plan_id AND p.brand_id = %(brand)s
WHERE a.recorded_at <= %(as_of)s;

CREATE TEMP TABLE _pick ON COMMIT DROP AS
WITH types AS (SELECT DISTINCT a.account_type FROM trading_public_accounts a
               JOIN trading_public_servers s ON s.id = a.server_id AND s.brand_id = %(brand)s
               UNION SELECT ''),
groups AS (SELECT id FROM ib_instrumentgroup WHERE brand_id = %(brand)s UNION ALL SELECT NULL)
SELECT DISTINCT ON (v.id, g.id, t.account_type, r.kind, r.basis)
       v.id AS version_id, g.id AS group_id, t.account_type, r.kind, r.basis, r.id AS rule_id, v.hedge_mode,
       CASE WHEN r.kind = 'per_lot' THEN 1 WHEN r.basis = 'spread' THEN 2 WHEN r.basis = 'commission' THEN 3
            ELSE 4 END AS formula
FROM _ver v CROSS JOIN groups g CROSS JOIN types t
JOIN ib_planrule r ON r.version_id = v.id
     AND (r.instrument_group_id IS NULL OR r.instrument_group_id = g.id)
     AND (r.account_type = '' OR r.account_type = t.account_type)
WHERE r.kind IN ('per_lot', 'revshare')
ORDER BY v.id, g.id, t.account_type, r.kind, r.basis,
         (r.instrument_group_id IS NOT NULL) DESC, (r.account_type <> '') DESC, r.id;
ANALYZE _ver; ANALYZE _asg; ANALYZE _pick;
"""

# An attribution as known at as_of (`at`): recorded by then (NULL: since it took effect), and its
# end only if that was known by then too (a migration's re-attribution recorded months later).
ATTR_KNOWN = "COALESCE(at.recorded_at, at.effective_from) <= %(as_of)s"
ATTR_TO = ("CASE WHEN at.effective_to IS NOT NULL AND COALESCE(at.ended_recorded_at, at.effective_to) <= %(as_of)s "
           "THEN at.effective_to ELSE 'infinity' END")

# Each account of the scope with its client's partner attributions over the period (small: one row
# per account and attribution), so that the join of the deals to them is a hash join.
ATTR_SELECT = f"""
SELECT a.id AS account_id, a.client_id, a.account_type, a.currency AS account_currency, at.partner_id,
       at.effective_from, {ATTR_TO} AS effective_to
FROM trading_public_accounts a
JOIN ib_clientattribution at ON at.client_id = a.client_id AND {ATTR_KNOWN}
     AND at.effective_from < %(end)s AND {ATTR_TO} > %(from)s
WHERE a.server_id IN (SELECT id FROM trading_public_servers WHERE brand_id = %(brand)s)
  AND (%(all_accounts)s OR a.id = ANY(%(accounts)s))
"""
ATTR_SQL = f"""
CREATE TEMP TABLE _attr ON COMMIT DROP AS {ATTR_SELECT};
ANALYZE _attr
"""

# The brand's instruments with their group's lot size: joined to every deal by a hash.
INST_SQL = """
CREATE TEMP TABLE _inst ON COMMIT DROP AS
SELECT i.symbol, i.group_id, i.contract_size, COALESCE(i.units_per_lot, g.units_per_lot) AS units_per_lot,
       i.profit_currency, i.markup_per_lot
FROM ib_instrument i LEFT JOIN ib_instrumentgroup g ON g.id = i.group_id WHERE i.brand_id = %(brand)s;
ANALYZE _inst
"""

# The scope's trade deals (as known at as_of, not deleted), from `context` on.
DEALS_WHERE = """
d.server_id = ANY(%(servers)s)
AND d.time >= %(context)s AND d.time < %(end)s AND d.kind = 'trade' AND d.deleted_at IS NULL
AND d.first_seen_at <= %(as_of)s AND (%(all_accounts)s OR d.account_id = ANY(%(accounts)s))
"""

# The positions with deals from `from`: when each opened (its "in" deal, looked for from `context`:
# the longest minimum holding time earlier) and whether it was hedged: another position of the
# opposite side on the same account and symbol, opened before it, was still open when it opened
# (its last close from `from` came later). Of a hedged pair only the first opened earns (opposite
# positions opened together count once). One aggregate over the deals, then one window pass per
# account and symbol over the positions. Kept are only the positions one of whose closing deals
# can lose its line: hedged, or first closed sooner than the longest minimum holding time after it
# opened; a closing deal of any other position was held and not hedged (a few percent of a month's
# positions are kept, so that joining them to the deals is a small hash). The aggregate runs in this
# process alone: workers' partial aggregates of a month's positions hardly shrink it, and merging
# them costs more than they save.
POS_SQL = f"""
SET LOCAL max_parallel_workers_per_gather = 0;
CREATE TEMP TABLE _pos ON COMMIT DROP AS
WITH pos AS (
    SELECT d.account_id, d.position_id, min(d.symbol COLLATE "C") AS symbol,
           min(d.time) FILTER (WHERE d.entry = 'in') AS open_t,
           min(d.side COLLATE "C") FILTER (WHERE d.entry = 'in') AS open_side,
           min(d.time) FILTER (WHERE d.entry IN ('out', 'inout', 'out_by') AND d.time >= %(from)s) AS first_close_t,
           max(d.time) FILTER (WHERE d.entry IN ('out', 'inout', 'out_by') AND d.time >= %(from)s) AS close_t
    FROM trading_public_deals d WHERE {DEALS_WHERE}
    GROUP BY d.account_id, d.position_id
    HAVING max(d.time) >= %(from)s
)
SELECT account_id, position_id, open_t, hedged, symbol, open_side, NULL::numeric AS net_factor FROM (
    SELECT account_id, position_id, open_t, first_close_t, symbol, open_side,
           open_t IS NOT NULL AND close_t IS NOT NULL AND open_t < COALESCE(
               CASE open_side WHEN 'sell' THEN max(CASE WHEN open_side = 'buy' THEN close_t END) OVER w
                              ELSE max(CASE WHEN open_side = 'sell' THEN close_t END) OVER w END,
               '-infinity') AS hedged
    FROM pos
    WINDOW w AS (PARTITION BY account_id, symbol ORDER BY open_t, position_id
                 ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
) p
WHERE hedged OR first_close_t - open_t < make_interval(secs => %(longest_hold)s);
SET LOCAL max_parallel_workers_per_gather = DEFAULT;
ANALYZE _pos
"""

# Hedged positions under a version paying only the volume not offset ("net"): each hedged (later
# opened) position's closing deals earn on their volume x (1 - 2 x offset / its volume), where the
# offset is the smaller of its volume and the opposite positions' still open when it opened; the
# earlier legs earn in full. A 5-lot buy and a later 3-lot sell: 5 + 3 x (1 - 2) = 2 lots; a 3-lot
# buy and a later 5-lot sell: 3 + 5 x (1 - 6/5) = 2 lots. Run only when a version in force says
# so: it reads the hedged positions' accounts' deals of their symbol (few).
NET_HEDGE_SQL = """
UPDATE _pos p SET net_factor = 1 - 2 * least(x.own, x.opposite) / x.own
FROM (
    SELECT p2.account_id, p2.position_id,
           (SELECT sum(d.volume) FROM trading_public_deals d
            WHERE d.account_id = p2.account_id AND d.position_id = p2.position_id AND d.entry = 'in'
              AND d.kind = 'trade' AND d.deleted_at IS NULL AND d.first_seen_at <= %(as_of)s) AS own,
           (SELECT COALESCE(sum(q.vol), 0) FROM (
                SELECT sum(d.volume) FILTER (WHERE d.entry = 'in') AS vol,
                       min(d.time) FILTER (WHERE d.entry = 'in') AS opened,
                       max(d.time) FILTER (WHERE d.entry IN ('out', 'inout', 'out_by')) AS closed,
                       min(d.side COLLATE "C") FILTER (WHERE d.entry = 'in') AS side
                FROM trading_public_deals d
                WHERE d.account_id = p2.account_id AND d.symbol = p2.symbol AND d.position_id <> p2.position_id
                  AND d.kind = 'trade' AND d.deleted_at IS NULL AND d.first_seen_at <= %(as_of)s AND d.time < %(end)s
                GROUP BY d.position_id) q
            WHERE q.opened < p2.open_t AND q.side <> p2.open_side AND (q.closed IS NULL OR q.closed > p2.open_t))
           AS opposite
    FROM _pos p2 WHERE p2.hedged
) x
WHERE p.account_id = x.account_id AND p.position_id = x.position_id AND x.own > 0
"""

# Each account's time segments over which its client, partner, plan and plan version stay the same:
# cut at every start and end of its attributions, its own and its partners' plan assignments and
# the versions of those assignments' plans, each segment looked up once at its start (an account has a few), so
# that a deal finds all of them by one join on its account and time instead of four.
SEG_SQL = """
CREATE TEMP TABLE _seg ON COMMIT DROP AS
WITH links AS (
    -- The plan assignments each account may be under: its partners' and its own.
    SELECT at.account_id, x.plan_id, x.effective_from, x.effective_to FROM _attr at JOIN _asg x ON x.partner_id = at.partner_id
    UNION SELECT x.account_id, x.plan_id, x.effective_from, x.effective_to FROM _asg x
          WHERE x.account_id IN (SELECT account_id FROM _attr)
),
cuts AS (
    SELECT account_id, effective_from AS t FROM _attr
    UNION SELECT account_id, effective_to FROM _attr
    UNION SELECT l.account_id, c.t FROM links l CROSS JOIN LATERAL (VALUES (l.effective_from), (l.effective_to)) c(t)
    UNION SELECT l.account_id, c.t FROM links l JOIN _ver v ON v.plan_id = l.plan_id
          CROSS JOIN LATERAL (VALUES (v.valid_from), (v.valid_to)) c(t)
),
segs AS (
    SELECT account_id, t AS seg_from, lead(t) OVER (PARTITION BY account_id ORDER BY t) AS seg_to FROM cuts
)
SELECT s.account_id, s.seg_from, s.seg_to, at.client_id, at.partner_id, at.account_type, at.account_currency,
       v.id AS version_id, v.currency AS plan_currency, v.min_hold_seconds
FROM segs s
JOIN _attr at ON at.account_id = s.account_id AND at.effective_from <= s.seg_from AND at.effective_to > s.seg_from
LEFT JOIN _asg acc ON acc.account_id = s.account_id AND acc.effective_from <= s.seg_from AND acc.effective_to > s.seg_from
LEFT JOIN _asg par ON par.partner_id = at.partner_id AND par.effective_from <= s.seg_from AND par.effective_to > s.seg_from
JOIN _ver v ON v.plan_id = COALESCE(acc.plan_id, par.plan_id) AND v.valid_from <= s.seg_from AND v.valid_to > s.seg_from
WHERE s.seg_to IS NOT NULL;
ANALYZE _seg
"""

# The period's deals (from `from`), each with its client, the partner it had at the deal's time
# (and that partner's plan: the account's override, else the partner's; the version at the deal's
# time: its account's segment), its instrument and two flags: held (open at least the version's
# minimum holding time) and hedged (its position's; a closing deal of a position not in _pos was
# held and not hedged; the flags are read on closing deals only). Every
# join is a hash join of the deals to a small table, in this order: the planner's guesses of the
# range joins' sizes are far too small, and with them it would hash the deals, or loop over them.
SRC_SQL = f"""
SET LOCAL enable_nestloop = off;
SET LOCAL join_collapse_limit = 1;
CREATE TEMP TABLE _src ON COMMIT DROP AS
SELECT d.id AS deal_pk, d.account_id, g.client_id, d.time, d.entry IN ('out', 'inout', 'out_by') AS is_close,
       d.volume, d.commission, d.profit + d.swap + d.commission + d.fee AS net, d.swap, d.fee,
       d.market_ask - d.market_bid AS spread, g.account_type,
       g.account_currency, i.group_id, i.contract_size, i.units_per_lot, i.profit_currency, i.markup_per_lot,
       g.partner_id, g.version_id, g.plan_currency,
       (o.open_t IS NULL OR d.time - o.open_t >= make_interval(secs => g.min_hold_seconds)) AS held,
       COALESCE(o.hedged, false) AS hedged, o.open_t, o.net_factor
FROM trading_public_deals d
LEFT JOIN _pos o ON o.account_id = d.account_id AND o.position_id = d.position_id
LEFT JOIN _inst i ON i.symbol = d.symbol
JOIN _seg g ON g.account_id = d.account_id AND g.seg_from <= d.time AND g.seg_to > d.time
WHERE {DEALS_WHERE} AND d.time >= %(from)s AND (%(all_partners)s OR g.partner_id = ANY(%(partners)s));
SET LOCAL enable_nestloop = DEFAULT;
SET LOCAL join_collapse_limit = DEFAULT;
ANALYZE _src
"""

# Which rules a source row of _src (`s`) earns under: its version's picked rule of each kind (`k`,
# `r`); per-lot and spread rules only on closing deals held long enough (the rule's own minimum
# holding time, else the version's), of a known instrument (spread: with the market's bid and ask,
# or the symbol's markup per lot), and not hedged unless the version pays hedged legs (both, or
# the volume not offset: see NET_HEDGE_SQL).
RULE_JOIN = """
JOIN _pick k ON k.version_id = s.version_id AND k.group_id IS NOT DISTINCT FROM s.group_id
     AND k.account_type = s.account_type
JOIN ib_planrule r ON r.id = k.rule_id
WHERE CASE WHEN k.formula <= 2
           THEN s.is_close AND s.group_id IS NOT NULL
                AND CASE WHEN r.min_hold_seconds IS NULL THEN s.held
                         ELSE s.open_t IS NULL OR s.time - s.open_t >= make_interval(secs => r.min_hold_seconds) END
                AND (NOT s.hedged OR k.hedge_mode <> 'later_unpaid')
                AND (k.formula = 1 OR s.spread IS NOT NULL OR s.markup_per_lot IS NOT NULL)
           ELSE true END
"""

# The currency of a rule's basis: per lot, the rule's (else the plan's); spread, the instrument's
# profit currency; commission and net loss, the account's.
BASIS_CURRENCY = """CASE k.formula WHEN 1 THEN COALESCE(NULLIF(r.currency, ''), s.plan_currency)
            WHEN 2 THEN s.profit_currency
            ELSE s.account_currency END"""

# What each source row is worth before the level split, per matching rule: (basis, its currency).
# The rule's formula (_pick) picks it: lots (volume x contract size / the group's units per lot),
# the spread's value (spread x volume x contract size), minus the commission, or minus the net
# result (profit + swap + commission + fee). A subquery, not a table: it is read once (the
# batches), or twice with tiered rules.
BASIS = f"""
SELECT s.deal_pk, s.account_id, s.client_id, s.time, s.partner_id, s.version_id, s.plan_currency,
       r.id AS rule_id, r.code AS rule_code,
       CASE k.formula WHEN 1 THEN s.volume * s.contract_size / s.units_per_lot
                      WHEN 2 THEN COALESCE(s.spread * s.volume * s.contract_size,
                                           s.volume * s.contract_size / s.units_per_lot * s.markup_per_lot)
                      WHEN 3 THEN -s.commission
                      ELSE -(s.net - CASE WHEN r.net_with_commission THEN 0 ELSE s.commission END
                                   - CASE WHEN r.net_with_swap THEN 0 ELSE s.swap END
                                   - CASE WHEN r.net_with_fee THEN 0 ELSE s.fee END) END
       * CASE WHEN k.formula <= 2 AND s.hedged AND k.hedge_mode = 'net' THEN COALESCE(s.net_factor, 0) ELSE 1 END
       AS basis,
       {BASIS_CURRENCY} AS basis_currency,
       CASE WHEN k.formula = 1 THEN 1 ELSE 0.01 END AS unit
FROM _src s
{RULE_JOIN}
"""

# Tiers (see ib.models.PlanRule): the windows and metrics of the tiered rules in force.
TIERED_SQL = """
SELECT DISTINCT r.tier_window_days, (r.tiers -> 0) ? 'min_lots' AS by_lots
FROM ib_planrule r JOIN _ver v ON v.id = r.version_id
WHERE r.kind IN ('per_lot', 'revshare') AND r.tiers <> '[]'::jsonb
"""

# The closing deals (in lots) of the clients of the partners whose sources have a tiered rule, from
# the longest window before the period on, each with the partner the client had at the deal's time.
TIER_DEALS_SQL = f"""
CREATE TEMP TABLE _tierdeal ON COMMIT DROP AS
SELECT at.partner_id, d.account_id, d.time, d.volume * i.contract_size / COALESCE(i.units_per_lot, g.units_per_lot) AS lots
FROM trading_public_deals d
JOIN trading_public_accounts a ON a.id = d.account_id
JOIN ib_clientattribution at ON at.client_id = a.client_id AND at.effective_from <= d.time
     AND {ATTR_KNOWN} AND {ATTR_TO} > d.time
JOIN ib_instrument i ON i.brand_id = %(brand)s AND i.symbol = d.symbol
JOIN ib_instrumentgroup g ON g.id = i.group_id
WHERE d.server_id IN (SELECT id FROM trading_public_servers WHERE brand_id = %(brand)s)
  AND d.time >= %(start)s::timestamptz - make_interval(days => %(tier_window)s) AND d.time < %(end)s
  AND d.kind = 'trade' AND d.entry IN ('out', 'inout', 'out_by') AND d.deleted_at IS NULL
  AND d.first_seen_at <= %(as_of)s
  AND at.partner_id IN (SELECT b.partner_id FROM ({BASIS}) b JOIN ib_planrule r ON r.id = b.rule_id
                        WHERE r.tiers <> '[]'::jsonb);
ANALYZE _tierdeal;
CREATE TEMP TABLE _tiermetric (deal_pk bigint, rule_id bigint, value numeric) ON COMMIT DROP;
"""

# The sources of the tiered rules of one window and metric, as rows of the partner's stream.
_TIER_SOURCES = f"""
SELECT b.partner_id, b.time, b.deal_pk, b.rule_id FROM ({BASIS}) b JOIN ib_planrule r ON r.id = b.rule_id
WHERE r.tiers <> '[]'::jsonb AND r.tier_window_days = %(window)s AND ((r.tiers -> 0) ? 'min_lots') = %(by_lots)s
"""

# Lots: one moving sum per partner over its deals, read at each source (the source's own deal and
# any at the same moment included).
TIER_LOTS_SQL = f"""
INSERT INTO _tiermetric
SELECT deal_pk, rule_id, value FROM (
    SELECT x.deal_pk, x.rule_id, sum(x.lots) OVER (
               PARTITION BY x.partner_id ORDER BY x.time
               RANGE BETWEEN make_interval(days => %(window)s) PRECEDING AND CURRENT ROW) AS value
    FROM (SELECT partner_id, time, lots, NULL::bigint AS deal_pk, NULL::bigint AS rule_id FROM _tierdeal
          UNION ALL
          SELECT partner_id, time, 0, deal_pk, rule_id FROM ({_TIER_SOURCES}) s) x
) y WHERE deal_pk IS NOT NULL
"""

# Active client accounts: an account counts from each of its deals until the window has passed
# since it (or its next deal takes over). A running sum of +1 / -1 over those moments per partner,
# read at each source: starts (0) before reads (1) before ends (2) at one moment.
TIER_CLIENTS_SQL = f"""
INSERT INTO _tiermetric
SELECT deal_pk, rule_id, value FROM (
    SELECT e.deal_pk, e.rule_id,
           sum(e.delta) OVER (PARTITION BY e.partner_id ORDER BY e.time, e.ord ROWS UNBOUNDED PRECEDING) AS value
    FROM (SELECT partner_id, time, 1 AS delta, 0 AS ord, NULL::bigint AS deal_pk, NULL::bigint AS rule_id
          FROM _tierdeal
          UNION ALL
          SELECT partner_id, least(nxt, time + make_interval(days => %(window)s)), -1,
                 CASE WHEN nxt <= time + make_interval(days => %(window)s) THEN 0 ELSE 2 END, NULL, NULL
          FROM (SELECT partner_id, time, lead(time) OVER (PARTITION BY partner_id, account_id ORDER BY time) AS nxt
                FROM _tierdeal) t
          UNION ALL
          SELECT partner_id, time, 0, 1, deal_pk, rule_id FROM ({_TIER_SOURCES}) s) e
) y WHERE deal_pk IS NOT NULL
"""

# Each tiered source's step: the highest threshold its figure reached, and that step's factor (1
# under the first threshold).
TIER_APPLY_SQL = """
INSERT INTO _tier
SELECT m.deal_pk, m.rule_id, m.value, s.min, COALESCE(s.factor, 1)
FROM _tiermetric m JOIN ib_planrule r ON r.id = m.rule_id
LEFT JOIN LATERAL (
    SELECT (e ->> k.name)::numeric AS min, (e ->> 'factor')::numeric AS factor
    FROM jsonb_array_elements(r.tiers) e
    CROSS JOIN (SELECT CASE WHEN (r.tiers -> 0) ? 'min_lots' THEN 'min_lots' ELSE 'min_clients' END) k(name)
    WHERE (e ->> k.name)::numeric <= m.value ORDER BY 1 DESC LIMIT 1) s ON true
"""


def _tiers_apply(params: dict[str, Any], db: Any = None) -> int:
    """Give the sources of tiered rules their step (tier_value, tier_min, tier_factor): nothing to
    do, and nothing read, when no rule in force has tiers."""
    with (db or connection).cursor() as cursor:
        cursor.execute(TIERED_SQL)
        kinds = cursor.fetchall()
    if not kinds:
        return 0
    _execute(TIER_DEALS_SQL, {**params, "tier_window": max(window for window, _by_lots in kinds)}, db)
    for window, by_lots in kinds:
        _execute(TIER_LOTS_SQL if by_lots else TIER_CLIENTS_SQL, {**params, "window": window, "by_lots": by_lots}, db)
    return _execute(TIER_APPLY_SQL, params, db)


# The qualification moment of every client that qualified for a CPA rule by as_of (any period).
CPA_SQL = f"""
CREATE TEMP TABLE _cpa ON COMMIT DROP AS
WITH fd AS (
    SELECT DISTINCT ON (dp.client_id) dp.client_id, dp.at, dp.amount, dp.currency, dp.reference
    FROM ib_clientdeposit dp JOIN crm_public_clients c ON c.id = dp.client_id AND c.brand_id = %(brand)s
    WHERE dp.at <= %(as_of)s AND COALESCE(dp.recorded_at, dp.at) <= %(as_of)s ORDER BY dp.client_id, dp.at, dp.id
),
rules AS (
    SELECT r.*, v.plan_id, v.valid_from, v.valid_to, v.split_mode, v.pass_up, v.currency AS plan_currency
    FROM ib_planrule r JOIN _ver v ON v.id = r.version_id WHERE r.kind = 'cpa'
),
cand AS (
    SELECT fd.client_id, fd.at AS deposit_at, fd.amount, fd.currency, fd.reference AS deposit_reference, c.country,
           c.created_at AS registered_at, at.partner_id
    FROM fd JOIN crm_public_clients c ON c.id = fd.client_id
    JOIN ib_clientattribution at ON at.client_id = fd.client_id AND at.effective_from <= fd.at
         AND {ATTR_KNOWN} AND {ATTR_TO} > fd.at
),
anchored AS (
    -- The rule's window: from the first deposit, or from the registration (the deposit inside it).
    SELECT cand.*, r.id AS rule_id, CASE WHEN r.cpa_window_from = 'registration' THEN cand.registered_at
                                         ELSE cand.deposit_at END AS window_from,
           CASE WHEN r.cpa_window_from = 'registration' THEN cand.registered_at ELSE cand.deposit_at END
           + make_interval(days => COALESCE(r.cpa_within_days, 36500)) AS window_to
    FROM cand JOIN _asg asg ON asg.partner_id = cand.partner_id AND asg.effective_from <= cand.deposit_at
         AND asg.effective_to > cand.deposit_at
    JOIN rules r ON r.plan_id = asg.plan_id AND r.valid_from <= cand.deposit_at AND r.valid_to > cand.deposit_at
),
q AS (
    SELECT cand.*, r.code AS rule_code, r.rate, r.level_rates, r.split_mode, r.pass_up,
           r.plan_currency, r.version_id, COALESCE(NULLIF(r.currency, ''), r.plan_currency) AS rule_currency,
           r.cpa_min_deposit, r.clawback_on_chargeback, r.clawback_scope,
           CASE WHEN r.cpa_min_lots IS NULL OR r.cpa_min_lots = 0 THEN cand.deposit_at ELSE (
               SELECT min(t) FROM (
                   SELECT d.time AS t, sum(d.volume * i.contract_size / COALESCE(i.units_per_lot, g.units_per_lot))
                          OVER (ORDER BY d.time, d.id) AS cum
                   FROM trading_public_deals d JOIN trading_public_accounts a ON a.id = d.account_id
                   JOIN ib_instrument i ON i.brand_id = %(brand)s AND i.symbol = d.symbol
                   JOIN ib_instrumentgroup g ON g.id = i.group_id
                   WHERE a.client_id = cand.client_id AND d.kind = 'trade' AND d.entry IN ('out', 'inout', 'out_by')
                     AND d.deleted_at IS NULL AND d.first_seen_at <= %(as_of)s AND d.time >= cand.window_from
                     AND d.time < cand.window_to
               ) x WHERE x.cum >= r.cpa_min_lots) END AS lots_at,
           CASE WHEN r.cpa_require_kyc OR r.cpa_kyc_within_window THEN (
               SELECT min(ap.approved_at) FROM kyc_public_approvals ap
               WHERE ap.client_id = cand.client_id AND ap.approved_at <= %(as_of)s
                 AND (NOT r.cpa_kyc_within_window OR ap.approved_at < cand.window_to))
                ELSE cand.deposit_at END AS kyc_at
    FROM anchored cand JOIN rules r ON r.id = cand.rule_id
    WHERE (cardinality(r.cpa_countries) = 0 OR cand.country = ANY(r.cpa_countries))
      AND cand.deposit_at < cand.window_to
)
SELECT q.*, greatest(q.deposit_at, q.lots_at, q.kyc_at) AS qualified_at, pa.path AS chain
FROM q JOIN ib_partner pa ON pa.id = q.partner_id
WHERE q.lots_at IS NOT NULL AND q.kyc_at IS NOT NULL AND greatest(q.deposit_at, q.lots_at, q.kyc_at) <= %(as_of)s;
"""

# Currency pairs and days the lines need, with the rate of that day or the latest before. Analysed:
# guessing its size, the planner sorted a month of sources (spilling to disk) to merge-join a few rows.
FX_SQL = """
CREATE TEMP TABLE _fx ON COMMIT DROP AS
WITH need AS ({needs})
SELECT n.src, n.dst, n.day,
       CASE WHEN n.src = n.dst THEN 1::numeric ELSE COALESCE(
           (SELECT f.rate FROM ib_fxrate f WHERE f.base = n.src AND f.quote = n.dst AND f.day <= n.day
            ORDER BY f.day DESC LIMIT 1),
           (SELECT 1 / f.rate FROM ib_fxrate f WHERE f.base = n.dst AND f.quote = n.src AND f.day <= n.day
            ORDER BY f.day DESC LIMIT 1)) END AS rate
FROM (SELECT DISTINCT src, dst, day FROM need) n;
ANALYZE _fx;
"""

# The rates the lines may need: every pair of a currency a basis can be in (a per-lot rule's, a
# plan's, an instrument's profit currency, an account's) and a plan's currency, on every day of the
# scope; and the CPA's. A rate is looked up per pair and day, not per source; a pair and day that a
# source needs and has no rate for is found after the batches are written (ib.engine.compute_lines).
FX_NEEDS_DEALS = """
SELECT c.src, v.currency AS dst, day::date
FROM (SELECT NULLIF(r.currency, '') FROM ib_planrule r JOIN _ver v ON v.id = r.version_id WHERE r.kind = 'per_lot'
      UNION SELECT currency FROM _ver UNION SELECT profit_currency FROM _inst
      UNION SELECT account_currency FROM _attr) c(src)
CROSS JOIN (SELECT DISTINCT currency FROM _ver) v
CROSS JOIN generate_series((%(from)s AT TIME ZONE 'UTC')::date, ((%(end)s AT TIME ZONE 'UTC') - interval '1 day')::date,
                           interval '1 day') AS day
WHERE c.src IS NOT NULL"""
FX_NEEDS = FX_NEEDS_DEALS + """
UNION ALL SELECT rule_currency, plan_currency, (qualified_at AT TIME ZONE 'UTC')::date FROM _cpa
UNION ALL SELECT currency, rule_currency, (deposit_at AT TIME ZONE 'UTC')::date FROM _cpa
"""

# The rate of level k (0: the client's partner) of a chain of n partners: per level; passed up
# out of the client's partner's rate (each keeps 1 - p of what reaches it, the top the rest) or on
# top of it (each level p of the amount of the level below); differential (each partner its own
# rate, `d.own`, minus the highest rate below it in the chain, never below 0).
LEVEL_RATE = """CASE WHEN b.split_mode = 'pass_up' AND b.pass_up_base = 'on_top' THEN b.rate * power(b.pass_up, k.k)
    WHEN b.split_mode = 'pass_up'
    THEN b.rate * CASE WHEN k.k = cardinality(b.chain) - 1 THEN power(b.pass_up, k.k)
                       ELSE (1 - b.pass_up) * power(b.pass_up, k.k) END
    WHEN b.split_mode = 'differential'
    THEN greatest(0, d.own[k.k + 1] - COALESCE((SELECT max(u) FROM unnest(d.own[1:k.k]) u), 0))
    ELSE b.level_rates[k.k + 1] END"""

# Differential: each partner of the batch's chain (client's partner first) with its own rate for
# the batch's rule (by code): the rule of that code in the plan version assigned to it at the
# batch's first source (its first level's rate); 0 when its plan has no such rule.
OWN_RATES = """CROSS JOIN LATERAL (SELECT CASE WHEN b.split_mode = 'differential' THEN (
    SELECT array_agg(COALESCE((
        SELECT COALESCE(r2.level_rates[1], r2.rate) FROM _asg a
        JOIN _ver v2 ON v2.plan_id = a.plan_id AND v2.valid_from <= b.at AND v2.valid_to > b.at
        JOIN ib_planrule r2 ON r2.version_id = v2.id AND r2.code = b.rule_code
        WHERE a.partner_id = b.chain[cardinality(b.chain) - kk] AND a.effective_from <= b.at AND a.effective_to > b.at
        ORDER BY a.effective_from DESC LIMIT 1), 0) ORDER BY kk)
    FROM generate_series(0, cardinality(b.chain) - 1) kk) END AS own) d"""

# Every source of a line, in one shape: the period's deals (under each rule they match) and the CPA
# qualifications and chargebacks (one each per client). A deal worth nothing (a basis or tier factor
# of 0) makes no line; a deposit under the CPA rule's minimum, converted at its day's rate, none.
DEAL_SOURCES = f"""
SELECT 'deal' AS kind, b.deal_pk AS source_id, b.partner_id, b.rule_id,
       b.time, (b.time AT TIME ZONE 'UTC')::date AS day, (b.time AT TIME ZONE 'UTC')::date AS fx_day, b.basis,
       b.basis_currency, b.account_id, b.client_id, {{tier_columns}}
FROM ({BASIS} OFFSET 0) b {{tier_join}}
WHERE b.basis <> 0 {{tier_where}}"""
SOURCES = DEAL_SOURCES + """
UNION ALL
SELECT 'cpa', b.client_id, b.partner_id, b.rule_id, b.qualified_at,
       (b.qualified_at AT TIME ZONE 'UTC')::date, (b.qualified_at AT TIME ZONE 'UTC')::date, 1, b.rule_currency, NULL, b.client_id,
       NULL, NULL, NULL
FROM _cpa b
JOIN _fx dfx ON dfx.src = b.currency AND dfx.dst = b.rule_currency AND dfx.day = (b.deposit_at AT TIME ZONE 'UTC')::date
WHERE (b.cpa_min_deposit IS NULL OR b.amount * dfx.rate >= b.cpa_min_deposit)
  AND b.qualified_at >= %(start)s AND b.qualified_at < %(end)s
UNION ALL
SELECT 'chargeback', cb.id, b.partner_id, b.rule_id, cb.at,
       (cb.at AT TIME ZONE 'UTC')::date, (b.qualified_at AT TIME ZONE 'UTC')::date, -1, b.rule_currency, NULL, b.client_id,
       NULL, NULL, NULL
FROM _cpa b
JOIN LATERAL (SELECT x.id, x.at FROM ib_clientchargeback x WHERE x.client_id = b.client_id AND x.at >= b.qualified_at
              AND x.at <= %(as_of)s AND COALESCE(x.recorded_at, x.at) <= %(as_of)s AND (b.clawback_scope = 'any' OR x.deposit_reference = b.deposit_reference)
              ORDER BY x.at, x.id LIMIT 1) cb ON true
JOIN _fx dfx ON dfx.src = b.currency AND dfx.dst = b.rule_currency AND dfx.day = (b.deposit_at AT TIME ZONE 'UTC')::date
WHERE b.clawback_on_chargeback AND (b.cpa_min_deposit IS NULL OR b.amount * dfx.rate >= b.cpa_min_deposit)
  AND cb.at >= %(start)s AND cb.at < %(end)s
"""
NO_TIERS = {"tier_columns": "NULL::numeric AS tier_value, NULL::numeric AS tier_min, NULL::numeric AS tier_factor",
            "tier_join": "", "tier_where": "",
            "tier_arrays": "NULL::numeric[] AS tier_values, NULL::numeric[] AS tier_mins, NULL::numeric[] AS tier_factors, "
                           "sum(x.basis) AS weighted_basis"}
TIERS = {"tier_columns": "t.value AS tier_value, t.min AS tier_min, t.factor AS tier_factor",
         "tier_join": "LEFT JOIN _tier t ON t.deal_pk = b.deal_pk AND t.rule_id = b.rule_id",
         "tier_where": "AND COALESCE(t.factor, 1) <> 0",
         "tier_arrays": "CASE WHEN bool_or(x.tier_value IS NOT NULL) THEN array_agg(x.tier_value) END AS tier_values, "
                        "CASE WHEN bool_or(x.tier_value IS NOT NULL) THEN array_agg(x.tier_min) END AS tier_mins, "
                        "CASE WHEN bool_or(x.tier_value IS NOT NULL) THEN array_agg(x.tier_factor) END AS tier_factors, "
                        "sum(x.basis * COALESCE(x.tier_factor, 1)) AS weighted_basis"}

# The sources grouped into batches (ib.models.CommissionBatch): one per kind, client's partner,
# rule, day and FX day (and basis currency; the two days differ only for a chargeback, converted at
# its qualification's rate), with the partner's chain (its path now), the rule, its
# version and the FX rate joined to the few batches rather than to every source. The GROUP BY is
# what keeps a source in one batch per rule; the sources are in the order they were read (a hash
# aggregate: sorting a month of sources would cost more than computing them).
BATCH_COLUMNS = ("run_id", "source_kind", "partner_id", "chain", "rule_code", "rule_id", "plan_version_id", "day",
                 "fx_day", "basis_currency", "currency", "fx_rate", "unit", "source_ids", "times", "bases",
                 "account_ids", "client_ids", "tier_values", "tier_mins", "tier_factors", "weighted_basis",
                 "factor_in_rate")
BATCHES_SELECT = """
SELECT %(run)s, g.kind, g.partner_id, pa.path, r.code, g.rule_id, r.version_id, g.day, g.fx_day, g.basis_currency,
       v.currency, fx.rate, CASE WHEN r.kind = 'revshare' THEN 0.01 ELSE 1 END, g.source_ids, g.times, g.bases,
       g.account_ids, g.client_ids, g.tier_values, g.tier_mins, g.tier_factors, g.weighted_basis, false
FROM (
    SELECT x.kind, x.partner_id, x.rule_id, x.day, x.fx_day, x.basis_currency,
           array_agg(x.source_id) AS source_ids, array_agg(x.time) AS times, array_agg(x.basis) AS bases,
           array_agg(x.account_id) AS account_ids, array_agg(x.client_id) AS client_ids,
           {tier_arrays}
    FROM ({sources}) x
    GROUP BY x.kind, x.partner_id, x.rule_id, x.day, x.fx_day, x.basis_currency) g
JOIN ib_planrule r ON r.id = g.rule_id
JOIN _ver v ON v.id = r.version_id
-- A pair and day without a rate leaves fx_rate NULL, which the table refuses (compute_lines then names them).
LEFT JOIN _fx fx ON fx.src = g.basis_currency AND fx.dst = v.currency AND fx.day = g.fx_day
JOIN ib_partner pa ON pa.id = g.partner_id
"""


def _batches_select(sources: str, tiered: int) -> str:
    """The batches' rows of `sources` (SOURCES or DEAL_SOURCES), with the tier columns when some
    source has a tiered rule."""
    tiers = TIERS if tiered else NO_TIERS
    return BATCHES_SELECT.format(sources=sources.format(**tiers), tier_arrays=tiers["tier_arrays"])


def _batches_sql(tiered: int) -> str:
    return (f"SET LOCAL enable_sort = off;\nINSERT INTO ib_commissionbatch ({', '.join(BATCH_COLUMNS)})"
            f"{_batches_select(SOURCES, tiered)};\nSET LOCAL enable_sort = on")

# Each batch's beneficiaries: level k of its chain (0: the client's partner) with the level's rate,
# and the sum of its lines (the batch's weighted basis x rate x unit x FX: exact, as the lines are).
SHARES_SQL = f"""
INSERT INTO ib_commissionshare (batch_id, run_id, beneficiary_id, level, rate, amount, lines, currency, plan_version_id)
SELECT b.id, b.run_id, b.chain[cardinality(b.chain) - k.k], k.k, lr.rate, b.weighted_basis * lr.rate * b.unit * b.fx_rate,
       b.n, b.currency, b.plan_version_id
FROM (SELECT bt.id, bt.run_id, bt.chain, bt.unit, bt.fx_rate, bt.weighted_basis, bt.currency, bt.plan_version_id,
             cardinality(bt.source_ids) AS n, r.rate, r.level_rates, v.split_mode, v.pass_up, v.pass_up_base,
             bt.rule_code, bt.times[1] AS at
      FROM ib_commissionbatch bt JOIN ib_planrule r ON r.id = bt.rule_id JOIN _ver v ON v.id = bt.plan_version_id
      WHERE bt.run_id = %(run)s AND bt.id > %(after)s) b
{OWN_RATES}
CROSS JOIN LATERAL generate_series(0, cardinality(b.chain) - 1) AS k(k)
CROSS JOIN LATERAL (SELECT {LEVEL_RATE} AS rate) lr
WHERE lr.rate IS NOT NULL AND lr.rate <> 0
"""

BENCH_BASELINE_SQL = """
SELECT at.partner_id, sum(d.volume) FROM trading_public_deals d
JOIN trading_public_accounts a ON a.id = d.account_id
JOIN ib_clientattribution at ON at.client_id = a.client_id AND at.effective_from <= d.time
     AND (at.effective_to IS NULL OR at.effective_to > d.time)
WHERE d.time >= %(start)s AND d.time < %(end)s AND d.kind = 'trade' AND d.deleted_at IS NULL
GROUP BY at.partner_id
"""


def _execute(sql: str, params: dict[str, Any], db: Any = None) -> int:
    """Run `sql`'s statements in turn on `db` (the caller's connection by default; each one's time
    logged: the benchmark prints them); the last one's row count."""
    rows = 0
    with (db or connection).cursor() as cursor:
        for statement in filter(None, (part.strip() for part in sql.split(";\n"))):
            started = time.perf_counter()
            cursor.execute(statement, params)
            rows = cursor.rowcount
            if not statement.startswith(("ANALYZE", "SET")):
                logger.info("commission engine step %s%s: %.2f s, %s rows", _step_name(statement),
                            " (second connection)" if db is not None else "", time.perf_counter() - started, rows)
    return rows


def _step_name(sql: str) -> str:
    words = sql.split()
    for word, nxt in zip(words, words[1:], strict=False):
        if word.upper() in ("TABLE", "INTO", "UPDATE"):
            return nxt
    return words[0] if words else ""


def _drop_temps() -> None:
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS _ver, _asg, _pick, _attr, _inst, _seg, _pos, _src, _tierdeal, _tiermetric, _tier, _cpa, _fx")


def _fx_check(rows: list[tuple[str, str, dt.date]]) -> None:
    """Stop on the (pair, first day without a rate) rows: the days after it, up to a first rate,
    lack one too."""
    if rows:
        raise FxMissing([(src, dst, day) for src, dst, day in rows])


def _context(params: dict[str, Any], lookback: int) -> dt.datetime:
    """From when deals are read: the longest minimum holding time before the period (opening deals
    of its first positions); an increment reads a day before its first day too (at most back to that)."""
    start: dt.datetime = params["start"] - dt.timedelta(seconds=lookback)
    if params["from"] == params["start"]:
        return start
    day_before: dt.datetime = params["from"] - dt.timedelta(seconds=max(lookback, 86400))
    return max(start, day_before)


def increment_settings() -> None:
    """For the rest of the caller's transaction (an increment): no JIT compilation. Compiling
    costs about a second per statement, more than an increment's statements save by it (a full
    month's run keeps it: there it pays)."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")


STATS_SQL = ("SELECT count(*), count(*) FILTER (WHERE NOT held AND is_close), "
             "count(*) FILTER (WHERE hedged AND is_close), count(*) FILTER (WHERE group_id IS NULL) FROM _src")


def _session(db: Any = None) -> None:
    """This transaction's memory for the aggregates over a month of deals (its positions, its
    batches), so that they stay in memory instead of spilling to disk: up to 1 GB per sort, 4 GB
    per hash."""
    with (db or connection).cursor() as cursor:
        cursor.execute("SET LOCAL work_mem = '1GB'")
        cursor.execute("SET LOCAL hash_mem_multiplier = 4")


def _deal_sources(params: dict[str, Any], db: Any = None) -> int:
    """Steps 1 and 2 for the scope's accounts and partners: the small tables, _pos, _src and the
    tiers; how many tiered sources."""
    _execute(VER_SQL, params, db)
    with (db or connection).cursor() as cursor:
        # The longest minimum holding time: opening deals are looked for that far back.
        cursor.execute("SELECT greatest(COALESCE(max(min_hold_seconds), 0), (SELECT COALESCE(max(r.min_hold_seconds), 0) "
                       "FROM ib_planrule r WHERE r.version_id IN (SELECT id FROM _ver))), "
                       "bool_or(hedge_mode = 'net') FROM _ver")
        longest, net_hedge = cursor.fetchone() or (0, False)
        params["longest_hold"] = int(longest or 0)
        params["context"] = _context(params, params["longest_hold"])
        cursor.execute("CREATE TEMP TABLE _tier (deal_pk bigint, rule_id bigint, value numeric, min numeric, "
                       "factor numeric) ON COMMIT DROP")
    _execute(ATTR_SQL, params, db)
    _execute(INST_SQL, params, db)
    _execute(SEG_SQL, params, db)
    _execute(POS_SQL, params, db)
    if net_hedge:
        _execute(NET_HEDGE_SQL, params, db)
    _execute(SRC_SQL, params, db)
    return _tiers_apply(params, db)


def compute_lines(scope: Scope, added: dict[tuple[int, str], PartnerSum] | None = None) -> dict[str, int]:
    """Write the run's lines, as batches and shares, for the scope (all the period's sources, or an
    increment's: its partners' deal batches from its first day, plus every CPA and chargeback
    line). Runs in the caller's transaction. With `added`, the sums of the shares written are added
    to it (an increment corrects its totals with them). A large full run splits its deals in two
    (see `_Half`): this connection computes one half while a second computes the other."""
    params = _params(scope)
    _drop_temps()
    _session()
    with connection.cursor() as cursor:
        # The brand's servers as a list: the planner then knows how many of the deals are the brand's.
        cursor.execute("SELECT array_agg(id) FROM trading_public_servers WHERE brand_id = %s", [scope.brand_id])
        params["servers"] = (cursor.fetchone() or (None,))[0] or []
    other = _Half.start_if_worth_it(params)
    try:
        tiered = _deal_sources(params)
        _execute(CPA_SQL, params)
        _execute(FX_SQL.format(needs=FX_NEEDS), params)
        with connection.cursor() as cursor:
            # A CPA's first deposit in a currency without a rate on its day (its minimum is checked in the rule's).
            cursor.execute("SELECT src, dst, min(day) FROM _fx WHERE rate IS NULL AND (src, dst, day) IN ("
                           "SELECT currency, rule_currency, (deposit_at AT TIME ZONE 'UTC')::date FROM _cpa) "
                           "GROUP BY src, dst ORDER BY 3, 1, 2")
            _fx_check(cursor.fetchall())
            cursor.execute("SELECT COALESCE(max(id), 0) FROM ib_commissionbatch WHERE run_id = %s", [scope.run_id])
            params["after"] = (cursor.fetchone() or (0,))[0]
        _execute(_batches_sql(tiered), params)
        with connection.cursor() as cursor:
            cursor.execute(STATS_SQL)
            counts = list(cursor.fetchone() or (0, 0, 0, 0))
        if other is not None:
            other.copy_in()
            tiered += other.tiered
            counts = [a + b for a, b in zip(counts, other.counts, strict=True)]
    finally:
        if other is not None:
            other.stop()
    with connection.cursor() as cursor:
        # The pairs and days the sources needed and no rate was found for (the caller's transaction,
        # and with it the batches, is rolled back).
        cursor.execute("SELECT basis_currency, currency, min(fx_day) FROM ib_commissionbatch "
                       "WHERE run_id = %(run)s AND id > %(after)s AND fx_rate IS NULL "
                       "GROUP BY basis_currency, currency ORDER BY 3, 1, 2", params)
        _fx_check(cursor.fetchall())
    sums = _sums(f"WITH ins AS ({SHARES_SQL} RETURNING beneficiary_id, currency, amount, plan_version_id, lines) "
                 + SUMS.format(lines="ins"), params)
    if added is not None:
        for key, one in sums.items():
            added[key] = added.get(key, PartnerSum()).plus(one)
    with connection.cursor() as cursor:
        cursor.execute("SELECT b.source_kind, sum(s.lines) FROM ib_commissionshare s "
                       "JOIN ib_commissionbatch b ON b.id = s.batch_id "
                       "WHERE s.run_id = %(run)s AND s.batch_id > %(after)s GROUP BY b.source_kind", params)
        lines = dict(cursor.fetchall())
    deals, short, hedged, unpriced = counts
    stats = {"deal_lines": int(lines.get("deal", 0)), "cpa_lines": int(lines.get("cpa", 0)),
             "chargeback_lines": int(lines.get("chargeback", 0)), "deals": deals, "short_hold": short,
             "hedged": hedged, "unknown_symbol": unpriced, "tiered": tiered}
    _drop_temps()
    return stats


# The relations a run reads (but the clients and KYC approvals, which only the caller's connection
# reads, for the CPA): its own tables and the views trading publishes for it (deals, accounts and
# servers: trading.selectors), whose tables PostgreSQL knows (pg_depend, through each view's rewrite
# rule): the engine never names them. What the caller's transaction wrote to any of those tables and has not committed, a
# second connection cannot see: a run in such a transaction is computed by one connection. The
# counts of a transaction's writes (pg_stat_xact_user_tables) also hold the connection's earlier
# transactions' until they are flushed, about once a second: a run right after this connection
# wrote deals may be computed on one connection (slower, never wrong).
READ_RELATIONS = ["trading_public_deals", "trading_public_accounts", "trading_public_servers", "ib_planversion",
                  "ib_commissionplan", "ib_planassignment", "ib_planrule", "ib_instrumentgroup", "ib_instrument",
                  "ib_clientattribution", "ib_partner", "ib_fxrate", "ib_clientdeposit", "ib_clientchargeback"]

UNCOMMITTED_SQL = """
WITH named AS (SELECT to_regclass(name)::oid AS relid FROM unnest(%s::text[]) AS n(name)),
read AS (
    SELECT relid FROM named
    UNION SELECT d.refobjid FROM named n JOIN pg_rewrite w ON w.ev_class = n.relid
          JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = w.oid
                          AND d.refclassid = 'pg_class'::regclass AND d.refobjid <> n.relid
)
SELECT pg_current_xact_id_if_assigned() IS NOT NULL AND (NOT current_setting('track_counts')::bool
       OR EXISTS (SELECT FROM pg_stat_xact_user_tables
                  WHERE relid IN (SELECT relid FROM read) AND n_tup_ins + n_tup_upd + n_tup_del > 0))
"""

# The partners the scope's accounts were attributed to in the period, each with those accounts.
PARTNER_ACCOUNTS_SQL = f"SELECT partner_id, array_agg(DISTINCT account_id) FROM ({ATTR_SELECT}) x GROUP BY partner_id"


def _halves(params: dict[str, Any]) -> list[tuple[list[int], list[int]]] | None:
    """For a full run of at least settings.IB_ENGINE_PARALLEL_DEALS deals (the planner's estimate),
    in a transaction that has written nothing the run reads: the partners in two halves of about as
    many accounts each (the largest first, each to the smaller half), each with its partners'
    accounts (an account attributed to partners of both halves in the period is in both). None:
    one connection computes the run."""
    threshold = settings.IB_ENGINE_PARALLEL_DEALS
    if threshold <= 0 or not params["all_accounts"] or not params["all_partners"]:
        return None
    with connection.cursor() as cursor:
        cursor.execute(UNCOMMITTED_SQL, [READ_RELATIONS])
        if (cursor.fetchone() or (True,))[0]:
            return None
        cursor.execute("EXPLAIN (FORMAT JSON) SELECT 1 FROM trading_public_deals d WHERE " + DEALS_WHERE,
                       {**params, "context": params["from"]})
        plan = (cursor.fetchone() or ("[]",))[0]
        plan = json.loads(plan) if isinstance(plan, str) else plan
        if not plan or plan[0]["Plan"]["Plan Rows"] < threshold:
            return None
        cursor.execute(PARTNER_ACCOUNTS_SQL, params)
        partners = cursor.fetchall()
    if len(partners) < 2:
        return None
    halves: list[tuple[list[int], set[int]]] = [([], set()), ([], set())]
    weight = [0, 0]
    for partner_id, accounts in sorted(partners, key=lambda row: (-len(row[1]), row[0])):
        k = 0 if weight[0] <= weight[1] else 1
        halves[k][0].append(partner_id)
        halves[k][1].update(accounts)
        weight[k] += len(accounts)
    return [(sorted(p), sorted(a)) for p, a in halves]


class _Half(threading.Thread):
    """The deal lines of half the partners, computed by a second connection in a thread while the
    caller's connection computes the other half (and the CPA and chargeback lines): a month's
    aggregates then use two processors instead of one. The second connection reads the caller's
    snapshot (pg_export_snapshot) when it can: inside a savepoint no snapshot can be exported, and
    it reads the committed rows then, as any later statement of the caller would. Its batches
    stream to the caller as binary COPY rows and are written in the caller's transaction, so that
    the run stays one transaction: nothing of it is kept if it fails. A failure of either side
    stops the other; the second's is raised in the caller. When the second connection cannot be
    opened at all (the server's connection limit reached, say), the caller computes the whole run."""

    def __init__(self, params: dict[str, Any], snapshot: str | None) -> None:
        super().__init__(name="commission-engine-half", daemon=True)
        self.params = params
        self.snapshot = snapshot
        self.chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=64)
        self.stopping = threading.Event()
        self.connected = threading.Event()  # set once connected, or once connecting failed (`error`)
        self.caller = connections[connection.alias]
        self.error: BaseException | None = None
        self.db: Any = None
        self.tiered = 0
        self.counts = [0, 0, 0, 0]

    @classmethod
    def start_if_worth_it(cls, params: dict[str, Any]) -> _Half | None:
        """Start the second half when the run is worth splitting (`_halves`); `params` then scope
        the caller's half."""
        halves = _halves(params)
        if halves is None:
            return None
        (mine_partners, mine_accounts), (other_partners, other_accounts) = halves
        snapshot = None
        if not any(connection.savepoint_ids):
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_export_snapshot()")
                snapshot = (cursor.fetchone() or (None,))[0]
        other = cls({**params, "partners": other_partners, "accounts": other_accounts,
                     "all_partners": False, "all_accounts": False}, snapshot)
        other.start()
        other.connected.wait()
        if other.error is not None:
            # No second connection (the server's connection limit, say): this one computes it all.
            other.join()
            logger.warning("commission engine: no second connection (%s); the run is computed on one", other.error)
            return None
        params.update(partners=mine_partners, accounts=mine_accounts, all_partners=False, all_accounts=False)
        logger.info("commission engine: %s partners (%s accounts) here, %s partners (%s accounts) on a second "
                    "connection", len(mine_partners), len(mine_accounts), len(other_partners), len(other_accounts))
        return other

    def _connect(self) -> Any:
        """The second connection, in a transaction reading the caller's snapshot (when exported)."""
        db = type(self.caller)(dict(self.caller.settings_dict), self.caller.alias)
        try:
            db.set_autocommit(False)
            with db.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                if self.snapshot:
                    cursor.execute("SET TRANSACTION SNAPSHOT %s", [self.snapshot])
        except BaseException:
            db.close()
            raise
        return db

    def run(self) -> None:
        try:
            try:
                self.db = db = self._connect()
            finally:
                self.connected.set()
            _session(db)
            self.tiered = _deal_sources(self.params, db)
            _execute(FX_SQL.format(needs=FX_NEEDS_DEALS), self.params, db)
            with db.cursor() as cursor:
                cursor.execute(STATS_SQL)
                self.counts = list(cursor.fetchone() or (0, 0, 0, 0))
                cursor.execute("SET LOCAL enable_sort = off")
                started = time.perf_counter()
                with cursor.cursor.copy(self._copy_out_sql(cursor), self.params) as copy:
                    for chunk in copy:
                        self._put(bytes(chunk))
                logger.info("commission engine step ib_commissionbatch (second connection: computed and "
                            "handed to the first): %.2f s", time.perf_counter() - started)
        except BaseException as error:  # handed to the caller's thread, which raises it
            self.error = error
        finally:
            self._put(None)
            if self.db is not None:
                self.db.close()

    def _copy_out_sql(self, cursor: Any) -> str:
        """The second half's batches as binary COPY rows of ib_commissionbatch's columns (each cast
        to the column's type: binary rows carry no type)."""
        cursor.execute("SELECT attname, format_type(atttypid, NULL) FROM pg_attribute "
                       "WHERE attrelid = 'ib_commissionbatch'::regclass AND attname = ANY(%s)", [list(BATCH_COLUMNS)])
        types = dict(cursor.fetchall())
        columns = ", ".join(f"b.c{i}::{types[name]}" for i, name in enumerate(BATCH_COLUMNS))
        names = ", ".join(f"c{i}" for i in range(len(BATCH_COLUMNS)))
        return (f"COPY (SELECT {columns} FROM ({_batches_select(DEAL_SOURCES, self.tiered)}) b({names})) "
                "TO STDOUT (FORMAT binary)")

    def _put(self, chunk: bytes | None) -> None:
        while not self.stopping.is_set():
            try:
                self.chunks.put(chunk, timeout=0.2)
                return
            except queue.Full:
                continue
        if chunk is not None:
            raise RuntimeError("the run stopped")

    def copy_in(self) -> None:
        """Write the second half's batches in the caller's transaction as they arrive (after its
        own); its error, if it failed, is raised here."""
        with connection.cursor() as cursor:
            with cursor.cursor.copy(f"COPY ib_commissionbatch ({', '.join(BATCH_COLUMNS)}) FROM STDIN (FORMAT binary)") as copy:
                while (chunk := self.chunks.get()) is not None:
                    copy.write(chunk)
                if self.error is not None:
                    raise self.error
        self.join()

    def stop(self) -> None:
        """Stop the second half if it still runs (the caller failed), and wait for it."""
        if self.is_alive():
            self.stopping.set()
            db = self.db
            if db is not None and db.connection is not None:
                try:
                    db.connection.cancel_safe()
                except Exception:  # noqa: BLE001 - it may have ended meanwhile
                    logger.debug("cancel of the second connection failed", exc_info=True)
            while self.is_alive():
                try:
                    self.chunks.get(timeout=0.2)
                except queue.Empty:
                    continue
        self.join()


@dataclass
class PartnerSum:
    gross: Decimal = ZERO
    lines: int = 0
    version_id: int | None = None  # the latest plan version among the lines: its cap and minimum apply
    cap: Decimal | None = None
    minimum: Decimal | None = None

    def plus(self, other: PartnerSum, sign: int = 1) -> PartnerSum:
        versions = [v for v in (self.version_id, other.version_id) if v is not None]
        return PartnerSum(self.gross + sign * other.gross, self.lines + sign * other.lines,
                          max(versions) if versions else None)


def _sums(sql: str, params: Any) -> dict[tuple[int, str], PartnerSum]:
    out: dict[tuple[int, str], PartnerSum] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for partner_id, currency, gross, n, version_id in cursor.fetchall():
            out[(partner_id, currency)] = PartnerSum(gross, n, version_id)
    return out


SUMS = ("SELECT beneficiary_id, currency, sum(amount), sum(lines), max(plan_version_id) FROM {lines} "
        "GROUP BY beneficiary_id, currency")


def line_sums(run_id: int) -> dict[tuple[int, str], PartnerSum]:
    """Per (partner, currency): the run's lines' sum, count and latest plan version (from its shares)."""
    return _sums(SUMS.format(lines="(SELECT * FROM ib_commissionshare WHERE run_id = %s) s"), [run_id])


FORGET_SQL = """
WITH doomed AS (
    DELETE FROM ib_commissionbatch b
    WHERE b.run_id = %(run)s AND b.source_kind IN ('cpa', 'chargeback')
       OR b.run_id = %(run)s AND b.source_kind = 'deal' AND b.partner_id = ANY(%(partners)s) AND b.day >= %(day)s
    RETURNING b.id
),
gone AS (
    DELETE FROM ib_commissionshare s WHERE s.batch_id IN (SELECT id FROM doomed)
    RETURNING s.beneficiary_id, s.currency, s.amount, s.plan_version_id, s.lines
)
""" + SUMS.format(lines="gone")


def lines_forget(run_id: int, *, partners: list[int], since: dt.datetime) -> dict[tuple[int, str], PartnerSum]:
    """Delete the lines an increment recomputes (the deal batches of `partners` from the day of
    `since`, and every CPA and chargeback batch) and return their sums, so totals are corrected
    without summing the whole run again."""
    day = since.astimezone(dt.UTC).date()
    return _sums(FORGET_SQL, {"run": run_id, "partners": partners, "day": day})


def lines_delete(run_id: int) -> None:
    """Delete every line of the run (a run computed again from scratch into the same run)."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM ib_commissionshare WHERE run_id = %s", [run_id])
        cursor.execute("DELETE FROM ib_commissionbatch WHERE run_id = %s", [run_id])


def with_limits(sums: dict[tuple[int, str], PartnerSum]) -> dict[tuple[int, str], PartnerSum]:
    """`sums` with each one's cap and minimum read from its plan version."""
    versions = {s.version_id for s in sums.values() if s.version_id is not None}
    limits: dict[int, tuple[Decimal | None, Decimal | None]] = {}
    if versions:
        with connection.cursor() as cursor:
            cursor.execute("SELECT id, period_cap, period_minimum FROM ib_planversion WHERE id = ANY(%s)",
                           [sorted(versions)])
            limits = {vid: (cap, minimum) for vid, cap, minimum in cursor.fetchall()}
    for s in sums.values():
        s.cap, s.minimum = limits.get(s.version_id, (None, None)) if s.version_id is not None else (None, None)
    return sums


@dataclass
class Shape:
    """What a partner's lines under the plan shapes of their rules change in its period's total:
    the lines of rules that do not carry a negative period over (`uncarried`), whether a rule says
    a negative total is owed, and what the caps per rule and per client cut (`capped`, <= 0)."""

    uncarried: Decimal = ZERO
    owed: bool = False
    capped: Decimal = ZERO


# Per (partner, currency): the shares' sum under rules that carry nothing over, whether one rule
# makes a negative total owed, and the part of each rule's sum (by code) above the rule's cap.
SHAPES_SQL = """
WITH per_rule AS (
    SELECT s.beneficiary_id, s.currency, b.rule_code, sum(s.amount) AS amount, bool_or(r.negative_owed) AS owed,
           bool_and(NOT r.carry_negative) AS uncarried, min(r.period_cap) AS cap
    FROM ib_commissionshare s JOIN ib_commissionbatch b ON b.id = s.batch_id JOIN ib_planrule r ON r.id = b.rule_id
    WHERE s.run_id = %(run)s GROUP BY 1, 2, 3
)
SELECT beneficiary_id, currency, COALESCE(sum(amount) FILTER (WHERE uncarried AND NOT owed), 0), bool_or(owed),
       COALESCE(sum(least(0, cap - amount)) FILTER (WHERE cap IS NOT NULL), 0)
FROM per_rule GROUP BY 1, 2
"""

# Per (partner, currency): what the version's cap per client cuts off the partner's lines from
# each client (the line view: the shares' lines, one per source).
CLIENT_CAPS_SQL = """
SELECT beneficiary_id, currency, sum(least(0, cap - amount)) FROM (
    SELECT l.beneficiary_id, l.currency, l.client_id, sum(l.amount) AS amount, min(v.client_cap) AS cap
    FROM ib_commissionline l JOIN ib_planversion v ON v.id = l.plan_version_id
    WHERE l.run_id = %(run)s AND l.client_id IS NOT NULL AND v.client_cap IS NOT NULL
    GROUP BY 1, 2, 3) x
GROUP BY 1, 2
"""


def shapes(run_id: int) -> dict[tuple[int, str], Shape]:
    """The run's partners' `Shape`s (read only when one of the run's rules or versions has such a
    choice: a plain plan reads nothing more than its totals)."""
    out: dict[tuple[int, str], Shape] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT bool_or(NOT r.carry_negative OR r.negative_owed OR r.period_cap IS NOT NULL), "
            "bool_or(v.client_cap IS NOT NULL) FROM ib_planrule r JOIN ib_planversion v ON v.id = r.version_id "
            "WHERE r.version_id IN (SELECT DISTINCT plan_version_id FROM ib_commissionshare WHERE run_id = %s)",
            [run_id])
        by_rule, by_client = cursor.fetchone() or (False, False)
        if by_rule:
            cursor.execute(SHAPES_SQL, {"run": run_id})
            for partner_id, currency, uncarried, owed, capped in cursor.fetchall():
                out[(partner_id, currency)] = Shape(uncarried, bool(owed), capped)
        if by_client:
            cursor.execute(CLIENT_CAPS_SQL, {"run": run_id})
            for partner_id, currency, capped in cursor.fetchall():
                out.setdefault((partner_id, currency), Shape()).capped += capped
    return out


@dataclass(frozen=True)
class Total:
    gross: Decimal
    carry_in: Decimal
    capped: Decimal
    payable: Decimal
    carry_out: Decimal


def total_of(*, gross: Decimal, carry_in: Decimal, cap: Decimal | None, minimum: Decimal | None,
             currency: str, shape: Shape | None = None) -> Total:
    """One partner's period: the caps per rule and per client, then the plan's cap, cut what the
    period's lines earned; the carry from earlier periods is added. A negative total is owed (paid
    as negative) when a rule of the partner's lines says so; else it is carried over, but for the
    lines of rules that carry nothing over (their negative part is dropped); a total under the
    minimum is carried over. The payable is rounded once, half to even, to the currency's minor unit."""
    shape = shape or Shape()
    capped = shape.capped
    if cap is not None:
        capped += min(ZERO, cap - (gross + capped))
    net = gross + capped + carry_in
    if net < 0 and shape.owed:
        return Total(gross, carry_in, capped, money_round(net, currency), ZERO)
    if net < 0:
        return Total(gross, carry_in, capped, ZERO, min(ZERO, net - min(ZERO, shape.uncarried)))
    if minimum is not None and net < minimum:
        return Total(gross, carry_in, capped, ZERO, net)
    payable = money_round(net, currency)
    return Total(gross, carry_in, capped, payable, ZERO)
