-- The shares of the batches written after the run's last earlier batch (after) (_shares_insert), and per (partner, currency)
-- their sum, count of lines and latest plan version.
WITH ins AS ({shares_insert} RETURNING beneficiary_id, currency, amount, plan_version_id, lines)
SELECT beneficiary_id, currency, sum(amount), sum(lines), max(plan_version_id) FROM ins
GROUP BY beneficiary_id, currency
