-- High-risk jurisdiction: each deposit or withdrawal recorded in the window, of at least min_amounts, by a
-- client whose country has one of the rule's statuses in the brand's jurisdictions on the day it occurred.
SELECT m.client_id, ARRAY[m.transaction_id] AS transaction_ids,
       (CASE j.status WHEN 'sanctioned' THEN 90 ELSE 60 END)::int AS score,
       jsonb_build_object('transactions', jsonb_build_array(jsonb_build_object(
                              'id', m.transaction_id, 'kind', m.kind, 'amount', m.amount::text,
                              'currency', m.currency, 'occurred_at', m.occurred_at)),
                          'country', c.country, 'status', j.status) AS facts,
       m.kind || ' of '
         || to_char(abs(m.amount), coalesce(%(formats)s::jsonb ->> m.currency, 'FM999,999,999,999,990.00'))
         || ' ' || m.currency || ' by a client in ' || c.country || ' (' || j.status || ')' AS summary
FROM {movements}
JOIN compliance_jurisdiction j ON j.brand_id = c.brand_id AND j.country = c.country AND j.region = ''
  AND j.status = ANY(%(statuses)s::text[])
  AND j.effective_from <= m.occurred_at::date AND (j.effective_to IS NULL OR m.occurred_at::date < j.effective_to)
JOIN jsonb_each_text(%(min_amounts)s::jsonb) th(currency, amount) ON th.currency = m.currency
WHERE m.recorded_at > %(since)s AND m.recorded_at <= %(until)s
  AND m.kind IN ('deposit', 'withdrawal') AND abs(m.amount) >= th.amount::numeric
