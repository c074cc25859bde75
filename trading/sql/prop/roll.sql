-- One statement: roll the day (its start is the last figure seen before it), raise the high, store
-- the last figures, and add a curve point at most once a minute. Only challenges whose account was
-- observed after the phase began (the account size is on it) take part.
WITH src AS (
    SELECT c.id, a.balance, a.equity
    FROM trading_challenge c JOIN trading_tradingaccount a ON a.id = c.account_id
    WHERE c.state IN ('active', 'funded') AND a.server_id = ANY(%(servers)s)
      AND a.last_synced_at > c.phase_started_at
), upd AS (
    UPDATE trading_challenge c SET
        day_start_balance = CASE WHEN c.day < %(today)s THEN c.last_balance ELSE c.day_start_balance END,
        day_start_equity = CASE WHEN c.day < %(today)s THEN c.last_equity ELSE c.day_start_equity END,
        day = GREATEST(c.day, %(today)s),
        high_equity = GREATEST(c.high_equity, src.equity),
        last_balance = src.balance, last_equity = src.equity,
        last_point_at = CASE WHEN c.last_point_at IS NULL OR c.last_point_at <= %(point_before)s
                             THEN %(now)s ELSE c.last_point_at END
    FROM src WHERE c.id = src.id
    RETURNING c.id, src.balance, src.equity, c.last_point_at = %(now)s AS point
)
INSERT INTO trading_challengeequitypoint (challenge_id, at, equity, balance)
SELECT id, %(now)s, equity, balance FROM upd WHERE point
