-- A deal source's step on a tiered rule, when it has one.
t.value AS tier_value, t.min AS tier_min, t.factor AS tier_factor
