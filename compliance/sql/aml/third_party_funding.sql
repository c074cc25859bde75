-- Third-party funding: each deposit recorded in the window, of at least min_amounts, whose payer is known
-- not to be the client (the name check), or whose card or bank is of another country than the client's
-- residence (the country check).
SELECT i.client_id, ARRAY[i.transaction_id] AS transaction_ids,
       (CASE WHEN d.name_differs AND d.country_differs THEN 85 WHEN d.name_differs THEN 70 ELSE 50 END)::int AS score,
       jsonb_build_object('transactions', jsonb_build_array(jsonb_build_object(
                              'id', i.transaction_id, 'kind', i.direction, 'amount', i.amount::text,
                              'currency', i.currency, 'occurred_at', i.occurred_at, 'client', i.client_id,
                              'method', i.method, 'payer', i.payer_name, 'country', i.instrument_country,
                              'last4', i.instrument_last4)),
                          'payer', i.payer_name, 'payer_is_client', i.payer_is_client,
                          'instrument_country', i.instrument_country, 'client_country', c.country,
                          'name_differs', d.name_differs, 'country_differs', d.country_differs) AS facts,
       'deposit of ' || to_char(i.amount, coalesce(%(formats)s::jsonb ->> i.currency, 'FM999,999,999,999,990.00'))
         || ' ' || i.currency
         || CASE WHEN d.name_differs THEN ' paid by ' || i.payer_name || ', not the client' ELSE '' END
         || CASE WHEN d.name_differs AND d.country_differs THEN ' and' ELSE '' END
         || CASE WHEN d.country_differs THEN ' from a ' || i.method || ' of ' || i.instrument_country
                 || ' (the client lives in ' || c.country || ')' ELSE '' END AS summary
FROM {instruments}
JOIN jsonb_each_text(%(min_amounts)s::jsonb) th(currency, amount) ON th.currency = i.currency
CROSS JOIN LATERAL (SELECT
    'name' = ANY(%(checks)s::text[]) AND i.payer_is_client IS FALSE AS name_differs,
    'country' = ANY(%(checks)s::text[]) AND i.instrument_country <> '' AND c.country <> ''
      AND i.instrument_country <> c.country AS country_differs) d
WHERE i.direction = 'deposit' AND i.recorded_at > %(since)s AND i.recorded_at <= %(until)s
  AND i.amount >= th.amount::numeric AND (d.name_differs OR d.country_differs)
