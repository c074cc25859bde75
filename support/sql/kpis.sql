-- Support KPIs per agent and per desk over the tickets opened in [%(start)s, %(end)s) (UTC), one pass.
-- Scope: every ticket (%(everything)s), the tickets of the desks in %(desks)s, or the user's own
-- (%(user)s as assignee); optional brand and desk filters (NULL: any). Merged tickets are counted
-- by the ticket they went into. Times are wall-clock minutes (not business minutes).
-- A row is an agent's (kind 'agent', key the assignee id, NULL for unassigned) or a desk's
-- (kind 'desk', key the desk id); desk rows only when %(with_desks)s.
WITH t AS (
    SELECT t.desk_id, t.assignee_id,
           EXTRACT(EPOCH FROM (t.first_response_at - t.created_at)) / 60.0 AS first_response,
           EXTRACT(EPOCH FROM (t.resolved_at - t.created_at)) / 60.0 AS resolution,
           t.reopen_count > 0 AS reopened,
           t.rating,
           (t.first_response_breached_at IS NOT NULL OR t.resolution_breached_at IS NOT NULL) AS breached
    FROM support_ticket t
    JOIN support_supportdesk d ON d.id = t.desk_id
    WHERE t.created_at >= %(start)s AND t.created_at < %(end)s
      AND t.status <> 'merged'
      AND (%(brand)s::bigint IS NULL OR t.brand_id = %(brand)s::bigint)
      AND (%(desk)s::bigint IS NULL OR t.desk_id = %(desk)s::bigint)
      AND (%(everything)s OR t.desk_id = ANY(%(desks)s::bigint[]) OR t.assignee_id = %(user)s::bigint)
)
SELECT CASE WHEN GROUPING(desk_id) = 1 THEN 'agent' ELSE 'desk' END AS kind,
       CASE WHEN GROUPING(desk_id) = 1 THEN assignee_id ELSE desk_id END AS key,
       COUNT(*) AS handled,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY first_response) AS first_response_median,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY first_response) AS first_response_p90,
       COUNT(first_response) AS first_responded,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY resolution) AS resolution_median,
       COUNT(resolution) AS resolved,
       COUNT(*) FILTER (WHERE reopened) AS reopened,
       AVG(rating) AS rating_average,
       COUNT(rating) AS rated,
       COUNT(*) FILTER (WHERE rating >= 4) AS rated_good,
       COUNT(*) FILTER (WHERE breached) AS breached
FROM t
GROUP BY GROUPING SETS ((assignee_id), (desk_id))
HAVING GROUPING(desk_id) = 1 OR %(with_desks)s
ORDER BY kind, key NULLS LAST;
