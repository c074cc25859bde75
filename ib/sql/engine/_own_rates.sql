-- Differential: each partner of the batch's chain (client's partner first) with its own rate for
-- the batch's rule (by code). Level 0's is the batch's own rule (its first level's rate): the rule
-- of the plan version chosen for the sources' account at their time (the account's personal plan,
-- else its partner's), so the levels above earn the difference to the rate the account is paid at.
-- A level above: the rule of that code in the plan version assigned to it at the batch's first
-- source (its first level's rate); 0 when its plan has no such rule.
CROSS JOIN LATERAL (SELECT CASE WHEN b.split_mode = 'differential' THEN (
    SELECT array_agg(CASE WHEN kk = 0 THEN COALESCE(b.level_rates[1], b.rate) ELSE COALESCE((
        SELECT COALESCE(r2.level_rates[1], r2.rate) FROM _asg a
        JOIN _ver v2 ON v2.plan_id = a.plan_id AND v2.valid_from <= b.at AND v2.valid_to > b.at
        JOIN ib_planrule r2 ON r2.version_id = v2.id AND r2.code = b.rule_code
        WHERE a.partner_id = b.chain[cardinality(b.chain) - kk] AND a.effective_from <= b.at AND a.effective_to > b.at
        ORDER BY a.effective_from DESC LIMIT 1), 0) END ORDER BY kk)
    FROM generate_series(0, cardinality(b.chain) - 1) kk) END AS own) d
