-- Large transaction: each deposit or withdrawal (as the rule's direction says) recorded in the window of
-- at least the threshold of its currency.
SELECT m.client_id, ARRAY[m.transaction_id] AS transaction_ids,
       least(100, greatest(1, round(50 * abs(m.amount) / th.amount::numeric)))::int AS score,
       jsonb_build_object('transactions', jsonb_build_array(jsonb_build_object(
                              'id', m.transaction_id, 'kind', m.kind, 'amount', m.amount::text,
                              'currency', m.currency, 'occurred_at', m.occurred_at)),
                          'threshold', th.amount, 'currency', m.currency) AS facts,
       m.kind || ' of '
         || to_char(abs(m.amount), coalesce(%(formats)s::jsonb ->> m.currency, 'FM999,999,999,999,990.00'))
         || ' ' || m.currency || ' (threshold '
         || to_char(th.amount::numeric, coalesce(%(formats)s::jsonb ->> m.currency, 'FM999,999,999,999,990.00'))
         || ')' AS summary
FROM {movements}
JOIN jsonb_each_text(%(amounts)s::jsonb) th(currency, amount) ON th.currency = m.currency
WHERE m.recorded_at > %(since)s AND m.recorded_at <= %(until)s
  AND m.kind = ANY(CASE %(direction)s::text WHEN 'deposit' THEN ARRAY['deposit']
                   WHEN 'withdrawal' THEN ARRAY['withdrawal'] ELSE ARRAY['deposit', 'withdrawal'] END)
  AND abs(m.amount) >= th.amount::numeric
