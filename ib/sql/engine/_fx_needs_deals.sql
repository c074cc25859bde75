-- The rates the lines may need: every pair of a currency a basis can be in (a per-lot rule's, a
-- plan's, an instrument's profit currency, an account's) and a plan's currency, on every day of the
-- scope; and the CPA's. A rate is looked up per pair and day, not per source; a pair and day that a
-- source needs and has no rate for is found after the batches are written (ib.engine.compute_lines).
SELECT c.src, v.currency AS dst, day::date
FROM (SELECT NULLIF(r.currency, '') FROM ib_planrule r JOIN _ver v ON v.id = r.version_id WHERE r.kind = 'per_lot'
      UNION SELECT currency FROM _ver UNION SELECT profit_currency FROM _inst
      UNION SELECT account_currency FROM _attr) c(src)
CROSS JOIN (SELECT DISTINCT currency FROM _ver) v
CROSS JOIN generate_series((%(from)s AT TIME ZONE 'UTC')::date, ((%(end)s AT TIME ZONE 'UTC') - interval '1 day')::date,
                           interval '1 day') AS day
WHERE c.src IS NOT NULL
