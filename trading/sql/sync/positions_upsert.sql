-- The open positions as the platform lists them, one array per column.
INSERT INTO trading_position (server_id, account_id, position_id, symbol, side, volume, price_open, price_current,
                              profit, swap, opened_at, comment, observed_at)
SELECT %(server)s, u.account_id, u.position_id, u.symbol, u.side, u.volume, u.price_open, u.price_current, u.profit,
       u.swap, u.opened_at, u.comment, %(now)s
FROM unnest(%(accounts)s::bigint[], %(positions)s::bigint[], %(symbols)s::text[], %(sides)s::text[],
            %(volumes)s::numeric[], %(prices_open)s::numeric[], %(prices_current)s::numeric[],
            %(profits)s::numeric[], %(swaps)s::numeric[], %(opened)s::timestamptz[], %(comments)s::text[])
     AS u(account_id, position_id, symbol, side, volume, price_open, price_current, profit, swap, opened_at, comment)
ON CONFLICT (server_id, position_id) DO UPDATE SET
    account_id = EXCLUDED.account_id, volume = EXCLUDED.volume, price_open = EXCLUDED.price_open,
    price_current = EXCLUDED.price_current, profit = EXCLUDED.profit, swap = EXCLUDED.swap,
    comment = EXCLUDED.comment, observed_at = EXCLUDED.observed_at
