-- Each tiered source's step: the highest threshold its figure reached, and that step's factor (1
-- under the first threshold).
INSERT INTO _tier
SELECT m.deal_pk, m.rule_id, m.value, s.min, COALESCE(s.factor, 1)
FROM _tiermetric m JOIN ib_planrule r ON r.id = m.rule_id
LEFT JOIN LATERAL (
    SELECT (e ->> k.name)::numeric AS min, (e ->> 'factor')::numeric AS factor
    FROM jsonb_array_elements(r.tiers) e
    CROSS JOIN (SELECT CASE WHEN (r.tiers -> 0) ? 'min_lots' THEN 'min_lots' ELSE 'min_clients' END) k(name)
    WHERE (e ->> k.name)::numeric <= m.value ORDER BY 1 DESC LIMIT 1) s ON true
