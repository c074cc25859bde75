"""Each client's deposits in short, per currency, for marketing's segments at a million clients (issue
63): when the client first deposited in the currency and their net deposits in it, kept by the
database itself as legs are posted, and published as wallet_public_client_money (declared in
wallet.selectors).

Why a summary and not an index: a segment counts half a million clients of a brand against "ever
deposited" or "net deposits at least 1,000 USD", and every client's answer was an aggregate over
all of its legs, that is over millions of legs per count. One row per client and currency answers
the same question from a table a few times smaller than the brand's clients.

Why a trigger: the ledger's legs and transactions are immutable (wallet 0002), so a leg only ever
adds to its client's figures: the summary is exact in the posting's own transaction (no lag, no
"as of"), whoever inserts the legs (ledger_post, a bulk COPY). The trigger runs once per statement
over the statement's new legs (a transition table), so a posting or a COPY batch makes one upsert,
its rows in key order (two postings of one client wait for each other, never deadlock).
tests/wallet/test_published_views.py compares it with the legs after postings, refunds and chargebacks.

first_deposit_at is the earliest business time (occurred_at) of a deposit crediting the wallet
(amount > 0) in the currency; net_deposits the sum of the wallet's legs of deposits, withdrawals,
deposit refunds and chargebacks in it (withdrawals, refunds and chargebacks are negative legs).
"""

from django.db import migrations

KINDS = "('deposit', 'withdrawal', 'deposit_refund', 'chargeback')"

# The same aggregate over a set of legs `l`: the trigger's new legs, or all of them (the backfill).
AGGREGATE = """
SELECT a.client_id, l.currency,
       min(t.occurred_at) FILTER (WHERE t.kind = 'deposit' AND l.amount > 0) AS first_deposit_at,
       coalesce(sum(l.amount) FILTER (WHERE t.kind IN @KINDS@), 0) AS net_deposits
FROM @LEGS@ l
JOIN wallet_ledgeraccount a ON a.id = l.account_id AND a.kind = 'client_wallet'
JOIN wallet_ledgertransaction t ON t.id = l.transaction_id
WHERE t.kind IN @KINDS@
GROUP BY a.client_id, l.currency
"""

FORWARD = """
CREATE TABLE wallet_clientmoney (
    client_id bigint NOT NULL,
    currency varchar(10) NOT NULL,
    first_deposit_at timestamptz NULL,
    net_deposits numeric(28, 8) NOT NULL,
    CONSTRAINT wallet_clientmoney_pkey PRIMARY KEY (client_id, currency)
);
-- "First deposit in the last N days": a range of recent first deposits, not the whole table.
CREATE INDEX wallet_clientmoney_first_idx ON wallet_clientmoney (first_deposit_at, client_id)
    WHERE first_deposit_at IS NOT NULL;

CREATE FUNCTION wallet_client_money_add() RETURNS trigger AS $$
BEGIN
    INSERT INTO wallet_clientmoney (client_id, currency, first_deposit_at, net_deposits)
    SELECT s.client_id, s.currency, s.first_deposit_at, s.net_deposits
    FROM (@NEW_LEGS@) s
    ORDER BY s.client_id, s.currency
    ON CONFLICT (client_id, currency) DO UPDATE
        SET first_deposit_at = LEAST(wallet_clientmoney.first_deposit_at, EXCLUDED.first_deposit_at),
            net_deposits = wallet_clientmoney.net_deposits + EXCLUDED.net_deposits;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER wallet_ledgerleg_client_money AFTER INSERT ON wallet_ledgerleg
    REFERENCING NEW TABLE AS new_legs FOR EACH STATEMENT EXECUTE FUNCTION wallet_client_money_add();

INSERT INTO wallet_clientmoney (client_id, currency, first_deposit_at, net_deposits)
@ALL_LEGS@;

CREATE VIEW wallet_public_client_money AS
SELECT client_id, currency, first_deposit_at, net_deposits
FROM wallet_clientmoney;
"""

AGGREGATE = AGGREGATE.replace("@KINDS@", KINDS)
FORWARD = FORWARD.replace("@NEW_LEGS@", AGGREGATE.replace("@LEGS@", "new_legs")).replace(
    "@ALL_LEGS@", AGGREGATE.replace("@LEGS@", "wallet_ledgerleg")
)

BACKWARD = """
DROP VIEW wallet_public_client_money;
DROP TRIGGER wallet_ledgerleg_client_money ON wallet_ledgerleg;
DROP FUNCTION wallet_client_money_add();
DROP TABLE wallet_clientmoney;
"""


class Migration(migrations.Migration):
    dependencies = [("wallet", "0031_webhook_pending")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
