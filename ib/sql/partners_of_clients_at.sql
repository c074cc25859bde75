-- For each (client, time) of the arrays, the partner the client was attributed to then.
SELECT q.client_id, q.at, a.partner_id
FROM unnest(%(clients)s::bigint[], %(times)s::timestamptz[]) AS q(client_id, at)
JOIN ib_clientattribution a ON a.client_id = q.client_id AND a.effective_from <= q.at
     AND (a.effective_to IS NULL OR a.effective_to > q.at)
