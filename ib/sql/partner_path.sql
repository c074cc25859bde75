-- The ids on the partner's stored path (itself last).
SELECT unnest(path) FROM ib_partner WHERE id = %s
