-- The agent-days whose stored features no longer match what they were computed from: a cover
-- recorded, changed or removed for the day, or a large deposit or withdrawal recorded since the last pass
-- for a client the agent opened around it (the day before to three days after).
SELECT f.agent_id, f.day FROM monitoring_agentdayfeatures f
WHERE f.agent_id = ANY(%(agents)s) AND f.day >= %(first)s AND f.day < %(before)s
  AND f.cover_key <> {cover_key}
UNION
SELECT a.agent_id, (a.time AT TIME ZONE 'UTC')::date
FROM (SELECT DISTINCT m.client_id, (m.occurred_at AT TIME ZONE 'UTC')::date AS day
      FROM wallet_public_client_movements m
      WHERE m.kind IN ('deposit', 'withdrawal') AND abs(m.amount) >= %(large)s AND m.recorded_at >= %(since)s) mv
JOIN monitoring_activity a
  ON a.client_id = mv.client_id AND a.time >= ((mv.day - 1)::timestamp AT TIME ZONE 'UTC')
     AND a.time < ((mv.day + 4)::timestamp AT TIME ZONE 'UTC')
WHERE a.agent_id = ANY(%(agents)s) AND {access}
  AND a.time >= (%(first)s::timestamp AT TIME ZONE 'UTC') AND a.time < (%(before)s::timestamp AT TIME ZONE 'UTC')
