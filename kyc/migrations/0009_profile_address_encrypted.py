"""Clients' addresses of residence are encrypted in their columns (crm.lib.fieldcrypt): the street, its
second line and the city, in the profile table and its history. The postcode and country stay in clear.
Clients at one address are found by the first line's keyed hash (squeezed as the published view
squeezed it: lower case, no spaces, commas, dots or hyphens), which the published kyc_public_addresses
now shows as its line key instead of the squeezed text.

Forward: the columns become text, every existing value is encrypted under the key ring's current
column key and each first line hashed (keys come from the environment or the key file, never from the
database). Backward: every value is decrypted back."""

from django.db import migrations, models
from django.db.models import Q

import crm.lib.fieldcrypt
from crm.lib.fieldcrypt import encrypt_in_place, rotate_model

OLD_VIEW = r"""
CREATE VIEW kyc_public_addresses AS
SELECT client_id, country,
       regexp_replace(lower(address_line1), '[ ,.-]', '', 'g') AS line_key,
       regexp_replace(lower(postcode), '[ ,.-]', '', 'g') AS postcode_key,
       postcode
FROM kyc_kycprofile
WHERE address_line1 <> '' AND postcode <> '';
"""

NEW_VIEW = r"""
CREATE VIEW kyc_public_addresses AS
SELECT client_id, country,
       address_hash AS line_key,
       regexp_replace(lower(postcode), '[ ,.-]', '', 'g') AS postcode_key,
       postcode
FROM kyc_kycprofile
WHERE address_hash <> '' AND postcode <> '';
"""

COLUMNS = ("address_line1", "address_line2", "city")


def encrypt_existing(apps, schema_editor):
    # Foreign keys are DEFERRABLE INITIALLY DEFERRED: checked now, so that no trigger events stay
    # pending (PostgreSQL refuses to alter a table that has some).
    schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    encrypt_in_place("kyc_kycprofile", COLUMNS)
    encrypt_in_place("kyc_historicalkycprofile", COLUMNS, key="history_id")
    rotate_model(apps.get_model("kyc", "KycProfile"))  # the first lines' keyed hashes


def decrypt_existing(apps, schema_editor):
    schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    encrypt_in_place("kyc_kycprofile", COLUMNS, decrypt=True)
    encrypt_in_place("kyc_historicalkycprofile", COLUMNS, key="history_id", decrypt=True)


class Migration(migrations.Migration):
    dependencies = [("kyc", "0008_submission_encrypted")]

    operations = [
        # The view reads the columns retyped below: dropped and made again around them.
        migrations.RunSQL("DROP VIEW kyc_public_addresses;", OLD_VIEW),
        migrations.AddField(
            model_name="kycprofile", name="address_hash",
            field=crm.lib.fieldcrypt.KeyedHashField(db_default="", kind="address", source="address_line1"),
        ),
        migrations.AlterField(
            model_name="kycprofile", name="address_line1",
            field=crm.lib.fieldcrypt.EncryptedTextField(blank=True, max_length=200),
        ),
        migrations.AlterField(
            model_name="kycprofile", name="address_line2",
            field=crm.lib.fieldcrypt.EncryptedTextField(blank=True, max_length=200),
        ),
        migrations.AlterField(
            model_name="kycprofile", name="city",
            field=crm.lib.fieldcrypt.EncryptedTextField(blank=True, max_length=100),
        ),
        migrations.AlterField(
            model_name="historicalkycprofile", name="address_line1",
            field=crm.lib.fieldcrypt.EncryptedTextField(blank=True, max_length=200),
        ),
        migrations.AlterField(
            model_name="historicalkycprofile", name="address_line2",
            field=crm.lib.fieldcrypt.EncryptedTextField(blank=True, max_length=200),
        ),
        migrations.AlterField(
            model_name="historicalkycprofile", name="city",
            field=crm.lib.fieldcrypt.EncryptedTextField(blank=True, max_length=100),
        ),
        migrations.RunPython(encrypt_existing, decrypt_existing),
        migrations.AddIndex(
            model_name="kycprofile",
            index=models.Index(condition=~Q(address_hash=""), fields=["address_hash"],
                               name="kycprofile_address_hash_idx"),
        ),
        migrations.RunSQL(NEW_VIEW, "DROP VIEW kyc_public_addresses;"),
    ]
