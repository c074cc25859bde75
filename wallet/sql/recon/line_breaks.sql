-- Duplicates, and the lines nothing in the ledger matched; such a line is of the brand of the
-- deposit or withdrawal its merchant reference names, when it names one of ours. The few lines
-- first (materialised), then their merchant references looked up one by one.
{insert_break}
WITH l AS MATERIALIZED (
    SELECT * FROM recon_lines x
    WHERE x.state = 'duplicate' OR NOT EXISTS (SELECT 1 FROM recon_pairs p WHERE p.line_id = x.id))
SELECT gen_random_uuid(), CASE WHEN l.state = 'duplicate' THEN 'duplicate' ELSE 'missing_in_ledger' END,
       'open', %(provider)s, coalesce(d.brand_id, w.brand_id, l.brand_id), l.settlement_id, l.id, NULL,
       l.currency, l.currency, l.amount, NULL, l.amount, l.fee, NULL, l.value_date, now(), '', ''
FROM l
LEFT JOIN wallet_deposit d ON l.merchant_ref <> '' AND d.merchant_ref = l.merchant_ref
LEFT JOIN wallet_withdrawal w ON l.merchant_ref <> '' AND w.merchant_ref = l.merchant_ref
