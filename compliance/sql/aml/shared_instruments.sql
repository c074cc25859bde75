-- Shared instruments, IPs, devices, partner: three patterns, each on if the rule's signals name it.
-- Instruments: each deposit or payout recorded in the window with an instrument that other clients of the
-- brand used in the days before it: fires when at least min_clients clients (this one included) share it;
-- the facts are the instrument's transactions of every client sharing it.
-- IPs and devices: each client's latest sign-in or registration in the window (crm_public_origins) from a
-- public IP (not one of the non-public networks), or with a browser, that other clients of the brand used
-- in the days before it: fires when at least min_clients and at most the cap of clients share it (more is
-- a public network or a common browser).
-- Partner: a client attributed to a partner (ib_public_attributions) signing in from the partner's own IP
-- (within the cap) or browser (within the cap) of the partner's sign-ins (or its own client record's)
-- within the days, one of the two in the window. The origins' alerts carry no transactions: their
-- fingerprint is the facts' fingerprint (what is shared and by whom), so the same facts raise once.
WITH t AS (SELECT DISTINCT ON (i.client_id, i.instrument_fingerprint)
                  i.client_id, i.instrument_fingerprint, i.occurred_at, i.method, i.instrument_last4
           FROM {instruments}
           WHERE i.recorded_at > %(since)s AND i.recorded_at <= %(until)s AND i.instrument_fingerprint <> ''
             AND 'instruments' = ANY(%(signals)s::text[])
           ORDER BY i.client_id, i.instrument_fingerprint, i.occurred_at DESC, i.transaction_id DESC),
reach AS (  -- first the instruments shared by enough clients (a count), then the facts of those only
  SELECT t.* FROM t
  WHERE (SELECT count(DISTINCT s.client_id)
         FROM wallet_public_payment_instruments s
         JOIN crm_public_clients sc ON sc.id = s.client_id AND sc.brand_id = %(brand)s
         WHERE s.instrument_fingerprint = t.instrument_fingerprint AND s.instrument_fingerprint <> ''
           AND s.occurred_at <= t.occurred_at
           AND s.occurred_at > t.occurred_at - make_interval(days => %(days)s)) >= %(min_clients)s),
hits AS (
  SELECT t.client_id, t.method, t.instrument_last4, agg.*
  FROM reach t
  CROSS JOIN LATERAL (
      SELECT array_agg(s.transaction_id ORDER BY s.transaction_id) AS transaction_ids,
             count(DISTINCT s.client_id) AS n,
             array_agg(DISTINCT s.client_id) FILTER (WHERE s.client_id <> t.client_id) AS others,
             jsonb_agg(jsonb_build_object('id', s.transaction_id, 'kind', s.direction, 'amount', s.amount::text,
                                          'currency', s.currency, 'occurred_at', s.occurred_at,
                                          'client', s.client_id, 'method', s.method, 'payer', s.payer_name,
                                          'country', s.instrument_country, 'last4', s.instrument_last4)
                       ORDER BY s.occurred_at) AS txs
      FROM wallet_public_payment_instruments s
      JOIN crm_public_clients sc ON sc.id = s.client_id AND sc.brand_id = %(brand)s
      -- "<> ''" repeats the partial index's predicate so that the lookup may use it (the planner cannot
      -- infer it from the equality with a value of the outer row).
      WHERE s.instrument_fingerprint = t.instrument_fingerprint AND s.instrument_fingerprint <> ''
        AND s.occurred_at <= t.occurred_at
        AND s.occurred_at > t.occurred_at - make_interval(days => %(days)s)) agg
  WHERE agg.n >= %(min_clients)s),
origins AS (  -- the brand's clients' sign-ins and registrations, as far back as the window's triggers look
  SELECT o.id, o.at, o.client_id,
         CASE WHEN o.ip::inet <<= ANY (%(non_public_networks)s::inet[]) THEN NULL ELSE o.ip END AS ip,
         nullif(o.user_agent, '') AS ua
  FROM crm_public_origins o
  JOIN crm_public_clients oc ON oc.id = o.client_id AND oc.brand_id = %(brand)s AND NOT ('merged' = ANY(oc.tags))
  WHERE o.at > %(since)s::timestamptz - make_interval(days => %(days)s) AND o.at <= %(until)s
    AND %(signals)s::text[] && ARRAY['ips', 'devices', 'partner']),
spots AS (
  SELECT 'ip' AS via, o.ip AS value, o.client_id, o.id, o.at FROM origins o
  WHERE o.ip IS NOT NULL AND 'ips' = ANY(%(signals)s::text[])
  UNION ALL
  SELECT 'device', o.ua, o.client_id, o.id, o.at FROM origins o
  WHERE o.ua IS NOT NULL AND 'devices' = ANY(%(signals)s::text[])),
triggers AS (
  SELECT DISTINCT ON (s.client_id, s.via, s.value) s.client_id, s.via, s.value, s.at
  FROM spots s JOIN crm_public_clients c ON c.id = s.client_id
  WHERE s.at > %(since)s AND {in_class}
  ORDER BY s.client_id, s.via, s.value, s.at DESC),
crowd AS (
  SELECT 'ip' AS via, o.ip AS value, count(DISTINCT o.client_id) AS n FROM origins o WHERE o.ip IS NOT NULL
  GROUP BY o.ip
  UNION ALL
  SELECT 'device', o.ua, count(DISTINCT o.client_id) FROM origins o WHERE o.ua IS NOT NULL GROUP BY o.ua),
uses AS (  -- joined and grouped (a lateral scan of a CTE per trigger is quadratic); crowded values left out first
  SELECT tr.client_id AS trigger_client, tr.via, tr.value, s.client_id, count(*) AS times, min(s.at) AS first_at,
         max(s.at) AS last_at
  FROM triggers tr
  JOIN crowd cr ON cr.via = tr.via AND cr.value = tr.value
    AND cr.n <= CASE tr.via WHEN 'ip' THEN %(max_clients_per_ip)s ELSE %(max_clients_per_device)s END
  JOIN spots s ON s.via = tr.via AND s.value = tr.value AND s.at <= tr.at
    AND s.at > tr.at - make_interval(days => %(days)s)
  GROUP BY tr.client_id, tr.via, tr.value, s.client_id),
shared_spots AS (
  SELECT u.trigger_client AS client_id, u.via, u.value, count(*) AS n,
         array_agg(u.client_id ORDER BY u.client_id) AS clients,
         array_agg(u.client_id ORDER BY u.client_id) FILTER (WHERE u.client_id <> u.trigger_client) AS others,
         jsonb_agg(jsonb_build_object('client', u.client_id, 'times', u.times, 'first_at', u.first_at,
                                      'last_at', u.last_at) ORDER BY u.client_id) AS uses
  FROM uses u
  GROUP BY u.trigger_client, u.via, u.value
  HAVING count(*) >= %(min_clients)s),
partners AS (
  SELECT p.id, p.code::text AS code, p.client_id AS own_client
  FROM ib_public_partners p WHERE p.brand_id = %(brand)s AND 'partner' = ANY(%(signals)s::text[])),
partner_origins AS (  -- the partner's own sign-ins, and those of its own client record
  SELECT pa.id AS partner_id, o.at,
         CASE WHEN o.ip::inet <<= ANY (%(non_public_networks)s::inet[]) THEN NULL ELSE o.ip END AS ip,
         nullif(o.user_agent, '') AS ua
  FROM partners pa JOIN crm_public_origins o ON o.object_type = 'ib.partner' AND o.object_id = pa.code
  WHERE o.at > %(since)s::timestamptz - make_interval(days => %(days)s) AND o.at <= %(until)s
  UNION ALL
  SELECT pa.id, o.at, o.ip, o.ua FROM partners pa JOIN origins o ON o.client_id = pa.own_client),
partner_pairs AS (
  SELECT DISTINCT a.partner_id, a.client_id, v.via, v.value
  FROM ib_public_attributions a
  JOIN partners pa ON pa.id = a.partner_id
  JOIN crm_public_clients c ON c.id = a.client_id AND c.id IS DISTINCT FROM pa.own_client
  JOIN origins co ON co.client_id = a.client_id
  JOIN partner_origins po ON po.partner_id = a.partner_id
  CROSS JOIN LATERAL (VALUES ('ip', po.ip, co.ip), ('device', po.ua, co.ua)) v(via, value, theirs)
  JOIN crowd cr ON cr.via = v.via AND cr.value = v.value
  WHERE v.value = v.theirs
    AND cr.n <= CASE v.via WHEN 'ip' THEN %(max_clients_per_ip)s ELSE %(max_clients_per_device)s END
    AND greatest(po.at, co.at) > %(since)s
    AND abs(extract(epoch FROM po.at - co.at)) <= extract(epoch FROM make_interval(days => %(days)s))
    AND co.at >= a.effective_from AND (a.effective_to IS NULL OR co.at < a.effective_to)
    AND {in_class}),
partner_hits AS (
  SELECT pp.partner_id, pp.client_id, pa.code AS partner_code,
         jsonb_agg(jsonb_build_object('via', pp.via, 'value', pp.value) ORDER BY pp.via, pp.value) AS shared,
         string_agg(CASE pp.via WHEN 'ip' THEN 'IP ' || pp.value ELSE 'device "' || left(pp.value, 60) || '"' END,
                    ' and ' ORDER BY pp.via DESC, pp.value) AS shared_text,
         string_agg(pp.via || '=' || pp.value, ',' ORDER BY pp.via, pp.value) AS key
  FROM partner_pairs pp JOIN partners pa ON pa.id = pp.partner_id
  GROUP BY pp.partner_id, pp.client_id, pa.code)
SELECT h.client_id, h.transaction_ids,
       least(100, 50 + 15 * (h.n - %(min_clients)s + 1))::int AS score,
       jsonb_build_object('pattern', 'instrument', 'transactions', h.txs, 'clients', h.n,
                          'other_clients', to_jsonb(h.others),
                          'instrument', h.method || ' …' || h.instrument_last4) AS facts,
       h.method || ' …' || h.instrument_last4 || ' used by ' || h.n::text || ' clients within '
         || %(days)s::text || ' days' AS summary
FROM hits h
UNION ALL
SELECT x.client_id, ARRAY[]::bigint[],
       least(100, (CASE x.via WHEN 'ip' THEN 45 ELSE 40 END) + 15 * (x.n - %(min_clients)s + 1))::int,
       jsonb_build_object('pattern', x.via, 'value', x.value, 'clients', x.n, 'other_clients', to_jsonb(x.others),
                          'uses', x.uses, 'days', %(days)s::int,
                          'fingerprint', x.via || ':' || x.value || ':' || array_to_string(x.clients, ',')),
       CASE x.via WHEN 'ip' THEN 'IP ' || x.value ELSE 'device "' || left(x.value, 80) || '"' END
         || ' used by ' || x.n::text || ' clients within ' || %(days)s::text || ' days (with clients '
         || array_to_string(x.others, ', ') || ')'
FROM shared_spots x
UNION ALL
SELECT ph.client_id, ARRAY[]::bigint[], 80,
       jsonb_build_object('pattern', 'partner', 'partner', ph.partner_id, 'partner_code', ph.partner_code,
                          'shared', ph.shared, 'days', %(days)s::int,
                          'fingerprint', 'partner:' || ph.partner_id || ':' || ph.key),
       'signed in from the ' || ph.shared_text || ' of partner ' || left(ph.partner_code, 8)
         || ', to whom the client is attributed'
FROM partner_hits ph
