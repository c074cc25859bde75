-- No rule in force has tiers: no step.
NULL::numeric AS tier_value, NULL::numeric AS tier_min, NULL::numeric AS tier_factor
