-- Deals stored at another time than the platform now gives them. Each deal is first looked for at
-- its own time (one partition, found for every replay and in-place edit); only a deal not found
-- there (a new one, or one whose time the platform edited) is looked for in every month. The CASE
-- keeps that order (the planner may reorder the conditions of a WHERE), and its subqueries are
-- evaluated row by row, so that the first is pruned to the deal's month.
SELECT k.deal_id, k.stored, k.time FROM (
    SELECT u.deal_id, u.time,
           CASE WHEN (SELECT true FROM trading_deal e
                      WHERE e.server_id = %(server_id)s AND e.deal_id = u.deal_id AND e.time = u.time) IS NULL
                THEN (SELECT s.time FROM trading_deal s
                      WHERE s.server_id = %(server_id)s AND s.deal_id = u.deal_id AND s.time <> u.time LIMIT 1)
           END AS stored
    FROM unnest(%(deal_id)b::bigint[], %(time)b::timestamptz[]) AS u(deal_id, time) OFFSET 0) AS k
WHERE k.stored IS NOT NULL
