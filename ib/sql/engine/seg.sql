-- Each account's time segments over which its client, partner, plan and plan version stay the same:
-- cut at every start and end of its attributions, its own and its partners' plan assignments and
-- the versions of those assignments' plans, each segment looked up once at its start (an account has a few), so
-- that a deal finds all of them by one join on its account and time instead of four.
CREATE TEMP TABLE _seg ON COMMIT DROP AS
WITH links AS (
    -- The plan assignments each account may be under: its partners' and its own.
    SELECT at.account_id, x.plan_id, x.effective_from, x.effective_to FROM _attr at JOIN _asg x ON x.partner_id = at.partner_id
    UNION SELECT x.account_id, x.plan_id, x.effective_from, x.effective_to FROM _asg x
          WHERE x.account_id IN (SELECT account_id FROM _attr)
),
cuts AS (
    SELECT account_id, effective_from AS t FROM _attr
    UNION SELECT account_id, effective_to FROM _attr
    UNION SELECT l.account_id, c.t FROM links l CROSS JOIN LATERAL (VALUES (l.effective_from), (l.effective_to)) c(t)
    UNION SELECT l.account_id, c.t FROM links l JOIN _ver v ON v.plan_id = l.plan_id
          CROSS JOIN LATERAL (VALUES (v.valid_from), (v.valid_to)) c(t)
),
segs AS (
    SELECT account_id, t AS seg_from, lead(t) OVER (PARTITION BY account_id ORDER BY t) AS seg_to FROM cuts
)
SELECT s.account_id, s.seg_from, s.seg_to, at.client_id, at.partner_id, at.account_type, at.account_currency,
       v.id AS version_id, v.currency AS plan_currency, v.min_hold_seconds
FROM segs s
JOIN _attr at ON at.account_id = s.account_id AND at.effective_from <= s.seg_from AND at.effective_to > s.seg_from
LEFT JOIN _asg acc ON acc.account_id = s.account_id AND acc.effective_from <= s.seg_from AND acc.effective_to > s.seg_from
LEFT JOIN _asg par ON par.partner_id = at.partner_id AND par.effective_from <= s.seg_from AND par.effective_to > s.seg_from
JOIN _ver v ON v.plan_id = COALESCE(acc.plan_id, par.plan_id) AND v.valid_from <= s.seg_from AND v.valid_to > s.seg_from
WHERE s.seg_to IS NOT NULL;
ANALYZE _seg
