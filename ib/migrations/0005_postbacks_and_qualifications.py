# Partner postbacks (their settings and delivery log) and the record of CPA qualifications.

import django.contrib.postgres.fields
import django.db.models.deletion
import django.utils.timezone
import uuid
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('crm', '0013_brand_served_countries'),
        ('ib', '0004_commission_line_beneficiary_index'),
    ]

    operations = [
        migrations.CreateModel(
            name='ClientQualification',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('rule_code', models.CharField(max_length=40)),
                ('qualified_at', models.DateTimeField()),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('client', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='crm.client')),
                ('partner', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='ib.partner')),
                ('run', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='ib.commissionrun')),
            ],
        ),
        migrations.CreateModel(
            name='Postback',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('url', models.CharField(max_length=500, verbose_name='URL')),
                ('secret', models.TextField(editable=False)),
                ('events', django.contrib.postgres.fields.ArrayField(base_field=models.CharField(choices=[('registration', 'Registration'), ('kyc_approved', 'KYC approved'), ('first_deposit', 'First deposit'), ('qualification', 'CPA qualification')], max_length=20), blank=True, default=list, size=None, verbose_name='events')),
                ('is_active', models.BooleanField(default=True, verbose_name='active')),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('secret_changed_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('partner', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='postback', to='ib.partner')),
            ],
        ),
        migrations.CreateModel(
            name='PostbackDelivery',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('code', models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                ('event_name', models.CharField(choices=[('registration', 'Registration'), ('kyc_approved', 'KYC approved'), ('first_deposit', 'First deposit'), ('qualification', 'CPA qualification')], max_length=20)),
                ('event_uuid', models.UUIDField()),
                ('payload', models.JSONField()),
                ('status', models.CharField(choices=[('pending', 'Pending'), ('succeeded', 'Succeeded'), ('failed', 'Failed'), ('dead', 'Dead')], default='pending', max_length=10)),
                ('attempts', models.PositiveSmallIntegerField(default=0)),
                ('last_status', models.PositiveSmallIntegerField(blank=True, null=True)),
                ('last_error', models.CharField(blank=True, max_length=500)),
                ('next_attempt_at', models.DateTimeField(blank=True, null=True)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('delivered_at', models.DateTimeField(blank=True, null=True)),
                ('partner', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='postback_deliveries', to='ib.partner')),
            ],
            options={
                'ordering': ['-created_at', '-id'],
                'indexes': [
                    models.Index(condition=models.Q(('status', 'pending')), fields=['next_attempt_at'], name='ib_postback_due'),
                    models.Index(models.F('partner'), models.OrderBy(models.F('created_at'), descending=True), name='ib_postback_partner_created'),
                ],
                'constraints': [models.UniqueConstraint(fields=('partner', 'event_uuid'), name='ib_postback_once_per_event')],
            },
        ),
    ]
