-- The daily features of the agent-days aggregated, written in one statement (the rows of those
-- agent-days are deleted first: pipeline._features_build). Counts only: the references are looked up
-- again for the few days that alert (pipeline._with_refs).
WITH {ev},
hourly AS (
    SELECT agent_id, day, hour, count(*) AS total,
           count(*) FILTER (WHERE kind = 'client_open' AND client_id IS NOT NULL) AS opens,
           count(*) FILTER (WHERE stale) AS stale
    FROM ev GROUP BY 1, 2, 3
),
hours AS (
    SELECT agent_id, day, jsonb_object_agg(hour, total) AS hours,
           coalesce(jsonb_object_agg(hour, opens) FILTER (WHERE opens > 0), '{{}}') AS open_hours,
           coalesce(jsonb_object_agg(hour, stale) FILTER (WHERE stale > 0), '{{}}') AS stale_hours
    FROM hourly GROUP BY 1, 2
),
daily AS (
    SELECT agent_id, day, min(time) AS first_time,
           count(*) FILTER (WHERE kind = 'client_open' AND client_id IS NOT NULL) AS opens,
           count(*) FILTER (WHERE kind = 'pii_reveal' AND client_id IS NOT NULL) AS reveals,
           count(*) FILTER (WHERE stale) AS stale,
           coalesce(sum(CASE WHEN money_near THEN %(near_weight)s ELSE 1 END) FILTER (WHERE oob), 0) AS oob_hv,
           coalesce(array_agg(DISTINCT client_id::text) FILTER (WHERE oob), '{{}}') AS oob_clients,
           count(*) FILTER (WHERE kind = 'export') AS exports,
           coalesce(sum(coalesce(rows, 0)) FILTER (WHERE kind = 'export'), 0) AS export_rows,
           count(*) FILTER (WHERE kind = 'search') AS searches,
           count(*) FILTER (WHERE kind = 'call') AS calls,
           count(*) FILTER (WHERE kind = 'call' AND coalesce(duration_s, 0) <= %(brief)s) AS brief_calls,
           count(*) FILTER (WHERE kind = 'call' AND coalesce(duration_s, 0) <= %(short)s) AS short_calls,
           count(*) FILTER (WHERE booked_near) AS money_near,
       count(*) FILTER (WHERE oob AND money_near) AS oob_money_near
    FROM ev GROUP BY 1, 2
)
INSERT INTO monitoring_agentdayfeatures (brand_id, agent_id, day, data, cover_key)
SELECT %(brand)s, d.agent_id, d.day,
       jsonb_build_object('opens', d.opens, 'reveals', d.reveals, 'stale', d.stale, 'oob_hv', d.oob_hv,
                          'oob_clients', to_jsonb(d.oob_clients), 'exports', d.exports, 'export_rows', d.export_rows,
                          'searches', d.searches, 'calls', d.calls, 'brief_calls', d.brief_calls,
                          'short_calls', d.short_calls, 'money_near', d.money_near, 'oob_money_near', d.oob_money_near,
                          'stale_known', d.first_time >= %(stale_after)s,
                          'hours', h.hours, 'open_hours', h.open_hours, 'stale_hours', h.stale_hours),
       {cover_key}
FROM daily d JOIN hours h USING (agent_id, day)
