"""The phone number of a call is encrypted in its column (crm.lib.fieldcrypt), in the call table and its
history, and so is the telephony provider's event as it was received (it carries the same number).
Nothing searches calls by their number: a provider's call finds its client by the client's keyed phone
hash, so no hash is kept beside it.

Forward: the columns become text and every existing value is encrypted under the key ring's current
column key (keys come from the environment or the key file, never from the database). Backward: every
value is decrypted back into its old column type."""

from django.db import migrations

import crm.lib.fieldcrypt
from crm.lib.fieldcrypt import encrypt_in_place


def encrypt_existing(apps, schema_editor):
    # Foreign keys are DEFERRABLE INITIALLY DEFERRED: checked now, so that no trigger events stay
    # pending (PostgreSQL refuses to alter a table that has some).
    schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    encrypt_in_place("leads_call", ["phone"])
    encrypt_in_place("leads_historicalcall", ["phone"], key="history_id")
    encrypt_in_place("leads_telephonyevent", ["payload"])


def decrypt_existing(apps, schema_editor):
    schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    encrypt_in_place("leads_call", ["phone"], decrypt=True)
    encrypt_in_place("leads_historicalcall", ["phone"], key="history_id", decrypt=True)
    encrypt_in_place("leads_telephonyevent", ["payload"], decrypt=True)


class Migration(migrations.Migration):
    dependencies = [("leads", "0015_contact_keys_hashed")]

    operations = [
        migrations.AlterField(
            model_name="call", name="phone",
            field=crm.lib.fieldcrypt.EncryptedTextField(blank=True, max_length=20),
        ),
        migrations.AlterField(
            model_name="historicalcall", name="phone",
            field=crm.lib.fieldcrypt.EncryptedTextField(blank=True, max_length=20),
        ),
        migrations.AlterField(
            model_name="telephonyevent", name="payload",
            field=crm.lib.fieldcrypt.EncryptedJSONField(default=dict),
        ),
        migrations.RunPython(encrypt_existing, decrypt_existing),
    ]
