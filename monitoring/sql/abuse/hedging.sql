-- Linked clients holding opposite positions on one symbol, opened close together.
WITH {links}, {positions},
hedges AS (
    SELECT l.a, l.b, l.brand_id, pa.symbol, pa.position_id AS pos_a, pb.position_id AS pos_b,
           pa.volume AS lots_a, pb.volume AS lots_b, pa.opened
    FROM links l
    JOIN positions pa ON pa.client_id = l.a
    JOIN positions pb ON pb.client_id = l.b AND pb.symbol = pa.symbol AND pb.side <> pa.side
         AND abs(extract(epoch FROM pb.opened - pa.opened)) <= %(open_seconds)s
         AND least(pa.volume, pb.volume) >= %(ratio)s * greatest(pa.volume, pb.volume)
         AND coalesce(pa.closed, 'infinity') > pb.opened AND coalesce(pb.closed, 'infinity') > pa.opened
)
SELECT a, b, brand_id, count(*) AS pairs, sum(least(lots_a, lots_b)) AS lots,
       array_agg(DISTINCT symbol ORDER BY symbol) AS symbols, min(opened) AS first_at, max(opened) AS last_at
FROM hedges GROUP BY a, b, brand_id HAVING count(*) >= %(min_pairs)s
