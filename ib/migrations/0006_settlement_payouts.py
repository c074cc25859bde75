# Settlement: a partner's linked client (payouts to its wallet) and partner payout requests.

import uuid

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('crm', '0013_brand_served_countries'),
        ('ib', '0005_postbacks_and_qualifications'),
        ('wallet', '0008_transfers'),
    ]

    operations = [
        migrations.AddField(
            model_name='partner',
            name='client',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='partner_profiles', to='crm.client', verbose_name='linked client'),
        ),
        migrations.AddField(
            model_name='historicalpartner',
            name='client',
            field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='crm.client', verbose_name='linked client'),
        ),
        migrations.CreateModel(
            name='PartnerPayout',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('code', models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                ('currency', models.CharField(max_length=8)),
                ('amount', models.DecimalField(decimal_places=8, max_digits=24)),
                ('destination', models.CharField(choices=[('client_wallet', "The linked client's wallet"), ('bank', 'Paid by finance')], max_length=14)),
                ('state', models.CharField(choices=[('requested', 'Requested'), ('paid', 'Paid'), ('rejected', 'Rejected')], default='requested', max_length=10)),
                ('requested_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('decided_at', models.DateTimeField(blank=True, null=True)),
                ('reason', models.CharField(blank=True, max_length=500)),
                ('brand', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='crm.brand')),
                ('client', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='crm.client')),
                ('decided_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='crm.user')),
                ('hold', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='wallet.ledgerhold')),
                ('partner', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='payouts', to='ib.partner')),
                ('transaction', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='wallet.ledgertransaction')),
            ],
            options={
                'ordering': ['-requested_at', '-id'],
                'permissions': [('decide_payout', 'Can pay or reject partner payout requests')],
                'indexes': [models.Index(condition=models.Q(('state', 'requested')), fields=['state', 'requested_at'], name='ib_payout_open')],
                'constraints': [models.CheckConstraint(condition=models.Q(('amount__gt', 0)), name='ib_payout_amount_positive'), models.CheckConstraint(condition=models.Q(('destination', 'client_wallet'), _negated=True) | models.Q(('client__isnull', False)), name='ib_payout_wallet_has_client')],
            },
        ),
    ]
