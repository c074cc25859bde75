-- Which rules a source row of _src (`s`) earns under: its version's picked rule of each kind (`k`,
-- `r`); per-lot and spread rules only on closing deals held long enough (the rule's own minimum
-- holding time, else the version's), of a known instrument (spread: with the market's bid and ask,
-- or the symbol's markup per lot), and not hedged unless the version pays hedged legs (both, or
-- the volume not offset: see net_hedge.sql).
JOIN _pick k ON k.version_id = s.version_id AND k.group_id IS NOT DISTINCT FROM s.group_id
     AND k.account_type = s.account_type
JOIN ib_planrule r ON r.id = k.rule_id
WHERE CASE WHEN k.formula <= 2
           THEN s.is_close AND s.group_id IS NOT NULL
                AND CASE WHEN r.min_hold_seconds IS NULL THEN s.held
                         ELSE s.open_t IS NULL OR s.time - s.open_t >= make_interval(secs => r.min_hold_seconds) END
                AND (NOT s.hedged OR k.hedge_mode <> 'later_unpaid')
                AND (k.formula = 1 OR s.spread IS NOT NULL OR s.markup_per_lot IS NOT NULL)
           ELSE true END
