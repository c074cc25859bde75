# The CoinsPaid adapter (wallet.providers.coinspaid) among the provider kinds: only the choices change.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('wallet', '0026_refund_status_choices'),
    ]

    operations = [
        migrations.AlterField(
            model_name='historicalpaymentprovider',
            name='kind',
            field=models.CharField(choices=[('simulator', 'PSP simulator'), ('bank_wire', 'Bank wire'), ('praxis', 'Praxis Cashier'), ('coinspaid', 'CoinsPaid')], max_length=20, verbose_name='adapter'),
        ),
        migrations.AlterField(
            model_name='paymentprovider',
            name='kind',
            field=models.CharField(choices=[('simulator', 'PSP simulator'), ('bank_wire', 'Bank wire'), ('praxis', 'Praxis Cashier'), ('coinspaid', 'CoinsPaid')], max_length=20, verbose_name='adapter'),
        ),
    ]
