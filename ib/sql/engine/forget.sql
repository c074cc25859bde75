-- What an increment recomputes, deleted: the deal batches of the given partners from the given day on and
-- every CPA and chargeback batch of the run, with their shares; per (partner, currency) the sum,
-- count of lines and latest plan version of the shares removed.
WITH doomed AS (
    DELETE FROM ib_commissionbatch b
    WHERE b.run_id = %(run)s AND b.source_kind IN ('cpa', 'chargeback')
       OR b.run_id = %(run)s AND b.source_kind = 'deal' AND b.partner_id = ANY(%(partners)s) AND b.day >= %(day)s
    RETURNING b.id
),
gone AS (
    DELETE FROM ib_commissionshare s WHERE s.batch_id IN (SELECT id FROM doomed)
    RETURNING s.beneficiary_id, s.currency, s.amount, s.plan_version_id, s.lines
)
SELECT beneficiary_id, currency, sum(amount), sum(lines), max(plan_version_id) FROM gone
GROUP BY beneficiary_id, currency
