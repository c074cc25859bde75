-- Tiers (see ib.models.PlanRule): the windows and metrics of the tiered rules in force.
SELECT DISTINCT r.tier_window_days, (r.tiers -> 0) ? 'min_lots' AS by_lots
FROM ib_planrule r JOIN _ver v ON v.id = r.version_id
WHERE r.kind IN ('per_lot', 'revshare') AND r.tiers <> '[]'::jsonb
