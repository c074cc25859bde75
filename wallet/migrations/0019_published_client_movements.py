"""The view the wallet publishes for other apps' set-based SQL (declared in wallet.selectors, under
"Published views"): every movement of a client's wallet, one row per ledger leg on a client wallet
account, with its transaction's kind, times and method. AML monitoring (compliance.aml) reads it.

A BRIN index on the legs' recorded_at serves readers that scan a window of recent postings over all
clients (the AML periodic pass): legs are appended in time order, so the index is a few pages and
costs a posting next to nothing."""

from django.db import migrations

VIEW = """
CREATE VIEW wallet_public_client_movements AS
SELECT l.id AS leg_id, l.transaction_id, a.client_id, t.kind, l.amount, l.currency,
       t.occurred_at, l.recorded_at,
       coalesce(t.metadata->>'method', '') AS method,
       coalesce(t.metadata->>'provider', '') AS provider,
       t.ref_kind, t.ref_code
FROM wallet_ledgerleg l
JOIN wallet_ledgeraccount a ON a.id = l.account_id AND a.kind = 'client_wallet'
JOIN wallet_ledgertransaction t ON t.id = l.transaction_id;

CREATE INDEX wallet_ledgerleg_recorded_brin ON wallet_ledgerleg USING brin (recorded_at);
"""

DROP = """
DROP INDEX wallet_ledgerleg_recorded_brin;
DROP VIEW wallet_public_client_movements;
"""


class Migration(migrations.Migration):
    dependencies = [("wallet", "0018_deposit_held_release_and_refusal")]

    operations = [migrations.RunSQL(VIEW, DROP)]
