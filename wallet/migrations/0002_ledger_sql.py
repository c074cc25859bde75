"""What the database itself holds the ledger to, whoever writes to it (raw SQL included):

- every transaction's legs sum to zero per currency: a deferred constraint trigger on the legs,
  checked at commit, when all of a transaction's legs are in; and a transaction has at least two
  legs (a deferred constraint trigger on the transaction);
- legs and transactions are immutable: UPDATE and DELETE raise, for the application's role and the
  owner alike (only the owner could switch the triggers off, and the application never connects as
  the owner: crm.lib.dbroles). The application's role holds no TRUNCATE privilege either;
- a leg's currency is its account's, and a balance row's currency and may_go_negative are its
  account's (composite foreign keys; ON UPDATE CASCADE carries a change of may_go_negative to the
  balance row, where the CHECK constraint then holds it to the balance).
"""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION wallet_ledger_legs_balance() RETURNS trigger AS $$
DECLARE
    bad record;
BEGIN
    SELECT currency, sum(amount) AS total INTO bad FROM wallet_ledgerleg
        WHERE transaction_id = NEW.transaction_id
        GROUP BY currency HAVING sum(amount) <> 0 LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'ledger transaction % does not balance: its % legs sum to %',
            NEW.transaction_id, bad.currency, bad.total
            USING ERRCODE = 'check_violation', CONSTRAINT = 'wallet_ledgerleg_balanced';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE CONSTRAINT TRIGGER wallet_ledgerleg_balanced AFTER INSERT ON wallet_ledgerleg
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION wallet_ledger_legs_balance();

CREATE OR REPLACE FUNCTION wallet_ledger_transaction_has_legs() RETURNS trigger AS $$
BEGIN
    IF (SELECT count(*) FROM wallet_ledgerleg WHERE transaction_id = NEW.id) < 2 THEN
        RAISE EXCEPTION 'ledger transaction % has fewer than two legs', NEW.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'wallet_ledgertransaction_has_legs';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE CONSTRAINT TRIGGER wallet_ledgertransaction_has_legs AFTER INSERT ON wallet_ledgertransaction
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION wallet_ledger_transaction_has_legs();

CREATE OR REPLACE FUNCTION wallet_ledger_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is immutable: % refused on row % (post a reversal instead)', TG_TABLE_NAME, TG_OP, OLD.id
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER wallet_ledgerleg_immutable BEFORE UPDATE OR DELETE ON wallet_ledgerleg
    FOR EACH ROW EXECUTE FUNCTION wallet_ledger_refuse_change();
CREATE TRIGGER wallet_ledgertransaction_immutable BEFORE UPDATE OR DELETE ON wallet_ledgertransaction
    FOR EACH ROW EXECUTE FUNCTION wallet_ledger_refuse_change();

ALTER TABLE wallet_ledgerleg ADD CONSTRAINT ledgerleg_currency_is_accounts
    FOREIGN KEY (account_id, currency) REFERENCES wallet_ledgeraccount (id, currency);
ALTER TABLE wallet_ledgerbalance ADD CONSTRAINT ledgerbalance_matches_account
    FOREIGN KEY (account_id, currency, may_go_negative)
    REFERENCES wallet_ledgeraccount (id, currency, may_go_negative) ON UPDATE CASCADE;
"""

BACKWARD = """
ALTER TABLE wallet_ledgerbalance DROP CONSTRAINT IF EXISTS ledgerbalance_matches_account;
ALTER TABLE wallet_ledgerleg DROP CONSTRAINT IF EXISTS ledgerleg_currency_is_accounts;
DROP TRIGGER IF EXISTS wallet_ledgertransaction_immutable ON wallet_ledgertransaction;
DROP TRIGGER IF EXISTS wallet_ledgerleg_immutable ON wallet_ledgerleg;
DROP FUNCTION IF EXISTS wallet_ledger_refuse_change();
DROP TRIGGER IF EXISTS wallet_ledgertransaction_has_legs ON wallet_ledgertransaction;
DROP FUNCTION IF EXISTS wallet_ledger_transaction_has_legs();
DROP TRIGGER IF EXISTS wallet_ledgerleg_balanced ON wallet_ledgerleg;
DROP FUNCTION IF EXISTS wallet_ledger_legs_balance();
"""


class Migration(migrations.Migration):
    dependencies = [("wallet", "0001_ledger")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
