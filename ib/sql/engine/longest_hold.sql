-- The longest minimum holding time of the versions in force and their rules (opening deals are
-- looked for that far back), and whether a version pays hedged legs on their net volume.
SELECT greatest(COALESCE(max(min_hold_seconds), 0),
                (SELECT COALESCE(max(r.min_hold_seconds), 0) FROM ib_planrule r
                 WHERE r.version_id IN (SELECT id FROM _ver))),
       bool_or(hedge_mode = 'net')
FROM _ver
