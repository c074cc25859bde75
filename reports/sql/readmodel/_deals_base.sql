-- The brands' instruments as the commission engine values a spread (ib.selectors.instrument_specs),
-- passed in as arrays (the CTE inst): reports names no table of ib's.
WITH
inst AS (
    SELECT * FROM unnest(%s::bigint[], %s::text[], %s::numeric[], %s::numeric[], %s::text[], %s::numeric[])
        AS i(brand_id, symbol, contract_size, units_per_lot, profit_currency, markup_per_lot)
), base AS (
    SELECT (d.time AT TIME ZONE 'UTC')::date AS day, s.brand_id, COALESCE(c.desk_id, 0) AS desk_id,
           a.currency, a.client_id, d.server_id, d.symbol, d.entry, d.volume, d.profit, d.commission, d.swap,
           a.book, COALESCE(d.market_ask - d.market_bid, d.market_spread) AS spread
    FROM trading_public_deals d
    JOIN trading_public_accounts a ON a.id = d.account_id
    JOIN trading_public_servers s ON s.id = d.server_id
    LEFT JOIN ({clients}) c ON c.id = a.client_id
    WHERE d.kind = 'trade' AND d.deleted_at IS NULL AND NOT a.is_demo
      AND d.time >= %s AND d.time < %s AND (%s::bigint[] IS NULL OR s.brand_id = ANY(%s::bigint[]))
)
