-- The broker's spread on the closing deals of a known instrument, in the instrument's profit
-- currency, as the commission engine values it (ib.engine's spread basis): the market's spread at
-- the deal x lots x contract size, else (no quote with the deal) the symbol's markup per standard
-- lot x standard lots; deals with neither are not counted.
spreads AS (
    SELECT g.day, g.brand_id, g.desk_id, g.symbol, g.book, i.profit_currency,
           COALESCE(g.spread_lots * i.contract_size, 0)
           + COALESCE(g.lots_unquoted * i.contract_size / i.units_per_lot * i.markup_per_lot, 0) AS value,
           g.n_spread + CASE WHEN i.markup_per_lot IS NULL THEN 0 ELSE g.n_unquoted END AS n
    FROM agg g JOIN inst i ON i.brand_id = g.brand_id AND i.symbol = g.symbol
    WHERE g.closing
)
