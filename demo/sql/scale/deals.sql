-- The deals of a batch's live accounts, from the plan in scale_deal_plan (one row per account: its first
-- deal's time, the step between deals, the first deal and position ids). Deals come in pairs, a position
-- opened and closed; the symbol, volume and side of a position, and a closing deal's profit, are picked
-- by mixing its ids. Parameters, in order: the symbols and their count, the volumes and their count, each
-- symbol's price and the symbols' count, the profits and their count. The table: trading's deals;
-- the columns: as the SELECT gives them.
INSERT INTO {deals} ({columns})
SELECT server_id, account_id, deal_id, login, to_timestamp(secs), secs * 1000, 'trade',
       CASE WHEN opening = buying THEN 0 ELSE 1 END, CASE WHEN opening THEN 'in' ELSE 'out' END,
       CASE WHEN opening = buying THEN 'buy' ELSE 'sell' END, position_id, deal_id,
       (%s::text[])[1 + mix %% %s], (%s::numeric[])[1 + (mix / 100) %% %s], (%s::numeric[])[1 + mix %% %s],
       CASE WHEN opening THEN 0 ELSE (%s::numeric[])[1 + abs(hashint8(deal_id)::bigint) %% %s] END, 0, 0, 0, '', 0,
       lpad(to_hex(deal_id), 64, '0'), '{{}}'::jsonb, to_timestamp(secs), to_timestamp(secs)
FROM (SELECT g.*, (mix / 1000) %% 100 < 55 AS buying
      FROM (SELECT p.server_id, p.account_id, p.login, p.deal_start + k AS deal_id,
                   p.position_start + k / 2 AS position_id, k %% 2 = 0 AS opening,
                   floor(p.first_s + p.step * k)::bigint AS secs,
                   abs(hashint8(p.position_start + k / 2)::bigint) AS mix
            FROM scale_deal_plan p CROSS JOIN LATERAL generate_series(0, p.deals - 1) AS k) g) d
