-- The trading days of the live challenges of the accounts: UTC days with a trade deal since the
-- phase began on the platform.
UPDATE trading_challenge c SET trading_days = d.days
FROM (SELECT c2.id, count(DISTINCT (x.time AT TIME ZONE 'UTC')::date) AS days
      FROM trading_challenge c2
      JOIN trading_deal x ON x.account_id = c2.account_id AND x.time >= c2.platform_started_at
           AND x.kind = 'trade' AND x.deleted_at IS NULL
      WHERE c2.account_id = ANY(%(accounts)s) AND c2.state IN ('active', 'funded') GROUP BY c2.id) d
WHERE c.id = d.id AND c.trading_days IS DISTINCT FROM d.days
