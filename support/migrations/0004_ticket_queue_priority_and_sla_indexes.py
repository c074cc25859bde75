"""The queue's order within one priority (the queue filtered by priority), and the SLA sweep's reads
by due time over the clocks still running (support.models.Ticket.Meta): the first response not given
nor breached (it had no index), and the resolution not breached (the old index also held every
breached ticket still being worked, which the sweep walked through)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("support", "0003_api_idempotency_keys"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="ticket",
            index=models.Index(
                models.F("priority"),
                models.Case(
                    models.When(first_response_at__isnull=True, then=models.F("first_response_due")),
                    default=models.F("resolution_due"),
                ),
                models.F("created_at"),
                models.F("id"),
                condition=models.Q(("status__in", ["new", "open", "pending_client", "on_hold"])),
                name="support_ticket_queue_prio",
            ),
        ),
        migrations.RemoveIndex(model_name="ticket", name="support_ticket_sla_running"),
        migrations.AddIndex(
            model_name="ticket",
            index=models.Index(
                fields=["first_response_due"],
                name="support_ticket_fr_running",
                condition=models.Q(
                    ("first_response_at__isnull", True),
                    ("first_response_breached_at__isnull", True),
                    ("status__in", ["new", "open", "pending_client", "on_hold"]),
                ),
            ),
        ),
        migrations.AddIndex(
            model_name="ticket",
            index=models.Index(
                fields=["resolution_due"],
                name="support_ticket_res_running",
                condition=models.Q(
                    ("resolution_breached_at__isnull", True), ("status__in", ["new", "open", "on_hold"])
                ),
            ),
        ),
    ]
