# Payment disputes (issue 60): a provider's retrieval request or chargeback as a case for finance,
# its steps and its evidence files (wallet.models.disputes).

import uuid

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import crm.lib.money


class Migration(migrations.Migration):

    dependencies = [
        ('wallet', '0028_paysafe_adapter'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='Dispute',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('code', models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                ('method', models.CharField(max_length=20, verbose_name='method')),
                ('kind', models.CharField(choices=[('retrieval_request', 'Retrieval request'), ('chargeback', 'Chargeback'), ('pre_arbitration', 'Pre-arbitration')], max_length=20, verbose_name='kind')),
                ('status', models.CharField(choices=[('open', 'Open'), ('evidence_gathering', 'Gathering evidence'), ('represented', 'Represented'), ('accepted', 'Accepted'), ('won', 'Won'), ('lost', 'Lost')], default='open', max_length=20, verbose_name='status')),
                ('reason_code', models.CharField(blank=True, max_length=40, verbose_name='reason code')),
                ('reason', models.CharField(blank=True, max_length=300, verbose_name='reason')),
                ('provider_ref', models.CharField(blank=True, max_length=200, verbose_name="provider's reference")),
                ('amount', crm.lib.money.MoneyAmountField(verbose_name='amount')),
                ('currency', crm.lib.money.CurrencyField(verbose_name='currency')),
                ('due_at', models.DateTimeField(verbose_name="provider's deadline")),
                ('received_at', models.DateTimeField(verbose_name='received')),
                ('represented_at', models.DateTimeField(blank=True, null=True, verbose_name='represented')),
                ('representment_note', models.TextField(blank=True, verbose_name='representment')),
                ('decided_at', models.DateTimeField(blank=True, null=True, verbose_name='decided')),
                ('outcome_note', models.CharField(blank=True, max_length=500, verbose_name='outcome')),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('brand', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='crm.brand')),
                ('client', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='crm.client')),
                ('decided_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('deposit', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='disputes', to='wallet.deposit')),
                ('hold', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='wallet.ledgerhold')),
                ('provider', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='wallet.paymentprovider')),
                ('represented_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'ordering': ['due_at', 'id'],
                'permissions': [('manage_dispute', 'Can work payment disputes (evidence, representment, outcome)')],
                'indexes': [models.Index(condition=models.Q(('status__in', ['open', 'evidence_gathering', 'represented'])), fields=['due_at'], name='dispute_open_due_idx'), models.Index(fields=['provider', 'received_at'], name='dispute_provider_received_idx')],
                'constraints': [models.CheckConstraint(condition=models.Q(('amount__gt', 0)), name='dispute_amount_positive'), models.UniqueConstraint(fields=('deposit',), name='dispute_one_per_deposit')],
            },
        ),
        migrations.CreateModel(
            name='DisputeEvidence',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('code', models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                ('title', models.CharField(max_length=200, verbose_name='title')),
                ('storage_name', models.CharField(max_length=80)),
                ('content_type', models.CharField(max_length=40)),
                ('size', models.PositiveIntegerField()),
                ('sha256', models.CharField(max_length=64)),
                ('added_at', models.DateTimeField(auto_now_add=True)),
                ('added_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('dispute', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='evidence', to='wallet.dispute')),
            ],
            options={
                'ordering': ['added_at', 'id'],
            },
        ),
        migrations.CreateModel(
            name='DisputeStep',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('action', models.CharField(max_length=40)),
                ('from_status', models.CharField(blank=True, max_length=20)),
                ('to_status', models.CharField(max_length=20)),
                ('note', models.CharField(blank=True, max_length=500)),
                ('at', models.DateTimeField(auto_now_add=True)),
                ('actor', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('dispute', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='steps', to='wallet.dispute')),
            ],
            options={
                'ordering': ['at', 'id'],
            },
        ),
    ]
