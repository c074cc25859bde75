"""The event outbox, crm_event, partitioned by month on occurred_at (crm.partitions).

Events are written for ever and read mostly recent (the dispatcher, a client's timeline); by month,
the months past their retention (EVENT_RETENTION_YEARS) can be archived to files and dropped whole
(`manage.py partitions_archive`) instead of deleted row by row.

- The foreign keys to crm_event (a handler's delivery, a webhook delivery, an automation run, a
  portal notification) lose their constraint in the database: PostgreSQL's foreign keys to a
  partitioned table must name its whole unique key, (id, occurred_at), which those tables do not hold. Deleting an event (or its
  client) still deletes them, through the ORM's cascade, as every delete in the CRM is made.
- The uuid, made by uuid4 when the event is written and what receivers dedupe by, is unique with
  occurred_at (a partitioned table's unique keys hold the partition key); no code looks events up
  by it.
- The table is made again partitioned (plumbing.partition_swap.table_repartition): partitions for every
  month with events and from last month to three months ahead, the rows copied, the id sequence going
  on where it was, the indexes made again; the primary key becomes (id, occurred_at), while the model
  keeps `id` as its key.

Not reversible: going back would need every event's id unique on its own again, by hand.
"""

import uuid

import django.db.models.deletion
from django.db import migrations, models


def partition(apps, schema_editor):
    from plumbing.partition_swap import table_repartition

    table_repartition(schema_editor, "crm_event", "occurred_at")


class Migration(migrations.Migration):

    dependencies = [
        ("crm", "0025_month_partitions"),
        ("automation", "0002_alter_automationrun_event"),
        ("portal", "0004_notification_event_no_constraint"),
    ]

    operations = [
        migrations.AlterField(
            model_name="event",
            name="uuid",
            field=models.UUIDField(default=uuid.uuid4, editable=False),
        ),
        migrations.AlterField(
            model_name="eventdelivery",
            name="event",
            field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.CASCADE,
                                    related_name="deliveries", to="crm.event"),
        ),
        migrations.AlterField(
            model_name="webhookdelivery",
            name="event",
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE,
                                    related_name="+", to="crm.event"),
        ),
        migrations.AddConstraint(
            model_name="event",
            constraint=models.UniqueConstraint(fields=("uuid", "occurred_at"), name="event_uuid_unique"),
        ),
        migrations.RunPython(partition, elidable=False),
    ]
