"""The partner portal login's email address is encrypted in its column (crm.lib.fieldcrypt) and found by
its keyed hash (of the trimmed, lower-cased address: the sign-in works whatever the case, as it did). The
unique constraint on lower(email) and brand becomes one on the hash and brand (a ciphertext is never
equal to another). As portal 0005 did for the trader's room login.

Forward: the column becomes text, every existing address is hashed and encrypted under the key ring's
current keys (keys come from the environment or the key file, never from the database). Backward:
every address is decrypted back. The login has no history table."""

from django.db import migrations, models

import crm.lib.fieldcrypt
from crm.lib.fieldcrypt import encrypt_in_place, rotate_model


def encrypt_existing(apps, schema_editor):
    # Foreign keys are DEFERRABLE INITIALLY DEFERRED: checked now, so that no trigger events stay
    # pending (PostgreSQL refuses to alter a table that has some).
    schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    encrypt_in_place("ib_partnerlogin", ["email"])
    rotate_model(apps.get_model("ib", "PartnerLogin"))  # the addresses' keyed hashes


def decrypt_existing(apps, schema_editor):
    schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    encrypt_in_place("ib_partnerlogin", ["email"], decrypt=True)


class Migration(migrations.Migration):
    dependencies = [("ib", "0018_published_views")]

    operations = [
        migrations.RemoveConstraint(model_name="partnerlogin", name="ib_partnerlogin_email_brand_uniq"),
        migrations.AddField(
            model_name="partnerlogin", name="email_hash",
            field=crm.lib.fieldcrypt.KeyedHashField(db_default="", kind="email", source="email"),
        ),
        migrations.AlterField(
            model_name="partnerlogin", name="email",
            field=crm.lib.fieldcrypt.EncryptedTextField(max_length=254),
        ),
        migrations.RunPython(encrypt_existing, decrypt_existing),
        migrations.AddConstraint(
            model_name="partnerlogin",
            constraint=models.UniqueConstraint(fields=("email_hash", "brand"), name="ib_partnerlogin_email_brand_uniq"),
        ),
    ]
