-- Then the rules, over the same challenges; only those with something to decide come back.
SELECT * FROM (
    SELECT c.id, c.phase, a.balance, a.equity, a.login, c.start_balance, c.high_equity, c.trading_days,
        c.day_start_balance, c.day_start_equity, c.phase_started_at, p.daily_loss_pct, p.daily_loss_basis,
        p.max_loss_pct, p.max_loss_mode, p.weekend_holding_allowed, ph,
        CASE WHEN p.daily_loss_basis = 'equity' THEN c.day_start_equity ELSE c.day_start_balance END AS base,
        CASE WHEN p.max_loss_mode = 'trailing' THEN c.high_equity ELSE c.start_balance END
            - c.start_balance * p.max_loss_pct / 100 AS floor,
        c.start_balance * (1 + (ph->>'profit_target_pct')::numeric / 100) AS target,
        c.phase_started_at + make_interval(days => (ph->>'time_limit_days')::int) AS deadline,
        CASE WHEN %(weekend)s AND NOT p.weekend_holding_allowed
             THEN (SELECT count(*) FROM trading_position x WHERE x.account_id = a.id) ELSE 0 END AS open_positions
    FROM trading_challenge c JOIN trading_tradingaccount a ON a.id = c.account_id JOIN trading_challengeproduct p ON p.id = c.product_id
    LEFT JOIN LATERAL (SELECT p.phases -> c.phase AS ph) phase ON true
    WHERE c.state IN ('active', 'funded') AND a.server_id = ANY(%(servers)s)
      AND a.last_synced_at > c.phase_started_at
) r
WHERE r.base - r.equity > r.base * r.daily_loss_pct / 100
   OR r.equity < r.floor
   OR r.open_positions > 0
   OR (r.ph IS NOT NULL AND r.ph->>'time_limit_days' IS NOT NULL AND %(now)s > r.deadline)
   OR (r.ph IS NOT NULL AND r.ph->>'profit_target_pct' IS NOT NULL AND r.balance >= r.target
       AND r.equity >= r.target AND r.trading_days >= COALESCE((r.ph->>'min_trading_days')::int, 0))
