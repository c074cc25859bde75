"""Deals partitioned by month on their time (native PostgreSQL partitioning, issue 39).

The deal table grows without end and is read by time windows (the dealer's view, reports, the
commission engine's increments): one partition per UTC month (`trading_deal_pYYYYMM`, made by
crm_month_partitions_ensure, crm migration 0025) keeps each month's rows and indexes together, so
that a window reads the months it covers only, and a month past its retention can be detached and
archived whole instead of deleted row by row. The rows, indexes, foreign keys, the published view
and the id sequence's position are carried over (plumbing.partition_swap.table_repartition; the id
draws from a sequence that the partitions' default names too); the months of the stored deals are
made, and the current one with three ahead (the daily task crm.tasks.partitions_ahead keeps that
up; the sync makes the month of an older deal before storing it).

A unique constraint of a partitioned table must include the partition key, so the primary key
becomes (id, time) and the sync's idempotency key (server, deal_id) becomes (server, deal_id, time)
(still carrying the content hash). A deal's time is the platform's and fixed; when a platform
nevertheless edits it, the sync moves the stored row to its new time in the same statement that
stores the chunk (trading.sync), so a deal is never stored twice. Django's model keeps `id` as its
primary key: ids stay unique (one sequence), and every reader names a deal by id.
"""

from django.db import migrations, models

from plumbing.partition_swap import table_repartition


def partition(apps, schema_editor):
    # The primary key becomes (id, time) by itself; the unique index behind no constraint is named.
    table_repartition(schema_editor, "trading_deal", "time", identity_as_sequence=True, keys={
        "deal_unique_per_server": "(server_id, deal_id, time) INCLUDE (content_hash)",
    })


def unpartition(apps, schema_editor):
    table_repartition(schema_editor, "trading_deal", None, keys={
        "trading_deal_pkey": "PRIMARY KEY (id)",
        "deal_unique_per_server": "(server_id, deal_id) INCLUDE (content_hash)",
    })


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0025_month_partitions"),
        ("trading", "0016_trading_summaries"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(partition, unpartition, elidable=False)],
            state_operations=[
                migrations.RemoveConstraint(model_name="deal", name="deal_unique_per_server"),
                migrations.AddConstraint(
                    model_name="deal",
                    constraint=models.UniqueConstraint(fields=("server", "deal_id", "time"), include=("content_hash",),
                                                       name="deal_unique_per_server"),
                ),
            ],
        ),
    ]
