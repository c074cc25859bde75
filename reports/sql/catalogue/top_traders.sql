-- The clients (their ids selected by the ORM in the user's scope, clients) with the largest closed
-- P/L of the period per account currency, with their volume and number of deals.
SELECT a.client_id, a.currency, SUM(d.profit) FILTER (WHERE d.entry IN ('out', 'inout', 'out_by')), SUM(d.volume),
       COUNT(*)
FROM trading_public_deals d JOIN trading_public_accounts a ON a.id = d.account_id
WHERE d.kind = 'trade' AND d.deleted_at IS NULL AND NOT a.is_demo AND a.client_id IN ({clients})
  AND d.time >= %s AND d.time < %s
GROUP BY a.client_id, a.currency ORDER BY 3 DESC NULLS LAST, 4 DESC LIMIT %s
