"""The audit chain is sealed in batches after commit instead of under one lock per write (crm.audit).

- `seq`: a row's position in the chain (1, 2, 3, ... with no gap), set by the sealer. The rows
  written before this migration were chained in id order, so they are numbered in id order.
- `prev_hash` and `hash` are empty until the row is sealed.
- UPDATE stays refused, except the one a sealer makes: filling in `seq`, `prev_hash` and `hash` of a
  row that has none, changing nothing else. A sealed row can never be updated again.
- A row cannot be inserted already sealed: only the sealer places rows in the chain.
- The per-write chain head function (0006) and its lock are gone.
"""

from django.db import migrations, models

FORWARD = """
ALTER TABLE crm_auditlog DISABLE TRIGGER crm_auditlog_no_update;
UPDATE crm_auditlog a SET seq = n.seq
    FROM (SELECT id, row_number() OVER (ORDER BY id) AS seq FROM crm_auditlog) n WHERE a.id = n.id;
ALTER TABLE crm_auditlog ENABLE TRIGGER crm_auditlog_no_update;

CREATE OR REPLACE FUNCTION crm_auditlog_refuse_change() RETURNS trigger AS $$
BEGIN
    -- The sealer's update: an unsealed row gets its place and hashes, and nothing else changes.
    IF TG_OP = 'UPDATE' AND OLD.seq IS NULL AND OLD.prev_hash IS NULL AND OLD.hash IS NULL
            AND NEW.seq IS NOT NULL AND NEW.prev_hash IS NOT NULL AND NEW.hash IS NOT NULL
            AND to_jsonb(NEW) - ARRAY['seq', 'prev_hash', 'hash'] = to_jsonb(OLD) - ARRAY['seq', 'prev_hash', 'hash']
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'crm_auditlog is append-only: % refused on row %', TG_OP, OLD.id
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION crm_auditlog_refuse_sealed_insert() RETURNS trigger AS $$
BEGIN
    IF NEW.seq IS NOT NULL OR NEW.prev_hash IS NOT NULL OR NEW.hash IS NOT NULL THEN
        RAISE EXCEPTION 'crm_auditlog: a row is inserted unsealed; only the sealer places it in the chain'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER crm_auditlog_insert_unsealed BEFORE INSERT ON crm_auditlog
    FOR EACH ROW EXECUTE FUNCTION crm_auditlog_refuse_sealed_insert();

DROP FUNCTION IF EXISTS crm_audit_chain_head(bigint, text, text, text);
"""

BACKWARD = """
DROP TRIGGER IF EXISTS crm_auditlog_insert_unsealed ON crm_auditlog;
DROP FUNCTION IF EXISTS crm_auditlog_refuse_sealed_insert();
CREATE OR REPLACE FUNCTION crm_auditlog_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'crm_auditlog is append-only: % refused on row %', TG_OP, OLD.id
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""


def _chain_head_function(apps, schema_editor):  # the reverse: 0006's function back
    from importlib import import_module

    schema_editor.execute(import_module("crm.migrations.0006_audit_chain_head").FUNCTION)


class Migration(migrations.Migration):
    dependencies = [("crm", "0015_client_verified_at")]

    operations = [
        migrations.AddField(
            model_name="auditlog",
            name="seq",
            field=models.BigIntegerField(blank=True, null=True, unique=True,
                                         help_text="Position in the chain, set when the row is sealed."),
        ),
        migrations.AlterField(
            model_name="auditlog", name="prev_hash", field=models.CharField(blank=True, max_length=64, null=True),
        ),
        migrations.AlterField(
            model_name="auditlog", name="hash", field=models.CharField(blank=True, max_length=64, null=True, unique=True),
        ),
        migrations.AddIndex(
            model_name="auditlog",
            index=models.Index(fields=["id"], condition=models.Q(seq__isnull=True), name="audit_unsealed_idx"),
        ),
        migrations.RunSQL(FORWARD, BACKWARD),
        migrations.RunPython(migrations.RunPython.noop, _chain_head_function),
    ]
