-- The activity of [start, end) as the scoring reads it, one row per action of the agents aggregated
-- (`ev`), set-based:
-- - `stale`: an access whose client nobody (any agent, any brand) touched in the 90 days before, once
--   the history reaches back 90 days. The touch before each row is a window function over the period's
--   rows (`lag` per client, ties in time ordered by id, as the export orders its lines); a client's
--   first row of the period takes its last touch in the 90 days before the period, one grouped scan
--   (`before`), instead of a probe of the client index per row.
-- - `money_near`: an access on one of the days around its client's large deposit or withdrawal (the
--   day before to three days after); a join, not a probe per row. In the own or a covered book
--   (`booked_near`) it is ordinary and not stale; out of book it is out-of-book even for a client who
--   is not high-value, and weighs monitoring.scoring.MONEY_NEAR_OOB_WEIGHT accesses.
-- - `covered`: a colleague's client the agent covers that day: expected, never stale.
-- - `oob`: a high-value client (or one near a large movement) of another agent's book without
--   recorded cover that day.
-- `targets` narrows the agents' rows to some agent-days (_targets.sql), or is empty.
{money},
batch AS (
    SELECT a.id, a.time, a.agent_id, a.kind, a.client_id, a.client_owner_id, a.client_high_value, a.rows,
           a.duration_s, (a.time AT TIME ZONE 'UTC')::date AS day,
           lag(a.time) OVER (PARTITION BY a.client_id ORDER BY a.time, a.id) AS prev_touch
    FROM monitoring_activity a
    WHERE a.time >= %(start)s AND a.time < %(end)s AND (a.client_id IS NOT NULL OR a.agent_id = ANY(%(agents)s))
),
before AS (
    SELECT p.client_id, max(p.time) AS last_touch
    FROM monitoring_activity p
    WHERE p.time >= %(start)s - interval '90 days' AND p.time < %(start)s AND p.client_id IS NOT NULL
      AND p.client_id IN (SELECT a.client_id FROM batch a WHERE a.agent_id = ANY(%(agents)s) AND {access})
    GROUP BY p.client_id
),
flagged AS (
    SELECT a.id, a.time, a.agent_id, a.day, extract(hour FROM a.time AT TIME ZONE 'UTC')::int AS hour, a.kind,
           a.client_id, a.client_owner_id, a.client_high_value, a.rows, a.duration_s,
           coalesce(a.prev_touch, b.last_touch) AS prev_touch, n.client_id IS NOT NULL AS money_near
    FROM batch a
    LEFT JOIN money n ON {access} AND n.client_id = a.client_id AND n.day = a.day
    LEFT JOIN before b ON {access} AND a.prev_touch IS NULL AND b.client_id = a.client_id
    WHERE a.agent_id = ANY(%(agents)s) {targets}
),
booked AS (
    -- whose book the access falls in: another agent's, covered that day (a recorded cover), or the own
    SELECT a.*,
           ({access} AND a.client_owner_id IS NOT NULL AND a.client_owner_id <> a.agent_id) AS not_own,
           CASE WHEN {access} AND a.client_owner_id IS NOT NULL AND a.client_owner_id <> a.agent_id
                THEN EXISTS (SELECT 1 FROM monitoring_cover c
                             WHERE c.agent_id = a.agent_id AND c.covered_id = a.client_owner_id
                               AND a.day BETWEEN c.starts_on AND c.ends_on)
                ELSE false END AS covered
    FROM flagged a
),
ev AS (
    SELECT a.*,
           ({access} AND NOT (a.money_near AND NOT (a.not_own AND NOT a.covered)) AND NOT a.covered
            AND a.time >= %(stale_after)s
            AND (a.prev_touch IS NULL OR a.prev_touch <= a.time - interval '90 days')) AS stale,
           (a.not_own AND NOT a.covered AND (a.client_high_value OR a.money_near)) AS oob,
           ({access} AND a.money_near AND NOT (a.not_own AND NOT a.covered)) AS booked_near
    FROM booked a
)
