"""The commission engine: a brand's period computed from the synced deals and the deposit and
chargeback facts, as known at a moment, with set-based SQL (one INSERT ... SELECT per kind of
source, never a loop over deals).

What a run does (``run_compute``), inside one transaction:

1. ``_ver``: the plan versions in force, per plan, as recorded by ``as_of`` (drafts only when a
   what-if run names them): [valid_from, valid_to) from each version's effective_from to the next
   one's; of two versions with one effective_from the later recorded wins (a correction).
   ``_asg``: the plan assignments recorded by ``as_of`` (partner-wide, and per account).
   ``_pick``: for every (version, instrument group, account type) the most specific rule of each
   kind and basis (group and type > group > type > neither).
2. ``_src``: the period's trade deals of the brand's servers that were first seen by ``as_of`` and
   are not deleted, each with its client, its partner at the deal's time (ClientAttribution), that
   partner's chain (its path, root first), the plan (the account's override, else the partner's),
   the version at the deal's time, its instrument (group, contract size) and two flags:
     - held: the position was opened (its "in" deal, looked for back to the period start minus the
       longest minimum holding time) at least min_hold_seconds before this closing deal;
     - hedged: another position of the opposite side on the same account and symbol, opened
       before it, was still open when it opened. Of a hedged pair only the first opened earns
       (opposite positions open at the same time count once). One window pass per account and
       symbol, not a self-join.
3. Lines, one INSERT ... SELECT per source kind, each row expanded over the chain's levels
   (``generate_series``) with the level's rate (per-level rates, or the pass-up split), converted
   to the plan's currency with ``_fx`` (the rate of the source's own day, else the latest before;
   a missing rate stops the run and names the pair and day):
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
   Lines are unique per (run, source, beneficiary, rule): a re-run of the same statement cannot
   double them. Amounts are never rounded.
4. Totals per partner: the lines' sum, the carry from the previous period (negative revenue share,
   totals under the minimum), the cap, the payable rounded once half to even, and the difference
   against what was settled for the period (CommissionSettlement).

Incremental (``run_increment``): the latest regular run of an unsettled period is brought up to a
later as-of by recomputing only the accounts whose deals changed since (new, late, edited or
deleted), and the CPA and chargeback lines (few); its totals are recomputed from the lines.

Limits (documented): the chain is the partners' paths at run time (moves recorded in
PartnerParentChange are not replayed into older chains); a deal edited after ``as_of`` is read in
its latest content (the deal table keeps no older content).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import connection

from crm.lib.money import money_round

ZERO = Decimal("0")


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
    since: dt.datetime | None = None  # incremental: only deals from this time (context: a day before)


def _params(scope: Scope) -> dict[str, Any]:
    return {"brand": scope.brand_id, "start": scope.start, "end": scope.end, "as_of": scope.as_of,
            "run": scope.run_id, "drafts": scope.draft_versions, "accounts": scope.accounts,
            "all_accounts": scope.accounts is None, "since": scope.since}


VER_SQL = """
CREATE TEMP TABLE _ver ON COMMIT DROP AS
WITH seen AS (
    SELECT DISTINCT ON (v.plan_id, v.effective_from) v.id, v.plan_id, v.effective_from, v.min_hold_seconds,
           v.split_mode, v.pass_up_percent / 100 AS pass_up, p.currency
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
WITH types AS (SELECT DISTINCT a.account_type FROM trading_tradingaccount a
               JOIN trading_platformserver s ON s.id = a.server_id AND s.brand_id = %(brand)s
               UNION SELECT ''),
groups AS (SELECT id FROM ib_instrumentgroup WHERE brand_id = %(brand)s UNION ALL SELECT NULL)
SELECT DISTINCT ON (v.id, g.id, t.account_type, r.kind, r.basis)
       v.id AS version_id, g.id AS group_id, t.account_type, r.kind, r.basis, r.id AS rule_id
FROM _ver v CROSS JOIN groups g CROSS JOIN types t
JOIN ib_planrule r ON r.version_id = v.id
     AND (r.instrument_group_id IS NULL OR r.instrument_group_id = g.id)
     AND (r.account_type = '' OR r.account_type = t.account_type)
WHERE r.kind IN ('per_lot', 'revshare')
ORDER BY v.id, g.id, t.account_type, r.kind, r.basis,
         (r.instrument_group_id IS NOT NULL) DESC, (r.account_type <> '') DESC, r.id;
ANALYZE _ver; ANALYZE _asg; ANALYZE _pick;
"""

# The period's trade deals, enriched and flagged (see the module docstring, step 2).
SRC_SQL = """
CREATE TEMP TABLE _src ON COMMIT DROP AS
WITH d AS MATERIALIZED (
    SELECT d.id, d.account_id, d.time, d.entry, d.side, d.position_id, d.symbol, d.volume,
           d.profit, d.commission, d.swap, d.fee, d.market_bid, d.market_ask
    FROM trading_deal d
    WHERE d.server_id IN (SELECT id FROM trading_platformserver WHERE brand_id = %(brand)s)
      AND d.time >= %(start)s::timestamptz - make_interval(secs => (SELECT COALESCE(max(min_hold_seconds), 0) FROM _ver))
      AND d.time < %(end)s AND d.kind = 'trade' AND d.deleted_at IS NULL AND d.first_seen_at <= %(as_of)s
      AND (%(all_accounts)s OR d.account_id = ANY(%(accounts)s))
      AND (%(since)s::timestamptz IS NULL OR d.time >= %(since)s::timestamptz - interval '1 day')
),
opens AS (
    SELECT account_id, position_id, min(time) AS open_t, min(side) AS open_side
    FROM d WHERE entry = 'in' GROUP BY account_id, position_id
),
period AS (
    SELECT d.*, o.open_t, COALESCE(o.open_side, CASE d.side WHEN 'buy' THEN 'sell' ELSE 'buy' END) AS pside,
           d.entry IN ('out', 'inout', 'out_by') AS is_close
    FROM d LEFT JOIN opens o ON o.account_id = d.account_id AND o.position_id = d.position_id
    WHERE d.time >= %(start)s AND (%(since)s::timestamptz IS NULL OR d.time >= %(since)s::timestamptz)
),
pos AS (
    SELECT account_id, position_id, min(symbol) AS symbol, min(pside) AS pside, min(open_t) AS open_t,
           max(time) AS close_t
    FROM period WHERE is_close AND open_t IS NOT NULL GROUP BY account_id, position_id
),
hedge AS (
    SELECT account_id, position_id,
           open_t < COALESCE(CASE pside WHEN 'sell' THEN max(CASE WHEN pside = 'buy' THEN close_t END) OVER w
                                        ELSE max(CASE WHEN pside = 'sell' THEN close_t END) OVER w END,
                             '-infinity') AS hedged
    FROM pos
    WINDOW w AS (PARTITION BY account_id, symbol ORDER BY open_t, position_id
                 ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
)
SELECT p.id AS deal_pk, p.account_id, a.client_id, p.time, p.is_close, p.volume,
       p.profit, p.commission, p.swap, p.fee, p.market_bid, p.market_ask, a.account_type,
       a.currency AS account_currency,
       i.group_id, i.contract_size, g.units_per_lot, i.profit_currency,
       at.partner_id, pa.path AS chain, v.id AS version_id, v.currency AS plan_currency,
       v.split_mode, v.pass_up,
       (p.open_t IS NULL OR p.time - p.open_t >= make_interval(secs => v.min_hold_seconds)) AS held,
       COALESCE(h.hedged, false) AS hedged
FROM period p
JOIN trading_tradingaccount a ON a.id = p.account_id
JOIN ib_clientattribution at ON at.client_id = a.client_id AND at.effective_from <= p.time
     AND (at.effective_to IS NULL OR at.effective_to > p.time)
JOIN ib_partner pa ON pa.id = at.partner_id
LEFT JOIN _asg acc ON acc.account_id = p.account_id AND acc.effective_from <= p.time AND acc.effective_to > p.time
LEFT JOIN _asg par ON par.partner_id = at.partner_id AND par.effective_from <= p.time AND par.effective_to > p.time
JOIN _ver v ON v.plan_id = COALESCE(acc.plan_id, par.plan_id) AND v.valid_from <= p.time AND v.valid_to > p.time
LEFT JOIN ib_instrument i ON i.brand_id = %(brand)s AND i.symbol = p.symbol
LEFT JOIN ib_instrumentgroup g ON g.id = i.group_id
LEFT JOIN hedge h ON h.account_id = p.account_id AND h.position_id = p.position_id;
ANALYZE _src;
"""

# What each source row is worth before the level split, per matching rule: (basis, its currency).
BASIS_SQL = """
CREATE TEMP TABLE _basis ON COMMIT DROP AS
SELECT s.deal_pk, s.account_id, s.client_id, s.time, s.partner_id, s.chain, s.version_id, s.plan_currency,
       s.split_mode, s.pass_up, r.id AS rule_id, r.code AS rule_code, r.kind, r.rate, r.level_rates,
       CASE WHEN r.kind = 'per_lot' THEN s.volume * s.contract_size / s.units_per_lot
            WHEN r.basis = 'spread' THEN (s.market_ask - s.market_bid) * s.volume * s.contract_size
            WHEN r.basis = 'commission' THEN -s.commission
            ELSE -(s.profit + s.swap + s.commission + s.fee) END AS basis,
       CASE WHEN r.kind = 'per_lot' THEN COALESCE(NULLIF(r.currency, ''), s.plan_currency)
            WHEN r.basis = 'spread' THEN s.profit_currency
            ELSE s.account_currency END AS basis_currency,
       CASE WHEN r.kind = 'per_lot' THEN 1 ELSE 0.01 END AS unit
FROM _src s
JOIN _pick k ON k.version_id = s.version_id AND k.group_id IS NOT DISTINCT FROM s.group_id
     AND k.account_type = s.account_type
JOIN ib_planrule r ON r.id = k.rule_id
WHERE CASE WHEN k.kind = 'per_lot' OR k.basis = 'spread'
           THEN s.is_close AND s.held AND NOT s.hedged AND s.group_id IS NOT NULL
                AND (k.kind = 'per_lot' OR s.market_bid IS NOT NULL AND s.market_ask IS NOT NULL)
           ELSE true END;
ANALYZE _basis;
"""

# The qualification moment of every client that qualified for a CPA rule by as_of (any period).
CPA_SQL = """
CREATE TEMP TABLE _cpa ON COMMIT DROP AS
WITH fd AS (
    SELECT DISTINCT ON (dp.client_id) dp.client_id, dp.at, dp.amount, dp.currency
    FROM ib_clientdeposit dp JOIN crm_client c ON c.id = dp.client_id AND c.brand_id = %(brand)s
    WHERE dp.at <= %(as_of)s ORDER BY dp.client_id, dp.at, dp.id
),
rules AS (
    SELECT r.*, v.plan_id, v.valid_from, v.valid_to, v.split_mode, v.pass_up, v.currency AS plan_currency
    FROM ib_planrule r JOIN _ver v ON v.id = r.version_id WHERE r.kind = 'cpa'
),
cand AS (
    SELECT fd.client_id, fd.at AS deposit_at, fd.amount, fd.currency, c.country, at.partner_id
    FROM fd JOIN crm_client c ON c.id = fd.client_id
    JOIN ib_clientattribution at ON at.client_id = fd.client_id AND at.effective_from <= fd.at
         AND (at.effective_to IS NULL OR at.effective_to > fd.at)
),
q AS (
    SELECT cand.*, r.id AS rule_id, r.code AS rule_code, r.rate, r.level_rates, r.split_mode, r.pass_up,
           r.plan_currency, r.version_id, COALESCE(NULLIF(r.currency, ''), r.plan_currency) AS rule_currency,
           r.cpa_min_deposit, r.clawback_on_chargeback,
           CASE WHEN r.cpa_min_lots IS NULL OR r.cpa_min_lots = 0 THEN cand.deposit_at ELSE (
               SELECT min(t) FROM (
                   SELECT d.time AS t, sum(d.volume * i.contract_size / g.units_per_lot)
                          OVER (ORDER BY d.time, d.id) AS cum
                   FROM trading_deal d JOIN trading_tradingaccount a ON a.id = d.account_id
                   JOIN ib_instrument i ON i.brand_id = %(brand)s AND i.symbol = d.symbol
                   JOIN ib_instrumentgroup g ON g.id = i.group_id
                   WHERE a.client_id = cand.client_id AND d.kind = 'trade' AND d.entry IN ('out', 'inout', 'out_by')
                     AND d.deleted_at IS NULL AND d.first_seen_at <= %(as_of)s AND d.time >= cand.deposit_at
                     AND d.time < cand.deposit_at + make_interval(days => COALESCE(r.cpa_within_days, 36500))
               ) x WHERE x.cum >= r.cpa_min_lots) END AS lots_at,
           CASE WHEN r.cpa_require_kyc THEN (
               SELECT min(ch.at) FROM kyc_kycstatuschange ch JOIN kyc_kycprofile kp ON kp.id = ch.profile_id
               WHERE kp.client_id = cand.client_id AND ch.to_status = 'approved' AND ch.at <= %(as_of)s)
                ELSE cand.deposit_at END AS kyc_at
    FROM cand JOIN _asg asg ON asg.partner_id = cand.partner_id AND asg.effective_from <= cand.deposit_at
         AND asg.effective_to > cand.deposit_at
    JOIN rules r ON r.plan_id = asg.plan_id AND r.valid_from <= cand.deposit_at AND r.valid_to > cand.deposit_at
    WHERE cardinality(r.cpa_countries) = 0 OR cand.country = ANY(r.cpa_countries)
)
SELECT q.*, greatest(q.deposit_at, q.lots_at, q.kyc_at) AS qualified_at, pa.path AS chain
FROM q JOIN ib_partner pa ON pa.id = q.partner_id
WHERE q.lots_at IS NOT NULL AND q.kyc_at IS NOT NULL AND greatest(q.deposit_at, q.lots_at, q.kyc_at) <= %(as_of)s;
"""

# Currency pairs and days the lines need, with the rate of that day or the latest before.
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
"""

FX_NEEDS = """
SELECT basis_currency AS src, plan_currency AS dst, (time AT TIME ZONE 'UTC')::date AS day FROM _basis
UNION ALL SELECT rule_currency, plan_currency, (qualified_at AT TIME ZONE 'UTC')::date FROM _cpa
UNION ALL SELECT currency, rule_currency, (deposit_at AT TIME ZONE 'UTC')::date FROM _cpa
"""

# The rate of level k (0: the client's partner) of a chain of n partners.
LEVEL_RATE = """CASE WHEN b.split_mode = 'pass_up'
    THEN b.rate * CASE WHEN k.k = cardinality(b.chain) - 1 THEN power(b.pass_up, k.k)
                       ELSE (1 - b.pass_up) * power(b.pass_up, k.k) END
    ELSE b.level_rates[k.k + 1] END"""

LINES_DEAL_SQL = f"""
INSERT INTO ib_commissionline (run_id, source_kind, source_id, beneficiary_id, rule_code, rule_id,
    plan_version_id, level, chain, client_id, account_id, business_time, basis, basis_currency, rate,
    fx_rate, amount, currency)
SELECT %(run)s, 'deal', b.deal_pk, b.chain[cardinality(b.chain) - k.k], b.rule_code, b.rule_id, b.version_id,
       k.k, b.chain, b.client_id, b.account_id, b.time, b.basis, b.basis_currency, lr.rate, fx.rate,
       b.basis * lr.rate * b.unit * fx.rate, b.plan_currency
FROM _basis b
CROSS JOIN LATERAL generate_series(0, cardinality(b.chain) - 1) AS k(k)
CROSS JOIN LATERAL (SELECT {LEVEL_RATE} AS rate) lr
JOIN _fx fx ON fx.src = b.basis_currency AND fx.dst = b.plan_currency AND fx.day = (b.time AT TIME ZONE 'UTC')::date
WHERE lr.rate IS NOT NULL AND lr.rate <> 0 AND b.basis <> 0
"""

_CPA_LINE = f"""
SELECT %(run)s, '{{kind}}', {{source}}, b.chain[cardinality(b.chain) - k.k], b.rule_code, b.rule_id, b.version_id,
       k.k, b.chain, b.client_id, NULL::bigint, {{at}}, {{sign}}1, b.rule_currency, lr.rate, fx.rate,
       {{sign}}lr.rate * fx.rate, b.plan_currency
FROM {{source_from}}
CROSS JOIN LATERAL generate_series(0, cardinality(b.chain) - 1) AS k(k)
CROSS JOIN LATERAL (SELECT {LEVEL_RATE} AS rate) lr
JOIN _fx fx ON fx.src = b.rule_currency AND fx.dst = b.plan_currency AND fx.day = (b.qualified_at AT TIME ZONE 'UTC')::date
JOIN _fx dfx ON dfx.src = b.currency AND dfx.dst = b.rule_currency AND dfx.day = (b.deposit_at AT TIME ZONE 'UTC')::date
WHERE lr.rate IS NOT NULL AND lr.rate <> 0
  AND (b.cpa_min_deposit IS NULL OR b.amount * dfx.rate >= b.cpa_min_deposit)
"""

LINES_HEAD = """INSERT INTO ib_commissionline (run_id, source_kind, source_id, beneficiary_id, rule_code, rule_id,
    plan_version_id, level, chain, client_id, account_id, business_time, basis, basis_currency, rate,
    fx_rate, amount, currency) """

LINES_CPA_SQL = LINES_HEAD + _CPA_LINE.format(
    kind="cpa", source="b.client_id", at="b.qualified_at", sign="", source_from="_cpa b",
) + " AND b.qualified_at >= %(start)s AND b.qualified_at < %(end)s"

LINES_CHARGEBACK_SQL = LINES_HEAD + _CPA_LINE.format(
    kind="chargeback", source="cb.id", at="cb.at", sign="-",
    source_from="""_cpa b JOIN LATERAL (
        SELECT x.id, x.at FROM ib_clientchargeback x WHERE x.client_id = b.client_id AND x.at >= b.qualified_at
          AND x.at <= %(as_of)s ORDER BY x.at, x.id LIMIT 1) cb ON true""",
) + " AND b.clawback_on_chargeback AND cb.at >= %(start)s AND cb.at < %(end)s"

BENCH_BASELINE_SQL = """
SELECT at.partner_id, sum(d.volume) FROM trading_deal d
JOIN trading_tradingaccount a ON a.id = d.account_id
JOIN ib_clientattribution at ON at.client_id = a.client_id AND at.effective_from <= d.time
     AND (at.effective_to IS NULL OR at.effective_to > d.time)
WHERE d.time >= %(start)s AND d.time < %(end)s AND d.kind = 'trade' AND d.deleted_at IS NULL
GROUP BY at.partner_id
"""


def _execute(sql: str, params: dict[str, Any]) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def _drop_temps() -> None:
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS _ver, _asg, _pick, _src, _basis, _cpa, _fx")


def compute_lines(scope: Scope) -> dict[str, int]:
    """Write the run's lines for the scope (all the period's sources, or an incremental subset of
    accounts plus every CPA and chargeback line). Runs in the caller's transaction."""
    params = _params(scope)
    _drop_temps()
    _execute(VER_SQL, params)
    _execute(SRC_SQL, params)
    _execute(BASIS_SQL, params)
    _execute(CPA_SQL, params)
    _execute(FX_SQL.format(needs=FX_NEEDS), params)
    with connection.cursor() as cursor:
        cursor.execute("SELECT src, dst, day FROM _fx WHERE rate IS NULL ORDER BY day, src, dst")
        missing = [(src, dst, day) for src, dst, day in cursor.fetchall()]
    if missing:
        raise FxMissing(missing)
    stats = {
        "deal_lines": _execute(LINES_DEAL_SQL, params),
        "cpa_lines": _execute(LINES_CPA_SQL, params),
        "chargeback_lines": _execute(LINES_CHARGEBACK_SQL, params),
    }
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*), count(*) FILTER (WHERE NOT held AND is_close), "
                       "count(*) FILTER (WHERE hedged AND is_close), count(*) FILTER (WHERE group_id IS NULL) FROM _src")
        deals, short, hedged, unpriced = cursor.fetchone() or (0, 0, 0, 0)
    stats.update({"deals": deals, "short_hold": short, "hedged": hedged, "unknown_symbol": unpriced})
    _drop_temps()
    return stats


@dataclass
class PartnerSum:
    gross: Decimal = ZERO
    lines: int = 0
    cap: Decimal | None = None
    minimum: Decimal | None = None


def line_sums(run_id: int) -> dict[tuple[int, str], PartnerSum]:
    """Per (partner, currency): the lines' sum and count, and the cap and minimum of the latest
    plan version among its lines."""
    out: dict[tuple[int, str], PartnerSum] = defaultdict(PartnerSum)
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH s AS (SELECT beneficiary_id, currency, sum(amount) AS gross, count(*) AS n, "
            "max(plan_version_id) AS version_id FROM ib_commissionline WHERE run_id = %s GROUP BY 1, 2) "
            "SELECT s.beneficiary_id, s.currency, s.gross, s.n, v.period_cap, v.period_minimum "
            "FROM s LEFT JOIN ib_planversion v ON v.id = s.version_id", [run_id])
        for partner_id, currency, gross, n, cap, minimum in cursor.fetchall():
            out[(partner_id, currency)] = PartnerSum(gross, n, cap, minimum)
    return out


@dataclass(frozen=True)
class Total:
    gross: Decimal
    carry_in: Decimal
    capped: Decimal
    payable: Decimal
    carry_out: Decimal


def total_of(*, gross: Decimal, carry_in: Decimal, cap: Decimal | None, minimum: Decimal | None,
             currency: str) -> Total:
    """One partner's period: the cap cuts what the period's lines earned, the carry from earlier
    periods is added, a negative total or one under the minimum is carried over instead of paid,
    and the payable is rounded once, half to even, to the currency's minor unit."""
    capped = min(ZERO, cap - gross) if cap is not None else ZERO
    net = gross + capped + carry_in
    if net < 0 or (minimum is not None and net < minimum):
        return Total(gross, carry_in, capped, ZERO, net)
    payable = money_round(net, currency)
    return Total(gross, carry_in, capped, payable, ZERO)
