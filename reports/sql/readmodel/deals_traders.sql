-- The days' active traders: a row per trader and day, and per day and desk (and all desks: the
-- all-desks mark) a bitmap of the client ids, a chunk of ids per row.
{deals_base}, traders AS (
    -- A client's desk is one value (the client's, when computed): grouping by it keeps one row.
    SELECT day, brand_id, client_id, MIN(desk_id) AS desk_id
    FROM base WHERE client_id IS NOT NULL GROUP BY day, brand_id, client_id
), kept AS (
    INSERT INTO reports_dailytrader (day, brand_id, desk_id, client_id)
    SELECT day, brand_id, desk_id, client_id FROM traders
)
INSERT INTO reports_traderbitmap (day, brand_id, desk_id, chunk, bits)
SELECT day, brand_id, desk_id, (client_id / {chunk})::int,
       bit_or(set_bit(B'0'::bit({chunk}), (client_id %% {chunk})::int, 1))
FROM traders GROUP BY day, brand_id, desk_id, (client_id / {chunk})::int
UNION ALL
SELECT day, brand_id, {all_desks}, (client_id / {chunk})::int,
       bit_or(set_bit(B'0'::bit({chunk}), (client_id %% {chunk})::int, 1))
FROM traders GROUP BY day, brand_id, (client_id / {chunk})::int
