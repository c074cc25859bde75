-- Each tiered source's step (tier_apply fills it; empty without tiered rules).
CREATE TEMP TABLE _tier (deal_pk bigint, rule_id bigint, value numeric, min numeric, factor numeric) ON COMMIT DROP
