"""The access events (crm_accessevent: a staff member viewed, revealed, exported or searched personal
data) partitioned by month on `at` (crm.partitions).

They are the highest-volume history the core keeps and are read by recent time (agent monitoring, a
client's or a user's latest); by month, the months past ACCESS_EVENT_RETENTION_YEARS can be archived to
files and dropped whole (`manage.py partitions_archive`). No table references them. The table is made
again partitioned (plumbing.partition_swap.table_repartition): partitions for every month with rows and
from last month to three months ahead, the rows copied, the id sequence going on, the indexes and the
foreign keys (user, client) made again; the primary key becomes (id, at), while the model keeps `id`
as its key. The model's state does not change.

Not reversible: going back would need every id unique on its own again, by hand.
"""

from django.db import migrations


def partition(apps, schema_editor):
    from plumbing.partition_swap import table_repartition

    table_repartition(schema_editor, "crm_accessevent", "at")


class Migration(migrations.Migration):

    dependencies = [
        ("crm", "0027_auditlog_partitioned"),
    ]

    operations = [
        migrations.RunPython(partition, elidable=False),
    ]
