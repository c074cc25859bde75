"""Extra headers an outbound email is sent with (a support answer's Message-ID, In-Reply-To and
loop marker), as the sender gave them; empty for every email before."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("emails", "0002_outbound_email_encrypted")]

    operations = [
        migrations.AddField(model_name="outboundemail", name="headers",
                            field=models.JSONField(blank=True, default=dict)),
    ]
