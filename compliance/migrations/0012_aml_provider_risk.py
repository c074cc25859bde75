# The AML rule on the payment provider's risk score of a deposit (a crypto provider's), issue 60.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('compliance', '0011_aml_shared_origins'),
        ('wallet', '0030_instruments_provider_risk'),
    ]

    operations = [
        migrations.AlterField(
            model_name='amlrule',
            name='kind',
            field=models.CharField(choices=[('large_transaction', 'Large single deposit or withdrawal'), ('structuring', 'Structuring: several deposits just under a threshold'), ('rapid_in_out', 'Rapid in and out: deposit withdrawn with little trading'), ('high_risk_jurisdiction', 'Funds of a client in a high-risk jurisdiction'), ('dormant_account', 'Dormant account suddenly moving large amounts'), ('third_party_funding', 'Third-party funding: the payer is not the client, or pays from another country'), ('many_instruments', 'Many payment instruments, or a payout to a destination just added'), ('shared_instruments', 'Payment instruments, IPs or devices shared with other clients or with their partner'), ('over_declared', 'Deposits out of line with the declared income and savings'), ('provider_risk', 'Deposit whose money the payment provider scores as risky (crypto)')], max_length=30),
        ),
    ]
