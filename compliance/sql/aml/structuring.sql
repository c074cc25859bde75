-- Structuring: the deposits within the band under the threshold, recorded in the window or far enough
-- before it to be in a trigger's days; for each client and currency the latest trigger's set of the days
-- before it, when it holds at least min_count deposits.
WITH th AS (SELECT currency, amount::numeric AS amount,
                   amount::numeric * (100 - %(band_percent)s) / 100 AS low
            FROM jsonb_each_text(%(thresholds)s::jsonb) t(currency, amount)),
q AS (SELECT m.transaction_id, m.client_id, m.kind, m.amount, m.currency, m.occurred_at, m.recorded_at
      FROM {movements}
      JOIN th ON th.currency = m.currency
      WHERE m.kind = 'deposit' AND m.amount >= th.low AND m.amount < th.amount
        AND m.recorded_at > %(since)s::timestamptz - make_interval(days => %(days)s + 7)
        AND m.recorded_at <= %(until)s),
hits AS (
  SELECT DISTINCT ON (t.client_id, t.currency) t.client_id, t.currency, agg.*
  FROM q t
  CROSS JOIN LATERAL (
      SELECT array_agg(q2.transaction_id ORDER BY q2.transaction_id) AS transaction_ids, count(*) AS n,
             sum(q2.amount) AS total,
             jsonb_agg(jsonb_build_object('id', q2.transaction_id, 'kind', q2.kind, 'amount', q2.amount::text,
                                          'currency', q2.currency, 'occurred_at', q2.occurred_at)
                       ORDER BY q2.occurred_at) AS txs
      FROM q q2
      WHERE q2.client_id = t.client_id AND q2.currency = t.currency AND q2.occurred_at <= t.occurred_at
        AND q2.occurred_at > t.occurred_at - make_interval(days => %(days)s)) agg
  WHERE t.recorded_at > %(since)s AND agg.n >= %(min_count)s
  ORDER BY t.client_id, t.currency, t.occurred_at DESC, t.transaction_id DESC)
SELECT h.client_id, h.transaction_ids,
       least(100, 40 + 20 * (h.n - %(min_count)s + 1))::int AS score,
       jsonb_build_object('transactions', h.txs, 'count', h.n, 'total', h.total::text, 'currency', h.currency,
                          'threshold', th.amount::text) AS facts,
       h.n::text || ' deposits totalling '
         || to_char(h.total, coalesce(%(formats)s::jsonb ->> h.currency, 'FM999,999,999,999,990.00'))
         || ' ' || h.currency || ', each just under '
         || to_char(th.amount, coalesce(%(formats)s::jsonb ->> h.currency, 'FM999,999,999,999,990.00'))
         || ', within ' || %(days)s::text || ' days' AS summary
FROM hits h JOIN th ON th.currency = h.currency
