-- The currency, amount and fee differences of the pairs (one line, one movement), then
-- of the batches' totals (one line, many payouts, with the brand of the payouts
-- when they are all of one). A fee break's difference is the fees' (what the provider kept more
-- than the ledger booked).
{insert_break}
SELECT gen_random_uuid(), 'currency_mismatch', 'open', %(provider)s, coalesce(r.brand_id, l.brand_id),
       l.settlement_id, l.id, r.tx_id, r.currency, l.currency, l.amount, r.amount,
       CASE WHEN l.currency = r.currency THEN l.amount - r.amount ELSE 0 END,
       l.fee, r.fee, l.value_date, now(), '', ''
{pairs} AND l.currency <> r.currency;
{insert_break}
SELECT gen_random_uuid(), 'amount_mismatch', 'open', %(provider)s, coalesce(r.brand_id, l.brand_id),
       l.settlement_id, l.id, r.tx_id, r.currency, l.currency, l.amount, r.amount,
       CASE WHEN l.currency = r.currency THEN l.amount - r.amount ELSE 0 END,
       l.fee, r.fee, l.value_date, now(), '', ''
{pairs} AND l.currency = r.currency AND l.amount <> r.amount;
{insert_break}
SELECT gen_random_uuid(), 'fee_mismatch', 'open', %(provider)s, coalesce(r.brand_id, l.brand_id),
       l.settlement_id, l.id, r.tx_id, r.currency, l.currency, l.amount, r.amount, l.fee - r.fee,
       l.fee, r.fee, l.value_date, now(), '', ''
{pairs} AND l.currency = r.currency AND l.fee <> r.fee;
{insert_break}
SELECT gen_random_uuid(), 'amount_mismatch', 'open', %(provider)s, coalesce(s.brand_id, l.brand_id),
       l.settlement_id, l.id, NULL, l.currency, l.currency, l.amount, s.amount, l.amount - s.amount,
       l.fee, s.fee, l.value_date, now(), '', ''
{batches_paid} WHERE l.amount <> s.amount;
{insert_break}
SELECT gen_random_uuid(), 'fee_mismatch', 'open', %(provider)s, coalesce(s.brand_id, l.brand_id),
       l.settlement_id, l.id, NULL, l.currency, l.currency, l.amount, s.amount, l.fee - s.fee,
       l.fee, s.fee, l.value_date, now(), '', ''
{batches_paid} WHERE l.fee <> s.fee
