"""Clients' email and phone are encrypted in their columns (crm.lib.fieldcrypt), in the client table
and its history; they are found by the keyed hashes beside them (0023). The indexes on lower(email)
and reverse(phone) and the phone's E.164 check go (a ciphertext matches neither), and the published
crm_public_clients shows the keyed hashes instead of the contact details.

Forward: the columns become text and every existing value is encrypted under the key ring's current
column key (keys come from the environment or the key file, never from the database). Backward: every
value is decrypted back."""

from django.db import migrations

import crm.lib.fieldcrypt
from crm.lib.fieldcrypt import encrypt_in_place

OLD_VIEW = """
CREATE VIEW crm_public_clients AS
SELECT id, brand_id, country, email, phone, tags, created_at
FROM crm_client;
"""

NEW_VIEW = """
CREATE VIEW crm_public_clients AS
SELECT id, brand_id, country, email_hash, phone_hash, tags, created_at
FROM crm_client;
"""

COLUMNS = ("email", "phone")


def encrypt_existing(apps, schema_editor):
    # Foreign keys are DEFERRABLE INITIALLY DEFERRED: checked now, so that no trigger events stay
    # pending (PostgreSQL refuses to alter a table that has some).
    schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    encrypt_in_place("crm_client", COLUMNS)
    encrypt_in_place("crm_historicalclient", COLUMNS, key="history_id")


def decrypt_existing(apps, schema_editor):
    schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    encrypt_in_place("crm_client", COLUMNS, decrypt=True)
    encrypt_in_place("crm_historicalclient", COLUMNS, key="history_id", decrypt=True)


class Migration(migrations.Migration):
    # After leads 0013, whose lookup function reads the view's old columns (PostgreSQL checks a function's
    # body when it is made); leads 0015 makes it read the keyed hashes.
    dependencies = [("crm", "0028_accessevent_partitioned"), ("leads", "0013_contact_keys_through_published_clients")]

    operations = [
        # The view reads the columns retyped below: dropped and made again around them.
        migrations.RunSQL("DROP VIEW crm_public_clients;", OLD_VIEW),
        migrations.RemoveConstraint(model_name="client", name="client_phone_e164"),
        migrations.RemoveIndex(model_name="client", name="client_email_lower_idx"),
        migrations.RemoveIndex(model_name="client", name="client_phone_rev_idx"),
        migrations.AlterField(
            model_name="client", name="email",
            field=crm.lib.fieldcrypt.EncryptedTextField(blank=True, max_length=254),
        ),
        migrations.AlterField(
            model_name="client", name="phone",
            field=crm.lib.fieldcrypt.EncryptedTextField(blank=True, help_text="E.164, e.g. +442071838750",
                                                         max_length=20),
        ),
        migrations.AlterField(
            model_name="historicalclient", name="email",
            field=crm.lib.fieldcrypt.EncryptedTextField(blank=True, max_length=254),
        ),
        migrations.AlterField(
            model_name="historicalclient", name="phone",
            field=crm.lib.fieldcrypt.EncryptedTextField(blank=True, help_text="E.164, e.g. +442071838750",
                                                         max_length=20),
        ),
        migrations.RunPython(encrypt_existing, decrypt_existing),
        migrations.RunSQL(NEW_VIEW, "DROP VIEW crm_public_clients;"),
    ]
