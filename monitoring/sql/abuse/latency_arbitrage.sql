-- Clients whose very short trades win far more per lot than is typical for the symbol.
WITH {positions},
short AS (
    SELECT p.*, extract(epoch FROM p.closed - p.opened) AS hold, p.profit / nullif(p.volume, 0) AS per_lot
    FROM positions p
    WHERE p.closed IS NOT NULL AND p.closed - p.opened <= make_interval(secs => %(max_hold)s)
),
typical AS (
    SELECT symbol, currency, percentile_cont(0.5) WITHIN GROUP (ORDER BY abs(per_lot)) AS typical
    FROM short GROUP BY symbol, currency
),
per_client AS (
    SELECT s.client_id, count(*) AS trades, count(*) FILTER (WHERE s.profit > 0) AS wins,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY s.per_lot / nullif(t.typical, 0)) AS edge,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY s.hold) AS median_hold,
           sum(s.profit) AS profit, array_agg(DISTINCT s.currency) AS currencies
    FROM short s JOIN typical t ON t.symbol = s.symbol AND t.currency = s.currency
    GROUP BY s.client_id
)
SELECT pc.*, c.brand_id FROM per_client pc JOIN crm_public_clients c ON c.id = pc.client_id
WHERE pc.trades >= %(min_trades)s AND pc.wins >= %(win_share)s * pc.trades AND pc.edge >= %(edge)s
