NULL::numeric[] AS tier_values, NULL::numeric[] AS tier_mins, NULL::numeric[] AS tier_factors, sum(x.basis) AS weighted_basis
