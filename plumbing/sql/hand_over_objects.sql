-- The objects of the public schema that the superuser owns (tables, partitions, views, sequences not
-- owned by a column, routines) handed over to the owner role (crm.lib.dbroles; run by plumbing.embedded).
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT c.relkind, format('%I.%I', n.nspname, c.relname) AS name FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'public' AND pg_get_userbyid(c.relowner) = 'postgres'
               AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
               -- a sequence owned by a column moves with its table
               AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid
                                                     AND d.deptype IN ('a', 'i')))
    LOOP
        EXECUTE format('ALTER %s %s OWNER TO %I',
                       CASE r.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                                      WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, r.name, {owner});
    END LOOP;
    FOR r IN SELECT p.oid::regprocedure AS name FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname = 'public' AND pg_get_userbyid(p.proowner) = 'postgres'
    LOOP
        EXECUTE format('ALTER ROUTINE %s OWNER TO %I', r.name, {owner});
    END LOOP;
END $$;
