"""Ledger legs partitioned by month on their posting time (native PostgreSQL partitioning, issue 39).

Legs are appended for ever and read by account and time (balances as of a moment, statements) or
by transaction (the checks at commit): one partition per UTC month (`wallet_ledgerleg_pYYYYMM`,
made by crm_month_partitions_ensure, crm migration 0025) keeps a month's legs together, so that a
month past its retention can be archived whole. A leg's time is its transaction's `recorded_at`,
which it already carried (copied by wallet_ledger_post); the primary key becomes (id, recorded_at).

What the database holds the ledger to is carried over to every partition, present and future
(plumbing.partition_swap recreates them on the partitioned table, which gives them to each
partition): the immutability trigger (UPDATE and DELETE refused), the deferred balance check, the
composite foreign key to the account's currency. And it gains one: a leg's recorded_at is its
transaction's, held by a composite foreign key (transaction, recorded_at) that replaces the one on
the transaction alone; the checks at commit rely on it to read the transaction's legs in their
month's partition only, whatever the number of months.

wallet_ledger_post makes the month of its legs when it is missing (the daily task makes the months
ahead; a posting never fails for a partition), before it writes them.
"""

from django.db import migrations, models

from plumbing.partition_swap import table_repartition

FUNCTIONS = """
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
    -- The legs' month has its partition: made ahead by the daily task (crm.tasks.partitions_ahead),
    -- and here when it is not, so that a posting never fails for it (a lookup in the catalog's
    -- cache; the function that makes a month locks only then).
    IF to_regclass('wallet_ledgerleg_p' || to_char(p_now AT TIME ZONE 'UTC', 'YYYYMM')) IS NULL THEN
        PERFORM crm_month_partitions_ensure('wallet_ledgerleg'::regclass, (p_now AT TIME ZONE 'UTC')::date,
                                            (p_now AT TIME ZONE 'UTC')::date);
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
        FROM wallet_ledgerleg WHERE transaction_id = NEW.id AND recorded_at = NEW.recorded_at;
    IF bad_currency IS DISTINCT FROM other_currency THEN
        SELECT currency, sum(amount) INTO bad_currency, bad_total FROM wallet_ledgerleg
            WHERE transaction_id = NEW.id AND recorded_at = NEW.recorded_at
            GROUP BY currency HAVING sum(amount) <> 0 ORDER BY currency LIMIT 1;
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

CREATE OR REPLACE FUNCTION wallet_ledger_legs_balance() RETURNS trigger AS $$
DECLARE
    bad record;
BEGIN
    IF current_setting('wallet.ledger_checked', true)
            = NEW.transaction_id::text || '@' || statement_timestamp()::text THEN
        RETURN NULL;  -- its transaction's trigger checked all its legs in this statement
    END IF;
    SELECT currency, sum(amount) AS total INTO bad FROM wallet_ledgerleg
        WHERE transaction_id = NEW.transaction_id AND recorded_at = NEW.recorded_at
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

# The single-column foreign key Django made for the leg's transaction gives way to the composite one.
FOREIGN_KEYS = """
DO $$
DECLARE
    c record;
BEGIN
    FOR c IN SELECT conname FROM pg_constraint WHERE conrelid = 'wallet_ledgerleg'::regclass AND contype = 'f'
               AND confrelid = 'wallet_ledgertransaction'::regclass LOOP
        EXECUTE format('ALTER TABLE wallet_ledgerleg DROP CONSTRAINT %I', c.conname);
    END LOOP;
END $$;
ALTER TABLE wallet_ledgerleg ADD CONSTRAINT ledgerleg_recorded_with_transaction
    FOREIGN KEY (transaction_id, recorded_at) REFERENCES wallet_ledgertransaction (id, recorded_at);
"""
FOREIGN_KEYS_BACK = """
ALTER TABLE wallet_ledgerleg DROP CONSTRAINT ledgerleg_recorded_with_transaction;
ALTER TABLE wallet_ledgerleg ADD CONSTRAINT wallet_ledgerleg_transaction_id_fk
    FOREIGN KEY (transaction_id) REFERENCES wallet_ledgertransaction (id);
"""


def partition(apps, schema_editor) -> None:
    # The primary key becomes (id, recorded_at) by itself.
    table_repartition(schema_editor, "wallet_ledgerleg", "recorded_at", identity_as_sequence=True)


def unpartition(apps, schema_editor) -> None:
    table_repartition(schema_editor, "wallet_ledgerleg", None, keys={"wallet_ledgerleg_pkey": "PRIMARY KEY (id)"})


def _functions_before() -> str:
    import importlib

    return importlib.import_module("wallet.migrations.0015_ledger_posting_statement").FORWARD


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0025_month_partitions"),
        ("wallet", "0021_published_payout_destinations"),
    ]

    operations = [
        migrations.AddConstraint(
            model_name="ledgertransaction",
            constraint=models.UniqueConstraint(fields=("id", "recorded_at"), name="ledgertransaction_id_recorded"),
        ),
        migrations.RunPython(partition, unpartition, elidable=False),
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(FOREIGN_KEYS, FOREIGN_KEYS_BACK)],
            state_operations=[migrations.AlterField(
                model_name="ledgerleg", name="transaction",
                field=models.ForeignKey(db_constraint=False, on_delete=models.PROTECT, related_name="legs",
                                        to="wallet.ledgertransaction"),
            )],
        ),
        migrations.RunSQL(FUNCTIONS, _functions_before()),
    ]
