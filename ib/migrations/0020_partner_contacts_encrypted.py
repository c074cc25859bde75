"""A partner's contact email (in the partner table and its history), an application's contact email and
phone, and an invitation's email are encrypted in their columns (crm.lib.fieldcrypt). The emails are
found by keyed hashes beside them (of the trimmed, lower-cased address: lookups work whatever the case,
as they did); nothing finds an application by its phone, so it has none. The unique constraint on
lower(contact_email) and brand of waiting applications becomes one on the hash and brand (a ciphertext
is never equal to another), and ib_public_partners publishes the partner's email hash instead of the
address: the self-dealing detector compares it with crm_public_clients.email_hash in SQL.

Forward: the columns become text, every existing address is hashed and every value encrypted under the
key ring's current keys (keys come from the environment or the key file, never from the database).
Backward: every value is decrypted back and the view publishes the address again."""

from django.db import migrations, models

import crm.lib.fieldcrypt
from crm.lib.fieldcrypt import encrypt_in_place, rotate_model

OLD_VIEW = """
CREATE VIEW ib_public_partners AS
SELECT id, code, brand_id, status, client_id, contact_email, created_at
FROM ib_partner;
"""

NEW_VIEW = """
CREATE VIEW ib_public_partners AS
SELECT id, code, brand_id, status, client_id, contact_email_hash, created_at
FROM ib_partner;
"""

# (table, encrypted columns, key column)
TABLES = (
    ("ib_partner", ["contact_email"], "id"),
    ("ib_historicalpartner", ["contact_email"], "history_id"),
    ("ib_partnerapplication", ["contact_email", "contact_phone"], "id"),
    ("ib_partnerinvitation", ["email"], "id"),
)


def encrypt_existing(apps, schema_editor):
    # Foreign keys are DEFERRABLE INITIALLY DEFERRED: checked now, so that no trigger events stay
    # pending (PostgreSQL refuses to alter a table that has some).
    schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    for table, columns, key in TABLES:
        encrypt_in_place(table, columns, key=key)
    for model in ("Partner", "PartnerApplication", "PartnerInvitation"):
        rotate_model(apps.get_model("ib", model))  # the addresses' keyed hashes


def decrypt_existing(apps, schema_editor):
    schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    for table, columns, key in TABLES:
        encrypt_in_place(table, columns, key=key, decrypt=True)


class Migration(migrations.Migration):
    dependencies = [("ib", "0019_partner_login_email_encrypted")]

    operations = [
        # The view reads the column retyped below: dropped here, made again at the end with the hash in
        # the address's place.
        migrations.RunSQL("DROP VIEW ib_public_partners;", OLD_VIEW),
        migrations.RemoveConstraint(model_name="partnerapplication", name="ib_application_one_pending"),
        migrations.AddField(
            model_name="partner", name="contact_email_hash",
            field=crm.lib.fieldcrypt.KeyedHashField(db_default="", kind="email", source="contact_email"),
        ),
        migrations.AddField(
            model_name="partnerapplication", name="contact_email_hash",
            field=crm.lib.fieldcrypt.KeyedHashField(db_default="", kind="email", source="contact_email"),
        ),
        migrations.AddField(
            model_name="partnerinvitation", name="email_hash",
            field=crm.lib.fieldcrypt.KeyedHashField(db_default="", kind="email", source="email"),
        ),
        migrations.AlterField(
            model_name="partner", name="contact_email",
            field=crm.lib.fieldcrypt.EncryptedTextField(max_length=254, verbose_name="contact email"),
        ),
        migrations.AlterField(
            model_name="historicalpartner", name="contact_email",
            field=crm.lib.fieldcrypt.EncryptedTextField(max_length=254, verbose_name="contact email"),
        ),
        migrations.AlterField(
            model_name="partnerapplication", name="contact_email",
            field=crm.lib.fieldcrypt.EncryptedTextField(max_length=254, verbose_name="contact email"),
        ),
        migrations.AlterField(
            model_name="partnerapplication", name="contact_phone",
            field=crm.lib.fieldcrypt.EncryptedTextField(max_length=20, verbose_name="contact phone"),
        ),
        migrations.AlterField(
            model_name="partnerinvitation", name="email",
            field=crm.lib.fieldcrypt.EncryptedTextField(max_length=254),
        ),
        migrations.RunPython(encrypt_existing, decrypt_existing),
        migrations.AddIndex(
            model_name="partner",
            index=models.Index(fields=["contact_email_hash", "brand"], name="ib_partner_email_hash"),
        ),
        migrations.AddConstraint(
            model_name="partnerapplication",
            constraint=models.UniqueConstraint(condition=models.Q(("status", "pending")),
                                               fields=("contact_email_hash", "brand"),
                                               name="ib_application_one_pending"),
        ),
        migrations.RunSQL(NEW_VIEW, "DROP VIEW ib_public_partners;"),
    ]
