"""Less work per posting: a leg keeps one foreign key to its account (the composite one on
(account, currency) of migration 0002, which implies the other), so that a leg locks its account's
row once, not twice; the actor of a transaction is indexed only where there is one; the balance
rows, each updated by every posting of its account, leave room on their pages (fillfactor 30) for
the new versions of a row, so that the busiest accounts' updates stay on their page without
pruning it at every turn (a fresh table is written that way; an existing one once it is rewritten,
by VACUUM FULL or pg_repack, at a quiet hour)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('wallet', '0015_ledger_posting_statement'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name='ledgerleg',
            name='account',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='legs', to='wallet.ledgeraccount'),
        ),
        migrations.AlterField(
            model_name='ledgertransaction',
            name='actor',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.RunSQL("ALTER TABLE wallet_ledgerbalance SET (fillfactor = 30)",
                          "ALTER TABLE wallet_ledgerbalance RESET (fillfactor)"),
        migrations.AddIndex(
            model_name='ledgertransaction',
            index=models.Index(condition=models.Q(('actor__isnull', False)), fields=['actor'], name='ledgertx_actor_idx'),
        ),
    ]
