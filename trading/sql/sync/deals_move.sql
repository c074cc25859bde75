-- The stored row moves to its new time (PostgreSQL moves it to the new month's partition, keeping
-- its id); the upsert that follows then finds it there and writes the platform's new content.
UPDATE trading_deal SET time = m.time
FROM unnest(%(deal_id)s::bigint[], %(stored)s::timestamptz[], %(time)s::timestamptz[]) AS m(deal_id, stored, time)
WHERE trading_deal.server_id = %(server_id)s AND trading_deal.deal_id = m.deal_id AND trading_deal.time = m.stored
