# A payment notification stored before its provider is answered and applied afterwards, in a batch
# (wallet.webhook_batches): ``pending`` until applied, what its adapter read kept in ``message``, and
# a partial index holding only the rows still to apply (the worker's and the sweep's look-up).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("wallet", "0030_instruments_provider_risk"),
    ]

    operations = [
        migrations.AddField(
            model_name="webhookdelivery",
            name="message",
            field=models.JSONField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="webhookdelivery",
            name="pending",
            field=models.BooleanField(db_default=False, default=False),
        ),
        migrations.AddIndex(
            model_name="webhookdelivery",
            index=models.Index(condition=models.Q(("pending", True)), fields=["id"], name="wallet_webhook_pending"),
        ),
    ]
