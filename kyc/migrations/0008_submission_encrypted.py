"""A submission's identity document number, its checks' report and its vendor's raw result are
encrypted in their columns (crm.lib.fieldcrypt); the document number is found again by its keyed hash.

Forward: the columns become text, every existing value is encrypted under the key ring's current key
and its document number hashed. Backward: every value is decrypted back into its old column type."""

from django.db import migrations, models
from django.db.models import Q

import crm.lib.fieldcrypt
from crm.lib.fieldcrypt import decrypt_text, encrypt_text, keyed_hash

COLUMNS = ("document_number", "report", "vendor_result")


def _rewrite(schema_editor, change):
    # Foreign keys are DEFERRABLE INITIALLY DEFERRED: checked now, so that no trigger events stay
    # pending (PostgreSQL refuses to alter a table that has some: the index and column types here).
    schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT id, document_number, report, vendor_result FROM kyc_submission ORDER BY id FOR UPDATE")
        for pk, *values in cursor.fetchall():
            fresh = [change(column, value) if value else value for column, value in zip(COLUMNS, values, strict=True)]
            if fresh != values:
                cursor.execute("UPDATE kyc_submission SET document_number = %s, report = %s, vendor_result = %s "
                               "WHERE id = %s", [*fresh, pk])


def encrypt_existing(apps, schema_editor):
    schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT id, document_number FROM kyc_submission WHERE document_number <> ''")
        for pk, number in cursor.fetchall():
            cursor.execute("UPDATE kyc_submission SET document_number_hash = %s WHERE id = %s",
                           [keyed_hash(number, kind="document"), pk])
    _rewrite(schema_editor, lambda column, value: encrypt_text(value, purpose=column))


def decrypt_existing(apps, schema_editor):
    _rewrite(schema_editor, lambda column, value: decrypt_text(value, purpose=column))


class Migration(migrations.Migration):
    dependencies = [("kyc", "0007_published_questionnaire_answers"), ("crm", "0023_client_contact_hashes")]

    operations = [
        migrations.RemoveIndex(model_name="submission", name="kycsub_docnumber_idx"),
        migrations.AddField(
            model_name="submission", name="document_number_hash",
            field=crm.lib.fieldcrypt.KeyedHashField(kind="document", source="document_number"),
        ),
        migrations.AlterField(
            model_name="submission", name="document_number",
            field=crm.lib.fieldcrypt.EncryptedTextField(blank=True),
        ),
        migrations.AlterField(
            model_name="submission", name="report",
            field=crm.lib.fieldcrypt.EncryptedJSONField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="submission", name="vendor_result",
            field=crm.lib.fieldcrypt.EncryptedJSONField(blank=True, null=True),
        ),
        migrations.RunPython(encrypt_existing, decrypt_existing),
        migrations.AddIndex(
            model_name="submission",
            index=models.Index(condition=~Q(document_number_hash=""), fields=["document_number_hash"],
                               name="kycsub_docnumber_hash_idx"),
        ),
    ]
