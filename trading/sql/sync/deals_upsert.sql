-- The chunk's deals written (_deal_upsert), in one statement whose RETURNING rows are summed up
-- where they are: a chunk of new deals sends back one row per (account, kind) instead of one per
-- deal. Edits come back one by one (each becomes an event).
WITH written AS ({deal_upsert})
SELECT true, account_id, kind, NULL::bigint, count(*), min(time), max(time) FROM written
WHERE inserted GROUP BY account_id, kind
UNION ALL SELECT false, account_id, kind, deal_id, 1, time, time FROM written WHERE NOT inserted
