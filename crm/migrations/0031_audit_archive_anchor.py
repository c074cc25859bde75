"""The audit chain's anchors over archived months (crm.models.AuditArchiveAnchor, crm.audit).

Append-only as the audit log and its checkpoints are: UPDATE, DELETE and TRUNCATE raise (the functions
of migration 0009), and the application's role may only read and append (crm.audit.APPEND_ONLY_TABLES,
granted after migrate). An anchor is written by the archive, as the schema's owner, in the transaction
that drops the month it bridges.
"""

from django.db import migrations, models

FORWARD = """
CREATE TRIGGER crm_auditarchiveanchor_no_update BEFORE UPDATE ON crm_auditarchiveanchor
    FOR EACH ROW EXECUTE FUNCTION crm_append_only_refuse_change();
CREATE TRIGGER crm_auditarchiveanchor_no_delete BEFORE DELETE ON crm_auditarchiveanchor
    FOR EACH ROW EXECUTE FUNCTION crm_append_only_refuse_change();
CREATE TRIGGER crm_auditarchiveanchor_no_truncate BEFORE TRUNCATE ON crm_auditarchiveanchor
    FOR EACH STATEMENT EXECUTE FUNCTION crm_append_only_refuse_truncate();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS crm_auditarchiveanchor_no_update ON crm_auditarchiveanchor;
DROP TRIGGER IF EXISTS crm_auditarchiveanchor_no_delete ON crm_auditarchiveanchor;
DROP TRIGGER IF EXISTS crm_auditarchiveanchor_no_truncate ON crm_auditarchiveanchor;
"""


class Migration(migrations.Migration):
    dependencies = [("crm", "0030_client_date_of_birth_encrypted")]

    operations = [
        migrations.CreateModel(
            name="AuditArchiveAnchor",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("month", models.DateField(help_text="The first day of the archived month.", unique=True)),
                ("first_seq", models.BigIntegerField()),
                ("last_seq", models.BigIntegerField()),
                ("last_hash", models.CharField(max_length=64)),
                ("row_count", models.BigIntegerField()),
                ("file_sha256", models.CharField(max_length=64)),
                ("data_file", models.CharField(max_length=200)),
                ("chain_seq", models.BigIntegerField()),
                ("chain_hash", models.CharField(max_length=64)),
                ("ghosts", models.JSONField(blank=True, default=list)),
                ("at", models.DateTimeField()),
                ("signature", models.CharField(max_length=64)),
            ],
            options={"ordering": ["-month"]},
        ),
        migrations.RunSQL(FORWARD, BACKWARD),
    ]
