-- The CTE `money`: (client, day) for the days around each large deposit or withdrawal, the day
-- before to three days after (a client's movement of at least the large-movement threshold, around the period).
money AS (
    SELECT DISTINCT m.client_id, (m.occurred_at AT TIME ZONE 'UTC')::date + g AS day
    FROM wallet_public_client_movements m, generate_series(-1, 3) AS g
    WHERE m.kind IN ('deposit', 'withdrawal') AND abs(m.amount) >= %(large)s
      AND m.occurred_at >= %(start)s - interval '3 days' AND m.occurred_at < %(end)s + interval '1 day'
)
