"""The audit log cannot be emptied, and its head is anchored outside the chain.

- TRUNCATE on crm_auditlog raises (a statement-level trigger: TRUNCATE fires no row triggers, so
  0002's UPDATE/DELETE triggers never saw it). A table owner can still switch triggers off, which
  is why the application connects as a role that owns none of these tables (crm.lib.dbroles).
- crm_auditcheckpoint: signed records of the chain's head (crm.audit.audit_checkpoint_write),
  append-only in the same way: UPDATE, DELETE and TRUNCATE raise.

The test suite empties these tables between transactional tests as their owner, with the
triggers off inside that one transaction (tests/dbbackend).
"""

from django.db import migrations, models

FORWARD = """
CREATE OR REPLACE FUNCTION crm_append_only_refuse_truncate() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: TRUNCATE refused', TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION crm_append_only_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused on row %', TG_TABLE_NAME, TG_OP, OLD.id
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER crm_auditlog_no_truncate BEFORE TRUNCATE ON crm_auditlog
    FOR EACH STATEMENT EXECUTE FUNCTION crm_append_only_refuse_truncate();

CREATE TRIGGER crm_auditcheckpoint_no_update BEFORE UPDATE ON crm_auditcheckpoint
    FOR EACH ROW EXECUTE FUNCTION crm_append_only_refuse_change();
CREATE TRIGGER crm_auditcheckpoint_no_delete BEFORE DELETE ON crm_auditcheckpoint
    FOR EACH ROW EXECUTE FUNCTION crm_append_only_refuse_change();
CREATE TRIGGER crm_auditcheckpoint_no_truncate BEFORE TRUNCATE ON crm_auditcheckpoint
    FOR EACH STATEMENT EXECUTE FUNCTION crm_append_only_refuse_truncate();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS crm_auditlog_no_truncate ON crm_auditlog;
DROP TRIGGER IF EXISTS crm_auditcheckpoint_no_update ON crm_auditcheckpoint;
DROP TRIGGER IF EXISTS crm_auditcheckpoint_no_delete ON crm_auditcheckpoint;
DROP TRIGGER IF EXISTS crm_auditcheckpoint_no_truncate ON crm_auditcheckpoint;
DROP FUNCTION IF EXISTS crm_append_only_refuse_change();
DROP FUNCTION IF EXISTS crm_append_only_refuse_truncate();
"""


class Migration(migrations.Migration):
    dependencies = [("crm", "0008_client_id_brand_key")]

    operations = [
        migrations.CreateModel(
            name="AuditCheckpoint",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("at", models.DateTimeField()),
                ("head_id", models.BigIntegerField(help_text="Id of the newest audit row; 0 when the log was empty.")),
                ("head_hash", models.CharField(max_length=64)),
                ("row_count", models.BigIntegerField()),
                ("signature", models.CharField(max_length=64)),
            ],
            options={"ordering": ["-id"]},
        ),
        migrations.RunSQL(FORWARD, BACKWARD),
    ]
