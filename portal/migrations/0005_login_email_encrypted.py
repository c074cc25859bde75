"""The portal login's email address is encrypted in its column (crm.lib.fieldcrypt) and found by its
keyed hash (of the trimmed, lower-cased address: the sign-in works whatever the case, as it did). The
unique constraint on lower(email) and brand becomes one on the hash and brand (a ciphertext is never
equal to another).

Forward: the column becomes text, every existing address is hashed and encrypted under the key ring's
current keys (keys come from the environment or the key file, never from the database). Backward:
every address is decrypted back."""

from django.db import migrations, models

import crm.lib.fieldcrypt
from crm.lib.fieldcrypt import encrypt_in_place, rotate_model


def encrypt_existing(apps, schema_editor):
    # Foreign keys are DEFERRABLE INITIALLY DEFERRED: checked now, so that no trigger events stay
    # pending (PostgreSQL refuses to alter a table that has some).
    schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    encrypt_in_place("portal_clientlogin", ["email"])
    rotate_model(apps.get_model("portal", "ClientLogin"))  # the addresses' keyed hashes


def decrypt_existing(apps, schema_editor):
    schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    encrypt_in_place("portal_clientlogin", ["email"], decrypt=True)


class Migration(migrations.Migration):
    dependencies = [("portal", "0004_notification_event_no_constraint")]

    operations = [
        migrations.RemoveConstraint(model_name="clientlogin", name="portal_login_brand_email_uniq"),
        migrations.AddField(
            model_name="clientlogin", name="email_hash",
            field=crm.lib.fieldcrypt.KeyedHashField(db_default="", kind="email", source="email"),
        ),
        migrations.AlterField(
            model_name="clientlogin", name="email",
            field=crm.lib.fieldcrypt.EncryptedTextField(max_length=254),
        ),
        migrations.RunPython(encrypt_existing, decrypt_existing),
        migrations.AddConstraint(
            model_name="clientlogin",
            constraint=models.UniqueConstraint(fields=("email_hash", "brand"), name="portal_login_brand_email_uniq"),
        ),
    ]
