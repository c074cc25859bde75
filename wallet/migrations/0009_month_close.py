"""The month-end close (wallet.models.close): one row per provider, currency and month, written
once when the month is closed. The database refuses to change or delete it: a closed month is
locked, whoever writes (raw SQL included)."""

import crm.lib.money
import django.db.models.deletion
import uuid
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('wallet', '0008_transfers'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='MonthClose',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('code', models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                ('currency', crm.lib.money.CurrencyField(verbose_name='currency')),
                ('period', models.DateField(help_text='The first day of the month closed.', verbose_name='month')),
                ('starts_at', models.DateTimeField()),
                ('ends_at', models.DateTimeField()),
                ('opening', crm.lib.money.MoneyAmountField(verbose_name='opening')),
                ('closing', crm.lib.money.MoneyAmountField(verbose_name='closing')),
                ('figures', models.JSONField()),
                ('open_breaks', models.PositiveIntegerField(verbose_name='open breaks')),
                ('pdf', models.BinaryField()),
                ('pdf_sha256', models.CharField(max_length=64)),
                ('closed_at', models.DateTimeField(verbose_name='closed at')),
                ('note', models.TextField(blank=True, verbose_name='note')),
                ('closed_by', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('provider', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='month_closes', to='wallet.paymentprovider')),
            ],
            options={
                'ordering': ['-period', 'provider__name', 'currency'],
                'permissions': [('close_month', 'Close a month of a payment provider')],
                'constraints': [models.UniqueConstraint(fields=('provider', 'currency', 'period'), name='monthclose_one_per_month'), models.CheckConstraint(condition=models.Q(('period__day', 1)), name='monthclose_period_first_day'), models.CheckConstraint(condition=models.Q(('ends_at__gt', models.F('starts_at'))), name='monthclose_bounds_ordered')],
            },
        ),
        migrations.RunSQL(
            sql="""
CREATE OR REPLACE FUNCTION wallet_month_close_locked() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'month % of provider % in % is closed: % refused', OLD.period, OLD.provider_id,
        OLD.currency, TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER wallet_monthclose_locked BEFORE UPDATE OR DELETE ON wallet_monthclose
    FOR EACH ROW EXECUTE FUNCTION wallet_month_close_locked();
""",
            reverse_sql="""
DROP TRIGGER IF EXISTS wallet_monthclose_locked ON wallet_monthclose;
DROP FUNCTION IF EXISTS wallet_month_close_locked();
""",
        ),
    ]
