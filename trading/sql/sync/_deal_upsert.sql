-- The chunk's deals (one array per column of trading.sync.DEAL_COLUMNS, bound in binary: a
-- text-format array must escape every quote of every raw JSON record, which costs more than the
-- whole insert; binary arrays carry lengths and no escaping), each with its account by login.
INSERT INTO trading_deal AS d (server_id, account_id, deal_id, login, time, platform_time_msc, kind, action, entry,
                               side, position_id, order_id, symbol, volume, price, profit, commission, swap, fee,
                               comment, reason, market_bid, market_ask, market_spread, raw, content_hash,
                               first_seen_at)
SELECT %(server_id)s, a.id, u.deal_id, u.login, u.time, u.platform_time_msc, u.kind, u.action, u.entry, u.side,
       u.position_id, u.order_id, u.symbol, u.volume, u.price, u.profit, u.commission, u.swap, u.fee, u.comment,
       u.reason, u.market_bid, u.market_ask, u.market_spread, u.raw::jsonb, u.content_hash, statement_timestamp()
FROM (SELECT u.*, {content_hash} AS content_hash
      FROM unnest(%(deal_id)b::bigint[], %(login)b::bigint[], %(time)b::timestamptz[],
                  %(platform_time_msc)b::bigint[], %(kind)b::text[], %(action)b::smallint[], %(entry)b::text[],
                  %(side)b::text[], %(position_id)b::bigint[], %(order_id)b::bigint[], %(symbol)b::text[],
                  %(volume)b::numeric[], %(price)b::numeric[], %(profit)b::numeric[], %(commission)b::numeric[],
                  %(swap)b::numeric[], %(fee)b::numeric[], %(comment)b::text[], %(reason)b::smallint[],
                  %(market_bid)b::numeric[], %(market_ask)b::numeric[], %(raw)b::text[],
                  %(market_spread)b::numeric[])
           AS u(deal_id, login, time, platform_time_msc, kind, action, entry, side, position_id, order_id, symbol,
                volume, price, profit, commission, swap, fee, comment, reason, market_bid, market_ask, raw,
                market_spread)) AS u
JOIN trading_tradingaccount a ON a.server_id = %(server_id)s AND a.login = u.login
-- A replay of a stored, unchanged deal is dropped here, before the insert is attempted: an index
-- probe, no row lock, nothing written. The time names the month's partition, the only one probed.
WHERE NOT EXISTS (SELECT 1 FROM trading_deal s WHERE s.server_id = %(server_id)s
                  AND s.deal_id = u.deal_id AND s.time = u.time AND s.content_hash = u.content_hash
                  AND s.deleted_at IS NULL)
ON CONFLICT (server_id, deal_id, time) DO UPDATE SET
    account_id = EXCLUDED.account_id, login = EXCLUDED.login, time = EXCLUDED.time,
    platform_time_msc = EXCLUDED.platform_time_msc, kind = EXCLUDED.kind, action = EXCLUDED.action,
    entry = EXCLUDED.entry, side = EXCLUDED.side, position_id = EXCLUDED.position_id,
    order_id = EXCLUDED.order_id, symbol = EXCLUDED.symbol, volume = EXCLUDED.volume, price = EXCLUDED.price,
    profit = EXCLUDED.profit, commission = EXCLUDED.commission, swap = EXCLUDED.swap, fee = EXCLUDED.fee,
    comment = EXCLUDED.comment, reason = EXCLUDED.reason, market_bid = EXCLUDED.market_bid,
    market_ask = EXCLUDED.market_ask, market_spread = EXCLUDED.market_spread, raw = EXCLUDED.raw, content_hash = EXCLUDED.content_hash,
    updated_at = now(), deleted_at = NULL
WHERE d.content_hash IS DISTINCT FROM EXCLUDED.content_hash OR d.deleted_at IS NOT NULL
-- A row this statement inserted was first seen at its start; an updated one earlier. (The usual
-- xmax = 0 cannot be read from a partitioned table's RETURNING.)
RETURNING d.first_seen_at = statement_timestamp() AS inserted, d.id, d.deal_id, d.account_id, d.kind, d.time
