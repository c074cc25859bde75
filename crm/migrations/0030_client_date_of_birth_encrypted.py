"""Clients' dates of birth are encrypted in their column (crm.lib.fieldcrypt.EncryptedDateField), in the
client table and its history: the column becomes text (the ISO date), and every existing value is
encrypted under the key ring's current column key. Nothing compares or sorts it in SQL: what reads it
(the profile, sanctions screening, KYC's checks) does so in Python. Backward: decrypted back to dates."""

from django.db import migrations

import crm.lib.fieldcrypt
from crm.lib.fieldcrypt import encrypt_in_place


def encrypt_existing(apps, schema_editor):
    # Foreign keys are DEFERRABLE INITIALLY DEFERRED: checked now, so that no trigger events stay
    # pending (PostgreSQL refuses to alter a table that has some).
    schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    encrypt_in_place("crm_client", ["date_of_birth"])
    encrypt_in_place("crm_historicalclient", ["date_of_birth"], key="history_id")


def decrypt_existing(apps, schema_editor):
    schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    encrypt_in_place("crm_client", ["date_of_birth"], decrypt=True)
    encrypt_in_place("crm_historicalclient", ["date_of_birth"], key="history_id", decrypt=True)


class Migration(migrations.Migration):
    dependencies = [("crm", "0029_client_contact_encrypted")]

    operations = [
        migrations.AlterField(
            model_name="client", name="date_of_birth",
            field=crm.lib.fieldcrypt.EncryptedDateField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="historicalclient", name="date_of_birth",
            field=crm.lib.fieldcrypt.EncryptedDateField(blank=True, null=True),
        ),
        migrations.RunPython(encrypt_existing, decrypt_existing),
    ]
