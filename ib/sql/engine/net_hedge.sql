-- Hedged positions under a version paying only the volume not offset ("net"), run after _src.
-- On an account and symbol, at each moment, the buys' open volume B and the sells' S offset each
-- other: of B only max(B - S, 0) is not offset, a share max(B - S, 0) / B of every open buy (the
-- sells alike). A closing deal earns on its volume x the smallest such share of its position's side
-- from the position's opening to just before the deal (its net_factor, between 0 and 1: hedging
-- never makes a line negative). A 1-lot buy open 08:00-18:00 and two 0.6-lot sells (09:00-10:00,
-- 13:00-14:00): the buy's share is 0.4 at its lowest, so it earns on 0.4 lot; each sell's share is
-- 0 (0.6 against 1), so they earn nothing: 0.4 lot in all. A 5-lot buy and a 3-lot sell opened
-- while it was open: 5 x 2/5 + 0 = 2 lots; a 3-lot buy and a later 5-lot sell: 0 + 5 x 2/5 = 2.
-- The factor of a deal reads only deals before it (what was known when it closed). Computed for
-- the closing deals on the accounts and symbols with a hedged position in _pos (few); it reads
-- those accounts' deals of those symbols, all their history up to the period's end (the open
-- volumes are running sums from the first deal). Two small analysed tables (_netdeal, _netshare)
-- so that the planner knows their sizes: over CTEs it guessed one row and looped.
CREATE TEMP TABLE _netdeal ON COMMIT DROP AS
SELECT d.id, d.account_id, d.symbol, d.position_id, d.time, d.entry, d.side, d.volume
FROM trading_public_deals d JOIN (SELECT DISTINCT account_id, symbol FROM _pos WHERE hedged) p USING (account_id, symbol)
WHERE d.kind = 'trade' AND d.deleted_at IS NULL AND d.first_seen_at <= %(as_of)s AND d.time < %(end)s;
ANALYZE _netdeal;
-- Each moment of an account and symbol, numbered in order, with the open volume of each side after
-- its deals (an opening deal adds to its own side, a closing deal, on the other side, takes from the
-- side it closes) and the share of each side left unoffset.
CREATE TEMP TABLE _netshare ON COMMIT DROP AS
SELECT account_id, symbol, time, row_number() OVER (PARTITION BY account_id, symbol ORDER BY time) AS n,
       CASE WHEN buys > 0 THEN greatest(buys - sells, 0) / buys ELSE 1 END AS buy_share,
       CASE WHEN sells > 0 THEN greatest(sells - buys, 0) / sells ELSE 1 END AS sell_share
FROM (
    SELECT account_id, symbol, time,
           sum(sum(CASE WHEN entry = 'in' THEN (side = 'buy')::int ELSE -(side = 'sell')::int END * volume))
               OVER w AS buys,
           sum(sum(CASE WHEN entry = 'in' THEN (side = 'sell')::int ELSE -(side = 'buy')::int END * volume))
               OVER w AS sells
    FROM _netdeal GROUP BY account_id, symbol, time
    WINDOW w AS (PARTITION BY account_id, symbol ORDER BY time)
) m;
ANALYZE _netshare;
-- A closing deal's moments: from its position's opening (moment f) to the one before its own
-- (moment t): equality joins on the moments' numbers, as many rows as moments in the position's
-- life (a join on the time range would pair every closing deal with every moment of its account).
UPDATE _src s SET net_factor = x.factor
FROM (
    SELECT c.id AS deal_id,
           COALESCE(min(CASE o.open_side WHEN 'buy' THEN m.buy_share ELSE m.sell_share END), 1) AS factor
    FROM _netdeal c
    JOIN (SELECT account_id, position_id, min(time) AS open_t, min(side COLLATE "C") AS open_side
          FROM _netdeal WHERE entry = 'in' GROUP BY account_id, position_id) o
         ON o.account_id = c.account_id AND o.position_id = c.position_id
    JOIN _netshare f ON f.account_id = c.account_id AND f.symbol = c.symbol AND f.time = o.open_t
    JOIN _netshare t ON t.account_id = c.account_id AND t.symbol = c.symbol AND t.time = c.time
    LEFT JOIN LATERAL generate_series(f.n, t.n - 1) k ON true
    LEFT JOIN _netshare m ON m.account_id = c.account_id AND m.symbol = c.symbol AND m.n = k
    WHERE c.entry IN ('out', 'inout', 'out_by') AND c.time >= %(from)s
    GROUP BY c.id
) x
WHERE s.deal_pk = x.deal_id
