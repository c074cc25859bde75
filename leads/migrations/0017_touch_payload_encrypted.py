"""A lead touch's raw intake payload (the lead as its vendor or form sent it: name, email, phone) is
encrypted in its column (crm.lib.fieldcrypt), as the client's own contact details are. Nothing reads
into it in SQL: it is kept for disputes with lead vendors and shown as a whole.

Forward: the column becomes text and every existing value is encrypted under the key ring's current
column key (keys come from the environment or the key file, never from the database). Backward: every
value is decrypted back into JSON."""

from django.db import migrations

import crm.lib.fieldcrypt
from crm.lib.fieldcrypt import encrypt_in_place


def encrypt_existing(apps, schema_editor):
    # Foreign keys are DEFERRABLE INITIALLY DEFERRED: checked now, so that no trigger events stay
    # pending (PostgreSQL refuses to alter a table that has some).
    schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    encrypt_in_place("leads_leadtouch", ["payload"])


def decrypt_existing(apps, schema_editor):
    schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    encrypt_in_place("leads_leadtouch", ["payload"], decrypt=True)


class Migration(migrations.Migration):
    dependencies = [("leads", "0016_call_phone_encrypted")]

    operations = [
        migrations.AlterField(
            model_name="leadtouch", name="payload",
            field=crm.lib.fieldcrypt.EncryptedJSONField(blank=True, default=dict),
        ),
        migrations.RunPython(encrypt_existing, decrypt_existing),
    ]
