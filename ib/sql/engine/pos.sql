-- The positions with deals from `from`: when each opened (its "in" deal, looked for from `context`:
-- the longest minimum holding time earlier) and whether it was hedged: another position of the
-- opposite side on the same account and symbol, opened before it, was still open when it opened
-- (its last close from `from` came later). Of a hedged pair only the first opened earns (opposite
-- positions opened together count once). One aggregate over the deals, then one window pass per
-- account and symbol over the positions. Kept are only the positions one of whose closing deals
-- can lose its line: hedged, or first closed sooner than the longest minimum holding time after it
-- opened; a closing deal of any other position was held and not hedged (a few percent of a month's
-- positions are kept, so that joining them to the deals is a small hash). The aggregate runs in this
-- process alone: workers' partial aggregates of a month's positions hardly shrink it, and merging
-- them costs more than they save.
SET LOCAL max_parallel_workers_per_gather = 0;
CREATE TEMP TABLE _pos ON COMMIT DROP AS
WITH pos AS (
    SELECT d.account_id, d.position_id, min(d.symbol COLLATE "C") AS symbol,
           min(d.time) FILTER (WHERE d.entry = 'in') AS open_t,
           min(d.side COLLATE "C") FILTER (WHERE d.entry = 'in') AS open_side,
           min(d.time) FILTER (WHERE d.entry IN ('out', 'inout', 'out_by') AND d.time >= %(from)s) AS first_close_t,
           max(d.time) FILTER (WHERE d.entry IN ('out', 'inout', 'out_by') AND d.time >= %(from)s) AS close_t
    FROM trading_public_deals d WHERE {deals_where}
    GROUP BY d.account_id, d.position_id
    HAVING max(d.time) >= %(from)s
)
SELECT account_id, position_id, open_t, hedged, symbol, open_side FROM (
    SELECT account_id, position_id, open_t, first_close_t, symbol, open_side,
           open_t IS NOT NULL AND close_t IS NOT NULL AND open_t < COALESCE(
               CASE open_side WHEN 'sell' THEN max(CASE WHEN open_side = 'buy' THEN close_t END) OVER w
                              ELSE max(CASE WHEN open_side = 'sell' THEN close_t END) OVER w END,
               '-infinity') AS hedged
    FROM pos
    WINDOW w AS (PARTITION BY account_id, symbol ORDER BY open_t, position_id
                 ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
) p
WHERE hedged OR first_close_t - open_t < make_interval(secs => %(longest_hold)s);
SET LOCAL max_parallel_workers_per_gather = DEFAULT;
ANALYZE _pos
