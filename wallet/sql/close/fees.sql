-- The fees charged to clients in the transactions of the month's clearing legs.
SELECT coalesce(sum(f.amount), 0) FROM wallet_ledgerleg f
JOIN wallet_ledgeraccount fa ON fa.id = f.account_id
WHERE fa.kind = %(fees_kind)s AND f.currency = %(currency)s AND f.recorded_at <= %(cutoff)s
  AND f.transaction_id IN (SELECT t.id {month_legs})
