-- The sources of the tiered rules of one window and metric, as rows of the partner's stream.
SELECT b.partner_id, b.time, b.deal_pk, b.rule_id FROM ({basis}) b JOIN ib_planrule r ON r.id = b.rule_id
WHERE r.tiers <> '[]'::jsonb AND r.tier_window_days = %(window)s AND ((r.tiers -> 0) ? 'min_lots') = %(by_lots)s
