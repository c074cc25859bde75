-- Every client's retention row, recomputed.
INSERT INTO trading_retentionsummary (client_id, brand_id, desk_id, last_trade_at, last_activity, margin_calls,
                                      max_drop, drop_until, refreshed_at)
SELECT client_id, brand_id, desk_id, last_trade_at, last_activity, margin_calls, max_drop, drop_until, %(now)s
FROM ({retention}) fresh
