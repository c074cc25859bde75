-- The pairs and days the batches written after the run's last earlier batch (after) needed and no rate was found for, each
-- pair with its first such day.
SELECT basis_currency, currency, min(fx_day) FROM ib_commissionbatch
WHERE run_id = %(run)s AND id > %(after)s AND fx_rate IS NULL
GROUP BY basis_currency, currency ORDER BY 3, 1, 2
