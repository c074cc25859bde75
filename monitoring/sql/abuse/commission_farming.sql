-- monitoring.partners: commission farming.
WITH {referred}, {positions},
mine AS (
    SELECT r.partner_id, r.brand_id, p.* FROM positions p JOIN referred r ON r.client_id = p.client_id
),
mirrors AS (
    SELECT x.partner_id, x.brand_id, count(*) AS pairs, array_agg(DISTINCT x.client_id) || array_agg(DISTINCT y.client_id)
           AS clients
    FROM mine x JOIN mine y ON y.partner_id = x.partner_id AND y.client_id > x.client_id AND y.symbol = x.symbol
         AND y.side <> x.side AND abs(extract(epoch FROM y.opened - x.opened)) <= %(open_seconds)s
         AND least(x.volume, y.volume) >= %(ratio)s * greatest(x.volume, y.volume)
    GROUP BY x.partner_id, x.brand_id
),
short AS (
    SELECT m.*, m.profit / nullif(m.volume, 0) AS per_lot FROM mine m
    WHERE m.closed IS NOT NULL AND m.closed - m.opened <= make_interval(secs => %(max_hold)s)
),
typical AS (
    SELECT p.symbol, p.currency, percentile_cont(0.5) WITHIN GROUP (ORDER BY abs(p.profit / nullif(p.volume, 0)))
           AS typical
    FROM positions p WHERE p.closed IS NOT NULL AND p.closed - p.opened <= make_interval(secs => %(max_hold)s)
    GROUP BY p.symbol, p.currency
),
churn AS (
    SELECT s.partner_id, s.brand_id, count(*) AS short_trades,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY abs(s.per_lot) / nullif(t.typical, 0)) AS edge,
           array_agg(DISTINCT s.client_id) AS clients
    FROM short s JOIN typical t ON t.symbol = s.symbol AND t.currency = s.currency
    GROUP BY s.partner_id, s.brand_id
),
totals AS (SELECT partner_id, count(*) AS trades FROM mine GROUP BY partner_id)
SELECT coalesce(m.partner_id, c.partner_id) AS partner_id, coalesce(m.brand_id, c.brand_id) AS brand_id,
       coalesce(m.pairs, 0) AS pairs, coalesce(c.short_trades, 0) AS short_trades, t.trades, c.edge,
       coalesce(m.clients, '{{}}') || coalesce(c.clients, '{{}}') AS clients
FROM mirrors m FULL JOIN churn c ON c.partner_id = m.partner_id
JOIN totals t ON t.partner_id = coalesce(m.partner_id, c.partner_id)
WHERE coalesce(m.pairs, 0) >= %(min_pairs)s
   OR (c.short_trades >= %(min_trades)s AND c.short_trades >= %(share)s * t.trades AND c.edge <= %(max_edge)s)
