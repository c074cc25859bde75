"""Telephony providers' webhook secrets are stored encrypted (crm.lib.crypto) from now on.

The column is renamed to `secret_encrypted` and every existing (plaintext) secret is replaced by its
token; its copies in the model history are dropped with the history column. Going back decrypts.
"""

from django.db import migrations, models

from crm.lib.crypto import FieldCipher

# A copy of leads.telephony.CIPHER's parameters as they were when this migration was written.
CIPHER = FieldCipher(salt=b"brokerage-crm/leads.telephony", info=b"telephony webhook secrets v1",
                     what="telephony webhook secrets")


def encrypt_secrets(apps, schema_editor):
    Provider = apps.get_model("leads", "TelephonyProvider")
    for provider in Provider.objects.all().only("pk", "secret_encrypted", "created_at"):
        provider.secret_encrypted = CIPHER.encrypt(provider.secret_encrypted)
        provider.secret_rotated_at = provider.created_at
        provider.save(update_fields=["secret_encrypted", "secret_rotated_at"])


def decrypt_secrets(apps, schema_editor):
    Provider = apps.get_model("leads", "TelephonyProvider")
    for provider in Provider.objects.all().only("pk", "secret_encrypted"):
        plaintext = CIPHER.decrypt(provider.secret_encrypted)
        if len(plaintext) > 200:
            raise ValueError(f"The secret of telephony provider {provider.pk} is too long for the old column.")
        provider.secret_encrypted = plaintext
        provider.save(update_fields=["secret_encrypted"])


class Migration(migrations.Migration):

    dependencies = [
        ("leads", "0004_history"),
    ]

    operations = [
        migrations.RemoveField(
            model_name="historicaltelephonyprovider",
            name="secret",
        ),
        migrations.AddField(
            model_name="historicaltelephonyprovider",
            name="secret_rotated_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RenameField(
            model_name="telephonyprovider",
            old_name="secret",
            new_name="secret_encrypted",
        ),
        migrations.AlterField(
            model_name="telephonyprovider",
            name="secret_encrypted",
            field=models.CharField(editable=False, max_length=500),
        ),
        migrations.AddField(
            model_name="telephonyprovider",
            name="secret_rotated_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(encrypt_secrets, decrypt_secrets, elidable=False),
    ]
