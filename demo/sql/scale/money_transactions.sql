-- The ledger transactions of the batch's money moves (scale_money_move: per account, cycles of a deposit,
-- a transfer to the trading account, one back and a withdrawal). Parameter: the PSP's code. The table:
-- the wallet's ledger transaction table.
INSERT INTO {transactions} (id, code, idempotency_key, fingerprint, kind, memo, occurred_at, recorded_at,
                            reverses_id, rate, rate_source, actor_id, metadata, ref_kind, ref_code)
SELECT id, md5('scale-tx:' || id)::uuid, 'scale:' || kind || ':' || id, lpad(to_hex(id), 64, '0'),
       kind, '', at, at, NULL, NULL, '', NULL,
       CASE WHEN kind IN ('deposit', 'withdrawal') THEN jsonb_build_object('method', method, 'provider', %s::text)
            ELSE '{{}}'::jsonb END,
       '', ''
FROM (SELECT *, (ARRAY['deposit', 'transfer', 'transfer', 'withdrawal'])[1 + step] AS kind
      FROM scale_money_move) m
