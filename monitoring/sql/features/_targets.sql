-- Only some agent-days: the arrays t_agents and t_days (a cover recorded for past days).
AND (a.agent_id, a.day) IN (SELECT * FROM unnest(%(t_agents)s::bigint[], %(t_days)s::date[]))
