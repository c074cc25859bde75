"""The retention read model keeps each trader's desk (crm_public_clients.desk_id), so a desk
manager's workspace reads their desks' rows by index; the rows already there take their desk."""

from django.db import migrations, models

BACKFILL = """
UPDATE trading_retentionsummary r SET desk_id = c.desk_id
FROM crm_public_clients c WHERE c.id = r.client_id AND c.desk_id IS NOT NULL;
"""


class Migration(migrations.Migration):

    dependencies = [
        ("crm", "0032_public_clients_desk"),
        ("trading", "0017_deal_partitioned_by_month"),
    ]

    operations = [
        migrations.AddField(
            model_name="retentionsummary",
            name="desk_id",
            field=models.BigIntegerField(null=True),
        ),
        migrations.AddIndex(
            model_name="retentionsummary",
            index=models.Index(fields=["desk_id", "last_activity"], name="retention_desk_idx"),
        ),
        migrations.RunSQL(BACKFILL, migrations.RunSQL.noop),
    ]
