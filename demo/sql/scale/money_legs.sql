-- The legs of the batch's money moves: two or three per move (the fee's leg when it has one). Parameter:
-- the currency. The table: the ledger legs.
INSERT INTO {legs} (transaction_id, account_id, currency, amount, recorded_at)
SELECT m.id, l.account_id, %s, l.amount, m.at
FROM scale_money_move m
CROSS JOIN LATERAL (VALUES (m.a1, m.x1), (m.a2, m.x2), (m.a3, m.x3)) AS l(account_id, amount)
WHERE l.account_id IS NOT NULL
