-- Provider risk: each deposit recorded in the window, of at least min_amounts, whose money the payment
-- provider scored at min_score or more (a crypto provider's score of the sending addresses, 0 to 1, kept
-- on the deposit when it was credited: known on the day it was recorded).
SELECT i.client_id, ARRAY[i.transaction_id] AS transaction_ids,
       least(100, greatest(1, round(100 * i.provider_risk_score)))::int AS score,
       jsonb_build_object('transactions', jsonb_build_array(jsonb_build_object(
                              'id', i.transaction_id, 'kind', i.direction, 'amount', i.amount::text,
                              'currency', i.currency, 'occurred_at', i.occurred_at, 'client', i.client_id,
                              'method', i.method)),
                          'provider_risk_score', i.provider_risk_score::text,
                          'min_score', %(min_score)s::text) AS facts,
       'deposit of ' || to_char(i.amount, coalesce(%(formats)s::jsonb ->> i.currency, 'FM999,999,999,999,990.00'))
         || ' ' || i.currency || ' by ' || i.method || ' scored ' || i.provider_risk_score::text
         || ' by its provider (from ' || %(min_score)s::text || ')' AS summary
FROM {instruments}
JOIN jsonb_each_text(%(min_amounts)s::jsonb) th(currency, amount) ON th.currency = i.currency
WHERE i.direction = 'deposit' AND i.recorded_at > %(since)s AND i.recorded_at <= %(until)s
  AND i.amount >= th.amount::numeric AND i.provider_risk_score >= %(min_score)s
