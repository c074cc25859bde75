-- Deposits over what the client declared. Declared: the rule's questions answered in the client's latest
-- questionnaire response (kyc_public_questionnaire_answers), each at its answer's amount (ceilings; the
-- largest when several options are chosen), added up. For each client with a deposit in the rule's
-- currency recorded in the window, the latest such deposit and every deposit of the days up to it: fires
-- when they reach the rule's percent of the declared. At most one alert per client in the days: a deposit
-- within the days after the trigger of the rule's previous alert for the client (the same facts grown by
-- one more deposit) raises nothing; once the days have passed, deposits still out of line raise a new one.
-- A client who declared nothing the rule counts is left to the risk score (its deposits_vs_declared factor).
WITH q AS (SELECT m.transaction_id, m.client_id, m.kind, m.amount, m.currency, m.occurred_at, m.recorded_at
           FROM {movements}
           WHERE m.kind = 'deposit' AND m.amount > 0 AND m.currency = %(currency)s::text
             AND m.recorded_at > %(since)s::timestamptz - make_interval(days => %(days)s + 7)
             AND m.recorded_at <= %(until)s),
latest AS (SELECT DISTINCT ON (q.client_id) q.client_id, q.transaction_id, q.occurred_at
           FROM q WHERE q.recorded_at > %(since)s ORDER BY q.client_id, q.occurred_at DESC, q.transaction_id DESC),
answered AS (
  SELECT DISTINCT ON (a.client_id, a.question) a.client_id, a.question, a.option, ce.amount::numeric AS amount
  FROM kyc_public_questionnaire_answers a
  JOIN jsonb_each_text(%(ceilings)s::jsonb) ce(option, amount) ON ce.option = a.option
  WHERE a.client_id IN (SELECT client_id FROM latest)
    AND a.question = ANY(%(questions)s::text[])
  ORDER BY a.client_id, a.question, ce.amount::numeric DESC),
declared AS (
  SELECT client_id, sum(amount) AS amount, jsonb_object_agg(question, option) AS answers,
         string_agg(question || ' ' || option, ', ' ORDER BY question) AS answers_text
  FROM answered GROUP BY client_id),
hits AS (  -- joined and grouped, not a lateral scan of the CTE per client (quadratic in a large day)
  SELECT l.client_id, l.occurred_at AS trigger_at, d.amount AS declared, d.answers, d.answers_text,
         array_agg(q2.transaction_id ORDER BY q2.transaction_id) AS transaction_ids, count(*) AS n,
         sum(q2.amount) AS total,
         jsonb_agg(jsonb_build_object('id', q2.transaction_id, 'kind', q2.kind, 'amount', q2.amount::text,
                                      'currency', q2.currency, 'occurred_at', q2.occurred_at)
                   ORDER BY q2.occurred_at) AS txs
  FROM latest l
  JOIN declared d ON d.client_id = l.client_id AND d.amount > 0
  JOIN q q2 ON q2.client_id = l.client_id AND (q2.occurred_at, q2.transaction_id) <= (l.occurred_at, l.transaction_id)
    AND q2.occurred_at > l.occurred_at - make_interval(days => %(days)s)
  GROUP BY l.client_id, l.occurred_at, d.amount, d.answers, d.answers_text
  HAVING sum(q2.amount) * 100 >= d.amount * %(percent)s
    AND NOT EXISTS (SELECT 1 FROM compliance_amlalert a
                    WHERE a.rule_id = %(rule)s AND a.client_id = l.client_id
                      AND (a.facts ->> 'trigger_at')::timestamptz < l.occurred_at
                      AND (a.facts ->> 'trigger_at')::timestamptz > l.occurred_at - make_interval(days => %(days)s)))
SELECT h.client_id, h.transaction_ids,
       least(100, 40 + round(20 * h.total / h.declared))::int AS score,
       jsonb_build_object('transactions', h.txs, 'count', h.n, 'total', h.total::text,
                          'currency', %(currency)s::text, 'declared', h.declared::text,
                          'answers', h.answers, 'days', %(days)s::int,
                          'percent', %(percent)s::int, 'trigger_at', h.trigger_at) AS facts,
       h.n::text || CASE WHEN h.n = 1 THEN ' deposit of ' ELSE ' deposits totalling ' END
         || to_char(h.total, coalesce(%(formats)s::jsonb ->> %(currency)s::text, 'FM999,999,999,999,990.00'))
         || ' ' || %(currency)s::text || ' within ' || %(days)s::text || ' days: '
         || round(100 * h.total / h.declared)::text || '%% of the '
         || to_char(h.declared, coalesce(%(formats)s::jsonb ->> %(currency)s::text, 'FM999,999,999,999,990.00'))
         || ' ' || %(currency)s::text || ' the client declared (' || h.answers_text || '); the rule fires from '
         || %(percent)s::text || '%%' AS summary
FROM hits h
