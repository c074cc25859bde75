-- Many instruments, two patterns. Many: for each client with a deposit recorded in the window, its latest
-- such deposit and the deposits of the days before it: fires when they come from at least min_instruments
-- different instruments. New destination: a payout recorded in the window to a destination the client
-- first asked for less than new_destination_days before it, that the client never paid in from.
WITH q AS (SELECT i.transaction_id, i.client_id, i.direction, i.amount, i.currency, i.occurred_at, i.recorded_at,
                  i.method, i.payer_name, i.instrument_country, i.instrument_last4, i.instrument_fingerprint
           FROM {instruments}
           WHERE i.direction = 'deposit' AND i.instrument_fingerprint <> ''
             AND i.recorded_at > %(since)s::timestamptz - make_interval(days => %(days)s + 7)
             AND i.recorded_at <= %(until)s),
latest AS (SELECT DISTINCT ON (q.client_id) q.client_id, q.occurred_at
           FROM q WHERE q.recorded_at > %(since)s ORDER BY q.client_id, q.occurred_at DESC, q.transaction_id DESC),
-- Joined and grouped, not a lateral subquery per client: a CTE has no index, so a lateral scan of it per
-- client is quadratic in a day of a large brand. First the clients that reach the count, then their facts.
reaching AS (
  SELECT l.client_id, l.occurred_at
  FROM latest l JOIN q q2 ON q2.client_id = l.client_id AND q2.occurred_at <= l.occurred_at
    AND q2.occurred_at > l.occurred_at - make_interval(days => %(days)s)
  GROUP BY l.client_id, l.occurred_at
  HAVING count(DISTINCT q2.instrument_fingerprint) >= %(min_instruments)s),
many AS (
  SELECT r.client_id, array_agg(q2.transaction_id ORDER BY q2.transaction_id) AS transaction_ids,
         count(DISTINCT q2.instrument_fingerprint) AS n,
         jsonb_agg(jsonb_build_object('id', q2.transaction_id, 'kind', q2.direction, 'amount', q2.amount::text,
                                      'currency', q2.currency, 'occurred_at', q2.occurred_at,
                                      'client', q2.client_id, 'method', q2.method, 'payer', q2.payer_name,
                                      'country', q2.instrument_country, 'last4', q2.instrument_last4)
                   ORDER BY q2.occurred_at) AS txs
  FROM reaching r JOIN q q2 ON q2.client_id = r.client_id AND q2.occurred_at <= r.occurred_at
    AND q2.occurred_at > r.occurred_at - make_interval(days => %(days)s)
  GROUP BY r.client_id)
SELECT m.client_id, m.transaction_ids,
       least(100, 40 + 15 * (m.n - %(min_instruments)s + 1))::int AS score,
       jsonb_build_object('transactions', m.txs, 'instruments', m.n, 'days', %(days)s::int,
                          'pattern', 'many') AS facts,
       'deposits from ' || m.n::text || ' different payment instruments within ' || %(days)s::text
         || ' days' AS summary
FROM many m
UNION ALL
SELECT i.client_id, ARRAY[i.transaction_id],
       60::int,
       jsonb_build_object('transactions', jsonb_build_array(jsonb_build_object(
                              'id', i.transaction_id, 'kind', i.direction, 'amount', i.amount::text,
                              'currency', i.currency, 'occurred_at', i.occurred_at, 'client', i.client_id,
                              'method', i.method, 'payer', i.payer_name, 'country', i.instrument_country,
                              'last4', i.instrument_last4)),
                          'destination_added_at', i.destination_added_at, 'pattern', 'new_destination',
                          'days', %(new_destination_days)s::int),
       'payout of ' || to_char(i.amount, coalesce(%(formats)s::jsonb ->> i.currency, 'FM999,999,999,999,990.00'))
         || ' ' || i.currency || ' to ' || i.method || ' …' || i.instrument_last4
         || ', a destination added ' || to_char(i.destination_added_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI')
         || ' UTC, less than ' || %(new_destination_days)s::text || ' days before'
FROM {instruments}
WHERE i.direction = 'withdrawal' AND i.recorded_at > %(since)s AND i.recorded_at <= %(until)s
  AND i.instrument_fingerprint <> '' AND i.destination_added_at IS NOT NULL
  AND i.occurred_at < i.destination_added_at + make_interval(days => %(new_destination_days)s)
  AND NOT EXISTS (SELECT 1 FROM wallet_public_payment_instruments s
                  WHERE s.client_id = i.client_id AND s.direction = 'deposit'
                    AND s.instrument_fingerprint = i.instrument_fingerprint AND s.instrument_fingerprint <> '')
