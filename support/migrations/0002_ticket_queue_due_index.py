"""The queue page's order over the tickets being worked, as an index (support.models.Ticket.Meta): the
page walks it and stops after 50 rows in the user's scope instead of sorting every ticket they see."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("support", "0001_initial"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="ticket",
            index=models.Index(
                models.Case(models.When(first_response_at__isnull=True, then=models.F("first_response_due")),
                            default=models.F("resolution_due")),
                models.F("created_at"), models.F("id"),
                condition=models.Q(("status__in", ["new", "open", "pending_client", "on_hold"])),
                name="support_ticket_queue_due"),
        ),
    ]
