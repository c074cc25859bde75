-- Dormant account: a movement of at least the threshold by a client registered before the inactive days,
-- with no other wallet movement in the inactive days before it.
SELECT m.client_id, ARRAY[m.transaction_id] AS transaction_ids,
       least(100, 10 + round(50 * abs(m.amount) / th.amount::numeric))::int AS score,
       jsonb_build_object('transactions', jsonb_build_array(jsonb_build_object(
                              'id', m.transaction_id, 'kind', m.kind, 'amount', m.amount::text,
                              'currency', m.currency, 'occurred_at', m.occurred_at)),
                          'inactive_days', %(inactive_days)s::int,
                          'last_movement', (SELECT max(o.occurred_at) FROM wallet_public_client_movements o
                                            WHERE o.client_id = m.client_id AND o.occurred_at < m.occurred_at)
                          ) AS facts,
       m.kind || ' of '
         || to_char(abs(m.amount), coalesce(%(formats)s::jsonb ->> m.currency, 'FM999,999,999,999,990.00'))
         || ' ' || m.currency || ' after ' || %(inactive_days)s::text || ' days or more without movement' AS summary
FROM {movements}
JOIN jsonb_each_text(%(amounts)s::jsonb) th(currency, amount) ON th.currency = m.currency
WHERE m.recorded_at > %(since)s AND m.recorded_at <= %(until)s
  AND m.kind IN ('deposit', 'withdrawal') AND abs(m.amount) >= th.amount::numeric
  AND c.created_at < m.occurred_at - make_interval(days => %(inactive_days)s)
  AND NOT EXISTS (SELECT 1 FROM wallet_public_client_movements o
                  WHERE o.client_id = m.client_id AND o.transaction_id <> m.transaction_id
                    AND o.occurred_at < m.occurred_at
                    AND o.occurred_at >= m.occurred_at - make_interval(days => %(inactive_days)s))
