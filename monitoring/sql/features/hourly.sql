-- Per agent-hour, with the first references per signal (the evidence of the days alerted).
WITH {ev}
SELECT agent_id, day, hour,
       min(time) AS first_time,
       count(*) AS total,
       count(*) FILTER (WHERE kind = 'client_open' AND client_id IS NOT NULL) AS opens,
       count(*) FILTER (WHERE kind = 'pii_reveal' AND client_id IS NOT NULL) AS reveals,
       count(*) FILTER (WHERE stale) AS stale,
       coalesce(sum(CASE WHEN money_near THEN %(near_weight)s ELSE 1 END) FILTER (WHERE oob), 0) AS oob_hv,
       coalesce(array_agg(DISTINCT client_id) FILTER (WHERE oob), '{{}}') AS oob_clients,
       count(*) FILTER (WHERE kind = 'export') AS exports,
       coalesce(sum(coalesce(rows, 0)) FILTER (WHERE kind = 'export'), 0) AS export_rows,
       count(*) FILTER (WHERE kind = 'search') AS searches,
       count(*) FILTER (WHERE kind = 'call') AS calls,
       count(*) FILTER (WHERE kind = 'call' AND coalesce(duration_s, 0) <= %(brief)s) AS brief_calls,
       count(*) FILTER (WHERE kind = 'call' AND coalesce(duration_s, 0) <= %(short)s) AS short_calls,
       (array_agg(id ORDER BY time, id))[1:20] AS hour_refs,
       (array_agg(id ORDER BY time, id) FILTER (WHERE kind = 'client_open' AND client_id IS NOT NULL))[1:%(cap)s]
           AS open_refs,
       (array_agg(id ORDER BY time, id) FILTER (WHERE kind = 'pii_reveal' AND client_id IS NOT NULL))[1:%(cap)s]
           AS reveal_refs,
       (array_agg(id ORDER BY time, id) FILTER (WHERE stale))[1:%(cap)s] AS stale_refs,
       (array_agg(id ORDER BY time, id) FILTER (WHERE oob))[1:%(cap)s] AS oob_refs,
       (array_agg(id ORDER BY time, id) FILTER (WHERE kind = 'export'))[1:%(cap)s] AS export_refs,
       (array_agg(id ORDER BY time, id) FILTER (WHERE kind = 'call' AND coalesce(duration_s, 0) <= %(short)s))
           [1:%(cap)s] AS short_refs,
       count(*) FILTER (WHERE booked_near) AS money_near,
       count(*) FILTER (WHERE oob AND money_near) AS oob_money_near
FROM ev
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3
