"""SQL for a migration that turns a table into one partitioned by month (or back), keeping its rows.

`table_repartition_sql(table, column, keys=...)` returns one DO block that, in the migration's
transaction: drops the views reading the table (and the views reading those), renames the table
aside, creates the new one from it (columns, defaults, NOT NULL and CHECK constraints), creates the
monthly partitions of the months its rows fall in plus the current one and three ahead
(crm_month_partitions_ensure, crm migration 0025), copies the rows, drops the old table, and
recreates on the new one what the old carried: its indexes, foreign keys, triggers (immutability,
deferred constraint triggers), and its views. The id keeps counting from where it was: its
sequence's position moves to a new sequence owned by the new table's `id` (an identity column
cannot be carried over to a partitioned table on PostgreSQL 15).

A primary key or unique constraint of a partitioned table must include the partition key: `keys`
maps each such constraint's name to the definition it gets on the new table (the old one for the
way back); a unique index that backs no constraint (Django's UniqueConstraint with INCLUDE or a
condition) is named the same way, with what follows `ON <table>` in its CREATE UNIQUE INDEX. Privileges are granted again by `migrate` itself (crm.lib.dbroles.grant_app_privileges);
a foreign key from another table to this one makes the DROP fail, on purpose: it must be dealt with
by the migration first.
"""

from __future__ import annotations

from collections.abc import Mapping


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def table_repartition_sql(table: str, column: str | None, *, keys: Mapping[str, str]) -> str:
    """The DO block making `table` partitioned by month on `column` (None: a plain table again).

    `keys`: constraint name -> its definition on the new table, e.g.
    {"<table>_pkey": "PRIMARY KEY (id, time)"}; those constraints of the old table are not copied."""
    partition = f"PARTITION BY RANGE ({column})" if column else ""
    keys_sql = ", ".join(f"({_literal(name)}, {_literal(definition)})" for name, definition in keys.items())
    return f"""
DO $repartition$
DECLARE
    tbl constant text := {_literal(table)};
    old text := {_literal(table)} || '_unpartitioned';
    part_column constant text := {_literal(column or "")};
    schema_name text := current_schema();
    seq text;
    last_id bigint;
    last_called boolean;
    first_month date;
    last_month date;
    views text[] := '{{}}';
    view_names text[] := '{{}}';
    defs text[] := '{{}}';
    d text;
    r record;
BEGIN
    -- The views reading the table, the deepest first to drop and recreated the other way round.
    FOR r IN
        WITH RECURSIVE deps(oid, depth) AS (
            SELECT DISTINCT rw.ev_class, 1 FROM pg_depend dp JOIN pg_rewrite rw ON rw.oid = dp.objid
             WHERE dp.refobjid = tbl::regclass AND dp.classid = 'pg_rewrite'::regclass AND rw.ev_class <> tbl::regclass
            UNION
            SELECT DISTINCT rw.ev_class, deps.depth + 1 FROM deps JOIN pg_depend dp ON dp.refobjid = deps.oid
              JOIN pg_rewrite rw ON rw.oid = dp.objid
             WHERE dp.classid = 'pg_rewrite'::regclass AND rw.ev_class <> deps.oid)
        SELECT c.oid::regclass::text AS name, max(deps.depth) AS depth FROM deps JOIN pg_class c ON c.oid = deps.oid
         WHERE c.relkind = 'v' GROUP BY c.oid ORDER BY max(deps.depth) DESC
    LOOP
        views := array_prepend(format('CREATE VIEW %s AS %s', r.name, pg_get_viewdef(r.name::regclass)), views);
        view_names := view_names || r.name;
    END LOOP;
    FOREACH d IN ARRAY view_names LOOP
        EXECUTE format('DROP VIEW %s', d);
    END LOOP;

    seq := pg_get_serial_sequence(tbl, 'id');
    IF seq IS NOT NULL THEN
        EXECUTE format('SELECT last_value, is_called FROM %s', seq) INTO last_id, last_called;
    END IF;
    EXECUTE format('ALTER TABLE %I RENAME TO %I', tbl, old);

    -- What the old table carries beyond its columns: indexes that back no constraint, the
    -- constraints other than CHECK and NOT NULL (which LIKE copies), the triggers of its own.
    FOR r IN SELECT pg_get_indexdef(i.indexrelid) AS def, x.relname, k.definition FROM pg_index i
               JOIN pg_class x ON x.oid = i.indexrelid
               LEFT JOIN (VALUES {keys_sql or "(NULL, NULL)"}) AS k(name, definition) ON k.name = x.relname
              WHERE i.indrelid = old::regclass
                AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid) LOOP
        IF r.definition IS NOT NULL THEN
            -- A unique index (Django's UniqueConstraint with INCLUDE): r.definition is what follows ON table.
            defs := defs || format('CREATE UNIQUE INDEX %I ON %I %s', r.relname, tbl, r.definition);
            CONTINUE;
        END IF;
        defs := defs || replace(replace(r.def, format(' ON ONLY %I.%I ', schema_name, old),
                                        format(' ON %I.%I ', schema_name, tbl)),
                                format(' ON %I.%I ', schema_name, old), format(' ON %I.%I ', schema_name, tbl));
    END LOOP;
    FOR r IN SELECT c.conname, pg_get_constraintdef(c.oid) AS def, k.definition FROM pg_constraint c
               LEFT JOIN (VALUES {keys_sql or "(NULL, NULL)"}) AS k(name, definition) ON k.name = c.conname
              WHERE c.conrelid = old::regclass AND c.contype IN ('p', 'u', 'f', 'x')
              ORDER BY c.contype DESC, c.conname LOOP
        defs := defs || format('ALTER TABLE %I ADD CONSTRAINT %I %s', tbl, r.conname, coalesce(r.definition, r.def));
    END LOOP;
    FOR r IN SELECT pg_get_triggerdef(t.oid) AS def FROM pg_trigger t
              WHERE t.tgrelid = old::regclass AND NOT t.tgisinternal AND t.tgparentid = 0 LOOP
        defs := defs || replace(r.def, format(' ON %I.%I ', schema_name, old),
                                format(' ON %I.%I ', schema_name, tbl));
    END LOOP;

    EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE '
                   'INCLUDING COMMENTS) {partition}', tbl, old);
    IF part_column <> '' THEN
        EXECUTE format('SELECT date_trunc(''month'', min(%1$I) AT TIME ZONE ''UTC'')::date, '
                       'date_trunc(''month'', max(%1$I) AT TIME ZONE ''UTC'')::date FROM %2$I', part_column, old)
            INTO first_month, last_month;
        -- The function makes at most ten years at once.
        WHILE first_month IS NOT NULL AND first_month <= last_month LOOP
            PERFORM crm_month_partitions_ensure(tbl::regclass, first_month,
                                                least(last_month, (first_month + interval '9 years')::date));
            first_month := (first_month + interval '9 years 1 month')::date;
        END LOOP;
        first_month := date_trunc('month', now() AT TIME ZONE 'UTC')::date;
        PERFORM crm_month_partitions_ensure(tbl::regclass, (first_month - interval '1 month')::date,
                                            (first_month + interval '3 months')::date);
    END IF;
    EXECUTE format('INSERT INTO %I SELECT * FROM %I', tbl, old);
    IF seq IS NOT NULL THEN
        -- A default copied from a serial column names the sequence the old table owns.
        EXECUTE format('ALTER TABLE %I ALTER COLUMN id DROP DEFAULT', tbl);
    END IF;
    EXECUTE format('DROP TABLE %I', old);

    IF seq IS NOT NULL THEN
        EXECUTE format('CREATE SEQUENCE %I OWNED BY %I.id', tbl || '_id_seq', tbl);
        PERFORM setval(format('%I', tbl || '_id_seq'), last_id, last_called);
        EXECUTE format('ALTER TABLE %I ALTER COLUMN id SET DEFAULT nextval(%L::regclass)', tbl, tbl || '_id_seq');
    END IF;
    FOREACH d IN ARRAY defs LOOP
        EXECUTE d;
    END LOOP;
    FOREACH d IN ARRAY views LOOP
        EXECUTE d;
    END LOOP;
    EXECUTE format('ANALYZE %I', tbl);
END
$repartition$;
"""  # noqa: S608 - identifiers of the migration's own, quoted by format() in the block
