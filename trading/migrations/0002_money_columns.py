# Money columns wide enough for every currency (crm.lib.money): NUMERIC(20, 2) stored a 0.005 BTC
# deposit as 0.01 and refused 0.004 BTC as zero; codes of three characters could not hold USDT.
# Widening keeps every stored value as it was (20 integer digits still fit).

import crm.lib.money
from decimal import Decimal
from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('trading', '0001_initial'),
    ]

    operations = [
        migrations.AlterField(
            model_name='balanceoperation',
            name='amount',
            field=crm.lib.money.MoneyAmountField(),
        ),
        migrations.AlterField(
            model_name='balanceoperation',
            name='currency',
            field=crm.lib.money.CurrencyField(verbose_name='currency'),
        ),
        migrations.AlterField(
            model_name='historicalbalanceoperation',
            name='amount',
            field=crm.lib.money.MoneyAmountField(),
        ),
        migrations.AlterField(
            model_name='historicalbalanceoperation',
            name='currency',
            field=crm.lib.money.CurrencyField(verbose_name='currency'),
        ),
        migrations.AlterField(
            model_name='historicaltradingaccount',
            name='currency',
            field=crm.lib.money.CurrencyField(default='USD', verbose_name='currency'),
        ),
        migrations.AlterField(
            model_name='tradingaccount',
            name='balance',
            field=crm.lib.money.MoneyAmountField(default=Decimal('0')),
        ),
        migrations.AlterField(
            model_name='tradingaccount',
            name='credit',
            field=crm.lib.money.MoneyAmountField(default=Decimal('0')),
        ),
        migrations.AlterField(
            model_name='tradingaccount',
            name='currency',
            field=crm.lib.money.CurrencyField(default='USD', verbose_name='currency'),
        ),
        migrations.AlterField(
            model_name='tradingaccount',
            name='equity',
            field=crm.lib.money.MoneyAmountField(default=Decimal('0')),
        ),
        migrations.AlterField(
            model_name='tradingaccount',
            name='free_margin',
            field=crm.lib.money.MoneyAmountField(default=Decimal('0')),
        ),
        migrations.AlterField(
            model_name='tradingaccount',
            name='margin',
            field=crm.lib.money.MoneyAmountField(default=Decimal('0')),
        ),
    ]
