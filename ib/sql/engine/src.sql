-- The period's deals (from `from`), each with its client, the partner it had at the deal's time
-- (and that partner's plan: the account's override, else the partner's; the version at the deal's
-- time: its account's segment), its instrument and two flags: held (open at least the version's
-- minimum holding time) and hedged (its position's; a closing deal of a position not in _pos was
-- held and not hedged; the flags are read on closing deals only). Its spread is the market's at
-- the deal: ask - bid, else the spread a deal report gave (market_spread), else NULL (the basis then
-- takes the symbol's markup). Every
-- join is a hash join of the deals to a small table, in this order: the planner's guesses of the
-- range joins' sizes are far too small, and with them it would hash the deals, or loop over them.
SET LOCAL enable_nestloop = off;
SET LOCAL join_collapse_limit = 1;
CREATE TEMP TABLE _src ON COMMIT DROP AS
SELECT d.id AS deal_pk, d.account_id, g.client_id, d.time, d.entry IN ('out', 'inout', 'out_by') AS is_close,
       d.volume, d.commission, d.profit + d.swap + d.commission + d.fee AS net, d.swap, d.fee,
       COALESCE(d.market_ask - d.market_bid, d.market_spread) AS spread, g.account_type,
       g.account_currency, i.group_id, i.contract_size, i.units_per_lot, i.profit_currency, i.markup_per_lot,
       g.partner_id, g.version_id, g.plan_currency,
       (o.open_t IS NULL OR d.time - o.open_t >= make_interval(secs => g.min_hold_seconds)) AS held,
       COALESCE(o.hedged, false) AS hedged, o.open_t,
       NULL::numeric AS net_factor  -- under net hedging: see net_hedge.sql
FROM trading_public_deals d
LEFT JOIN _pos o ON o.account_id = d.account_id AND o.position_id = d.position_id
LEFT JOIN _inst i ON i.symbol = d.symbol
JOIN _seg g ON g.account_id = d.account_id AND g.seg_from <= d.time AND g.seg_to > d.time
WHERE {deals_where} AND d.time >= %(from)s AND (%(all_partners)s OR g.partner_id = ANY(%(partners)s));
SET LOCAL enable_nestloop = DEFAULT;
SET LOCAL join_collapse_limit = DEFAULT;
ANALYZE _src
