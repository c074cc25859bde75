-- The agents covered by agent `agent` on day `day`, as AgentDayFeatures.cover_key keeps them.
coalesce((SELECT string_agg(x.covered_id::text, ',' ORDER BY x.covered_id)
                         FROM (SELECT DISTINCT c.covered_id FROM monitoring_cover c
                               WHERE c.agent_id = {agent} AND {day} BETWEEN c.starts_on AND c.ends_on) x), '')
