
-- The sources grouped into batches (ib.models.CommissionBatch): one per kind, client's partner,
-- rule, day and FX day (and basis currency; the two days differ only for a chargeback, converted at
-- its qualification's rate), with the partner's chain (its path now), the rule, its
-- version and the FX rate joined to the few batches rather than to every source. The GROUP BY is
-- what keeps a source in one batch per rule; the sources are in the order they were read (a hash
-- aggregate: sorting a month of sources would cost more than computing them).
SELECT %(run)s, g.kind, g.partner_id, pa.path, r.code, g.rule_id, r.version_id, g.day, g.fx_day, g.basis_currency,
       v.currency, fx.rate, CASE WHEN r.kind = 'revshare' THEN 0.01 ELSE 1 END, g.source_ids, g.times, g.bases,
       g.account_ids, g.client_ids, g.tier_values, g.tier_mins, g.tier_factors, g.weighted_basis, false
FROM (
    SELECT x.kind, x.partner_id, x.rule_id, x.day, x.fx_day, x.basis_currency,
           array_agg(x.source_id) AS source_ids, array_agg(x.time) AS times, array_agg(x.basis) AS bases,
           array_agg(x.account_id) AS account_ids, array_agg(x.client_id) AS client_ids,
           {tier_arrays}
    FROM ({sources}) x
    GROUP BY x.kind, x.partner_id, x.rule_id, x.day, x.fx_day, x.basis_currency) g
JOIN ib_planrule r ON r.id = g.rule_id
JOIN _ver v ON v.id = r.version_id
-- A pair and day without a rate leaves fx_rate NULL, which the table refuses (compute_lines then names them).
LEFT JOIN _fx fx ON fx.src = g.basis_currency AND fx.dst = v.currency AND fx.day = g.fx_day
JOIN ib_partner pa ON pa.id = g.partner_id
