-- Per (partner, currency): the shares' sum under rules that carry nothing over, whether one rule
-- makes a negative total owed, and the part of each rule's sum (by code) above the rule's cap.
WITH per_rule AS (
    SELECT s.beneficiary_id, s.currency, b.rule_code, sum(s.amount) AS amount, bool_or(r.negative_owed) AS owed,
           bool_and(NOT r.carry_negative) AS uncarried, min(r.period_cap) AS cap
    FROM ib_commissionshare s JOIN ib_commissionbatch b ON b.id = s.batch_id JOIN ib_planrule r ON r.id = b.rule_id
    WHERE s.run_id = %(run)s GROUP BY 1, 2, 3
)
SELECT beneficiary_id, currency, COALESCE(sum(amount) FILTER (WHERE uncarried AND NOT owed), 0), bool_or(owed),
       COALESCE(sum(least(0, cap - amount)) FILTER (WHERE cap IS NOT NULL), 0)
FROM per_rule GROUP BY 1, 2
