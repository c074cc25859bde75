-- One pass over the deals: summed per day, brand, desk, account currency, symbol, server, book and
-- whether the deal closes, the few thousand rows every figure below is read from (the figures then
-- cost nothing beside the pass, where each reading the deals again cost as much as the pass).
agg AS (
    SELECT day, brand_id, desk_id, currency, symbol, server_id, book,
           entry IN ('out', 'inout', 'out_by') AS closing,
           SUM(volume) AS volume, SUM(profit) AS profit, SUM(commission) AS commission, SUM(swap) AS swap,
           COUNT(*) AS n,
           SUM(spread * volume) AS spread_lots, COUNT(spread) AS n_spread,
           SUM(volume) FILTER (WHERE spread IS NULL) AS lots_unquoted, COUNT(*) - COUNT(spread) AS n_unquoted
    FROM base GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
)
