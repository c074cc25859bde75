WITH named AS (SELECT to_regclass(name)::oid AS relid FROM unnest(%s::text[]) AS n(name)),
read AS (
    SELECT relid FROM named
    UNION SELECT d.refobjid FROM named n JOIN pg_rewrite w ON w.ev_class = n.relid
          JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = w.oid
                          AND d.refclassid = 'pg_class'::regclass AND d.refobjid <> n.relid
)
SELECT pg_current_xact_id_if_assigned() IS NOT NULL AND (NOT current_setting('track_counts')::bool
       OR EXISTS (SELECT FROM pg_stat_xact_user_tables
                  WHERE relid IN (SELECT relid FROM read) AND n_tup_ins + n_tup_upd + n_tup_del > 0))
