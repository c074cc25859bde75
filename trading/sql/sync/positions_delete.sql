-- The accounts' positions the platform no longer lists (closed since the last poll).
DELETE FROM trading_position WHERE account_id = ANY(%(accounts)s) AND NOT (position_id = ANY(%(positions)s))
