"""A notification's event has no foreign key constraint in the database any more: crm migration 0026
partitions the events' table by month, and PostgreSQL's foreign keys to a partitioned table must name its whole
key (id, occurred_at). The one notification per event stays unique; deleting an event still deletes its
notification, through the ORM's cascade."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("portal", "0003_room_accounts_sessions_notifications"),
        ("crm", "0025_month_partitions"),
    ]

    operations = [
        migrations.AlterField(
            model_name="notification",
            name="event",
            field=models.OneToOneField(db_constraint=False, on_delete=django.db.models.deletion.CASCADE,
                                       related_name="+", to="crm.event"),
        ),
    ]
