# The Paysafe adapter (wallet.providers.paysafe) among the provider kinds, and the e-wallets a client
# picks by name (Skrill, Neteller) among the methods: only the choices change.

from django.db import migrations, models

KINDS = [('simulator', 'PSP simulator'), ('bank_wire', 'Bank wire'), ('praxis', 'Praxis Cashier'),
         ('coinspaid', 'CoinsPaid'), ('paysafe', 'Paysafe (Skrill, Neteller)')]
METHODS = [('card', 'Card'), ('ewallet', 'E-wallet'), ('crypto', 'Crypto'), ('bank_wire', 'Bank wire'),
           ('skrill', 'Skrill'), ('neteller', 'Neteller')]


class Migration(migrations.Migration):

    dependencies = [
        ('wallet', '0027_coinspaid_adapter'),
    ]

    operations = [
        *(migrations.AlterField(
            model_name=model, name='kind',
            field=models.CharField(choices=KINDS, max_length=20, verbose_name='adapter'),
        ) for model in ('historicalpaymentprovider', 'paymentprovider')),
        *(migrations.AlterField(
            model_name=model, name='method',
            field=models.CharField(choices=METHODS, max_length=20, verbose_name='method'),
        ) for model in ('historicalpaymentmethod', 'paymentmethod', 'deposit', 'withdrawal')),
    ]
