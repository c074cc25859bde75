"""An automation run's event has no foreign key constraint in the database any more: crm migration 0026
partitions the events' table by month, and PostgreSQL's foreign keys to a partitioned table must name its whole
key (id, occurred_at). Deleting an event still deletes its runs, through the ORM's cascade."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("automation", "0001_initial"),
        ("crm", "0025_month_partitions"),
    ]

    operations = [
        migrations.AlterField(
            model_name="automationrun",
            name="event",
            field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.CASCADE,
                                    related_name="+", to="crm.event"),
        ),
    ]
