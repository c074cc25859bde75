-- A transaction's category by its kind (and, for a reversal, by the kind it reverses). Late
-- entries (business time before the month) are their own line whatever their kind.
CASE
    WHEN t.occurred_at < %(start)s THEN 'late'
    WHEN t.kind = 'deposit' THEN 'deposits'
    WHEN t.kind = 'deposit_refund' OR (t.kind = 'reversal' AND o.kind = 'deposit') THEN 'refunds'
    WHEN t.kind = 'withdrawal' OR (t.kind = 'reversal' AND o.kind = 'withdrawal') THEN 'withdrawals'
    WHEN t.kind IN ('chargeback', 'chargeback_fee') THEN 'chargebacks'
    ELSE 'other'
END
