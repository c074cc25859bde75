# Knowledge times of attributions, deposits and chargebacks (a migration's history), and the old CRM's totals.

import django.db.models.deletion
import django.utils.timezone
import simple_history.models
from django.conf import settings
from django.db import migrations, models

import crm.lib.money


class Migration(migrations.Migration):

    dependencies = [
        ('crm', '0018_emails_automation_apps'),
        ('ib', '0016_plan_shapes'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='clientattribution',
            name='ended_recorded_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='clientattribution',
            name='recorded_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='clientchargeback',
            name='recorded_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='clientdeposit',
            name='recorded_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.CreateModel(
            name='HistoricalLegacyCommissionTotal',
            fields=[
                ('id', models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name='ID')),
                ('period', models.DateField()),
                ('amount', crm.lib.money.MoneyAmountField()),
                ('currency', crm.lib.money.CurrencyField(verbose_name='currency')),
                ('note', models.CharField(blank=True, max_length=200)),
                ('recorded_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('history_id', models.AutoField(primary_key=True, serialize=False)),
                ('history_date', models.DateTimeField(db_index=True)),
                ('history_change_reason', models.CharField(max_length=100, null=True)),
                ('history_type', models.CharField(choices=[('+', 'Created'), ('~', 'Changed'), ('-', 'Deleted')], max_length=1)),
                ('brand', models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='crm.brand')),
                ('history_user', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('partner', models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='ib.partner')),
            ],
            options={
                'verbose_name': 'historical legacy commission total',
                'verbose_name_plural': 'historical legacy commission totals',
                'ordering': ('-history_date', '-history_id'),
                'get_latest_by': ('history_date', 'history_id'),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.CreateModel(
            name='LegacyCommissionTotal',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('period', models.DateField()),
                ('amount', crm.lib.money.MoneyAmountField()),
                ('currency', crm.lib.money.CurrencyField(verbose_name='currency')),
                ('note', models.CharField(blank=True, max_length=200)),
                ('recorded_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('brand', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='crm.brand')),
                ('partner', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='legacy_totals', to='ib.partner')),
            ],
            options={
                'ordering': ['period', 'partner_id', 'currency'],
                'indexes': [models.Index(fields=['brand', 'period'], name='ib_legacy_total_period')],
                'constraints': [models.UniqueConstraint(fields=('partner', 'period', 'currency'), name='ib_legacy_total_once')],
            },
        ),
    ]
