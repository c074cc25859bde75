-- A deal report's market bid, ask and spread on its deals already stored (trading.deal_import.
-- market_prices_fill): the content hash leaves them out, so the upsert kept a deal imported before
-- without them unchanged; here they are written where they differ, and updated_at moves (the
-- commission engine's increments recompute the deals' days). Each deal is found by its key (server,
-- ticket, time: the time names its month's partition).
UPDATE trading_deal d
SET market_bid = u.market_bid, market_ask = u.market_ask, market_spread = u.market_spread, updated_at = now()
FROM unnest(%(deal_id)s::bigint[], %(time)s::timestamptz[], %(market_bid)s::numeric[], %(market_ask)s::numeric[],
            %(market_spread)s::numeric[]) AS u(deal_id, time, market_bid, market_ask, market_spread)
WHERE d.server_id = %(server_id)s AND d.deal_id = u.deal_id AND d.time = u.time AND d.deleted_at IS NULL
  AND (d.market_bid, d.market_ask, d.market_spread) IS DISTINCT FROM (u.market_bid, u.market_ask, u.market_spread)
