-- The benchmark's floor (benchmarks/ib_engine.py): one pass over the month's deals with each one's partner, the
-- least any computation of the commissions reads.
SELECT at.partner_id, sum(d.volume) FROM trading_public_deals d
JOIN trading_public_accounts a ON a.id = d.account_id
JOIN ib_clientattribution at ON at.client_id = a.client_id AND at.effective_from <= d.time
     AND (at.effective_to IS NULL OR at.effective_to > d.time)
WHERE d.time >= %(start)s AND d.time < %(end)s AND d.kind = 'trade' AND d.deleted_at IS NULL
GROUP BY at.partner_id
