"""The activity table: natively partitioned by day, append-only.

- One partition per UTC day (`monitoring_activity_pYYYYMMDD`). `monitoring_activity_partitions_ensure`
  creates the missing ones of a range; it runs as the table's owner (SECURITY DEFINER) so that the
  application's role, which owns nothing, can call it before a batch lands and from the daily task
  that keeps two weeks ahead. No default partition: a row for a day without a partition is refused
  rather than parked where a later partition could not be attached.
- UPDATE and DELETE raise (a row trigger, cloned to every partition). Old days leave by detaching
  and dropping their partitions, which no trigger sees and no application role may do.
"""

from django.db import migrations

FORWARD = """
CREATE SEQUENCE monitoring_activity_id_seq AS bigint;

CREATE TABLE monitoring_activity (
    id bigint NOT NULL DEFAULT nextval('monitoring_activity_id_seq'),
    time timestamptz NOT NULL,
    brand_id bigint NULL,
    agent_id bigint NOT NULL,
    kind varchar(16) NOT NULL,
    client_id bigint NULL,
    client_owner_id bigint NULL,
    client_high_value boolean NOT NULL DEFAULT false,
    rows integer NULL,
    duration_s integer NULL,
    outcome varchar(24) NOT NULL DEFAULT '',
    ip inet NULL,
    device varchar(200) NOT NULL DEFAULT '',
    ref varchar(64) NOT NULL DEFAULT '',
    CONSTRAINT monitoring_activity_pk PRIMARY KEY (id, time),
    CONSTRAINT monitoring_activity_kind CHECK (kind IN ('client_open', 'pii_reveal', 'export', 'search', 'call', 'login'))
) PARTITION BY RANGE (time);

ALTER SEQUENCE monitoring_activity_id_seq OWNED BY monitoring_activity.id;

-- The scoring aggregates per agent and hour; the evidence pages look a client's accesses up.
CREATE INDEX monitoring_activity_agent_time ON monitoring_activity (agent_id, time);
CREATE INDEX monitoring_activity_client_time ON monitoring_activity (client_id, time) WHERE client_id IS NOT NULL;

CREATE OR REPLACE FUNCTION monitoring_activity_partitions_ensure(first_day date, last_day date)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    d date := first_day;
    made integer := 0;
    part text;
BEGIN
    IF last_day - first_day > 3660 THEN
        RAISE EXCEPTION 'monitoring_activity_partitions_ensure: % days asked, at most 3660', last_day - first_day;
    END IF;
    -- Two flushes landing on a new day at once must not both create its partition.
    PERFORM pg_advisory_xact_lock(hashtext('monitoring_activity_partitions'));
    WHILE d <= last_day LOOP
        part := 'monitoring_activity_p' || to_char(d, 'YYYYMMDD');
        IF to_regclass(part) IS NULL THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF monitoring_activity FOR VALUES FROM (%L) TO (%L)',
                           part, (d::timestamp AT TIME ZONE 'UTC'), ((d + 1)::timestamp AT TIME ZONE 'UTC'));
            made := made + 1;
        END IF;
        d := d + 1;
    END LOOP;
    RETURN made;
END;
$$;

CREATE OR REPLACE FUNCTION monitoring_activity_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'monitoring_activity is append-only: % refused on row %', TG_OP, OLD.id
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER monitoring_activity_no_update BEFORE UPDATE ON monitoring_activity
    FOR EACH ROW EXECUTE FUNCTION monitoring_activity_refuse_change();
CREATE TRIGGER monitoring_activity_no_delete BEFORE DELETE ON monitoring_activity
    FOR EACH ROW EXECUTE FUNCTION monitoring_activity_refuse_change();

SELECT monitoring_activity_partitions_ensure(current_date - 1, current_date + 14);
"""

BACKWARD = """
DROP TABLE IF EXISTS monitoring_activity CASCADE;
DROP FUNCTION IF EXISTS monitoring_activity_partitions_ensure(date, date);
DROP FUNCTION IF EXISTS monitoring_activity_refuse_change();
"""


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0001_initial")]
    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
