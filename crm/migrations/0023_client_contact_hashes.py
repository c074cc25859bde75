"""Keyed hashes of clients' emails and phones (crm.lib.fieldcrypt): exact lookups go through them, so
that they keep working once the contact details are encrypted in their columns. Existing clients get
theirs computed here (with the key ring's "#search" key: keys come from the environment or the key
file, never from the database)."""

from django.db import migrations, models
from django.db.models import Q

import crm.lib.fieldcrypt


def hash_existing(apps, schema_editor):
    # Foreign keys are DEFERRABLE INITIALLY DEFERRED: checked now, so that no trigger events stay
    # pending (PostgreSQL refuses to alter a table that has some).
    schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    crm.lib.fieldcrypt.rotate_model(apps.get_model("crm", "Client"))


class Migration(migrations.Migration):
    dependencies = [("crm", "0022_published_origins")]

    operations = [
        migrations.AddField(
            model_name="client", name="email_hash",
            field=crm.lib.fieldcrypt.KeyedHashField(db_default="", kind="email", source="email"),
        ),
        migrations.AddField(
            model_name="client", name="phone_hash",
            field=crm.lib.fieldcrypt.KeyedHashField(db_default="", kind="phone", source="phone"),
        ),
        migrations.AddIndex(
            model_name="client",
            index=models.Index(condition=~Q(email_hash=""), fields=["email_hash", "brand"],
                               name="client_email_hash_idx"),
        ),
        migrations.AddIndex(
            model_name="client",
            index=models.Index(condition=~Q(phone_hash=""), fields=["phone_hash", "brand"],
                               name="client_phone_hash_idx"),
        ),
        migrations.RunPython(hash_existing, migrations.RunPython.noop, elidable=True),
    ]
