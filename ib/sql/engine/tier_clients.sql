-- Active client accounts: an account counts from each of its deals until the window has passed
-- since it (or its next deal takes over). A running sum of +1 / -1 over those moments per partner,
-- read at each source: starts (0) before reads (1) before ends (2) at one moment.
INSERT INTO _tiermetric
SELECT deal_pk, rule_id, value FROM (
    SELECT e.deal_pk, e.rule_id,
           sum(e.delta) OVER (PARTITION BY e.partner_id ORDER BY e.time, e.ord ROWS UNBOUNDED PRECEDING) AS value
    FROM (SELECT partner_id, time, 1 AS delta, 0 AS ord, NULL::bigint AS deal_pk, NULL::bigint AS rule_id
          FROM _tierdeal
          UNION ALL
          SELECT partner_id, least(nxt, time + make_interval(days => %(window)s)), -1,
                 CASE WHEN nxt <= time + make_interval(days => %(window)s) THEN 0 ELSE 2 END, NULL, NULL
          FROM (SELECT partner_id, time, lead(time) OVER (PARTITION BY partner_id, account_id ORDER BY time) AS nxt
                FROM _tierdeal) t
          UNION ALL
          SELECT partner_id, time, 0, 1, deal_pk, rule_id FROM ({tier_sources}) s) e
) y WHERE deal_pk IS NOT NULL
