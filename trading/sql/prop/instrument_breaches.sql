-- Per live challenge of the accounts: its first trade in an instrument its product does not allow.
SELECT DISTINCT ON (c.id) c.id, x.symbol, x.time, p.allowed_symbols
FROM trading_challenge c JOIN trading_challengeproduct p ON p.id = c.product_id
JOIN trading_deal x ON x.account_id = c.account_id AND x.time >= c.platform_started_at
     AND x.kind = 'trade' AND x.deleted_at IS NULL AND x.entry = 'in'
WHERE c.account_id = ANY(%(accounts)s) AND c.state IN ('active', 'funded')
  AND jsonb_array_length(p.allowed_symbols) > 0 AND NOT (p.allowed_symbols ? x.symbol)
ORDER BY c.id, x.time
