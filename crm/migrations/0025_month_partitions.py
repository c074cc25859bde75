"""Monthly partitions, one function for every table that is partitioned by month (crm/partitions.py).

`crm_month_partitions_ensure(parent, first_month, last_month)` creates the missing monthly partitions
`<parent>_pYYYYMM` of a table declared `PARTITION BY RANGE (<timestamptz column>)`, each holding one
UTC calendar month. It runs as the owner (SECURITY DEFINER) so that the application's role, which owns
nothing, can call it before a batch lands and from the daily task that keeps months ahead. A month
whose partition was detached for the archive keeps its name reserved while the detached table
exists: nothing is created in its place, and a row for it is refused rather than split from its
archive.
"""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION crm_month_partitions_ensure(parent regclass, first_month date, last_month date)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    m date := date_trunc('month', first_month)::date;
    made integer := 0;
    part text;
    base text;
BEGIN
    SELECT c.relname INTO base FROM pg_class c JOIN pg_partitioned_table p ON p.partrelid = c.oid
     WHERE c.oid = parent;
    IF base IS NULL THEN
        RAISE EXCEPTION 'crm_month_partitions_ensure: % is not a partitioned table', parent;
    END IF;
    IF last_month < first_month THEN
        RAISE EXCEPTION 'crm_month_partitions_ensure: last month % before first month %', last_month, first_month;
    END IF;
    IF last_month - first_month > 3720 THEN
        RAISE EXCEPTION 'crm_month_partitions_ensure: % days asked for %, at most ten years at once',
            last_month - first_month, base;
    END IF;
    -- Two writers landing on a new month at once must not both create its partition.
    PERFORM pg_advisory_xact_lock(hashtext('crm_month_partitions:' || base));
    WHILE m <= last_month LOOP
        part := base || '_p' || to_char(m, 'YYYYMM');
        IF to_regclass(part) IS NULL THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                           part, base, (m::timestamp AT TIME ZONE 'UTC'),
                           ((m + interval '1 month')::timestamp AT TIME ZONE 'UTC'));
            made := made + 1;
        END IF;
        m := (m + interval '1 month')::date;
    END LOOP;
    RETURN made;
END;
$$;
"""

BACKWARD = "DROP FUNCTION IF EXISTS crm_month_partitions_ensure(regclass, date, date);"


class Migration(migrations.Migration):
    dependencies = [("crm", "0024_client_name_search_index")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
