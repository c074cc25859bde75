# The retention workspace: its permission, and each account's daily equity high (written by the
# account state sync) for "equity now against its recent peak".

import crm.lib.money
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('trading', '0003_account_opening_policy_caps_password_links'),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='tradingaccount',
            options={'ordering': ['server__name', 'login'], 'permissions': [('reset_trading_password', "Can reset a trading account's password"), ('work_retention', 'Can work the retention workspace (dormant and at-risk traders)')]},
        ),
        migrations.CreateModel(
            name='AccountEquityDay',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('day', models.DateField()),
                ('high', crm.lib.money.MoneyAmountField()),
                ('account', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='equity_days', to='trading.tradingaccount')),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('account', 'day'), name='equityday_unique_per_account_day')],
            },
        ),
    ]
