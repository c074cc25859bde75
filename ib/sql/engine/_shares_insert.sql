-- Each batch's beneficiaries: level k of its chain (0: the client's partner) with the level's rate,
-- and the sum of its lines (the batch's weighted basis x rate x unit x FX: exact, as the lines are).
INSERT INTO ib_commissionshare (batch_id, run_id, beneficiary_id, level, rate, amount, lines, currency, plan_version_id)
SELECT b.id, b.run_id, b.chain[cardinality(b.chain) - k.k], k.k, lr.rate, b.weighted_basis * lr.rate * b.unit * b.fx_rate,
       b.n, b.currency, b.plan_version_id
FROM (SELECT bt.id, bt.run_id, bt.chain, bt.unit, bt.fx_rate, bt.weighted_basis, bt.currency, bt.plan_version_id,
             cardinality(bt.source_ids) AS n, r.rate, r.level_rates, v.split_mode, v.pass_up, v.pass_up_base,
             v.pass_up_reach,
             bt.rule_code, bt.times[1] AS at
      FROM ib_commissionbatch bt JOIN ib_planrule r ON r.id = bt.rule_id JOIN _ver v ON v.id = bt.plan_version_id
      WHERE bt.run_id = %(run)s AND bt.id > %(after)s) b
{own_rates}
CROSS JOIN LATERAL generate_series(0, cardinality(b.chain) - 1) AS k(k)
CROSS JOIN LATERAL (SELECT {level_rate} AS rate) lr
WHERE lr.rate IS NOT NULL AND lr.rate <> 0
