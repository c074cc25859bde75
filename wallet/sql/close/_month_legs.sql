-- The legs of the month: known by the cutoff, before the month's end, and not already in an
-- earlier close (which holds everything before this month known by its own close).
FROM wallet_ledgerleg l
JOIN wallet_ledgertransaction t ON t.id = l.transaction_id
LEFT JOIN wallet_ledgertransaction o ON o.id = t.reverses_id
WHERE l.account_id = ANY(%(accounts)s)
  AND l.recorded_at <= %(cutoff)s
  AND t.occurred_at < %(end)s
  AND NOT (t.occurred_at < %(start)s AND l.recorded_at <= %(previous_cutoff)s)
