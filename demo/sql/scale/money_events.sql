-- The deposits' and withdrawals' events (wallet.deposit_succeeded, wallet.withdrawal_paid) of the batch's
-- money moves, already dispatched. Parameters, in order: currency, PSP, currency, PSP. The table: the
-- core's event table.
INSERT INTO {events} (uuid, name, client_id, brand_id, data, occurred_at, created_at, dispatched_at, request_id)
SELECT md5('scale-event:' || id)::uuid,
       CASE step WHEN 0 THEN 'wallet.deposit_succeeded' ELSE 'wallet.withdrawal_paid' END,
       client_id, brand_id,
       CASE step WHEN 0 THEN jsonb_build_object(
                'deposit', md5('scale-deposit:' || id)::uuid::text, 'amount', amount::text,
                'credited', (amount - fee)::text, 'fee', fee::text, 'currency', %s::text, 'method', method,
                'provider', %s::text, 'first', false)
            ELSE jsonb_build_object('withdrawal', md5('scale-withdrawal:' || id)::uuid::text,
                'amount', amount::text, 'currency', %s::text, 'method', method, 'provider', %s::text,
                'state', 'paid') END,
       at, at, at, ''
FROM scale_money_move
WHERE step IN (0, 3)
