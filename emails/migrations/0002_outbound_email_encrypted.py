"""An outbound email's recipient, subject and bodies (the client's name and details as the message
carried them) are encrypted in their columns (crm.lib.fieldcrypt), as the client's own email is.
Nothing searches them: a client's emails are found by the client.

Forward: the columns become text and every existing value is encrypted under the key ring's current
column key (keys come from the environment or the key file, never from the database). Backward: every
value is decrypted back."""

from django.db import migrations

import crm.lib.fieldcrypt
from crm.lib.fieldcrypt import encrypt_in_place

COLUMNS = ["to_email", "subject", "body_text", "body_html"]


def encrypt_existing(apps, schema_editor):
    # Foreign keys are DEFERRABLE INITIALLY DEFERRED: checked now, so that no trigger events stay
    # pending (PostgreSQL refuses to alter a table that has some).
    schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    encrypt_in_place("emails_outboundemail", COLUMNS)


def decrypt_existing(apps, schema_editor):
    schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    encrypt_in_place("emails_outboundemail", COLUMNS, decrypt=True)


class Migration(migrations.Migration):
    dependencies = [("emails", "0001_initial")]

    operations = [
        migrations.AlterField(model_name="outboundemail", name="to_email",
                              field=crm.lib.fieldcrypt.EncryptedTextField(max_length=254)),
        migrations.AlterField(model_name="outboundemail", name="subject",
                              field=crm.lib.fieldcrypt.EncryptedTextField(max_length=255)),
        migrations.AlterField(model_name="outboundemail", name="body_text",
                              field=crm.lib.fieldcrypt.EncryptedTextField()),
        migrations.AlterField(model_name="outboundemail", name="body_html",
                              field=crm.lib.fieldcrypt.EncryptedTextField()),
        migrations.RunPython(encrypt_existing, decrypt_existing),
    ]
