CREATE TEMP TABLE _ver ON COMMIT DROP AS
WITH seen AS (
    SELECT DISTINCT ON (v.plan_id, v.effective_from) v.id, v.plan_id, v.effective_from, v.min_hold_seconds,
           v.split_mode, v.pass_up_percent / 100 AS pass_up, p.currency, v.pass_up_base, v.hedge_mode,
           -- A pass-up chain (pass_up_percents p1, p2, ...) as what reaches each level, level 0
           -- first: 1, p1, p1 x p2, ... (exact numeric products; empty without a chain).
           (WITH RECURSIVE c(k, reach) AS (
                SELECT 0, 1::numeric WHERE cardinality(v.pass_up_percents) > 0
                UNION ALL
                SELECT c.k + 1, c.reach * v.pass_up_percents[c.k + 1] / 100 FROM c
                WHERE c.k < cardinality(v.pass_up_percents))
            SELECT COALESCE(array_agg(c.reach ORDER BY c.k), ARRAY[]::numeric[]) FROM c) AS pass_up_reach
    FROM ib_planversion v JOIN ib_commissionplan p ON p.id = v.plan_id AND p.brand_id = %(brand)s
    WHERE (v.recorded_at <= %(as_of)s AND NOT v.is_draft) OR v.id = ANY(%(drafts)s)
    ORDER BY v.plan_id, v.effective_from, (v.id = ANY(%(drafts)s)) DESC, v.recorded_at DESC, v.id DESC
)
SELECT *, effective_from AS valid_from,
       COALESCE(lead(effective_from) OVER (PARTITION BY plan_id ORDER BY effective_from), 'infinity') AS valid_to
FROM seen;

CREATE TEMP TABLE _asg ON COMMIT DROP AS
SELECT a.plan_id, a.partner_id, a.account_id, a.effective_from, COALESCE(a.effective_to, 'infinity') AS effective_to
FROM ib_planassignment a JOIN ib_commissionplan p ON p.id = a.plan_id AND p.brand_id = %(brand)s
WHERE a.recorded_at <= %(as_of)s;

CREATE TEMP TABLE _pick ON COMMIT DROP AS
WITH types AS (SELECT DISTINCT a.account_type FROM trading_public_accounts a
               JOIN trading_public_servers s ON s.id = a.server_id AND s.brand_id = %(brand)s
               UNION SELECT ''),
groups AS (SELECT id FROM ib_instrumentgroup WHERE brand_id = %(brand)s UNION ALL SELECT NULL)
SELECT DISTINCT ON (v.id, g.id, t.account_type, r.kind, r.basis)
       v.id AS version_id, g.id AS group_id, t.account_type, r.kind, r.basis, r.id AS rule_id, v.hedge_mode,
       CASE WHEN r.kind = 'per_lot' THEN 1 WHEN r.basis = 'spread' THEN 2 WHEN r.basis = 'commission' THEN 3
            ELSE 4 END AS formula
FROM _ver v CROSS JOIN groups g CROSS JOIN types t
JOIN ib_planrule r ON r.version_id = v.id
     AND (r.instrument_group_id IS NULL OR r.instrument_group_id = g.id)
     AND (r.account_type = '' OR r.account_type = t.account_type)
WHERE r.kind IN ('per_lot', 'revshare')
ORDER BY v.id, g.id, t.account_type, r.kind, r.basis,
         (r.instrument_group_id IS NOT NULL) DESC, (r.account_type <> '') DESC, r.id;
ANALYZE _ver; ANALYZE _asg; ANALYZE _pick;
