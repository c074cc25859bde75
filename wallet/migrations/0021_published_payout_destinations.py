"""The view the wallet publishes of where clients asked to be paid (declared in wallet.selectors,
"Published views"): one row per withdrawal with a destination, the destination as a key (the MD5 of its
canonical JSON: two withdrawals to one card token or account number have the same key) and masked.
Monitoring's multi-accounting detector reads it: clients paid to one instrument are linked."""

from django.db import migrations

VIEW = """
CREATE VIEW wallet_public_payout_destinations AS
SELECT id AS withdrawal_id, code AS withdrawal_code, client_id, md5(destination::text) AS destination_key,
       destination_masked, requested_at
FROM wallet_withdrawal
WHERE destination <> '{}'::jsonb;
"""


class Migration(migrations.Migration):
    dependencies = [("wallet", "0020_payment_instruments")]

    operations = [migrations.RunSQL(VIEW, "DROP VIEW wallet_public_payout_destinations;")]
