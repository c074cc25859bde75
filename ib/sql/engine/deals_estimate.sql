-- The planner's estimate of the scope's deals (a run of many is split over two connections).
EXPLAIN (FORMAT JSON) SELECT 1 FROM trading_public_deals d WHERE {deals_where}
