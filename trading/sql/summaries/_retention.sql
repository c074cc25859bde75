-- Per client: the live accounts, each with its peak (the highest equity of the window's days, the
-- latest such day telling until when it stays in the window). Of every client, or of the given ones.
SELECT a.client_id, c.brand_id, c.desk_id,
       max(a.last_trade_at) AS last_trade_at,
       max(COALESCE(a.last_trade_at, a.opened_at, a.created_at)) AS last_activity,
       count(*) FILTER (WHERE a.margin > 0 AND a.margin_level IS NOT NULL
                        AND a.margin_level < s.margin_call_enter_level) AS margin_calls,
       COALESCE(max(CASE WHEN p.high > 0 AND p.high > a.equity THEN (p.high - a.equity) * 100 / p.high
                    ELSE 0 END), 0) AS max_drop,
       -- Only a peak above the equity makes a drop: when it leaves the window the drop changes.
       min(p.day + %(peak_days)s) FILTER (WHERE p.high > 0 AND p.high > a.equity) AS drop_until
FROM trading_tradingaccount a
JOIN trading_platformserver s ON s.id = a.server_id
JOIN crm_public_clients c ON c.id = a.client_id
LEFT JOIN LATERAL (
    SELECT d.high, d.day FROM trading_accountequityday d
    WHERE d.account_id = a.id AND d.day >= %(since)s
    ORDER BY d.high DESC, d.day DESC LIMIT 1
) p ON true
WHERE NOT a.is_demo AND NOT a.is_archived AND (%(every_client)s OR a.client_id = ANY(%(clients)s))
GROUP BY a.client_id, c.brand_id, c.desk_id
