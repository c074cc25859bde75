"""The API's idempotency keys on tickets and messages (support.api): a retried request with the same
key returns what the first one made."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("support", "0002_ticket_queue_due_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="ticket",
            name="idempotency_key",
            field=models.CharField(blank=True, editable=False, max_length=200, null=True, unique=True),
        ),
        migrations.AddField(
            model_name="ticketmessage",
            name="idempotency_key",
            field=models.CharField(blank=True, editable=False, max_length=200, null=True, unique=True),
        ),
    ]
