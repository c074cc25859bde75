"""Posting in one statement, and a ledger transaction checked once at commit.

`wallet_ledger_post(...)` is what wallet.ledger.ledger_post sends: one call, so that a posting
made on its own is one round trip and its own transaction (no BEGIN and COMMIT of their own), and
the balance rows are locked only while the database works on them. In order: the transaction's
row (ON CONFLICT DO NOTHING: a key posted already, or a transaction reversed already, returns NULL
and writes nothing; a concurrent posting of the same key waits there until the first commits);
its legs; the balance rows of every account involved locked in account order and checked in the
same statement (no account that may not go negative may end below zero in balance or below its
held amount: SQLSTATE WLF01, detail "account available requested"); the holds the posting
captures, locked after the balances (in id order, as ledger_release does) and marked captured (a
hold no longer held: WLH01, detail its state); the balances and held amounts. The caller sends
each account's change of balance and of held amount (p_lock, p_deltas, p_held, in account order).
A refusal raises, so the whole statement writes nothing.

The checks at commit:
The deferred trigger on the transaction row now checks both rules in one query (at least two legs;
the legs sum to zero per currency) and notes, for the rest of the commit, that this transaction
was checked. The deferred trigger on each leg stays (a leg added to a transaction written earlier,
by any writer, is still checked in full) and skips its query when the transaction it belongs to
was checked in the same statement: the same COMMIT, or the same SET CONSTRAINTS ... IMMEDIATE.
The note names the statement (its start time), so legs added after an early SET CONSTRAINTS are
checked again when they fire.

The transaction's trigger fires before its legs': deferred triggers fire in the order their rows
were written, and a transaction's row is written before its legs (they reference it).
"""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION wallet_ledger_post(
    p_code uuid, p_key text, p_fingerprint text, p_kind text, p_memo text, p_occurred_at timestamptz,
    p_now timestamptz, p_reverses bigint, p_rate numeric, p_rate_source text, p_actor bigint, p_metadata jsonb,
    p_ref_kind text, p_ref_code text, p_accounts bigint[], p_currencies text[], p_amounts numeric[],
    p_lock bigint[], p_deltas numeric[], p_held numeric[], p_holds bigint[]) RETURNS bigint AS $$
DECLARE
    tx_id bigint;
    hold record;
    short record;
BEGIN
    INSERT INTO wallet_ledgertransaction (code, idempotency_key, fingerprint, kind, memo, occurred_at, recorded_at,
                                          reverses_id, rate, rate_source, actor_id, metadata, ref_kind, ref_code)
        VALUES (p_code, p_key, p_fingerprint, p_kind, p_memo, p_occurred_at, p_now, p_reverses, p_rate,
                p_rate_source, p_actor, p_metadata, p_ref_kind, p_ref_code)
        ON CONFLICT DO NOTHING RETURNING id INTO tx_id;
    IF tx_id IS NULL THEN
        RETURN NULL;
    END IF;
    -- The legs before any balance row is locked: other postings of the same accounts do not wait
    -- for them.
    INSERT INTO wallet_ledgerleg (transaction_id, account_id, currency, amount, recorded_at)
        SELECT tx_id, u.account_id, u.currency, u.amount, p_now
        FROM unnest(p_accounts, p_currencies, p_amounts) WITH ORDINALITY u(account_id, currency, amount, n)
        ORDER BY u.n;
    -- Every balance row is locked (in account order) unless one falls short, and then this raises.
    SELECT b.account_id, b.balance - b.held AS available, -d.delta AS requested INTO short
        FROM (SELECT account_id, balance, held, may_go_negative FROM wallet_ledgerbalance
              WHERE account_id = ANY(p_lock) ORDER BY account_id FOR UPDATE) b
        JOIN unnest(p_lock, p_deltas, p_held) d(account_id, delta, held) ON d.account_id = b.account_id
        WHERE NOT b.may_go_negative AND (d.delta < 0 OR d.held <> 0)
          AND (b.balance + d.delta < 0 OR b.balance + d.delta < b.held + d.held)
        LIMIT 1;
    IF FOUND THEN
        -- A hold captured or released already is the refusal to name: its amount has left
        -- `held`, so the balance check fails too. Those states are final, so no lock is needed.
        SELECT id, state INTO hold FROM wallet_ledgerhold WHERE id = ANY(p_holds) AND state <> 'held'
            ORDER BY id LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'hold % is %', hold.id, hold.state USING ERRCODE = 'WLH01', DETAIL = hold.state;
        END IF;
        RAISE EXCEPTION 'insufficient funds on ledger account %', short.account_id
            USING ERRCODE = 'WLF01', DETAIL = short.account_id || ' ' || short.available || ' ' || short.requested;
    END IF;
    IF cardinality(p_holds) > 0 THEN
        FOR hold IN SELECT id, state FROM wallet_ledgerhold WHERE id = ANY(p_holds) ORDER BY id FOR UPDATE LOOP
            IF hold.state <> 'held' THEN
                RAISE EXCEPTION 'hold % is %', hold.id, hold.state USING ERRCODE = 'WLH01', DETAIL = hold.state;
            END IF;
        END LOOP;
        UPDATE wallet_ledgerhold SET state = 'captured', capture_id = tx_id, resolved_at = p_now
            WHERE id = ANY(p_holds);
    END IF;
    UPDATE wallet_ledgerbalance b SET balance = b.balance + d.delta, held = b.held + d.held, updated_at = p_now
        FROM unnest(p_lock, p_deltas, p_held) d(account_id, delta, held) WHERE b.account_id = d.account_id;
    RETURN tx_id;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION wallet_ledger_transaction_has_legs() RETURNS trigger AS $$
DECLARE
    legs bigint;
    bad_currency text;
    other_currency text;
    bad_total numeric;
BEGIN
    -- Most transactions are in one currency: count and sum them in one pass, and group by
    -- currency only when there are several.
    SELECT count(*), sum(amount), min(currency), max(currency) INTO legs, bad_total, bad_currency, other_currency
        FROM wallet_ledgerleg WHERE transaction_id = NEW.id;
    IF bad_currency IS DISTINCT FROM other_currency THEN
        SELECT currency, sum(amount) INTO bad_currency, bad_total FROM wallet_ledgerleg
            WHERE transaction_id = NEW.id GROUP BY currency HAVING sum(amount) <> 0 ORDER BY currency LIMIT 1;
        IF NOT FOUND THEN
            bad_currency := NULL;
        END IF;
    ELSIF bad_total = 0 THEN
        bad_currency := NULL;
    END IF;
    IF legs < 2 THEN
        RAISE EXCEPTION 'ledger transaction % has fewer than two legs', NEW.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'wallet_ledgertransaction_has_legs';
    END IF;
    IF bad_currency IS NOT NULL THEN
        RAISE EXCEPTION 'ledger transaction % does not balance: its % legs sum to %',
            NEW.id, bad_currency, bad_total
            USING ERRCODE = 'check_violation', CONSTRAINT = 'wallet_ledgerleg_balanced';
    END IF;
    PERFORM set_config('wallet.ledger_checked', NEW.id::text || '@' || statement_timestamp()::text, true);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

-- A leg's references are checked as it is written (before the posting locks any balance row),
-- not at commit while the locks are held; a transaction's row is always written before its legs.
DO $$
DECLARE
    c record;
BEGIN
    FOR c IN SELECT conname FROM pg_constraint
             WHERE conrelid = 'wallet_ledgerleg'::regclass AND contype = 'f' AND condeferrable LOOP
        EXECUTE format('ALTER TABLE wallet_ledgerleg ALTER CONSTRAINT %I NOT DEFERRABLE', c.conname);
    END LOOP;
END $$;
-- Keys are looked up whole, never by prefix: the pattern index Django adds beside the unique one
-- only costs every posting an index entry.
DROP INDEX IF EXISTS wallet_ledgertransaction_idempotency_key_a15a3f79_like;

CREATE OR REPLACE FUNCTION wallet_ledger_legs_balance() RETURNS trigger AS $$
DECLARE
    bad record;
BEGIN
    IF current_setting('wallet.ledger_checked', true)
            = NEW.transaction_id::text || '@' || statement_timestamp()::text THEN
        RETURN NULL;  -- its transaction's trigger checked all its legs in this statement
    END IF;
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
"""

BACKWARD = """
CREATE INDEX IF NOT EXISTS wallet_ledgertransaction_idempotency_key_a15a3f79_like
    ON wallet_ledgertransaction (idempotency_key varchar_pattern_ops);
DO $$
DECLARE
    c record;
BEGIN
    FOR c IN SELECT conname FROM pg_constraint
             WHERE conrelid = 'wallet_ledgerleg'::regclass AND contype = 'f' AND NOT condeferrable
               AND conname <> 'ledgerleg_currency_is_accounts' LOOP
        EXECUTE format('ALTER TABLE wallet_ledgerleg ALTER CONSTRAINT %I DEFERRABLE INITIALLY DEFERRED', c.conname);
    END LOOP;
END $$;
DROP FUNCTION IF EXISTS wallet_ledger_post(uuid, text, text, text, text, timestamptz, timestamptz, bigint, numeric,
    text, bigint, jsonb, text, text, bigint[], text[], numeric[], bigint[], numeric[], numeric[], bigint[]);
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

CREATE OR REPLACE FUNCTION wallet_ledger_transaction_has_legs() RETURNS trigger AS $$
BEGIN
    IF (SELECT count(*) FROM wallet_ledgerleg WHERE transaction_id = NEW.id) < 2 THEN
        RAISE EXCEPTION 'ledger transaction % has fewer than two legs', NEW.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'wallet_ledgertransaction_has_legs';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
"""


class Migration(migrations.Migration):
    dependencies = [("wallet", "0014_reconciliation_brands")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
