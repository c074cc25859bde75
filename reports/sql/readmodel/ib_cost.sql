-- The day's commission lines (grouped by the ORM over ib's current lines, lines) as the day's IB
-- cost per partner.
INSERT INTO reports_dailyfigure (day, brand_id, desk_id, currency, metric, dimension, key, amount, count)
SELECT %s, r_brand, r_desk, currency, 'ib_cost', 'partner', r_key, r_amount, r_count FROM ({lines}) lines
