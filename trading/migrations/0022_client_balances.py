"""Each client's money on its live accounts, for marketing's segments at a million clients (issue 63):
per client and currency, how many live accounts it has and the sums of their balances and equities,
kept by the database itself as accounts are registered, synced, archived, moved or removed, and
published as trading_public_client_balances (declared in trading.selectors).

Why: "balance under 50 USD" summed every live account of the database for each count (the accounts'
balances, one row per account, grouped by client at every count); a client's row per currency is
already summed.

What counts, as marketing's balance and equity facts always counted it: accounts not demo and not
archived, grouped by client and the account's currency; balance and equity as the state sync last
stored them on the account.

How it stays exact, in the writer's own transaction (no lag): each statement that inserts, updates or
deletes accounts adds to its clients' rows what it changed (the new rows' figures less the old rows',
of the accounts whose client, currency, demo or archived flag, balance or equity changed): sums,
which commute, so concurrent writers add under the row's lock in key order and none is lost. A row
whose client has no live account left in that currency is removed. The state sync's updates that
move no balance or equity change nothing here.
tests/trading/test_published_views.py compares the table with the accounts after each kind of change.
"""

from django.db import migrations

# The change of one statement, as (client, currency) deltas: added, then the emptied rows removed.
APPLY = """
    INSERT INTO trading_clientbalance AS t (client_id, currency, accounts, balance, equity)
    SELECT x.client_id, x.currency, sum(x.n), sum(x.balance), sum(x.equity) FROM (@DELTAS@) x
    GROUP BY x.client_id, x.currency
    HAVING sum(x.n) <> 0 OR sum(x.balance) <> 0 OR sum(x.equity) <> 0
    ORDER BY x.client_id, x.currency
    ON CONFLICT (client_id, currency) DO UPDATE
        SET accounts = t.accounts + EXCLUDED.accounts,
            balance = t.balance + EXCLUDED.balance,
            equity = t.equity + EXCLUDED.equity;
    DELETE FROM trading_clientbalance t USING (SELECT DISTINCT x.client_id, x.currency FROM (@DELTAS@) x) k
    WHERE t.client_id = k.client_id AND t.currency = k.currency AND t.accounts = 0;
"""

INSERTED = (
    "SELECT a.client_id, a.currency, 1 AS n, a.balance, a.equity FROM new_accounts a "
    "WHERE NOT a.is_demo AND NOT a.is_archived"
)
DELETED = (
    "SELECT a.client_id, a.currency, -1 AS n, -a.balance AS balance, -a.equity AS equity FROM old_accounts a "
    "WHERE NOT a.is_demo AND NOT a.is_archived"
)
# Updated: only the accounts whose figures' inputs changed (the sync's margin and timestamps do not).
CHANGED = """
    SELECT y.client_id, y.currency, y.n, y.balance, y.equity
    FROM old_accounts o JOIN new_accounts a ON a.id = o.id
    CROSS JOIN LATERAL (VALUES
        (o.client_id, o.currency, -1, -o.balance, -o.equity, o.is_demo OR o.is_archived),
        (a.client_id, a.currency, 1, a.balance, a.equity, a.is_demo OR a.is_archived)
    ) y(client_id, currency, n, balance, equity, excluded)
    WHERE NOT y.excluded
      AND (o.client_id, o.currency, o.is_demo, o.is_archived, o.balance, o.equity)
          IS DISTINCT FROM (a.client_id, a.currency, a.is_demo, a.is_archived, a.balance, a.equity)
"""

FORWARD = """
CREATE TABLE trading_clientbalance (
    client_id bigint NOT NULL,
    currency varchar(10) NOT NULL,
    accounts integer NOT NULL,
    balance numeric(28, 8) NOT NULL,
    equity numeric(28, 8) NOT NULL,
    CONSTRAINT trading_clientbalance_pkey PRIMARY KEY (client_id, currency)
);

CREATE FUNCTION trading_client_balances_insert() RETURNS trigger AS $$
BEGIN
    @INSERTED@
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE FUNCTION trading_client_balances_update() RETURNS trigger AS $$
BEGIN
    @CHANGED@
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE FUNCTION trading_client_balances_delete() RETURNS trigger AS $$
BEGIN
    @DELETED@
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER trading_account_client_balances_insert AFTER INSERT ON trading_tradingaccount
    REFERENCING NEW TABLE AS new_accounts FOR EACH STATEMENT EXECUTE FUNCTION trading_client_balances_insert();
CREATE TRIGGER trading_account_client_balances_update AFTER UPDATE ON trading_tradingaccount
    REFERENCING OLD TABLE AS old_accounts NEW TABLE AS new_accounts
    FOR EACH STATEMENT EXECUTE FUNCTION trading_client_balances_update();
CREATE TRIGGER trading_account_client_balances_delete AFTER DELETE ON trading_tradingaccount
    REFERENCING OLD TABLE AS old_accounts FOR EACH STATEMENT EXECUTE FUNCTION trading_client_balances_delete();

INSERT INTO trading_clientbalance (client_id, currency, accounts, balance, equity)
SELECT a.client_id, a.currency, count(*), sum(a.balance), sum(a.equity)
FROM trading_tradingaccount a WHERE NOT a.is_demo AND NOT a.is_archived
GROUP BY 1, 2;

CREATE VIEW trading_public_client_balances AS
SELECT client_id, currency, accounts, balance, equity
FROM trading_clientbalance;
"""

FORWARD = (
    FORWARD.replace("@INSERTED@", APPLY.replace("@DELTAS@", INSERTED))
    .replace("@CHANGED@", APPLY.replace("@DELTAS@", CHANGED))
    .replace("@DELETED@", APPLY.replace("@DELTAS@", DELETED))
)

BACKWARD = """
DROP VIEW trading_public_client_balances;
DROP TRIGGER trading_account_client_balances_delete ON trading_tradingaccount;
DROP TRIGGER trading_account_client_balances_update ON trading_tradingaccount;
DROP TRIGGER trading_account_client_balances_insert ON trading_tradingaccount;
DROP FUNCTION trading_client_balances_delete();
DROP FUNCTION trading_client_balances_update();
DROP FUNCTION trading_client_balances_insert();
DROP TABLE trading_clientbalance;
"""


class Migration(migrations.Migration):
    dependencies = [("trading", "0021_client_trade_days")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
