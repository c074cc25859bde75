-- The accounts' balance of what happened before `end` and was known by `cutoff`.
SELECT coalesce(sum(l.amount), 0) FROM wallet_ledgerleg l
JOIN wallet_ledgertransaction t ON t.id = l.transaction_id
WHERE l.account_id = ANY(%(accounts)s) AND l.recorded_at <= %(cutoff)s AND t.occurred_at < %(end)s
