-- Rapid in and out: each withdrawal recorded in the window against the client's deposits (same currency)
-- of the days before it, and the lots the client opened (trading's deals of its live accounts) since the
-- first of them: fires when it takes at least withdrawn_percent of at least min_amounts deposited, with
-- fewer than max_lots traded.
WITH w AS (SELECT m.transaction_id, m.client_id, m.kind, m.amount, m.currency, m.occurred_at
           FROM {movements}
           WHERE m.kind = 'withdrawal' AND m.amount < 0
             AND m.recorded_at > %(since)s AND m.recorded_at <= %(until)s),
hits AS (
  SELECT w.*, d.*, lots.lots
  FROM w
  CROSS JOIN LATERAL (
      SELECT array_agg(d.transaction_id ORDER BY d.transaction_id) AS deposit_ids, sum(d.amount) AS deposited,
             min(d.occurred_at) AS first_at,
             jsonb_agg(jsonb_build_object('id', d.transaction_id, 'kind', d.kind, 'amount', d.amount::text,
                                          'currency', d.currency, 'occurred_at', d.occurred_at)
                       ORDER BY d.occurred_at) AS txs
      FROM wallet_public_client_movements d
      WHERE d.client_id = w.client_id AND d.currency = w.currency AND d.kind = 'deposit' AND d.amount > 0
        AND d.occurred_at < w.occurred_at
        AND d.occurred_at >= w.occurred_at - make_interval(days => %(days)s)) d
  CROSS JOIN LATERAL (
      SELECT coalesce(sum(dl.volume), 0) AS lots
      FROM trading_public_accounts a
      JOIN trading_public_deals dl ON dl.account_id = a.id
      WHERE a.client_id = w.client_id AND NOT a.is_demo AND dl.kind = 'trade' AND dl.entry IN ('in', 'inout')
        AND dl.deleted_at IS NULL AND dl.time >= d.first_at AND dl.time <= w.occurred_at) lots
  JOIN jsonb_each_text(%(min_amounts)s::jsonb) th(currency, amount) ON th.currency = w.currency
  WHERE d.deposited >= th.amount::numeric
    AND -w.amount * 100 >= d.deposited * %(withdrawn_percent)s
    AND lots.lots < %(max_lots)s::numeric)
SELECT h.client_id,
       (SELECT array_agg(x ORDER BY x) FROM unnest(h.deposit_ids || h.transaction_id) x) AS transaction_ids,
       least(100, 60 + round(40 * least(1, -h.amount / h.deposited)))::int AS score,
       jsonb_build_object('transactions', h.txs || jsonb_build_array(jsonb_build_object(
                              'id', h.transaction_id, 'kind', h.kind, 'amount', h.amount::text,
                              'currency', h.currency, 'occurred_at', h.occurred_at)),
                          'deposited', h.deposited::text, 'withdrawn', (-h.amount)::text, 'currency', h.currency,
                          'lots', h.lots::text) AS facts,
       to_char(-h.amount, coalesce(%(formats)s::jsonb ->> h.currency, 'FM999,999,999,999,990.00'))
         || ' ' || h.currency || ' withdrawn after deposits of '
         || to_char(h.deposited, coalesce(%(formats)s::jsonb ->> h.currency, 'FM999,999,999,999,990.00'))
         || ' with ' || h.lots::text || ' lots traded' AS summary
FROM hits h
