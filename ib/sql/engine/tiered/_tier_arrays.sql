CASE WHEN bool_or(x.tier_value IS NOT NULL) THEN array_agg(x.tier_value) END AS tier_values,
CASE WHEN bool_or(x.tier_value IS NOT NULL) THEN array_agg(x.tier_min) END AS tier_mins,
CASE WHEN bool_or(x.tier_value IS NOT NULL) THEN array_agg(x.tier_factor) END AS tier_factors,
sum(x.basis * COALESCE(x.tier_factor, 1)) AS weighted_basis
