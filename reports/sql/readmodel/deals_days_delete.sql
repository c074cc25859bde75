-- The deal figures and active traders of the days [first, last], of the brands (NULL: every brand).
DELETE FROM reports_dailyfigure WHERE day BETWEEN %(first)s AND %(last)s AND metric = ANY(%(metrics)s)
  AND (%(brands)s::bigint[] IS NULL OR brand_id = ANY(%(brands)s::bigint[]));
DELETE FROM reports_dailytrader WHERE day BETWEEN %(first)s AND %(last)s
  AND (%(brands)s::bigint[] IS NULL OR brand_id = ANY(%(brands)s::bigint[]));
DELETE FROM reports_traderbitmap WHERE day BETWEEN %(first)s AND %(last)s
  AND (%(brands)s::bigint[] IS NULL OR brand_id = ANY(%(brands)s::bigint[]))
