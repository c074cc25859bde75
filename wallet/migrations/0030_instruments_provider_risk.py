# The payment instruments' published view (wallet_public_payment_instruments, 0020) gains the provider's
# risk score of a deposit's money (a crypto provider's score of the sending addresses, 0 to 1, kept on the
# deposit by its webhook: wallet.deposits._risk_record), the last column, for compliance's AML rule on it.

from django.db import migrations

VIEW = """
CREATE OR REPLACE VIEW wallet_public_payment_instruments AS
SELECT t.id AS transaction_id, d.client_id, 'deposit'::text AS direction, d.amount, d.currency::text AS currency,
       t.occurred_at, t.recorded_at, d.method::text AS method, d.payer_name::text AS payer_name, d.payer_is_client,
       d.instrument_country::text AS instrument_country, d.instrument_fingerprint::text AS instrument_fingerprint,
       d.instrument_last4::text AS instrument_last4, NULL::timestamptz AS destination_added_at,
       CASE WHEN d.instructions ->> 'risk_score' ~ '^[0-9]+(\\.[0-9]+)?$'
            THEN (d.instructions ->> 'risk_score')::numeric END AS provider_risk_score
FROM wallet_deposit d
JOIN wallet_ledgertransaction t ON t.id = d.credit_transaction_id
UNION ALL
SELECT t.id, w.client_id, 'withdrawal'::text, w.amount, w.currency::text, t.occurred_at, t.recorded_at,
       w.method::text, ''::text, NULL::boolean, ''::text, w.destination_fingerprint::text,
       right(w.destination_masked, 4)::text, w.destination_added_at, NULL::numeric
FROM wallet_withdrawal w
JOIN wallet_ledgertransaction t ON t.id = w.capture_id;
"""

# A view's columns cannot be dropped by replacing it: the view of 0020 is made again.
BEFORE = """
DROP VIEW wallet_public_payment_instruments;
CREATE VIEW wallet_public_payment_instruments AS
SELECT t.id AS transaction_id, d.client_id, 'deposit'::text AS direction, d.amount, d.currency::text AS currency,
       t.occurred_at, t.recorded_at, d.method::text AS method, d.payer_name::text AS payer_name, d.payer_is_client,
       d.instrument_country::text AS instrument_country, d.instrument_fingerprint::text AS instrument_fingerprint,
       d.instrument_last4::text AS instrument_last4, NULL::timestamptz AS destination_added_at
FROM wallet_deposit d
JOIN wallet_ledgertransaction t ON t.id = d.credit_transaction_id
UNION ALL
SELECT t.id, w.client_id, 'withdrawal'::text, w.amount, w.currency::text, t.occurred_at, t.recorded_at,
       w.method::text, ''::text, NULL::boolean, ''::text, w.destination_fingerprint::text,
       right(w.destination_masked, 4)::text, w.destination_added_at
FROM wallet_withdrawal w
JOIN wallet_ledgertransaction t ON t.id = w.capture_id;
"""


class Migration(migrations.Migration):

    dependencies = [
        ('wallet', '0029_disputes'),
    ]

    operations = [
        migrations.RunSQL(VIEW, BEFORE),
    ]
