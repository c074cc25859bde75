-- The accounts' trade times, in one statement: the first trade is set once (the locked old row
-- tells whether it was unset), the last trade only moves forward, and a new trade ends an
-- inactivity episode. Each account with whether this was its first trade.
WITH old AS (SELECT id, first_trade_at FROM trading_tradingaccount WHERE id = ANY(%(ids)s) FOR UPDATE)
UPDATE trading_tradingaccount AS t SET
    first_trade_at = COALESCE(t.first_trade_at, u.first),
    last_trade_at = GREATEST(t.last_trade_at, u.last),
    inactive_since = NULL, updated_at = now()
FROM unnest(%(ids)s::bigint[], %(first)s::timestamptz[], %(last)s::timestamptz[]) AS u(id, first, last), old
WHERE t.id = u.id AND old.id = t.id
RETURNING t.id, old.first_trade_at IS NULL
