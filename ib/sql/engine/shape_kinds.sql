-- Whether the run's rules shape its totals (carry nothing over, owe a negative total, cap a rule)
-- and whether a version caps what one client earns: what `shapes` has to read.
SELECT bool_or(NOT r.carry_negative OR r.negative_owed OR r.period_cap IS NOT NULL),
       bool_or(v.client_cap IS NOT NULL)
FROM ib_planrule r JOIN ib_planversion v ON v.id = r.version_id
WHERE r.version_id IN (SELECT DISTINCT plan_version_id FROM ib_commissionshare WHERE run_id = %(run)s)
