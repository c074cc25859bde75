-- The polled money of each account, and the day's equity high, in one statement. A high's row
-- changes only when the day's high rises: most polls write nothing there.
WITH stored AS (
    UPDATE trading_tradingaccount AS t SET balance = u.balance, credit = u.credit, equity = u.equity,
           margin = u.margin, free_margin = u.free_margin, margin_level = u.level, state_observed_at = u.observed,
           last_synced_at = %(now)s, updated_at = %(now)s
    FROM unnest(%(logins)s::bigint[], %(balances)s::numeric[], %(credits)s::numeric[], %(equities)s::numeric[],
                %(margins)s::numeric[], %(free_margins)s::numeric[], %(levels)s::numeric[],
                %(observed)s::timestamptz[])
         AS u(login, balance, credit, equity, margin, free_margin, level, observed)
    WHERE t.server_id = %(server)s AND t.login = u.login
    RETURNING t.id, t.equity)
INSERT INTO trading_accountequityday AS d (account_id, day, high)
SELECT id, %(day)s::date, equity FROM stored
ON CONFLICT (account_id, day) DO UPDATE SET high = EXCLUDED.high WHERE d.high < EXCLUDED.high
