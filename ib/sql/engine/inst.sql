-- The brand's instruments with their group's lot size: joined to every deal by a hash.
CREATE TEMP TABLE _inst ON COMMIT DROP AS
SELECT i.symbol, i.group_id, i.contract_size, COALESCE(i.units_per_lot, g.units_per_lot) AS units_per_lot,
       i.profit_currency, i.markup_per_lot
FROM ib_instrument i LEFT JOIN ib_instrumentgroup g ON g.id = i.group_id WHERE i.brand_id = %(brand)s;
ANALYZE _inst
