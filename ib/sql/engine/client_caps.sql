-- Per (partner, currency): what the version's cap per client cuts off the partner's lines from
-- each client (the line view: the shares' lines, one per source).
SELECT beneficiary_id, currency, sum(least(0, cap - amount)) FROM (
    SELECT l.beneficiary_id, l.currency, l.client_id, sum(l.amount) AS amount, min(v.client_cap) AS cap
    FROM ib_commissionline l JOIN ib_planversion v ON v.id = l.plan_version_id
    WHERE l.run_id = %(run)s AND l.client_id IS NOT NULL AND v.client_cap IS NOT NULL
    GROUP BY 1, 2, 3) x
GROUP BY 1, 2
