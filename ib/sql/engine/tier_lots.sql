-- Lots: one moving sum per partner over its deals, read at each source (the source's own deal and
-- any at the same moment included).
INSERT INTO _tiermetric
SELECT deal_pk, rule_id, value FROM (
    SELECT x.deal_pk, x.rule_id, sum(x.lots) OVER (
               PARTITION BY x.partner_id ORDER BY x.time
               RANGE BETWEEN make_interval(days => %(window)s) PRECEDING AND CURRENT ROW) AS value
    FROM (SELECT partner_id, time, lots, NULL::bigint AS deal_pk, NULL::bigint AS rule_id FROM _tierdeal
          UNION ALL
          SELECT partner_id, time, 0, deal_pk, rule_id FROM ({tier_sources}) s) x
) y WHERE deal_pk IS NOT NULL
