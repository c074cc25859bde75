"""The audit log, crm_auditlog, partitioned by month on `at` (crm.partitions).

The audit log grows without end and must be kept for years (AUDIT_RETENTION_YEARS); by month, the
months past that can be archived to files and dropped whole (`manage.py partitions_archive`), which
the append-only triggers rightly refuse row by row.

- The unique keys hold `at`, as a partitioned table's must: (id, at), (seq, at), (hash, at). One place
  per row in the chain stays the sealer's doing (it alone numbers rows, under its own lock, reading
  the head after taking it: crm.audit), and `audit_verify` now also names rows that share a place
  (a fork the database no longer refuses by itself).
- The table is made again partitioned (plumbing.partition_swap.table_repartition): every sealed and
  unsealed row copied as it is (no trigger fires on the copy: the triggers are made again after it),
  the id sequence going on, the indexes made again; the triggers of migrations 0002, 0009 and 0016
  (UPDATE and DELETE refused but for the seal, no row inserted sealed, TRUNCATE refused) are made
  again on the partitioned table, and PostgreSQL gives every partition its row triggers; the view
  published over it (crm_public_origins, 0022) is made again.
- The application role's privileges come from migrate (crm.lib.dbroles), which also takes UPDATE and
  DELETE on the partitions themselves from it: it reads and appends through crm_auditlog only.

Not reversible: going back would need every seq and hash unique on its own again, by hand.
"""

from django.db import migrations, models


def partition(apps, schema_editor):
    from plumbing.partition_swap import table_repartition

    table_repartition(schema_editor, "crm_auditlog", "at")


class Migration(migrations.Migration):

    dependencies = [
        ("crm", "0026_event_partitioned"),
    ]

    operations = [
        migrations.AlterField(
            model_name="auditlog",
            name="hash",
            field=models.CharField(blank=True, max_length=64, null=True),
        ),
        migrations.AlterField(
            model_name="auditlog",
            name="seq",
            field=models.BigIntegerField(blank=True, help_text="Position in the chain, set when the row is sealed.",
                                         null=True),
        ),
        migrations.AddConstraint(
            model_name="auditlog",
            constraint=models.UniqueConstraint(fields=("seq", "at"), name="audit_seq_unique"),
        ),
        migrations.AddConstraint(
            model_name="auditlog",
            constraint=models.UniqueConstraint(fields=("hash", "at"), name="audit_hash_unique"),
        ),
        migrations.RunPython(partition, elidable=False),
    ]
