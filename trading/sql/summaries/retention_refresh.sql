-- The retention rows of the clients recomputed: a client left with no live account loses its row; a
-- row is written only when it changed.
WITH fresh AS ({retention}),
gone AS (
    DELETE FROM trading_retentionsummary r WHERE r.client_id = ANY(%(clients)s)
    AND NOT EXISTS (SELECT 1 FROM fresh f WHERE f.client_id = r.client_id)
)
INSERT INTO trading_retentionsummary AS t (client_id, brand_id, desk_id, last_trade_at, last_activity, margin_calls, max_drop, drop_until, refreshed_at)
SELECT client_id, brand_id, desk_id, last_trade_at, last_activity, margin_calls, max_drop, drop_until, %(now)s FROM fresh
ON CONFLICT (client_id) DO UPDATE SET
    brand_id = EXCLUDED.brand_id, desk_id = EXCLUDED.desk_id, last_trade_at = EXCLUDED.last_trade_at,
    last_activity = EXCLUDED.last_activity, margin_calls = EXCLUDED.margin_calls, max_drop = EXCLUDED.max_drop,
    drop_until = EXCLUDED.drop_until, refreshed_at = EXCLUDED.refreshed_at
WHERE (t.brand_id, t.desk_id, t.last_trade_at, t.last_activity, t.margin_calls, t.max_drop, t.drop_until)
      IS DISTINCT FROM (EXCLUDED.brand_id, EXCLUDED.desk_id, EXCLUDED.last_trade_at, EXCLUDED.last_activity,
                        EXCLUDED.margin_calls, EXCLUDED.max_drop, EXCLUDED.drop_until)
