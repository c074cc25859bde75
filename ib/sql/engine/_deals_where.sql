-- The scope's trade deals (as known at as_of, not deleted), from `context` on.
d.server_id = ANY(%(servers)s)
AND d.time >= %(context)s AND d.time < %(end)s AND d.kind = 'trade' AND d.deleted_at IS NULL
AND d.first_seen_at <= %(as_of)s AND (%(all_accounts)s OR d.account_id = ANY(%(accounts)s))
