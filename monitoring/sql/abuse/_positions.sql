-- The CTE `positions`: one row per position of a live account opened in [since, until): its client,
-- symbol, side, lots, opening and closing times (closed NULL while open), profit (of its closing
-- deals) and the account's currency.
positions AS (
    SELECT acc.client_id, d.account_id, d.position_id, d.symbol, acc.currency,
           min(d.time) FILTER (WHERE d.entry = 'in') AS opened,
           max(d.time) FILTER (WHERE d.entry IN ('out', 'out_by')) AS closed,
           (array_agg(d.side ORDER BY d.time) FILTER (WHERE d.entry = 'in'))[1] AS side,
           sum(d.volume) FILTER (WHERE d.entry = 'in') AS volume,
           coalesce(sum(d.profit) FILTER (WHERE d.entry <> 'in'), 0) AS profit
    FROM trading_public_deals d
    JOIN trading_public_accounts acc ON acc.id = d.account_id AND NOT acc.is_demo
    JOIN trading_public_servers srv ON srv.id = d.server_id
    WHERE d.kind = 'trade' AND d.deleted_at IS NULL AND d.position_id <> 0
      AND d.time >= %(since)s AND d.time < %(until)s + interval '1 day'
      AND (%(brand)s::bigint IS NULL OR srv.brand_id = %(brand)s::bigint)
    GROUP BY acc.client_id, d.account_id, d.position_id, d.symbol, acc.currency
    HAVING min(d.time) FILTER (WHERE d.entry = 'in') >= %(since)s
       AND min(d.time) FILTER (WHERE d.entry = 'in') < %(until)s
)
