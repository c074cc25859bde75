"""Call outcomes move the pipeline: each status lists the outcomes that move a client to it.

Brands' existing default statuses get the default mapping (leads.pipeline.DEFAULT_STATUSES at the
time of writing, copied here because a migration must not change when that constant does); a
status a brand created itself keeps none until an administrator gives it some."""

import django.contrib.postgres.fields
from django.db import migrations, models


DEFAULT_OUTCOMES = {
    "contacted": ["connected"],
    "no_answer": ["busy", "no_answer", "voicemail"],
    "call_back": ["callback"],
    "interested": ["interested"],
    "registered": ["registered"],
    "not_interested": ["not_interested"],
}


def map_default_statuses(apps, schema_editor):
    PipelineStatus = apps.get_model("leads", "PipelineStatus")
    for key, outcomes in DEFAULT_OUTCOMES.items():
        PipelineStatus.objects.filter(key=key, call_outcomes=[]).update(call_outcomes=outcomes)


class Migration(migrations.Migration):

    dependencies = [
        ('leads', '0010_client_brand_foreign_keys'),
    ]

    operations = [
        migrations.AddField(
            model_name='historicalpipelinestatus',
            name='call_outcomes',
            field=django.contrib.postgres.fields.ArrayField(base_field=models.CharField(choices=[('no_answer', 'No answer'), ('busy', 'Busy'), ('voicemail', 'Voicemail'), ('wrong_number', 'Wrong number'), ('connected', 'Connected'), ('callback', 'Call back'), ('interested', 'Interested'), ('not_interested', 'Not interested'), ('registered', 'Registered')], max_length=16), blank=True, default=list),
        ),
        migrations.AddField(
            model_name='pipelinestatus',
            name='call_outcomes',
            field=django.contrib.postgres.fields.ArrayField(base_field=models.CharField(choices=[('no_answer', 'No answer'), ('busy', 'Busy'), ('voicemail', 'Voicemail'), ('wrong_number', 'Wrong number'), ('connected', 'Connected'), ('callback', 'Call back'), ('interested', 'Interested'), ('not_interested', 'Not interested'), ('registered', 'Registered')], max_length=16), blank=True, default=list),
        ),
        migrations.RunPython(map_default_statuses, migrations.RunPython.noop),
    ]
