-- The deal figures of the days (trading/deals' published views; the instruments and the clients'
-- desks passed in), from one pass over the deals.
{deals_base}, {deals_agg}, {deals_spreads}
INSERT INTO reports_dailyfigure (day, brand_id, desk_id, currency, metric, dimension, key, amount, count)
SELECT day, brand_id, desk_id, '', 'volume', 'symbol', symbol, SUM(volume), SUM(n)
  FROM agg GROUP BY day, brand_id, desk_id, symbol
UNION ALL
SELECT day, brand_id, desk_id, '', 'volume', 'platform', server_id::text, SUM(volume), SUM(n)
  FROM agg GROUP BY day, brand_id, desk_id, server_id
UNION ALL
SELECT day, brand_id, desk_id, currency, 'closed_pl', 'symbol', symbol, SUM(profit), SUM(n)
  FROM agg WHERE closing GROUP BY day, brand_id, desk_id, currency, symbol
UNION ALL
SELECT day, brand_id, desk_id, currency, 'commission', 'symbol', symbol, SUM(commission), SUM(n)
  FROM agg GROUP BY day, brand_id, desk_id, currency, symbol
UNION ALL
SELECT day, brand_id, desk_id, currency, 'swap', 'symbol', symbol, SUM(swap), SUM(n)
  FROM agg GROUP BY day, brand_id, desk_id, currency, symbol
UNION ALL
SELECT day, brand_id, desk_id, currency, 'closed_pl', 'book', book, SUM(profit), SUM(n)
  FROM agg WHERE closing GROUP BY day, brand_id, desk_id, currency, book
UNION ALL
SELECT day, brand_id, desk_id, currency, 'commission', 'book', book, SUM(commission), SUM(n)
  FROM agg GROUP BY day, brand_id, desk_id, currency, book
UNION ALL
SELECT day, brand_id, desk_id, currency, 'swap', 'book', book, SUM(swap), SUM(n)
  FROM agg GROUP BY day, brand_id, desk_id, currency, book
UNION ALL
SELECT day, brand_id, desk_id, profit_currency, 'spread', dimension, key, SUM(value), SUM(n)
  FROM spreads CROSS JOIN LATERAL (VALUES ('symbol', symbol), ('book', book)) k(dimension, key)
  WHERE n > 0
  GROUP BY day, brand_id, desk_id, profit_currency, dimension, key
