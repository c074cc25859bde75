-- Per (partner, currency): the run's shares' sum, count of lines and latest plan version.
SELECT beneficiary_id, currency, sum(amount), sum(lines), max(plan_version_id) FROM ib_commissionshare
WHERE run_id = %(run)s
GROUP BY beneficiary_id, currency
