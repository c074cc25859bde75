-- Currency pairs and days the lines need, with the rate of that day or the latest before. Analysed:
-- guessing its size, the planner sorted a month of sources (spilling to disk) to merge-join a few rows.
CREATE TEMP TABLE _fx ON COMMIT DROP AS
WITH need AS ({needs})
SELECT n.src, n.dst, n.day,
       CASE WHEN n.src = n.dst THEN 1::numeric ELSE COALESCE(
           (SELECT f.rate FROM ib_fxrate f WHERE f.base = n.src AND f.quote = n.dst AND f.day <= n.day
            ORDER BY f.day DESC LIMIT 1),
           (SELECT 1 / f.rate FROM ib_fxrate f WHERE f.base = n.dst AND f.quote = n.src AND f.day <= n.day
            ORDER BY f.day DESC LIMIT 1)) END AS rate
FROM (SELECT DISTINCT src, dst, day FROM need) n;
ANALYZE _fx;
