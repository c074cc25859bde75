-- Hedged positions under a version paying only the volume not offset ("net"): each hedged (later
-- opened) position's closing deals earn on their volume x (1 - 2 x offset / its volume), where the
-- offset is the smaller of its volume and the opposite positions' still open when it opened; the
-- earlier legs earn in full. A 5-lot buy and a later 3-lot sell: 5 + 3 x (1 - 2) = 2 lots; a 3-lot
-- buy and a later 5-lot sell: 3 + 5 x (1 - 6/5) = 2 lots. Run only when a version in force says
-- so: it reads the hedged positions' accounts' deals of their symbol (few).
UPDATE _pos p SET net_factor = 1 - 2 * least(x.own, x.opposite) / x.own
FROM (
    SELECT p2.account_id, p2.position_id,
           (SELECT sum(d.volume) FROM trading_public_deals d
            WHERE d.account_id = p2.account_id AND d.position_id = p2.position_id AND d.entry = 'in'
              AND d.kind = 'trade' AND d.deleted_at IS NULL AND d.first_seen_at <= %(as_of)s) AS own,
           (SELECT COALESCE(sum(q.vol), 0) FROM (
                SELECT sum(d.volume) FILTER (WHERE d.entry = 'in') AS vol,
                       min(d.time) FILTER (WHERE d.entry = 'in') AS opened,
                       max(d.time) FILTER (WHERE d.entry IN ('out', 'inout', 'out_by')) AS closed,
                       min(d.side COLLATE "C") FILTER (WHERE d.entry = 'in') AS side
                FROM trading_public_deals d
                WHERE d.account_id = p2.account_id AND d.symbol = p2.symbol AND d.position_id <> p2.position_id
                  AND d.kind = 'trade' AND d.deleted_at IS NULL AND d.first_seen_at <= %(as_of)s AND d.time < %(end)s
                GROUP BY d.position_id) q
            WHERE q.opened < p2.open_t AND q.side <> p2.open_side AND (q.closed IS NULL OR q.closed > p2.open_t))
           AS opposite
    FROM _pos p2 WHERE p2.hedged
) x
WHERE p.account_id = x.account_id AND p.position_id = x.position_id AND x.own > 0
