"""Pass-up as a chain of percentages on a plan version (issue 61, item 4): the k-th is what level
k - 1 passes to level k (ib.models.PlanVersion.pass_up_percents); empty keeps pass_up_percent."""

import django.contrib.postgres.fields
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [("ib", "0020_partner_contacts_encrypted")]

    operations = [
        migrations.AddField(
            model_name="planversion",
            name="pass_up_percents",
            field=django.contrib.postgres.fields.ArrayField(
                base_field=models.DecimalField(decimal_places=6, max_digits=9), blank=True, default=list, size=None),
        ),
        migrations.AddField(
            model_name="historicalplanversion",
            name="pass_up_percents",
            field=django.contrib.postgres.fields.ArrayField(
                base_field=models.DecimalField(decimal_places=6, max_digits=9), blank=True, default=list, size=None),
        ),
    ]
