-- EVENTS.jsonl's lines: every action of the brand's agents in [start, end), in time order (ties by id),
-- with whether the access's client had a large deposit or withdrawal from the day before to three days
-- after (as the scoring's aggregation reads it).
WITH {money}
SELECT a.id, a.time, a.agent_id, a.kind, a.client_id, a.client_owner_id, a.client_high_value, a.rows, a.duration_s,
       {money_near}
FROM monitoring_activity a
WHERE a.agent_id = ANY(%(agents)s) AND a.time >= %(start)s AND a.time < %(end)s
ORDER BY a.time, a.id
