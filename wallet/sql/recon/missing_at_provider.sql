-- The provider's movements of the file's days that no file settled (once while open).
{insert_break}
SELECT gen_random_uuid(), 'missing_at_provider', 'open', %(provider)s, r.brand_id, %(import)s, NULL,
       r.tx_id, r.currency, '', NULL, r.amount, -r.amount, NULL, r.fee, r.day, now(), '', ''
FROM {open_ledger} r WHERE r.day BETWEEN %(from)s AND %(to)s
ON CONFLICT (transaction_id, kind) WHERE status = 'open' AND line_id IS NULL DO NOTHING
