"""Each client's trading per day, for marketing's segments at a million clients (issue 63): per client
and UTC day, the last trade and the lots and trades opened on the clients' live (not demo) accounts,
kept by the database itself as deals are stored, changed or removed, and published as
trading_public_client_trade_days (declared in trading.selectors).

Why: "no trade in the last 14 days" or "at least 1 lot in the last 30 days" for half a million clients
of a brand was an aggregate over every deal of the window (millions at full size) joined to the
accounts; a client's days are several times fewer rows than its deals, and carry the client.

What counts, as marketing's facts always counted it: deals of kind 'trade' not deleted
(deleted_at IS NULL) on accounts that are not demo; lots and trades count the deals that open a
position (entry 'in'). `day` is the deal's time's UTC date.

How it stays exact, in the writer's own transaction (no lag):
- deals inserted (the sync, a bulk COPY): their figures are added to their client-days (sums and a
  greatest, which commute), one upsert per statement over its new rows (a transition table);
- deals updated or deleted (a correction, a soft delete): their old and new client-days are
  recomputed from the deals. The rows are created if missing and locked first (in key order), and
  the recomputation is a statement of its own, so under READ COMMITTED it sees every writer that
  held them before; a concurrent insert waits on the same rows;
- an account moved to another client or made demo (or live): both clients' days are recomputed.
tests/trading/test_published_views.py compares the table with the deals after inserts, edits and deletes.
"""

from django.db import migrations

# The client-days (k_clients[i], k_days[i]) recomputed from the deals: the rows made if missing and
# locked (key order) by one statement, recomputed by the next (a snapshot taken after the locks).
RECOMPUTE = """
    INSERT INTO trading_clienttradeday (client_id, day, last_trade_at, lots_in, trades_in)
    SELECT k.client_id, k.day, NULL, 0, 0 FROM (SELECT DISTINCT * FROM unnest(k_clients, k_days) AS u(client_id, day)) k
    WHERE k.client_id IS NOT NULL
    ORDER BY k.client_id, k.day
    ON CONFLICT (client_id, day) DO NOTHING;
    PERFORM 1 FROM trading_clienttradeday s
    JOIN (SELECT DISTINCT * FROM unnest(k_clients, k_days) AS u(client_id, day)) k ON k.client_id = s.client_id AND k.day = s.day
    ORDER BY s.client_id, s.day FOR UPDATE OF s;
    UPDATE trading_clienttradeday s
    SET last_trade_at = f.last_trade_at, lots_in = f.lots_in, trades_in = f.trades_in
    FROM (
        SELECT k.client_id, k.day, max(d.time) AS last_trade_at,
               coalesce(sum(d.volume) FILTER (WHERE d.entry = 'in'), 0) AS lots_in,
               count(d.id) FILTER (WHERE d.entry = 'in') AS trades_in
        FROM (SELECT DISTINCT * FROM unnest(k_clients, k_days) AS u(client_id, day)) k
        LEFT JOIN trading_tradingaccount a ON a.client_id = k.client_id AND NOT a.is_demo
        LEFT JOIN trading_deal d ON d.account_id = a.id AND d.kind = 'trade' AND d.deleted_at IS NULL
             AND d.time >= (k.day::timestamp AT TIME ZONE 'UTC')
             AND d.time < ((k.day + 1)::timestamp AT TIME ZONE 'UTC')
        GROUP BY k.client_id, k.day
    ) f
    WHERE s.client_id = f.client_id AND s.day = f.day;
    DELETE FROM trading_clienttradeday s USING (SELECT DISTINCT * FROM unnest(k_clients, k_days) AS u(client_id, day)) k
    WHERE s.client_id = k.client_id AND s.day = k.day AND s.last_trade_at IS NULL;
"""

# A deal's (or an account's) client-days before and after a change.
FORWARD = """
CREATE TABLE trading_clienttradeday (
    client_id bigint NOT NULL,
    day date NOT NULL,
    last_trade_at timestamptz NULL,
    lots_in numeric(28, 8) NOT NULL,
    trades_in bigint NOT NULL,
    CONSTRAINT trading_clienttradeday_pkey PRIMARY KEY (client_id, day)
);
-- Windows ("in the last 30 days", "not in the last 14"): a range of recent days, not every client's.
CREATE INDEX trading_clienttradeday_day_idx ON trading_clienttradeday (day, client_id)
    INCLUDE (last_trade_at, lots_in, trades_in);

CREATE FUNCTION trading_client_trade_days_add() RETURNS trigger AS $$
BEGIN
    INSERT INTO trading_clienttradeday (client_id, day, last_trade_at, lots_in, trades_in)
    SELECT a.client_id, (d.time AT TIME ZONE 'UTC')::date, max(d.time),
           coalesce(sum(d.volume) FILTER (WHERE d.entry = 'in'), 0), count(*) FILTER (WHERE d.entry = 'in')
    FROM new_deals d JOIN trading_tradingaccount a ON a.id = d.account_id AND NOT a.is_demo
    WHERE d.kind = 'trade' AND d.deleted_at IS NULL
    GROUP BY 1, 2
    ORDER BY 1, 2
    ON CONFLICT (client_id, day) DO UPDATE
        SET last_trade_at = GREATEST(trading_clienttradeday.last_trade_at, EXCLUDED.last_trade_at),
            lots_in = trading_clienttradeday.lots_in + EXCLUDED.lots_in,
            trades_in = trading_clienttradeday.trades_in + EXCLUDED.trades_in;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

-- A deal removed (one row): its client-day.
CREATE FUNCTION trading_client_trade_days_remove() RETURNS trigger AS $$
DECLARE
    k_clients bigint[] := ARRAY[(SELECT a.client_id FROM trading_tradingaccount a WHERE a.id = OLD.account_id)];
    k_days date[] := ARRAY[(OLD.time AT TIME ZONE 'UTC')::date];
BEGIN
    @RECOMPUTE@
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

-- Deals changed (one statement's, a move to another month's partition included): the client-days of
-- those whose figures' inputs changed, before and after. The sync's bookkeeping updates find none.
CREATE FUNCTION trading_client_trade_days_change() RETURNS trigger AS $$
DECLARE
    k_clients bigint[];
    k_days date[];
BEGIN
    SELECT array_agg(y.client_id), array_agg(y.day) INTO k_clients, k_days FROM (
        SELECT DISTINCT a.client_id, (x.time AT TIME ZONE 'UTC')::date AS day
        FROM (SELECT o.account_id AS old_account, o.time AS old_time, n.account_id, n.time,
                     (o.account_id, o.time, o.kind, o.entry, o.volume, o.deleted_at)
                     IS DISTINCT FROM (n.account_id, n.time, n.kind, n.entry, n.volume, n.deleted_at) AS changed
              FROM old_deals o JOIN new_deals n ON n.id = o.id) c
        CROSS JOIN LATERAL (VALUES (c.old_account, c.old_time), (c.account_id, c.time)) x(account_id, time)
        JOIN trading_tradingaccount a ON a.id = x.account_id
        WHERE c.changed
    ) y;
    IF k_clients IS NOT NULL THEN
        @RECOMPUTE@
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

-- An account moved to another client, or made demo or live (one row): every day of both clients.
CREATE FUNCTION trading_client_trade_days_account() RETURNS trigger AS $$
DECLARE
    k_clients bigint[];
    k_days date[];
BEGIN
    SELECT array_agg(x.client_id), array_agg(x.day) INTO k_clients, k_days FROM (
        SELECT DISTINCT a.client_id, (d.time AT TIME ZONE 'UTC')::date AS day
        FROM trading_tradingaccount a JOIN trading_deal d ON d.account_id = a.id AND d.kind = 'trade'
        WHERE a.client_id IN (OLD.client_id, NEW.client_id)
        UNION
        SELECT s.client_id, s.day FROM trading_clienttradeday s WHERE s.client_id IN (OLD.client_id, NEW.client_id)
    ) x;
    IF k_clients IS NOT NULL THEN
        @RECOMPUTE@
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER trading_deal_client_days_insert AFTER INSERT ON trading_deal
    REFERENCING NEW TABLE AS new_deals FOR EACH STATEMENT EXECUTE FUNCTION trading_client_trade_days_add();
CREATE TRIGGER trading_deal_client_days_update AFTER UPDATE ON trading_deal
    REFERENCING OLD TABLE AS old_deals NEW TABLE AS new_deals
    FOR EACH STATEMENT EXECUTE FUNCTION trading_client_trade_days_change();
CREATE TRIGGER trading_deal_client_days_delete AFTER DELETE ON trading_deal FOR EACH ROW
    EXECUTE FUNCTION trading_client_trade_days_remove();
CREATE TRIGGER trading_account_client_days AFTER UPDATE ON trading_tradingaccount FOR EACH ROW
    WHEN ((OLD.client_id, OLD.is_demo) IS DISTINCT FROM (NEW.client_id, NEW.is_demo))
    EXECUTE FUNCTION trading_client_trade_days_account();

INSERT INTO trading_clienttradeday (client_id, day, last_trade_at, lots_in, trades_in)
SELECT a.client_id, (d.time AT TIME ZONE 'UTC')::date, max(d.time),
       coalesce(sum(d.volume) FILTER (WHERE d.entry = 'in'), 0), count(*) FILTER (WHERE d.entry = 'in')
FROM trading_deal d JOIN trading_tradingaccount a ON a.id = d.account_id AND NOT a.is_demo
WHERE d.kind = 'trade' AND d.deleted_at IS NULL
GROUP BY 1, 2;

CREATE VIEW trading_public_client_trade_days AS
SELECT client_id, day, last_trade_at, lots_in, trades_in
FROM trading_clienttradeday;
"""

FORWARD = FORWARD.replace("@RECOMPUTE@", RECOMPUTE)

BACKWARD = """
DROP VIEW trading_public_client_trade_days;
DROP TRIGGER trading_account_client_days ON trading_tradingaccount;
DROP TRIGGER trading_deal_client_days_delete ON trading_deal;
DROP TRIGGER trading_deal_client_days_update ON trading_deal;
DROP TRIGGER trading_deal_client_days_insert ON trading_deal;
DROP FUNCTION trading_client_trade_days_account();
DROP FUNCTION trading_client_trade_days_change();
DROP FUNCTION trading_client_trade_days_remove();
DROP FUNCTION trading_client_trade_days_add();
DROP TABLE trading_clienttradeday;
"""


class Migration(migrations.Migration):
    dependencies = [("trading", "0020_accounts_money_published")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
