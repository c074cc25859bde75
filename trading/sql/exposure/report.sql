-- Every figure of the page from one statement: `g` is the user's open positions summed per account
-- and symbol (built by the ORM, scope included, read once), and each part of the page is a small
-- grouped read of it, tagged by `part`. Only the rows the page shows leave the database.
WITH g AS MATERIALIZED ({grouped}),
accounts AS (
    SELECT account_id, login, server, currency, client_id, sum(n) AS n, sum(buy) AS buy, sum(sell) AS sell,
           sum(pnl) AS pnl
    FROM g GROUP BY account_id, login, server, currency, client_id
),
top_clients AS (
    SELECT client_id, sum(n) AS n, sum(buy) AS buy, sum(sell) AS sell, count(DISTINCT account_id) AS accounts
    FROM g GROUP BY client_id ORDER BY sum(buy) + sum(sell) DESC, client_id LIMIT {top_clients}
)
SELECT 'symbol', symbol, NULL, NULL::bigint, NULL::bigint, NULL::bigint, NULL, sum(n), sum(buy), sum(sell), NULL::numeric,
       count(DISTINCT client_id)
FROM g GROUP BY symbol
UNION ALL
SELECT 'symbol_pnl', symbol, currency, NULL, NULL, NULL, NULL, NULL, NULL, NULL, sum(pnl), NULL
FROM g GROUP BY symbol, currency
UNION ALL
SELECT 'clients', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, count(DISTINCT client_id) FROM g
UNION ALL
(SELECT 'client', NULL, NULL, client_id, NULL, NULL, NULL, n, buy, sell, NULL, accounts FROM top_clients
 ORDER BY buy + sell DESC, client_id)
UNION ALL
SELECT 'client_symbol', symbol, NULL, client_id, NULL, NULL, NULL, NULL, sum(buy), sum(sell), NULL, NULL
FROM g WHERE client_id IN (SELECT client_id FROM top_clients) GROUP BY client_id, symbol
UNION ALL
SELECT 'client_pnl', NULL, currency, client_id, NULL, NULL, NULL, NULL, NULL, NULL, sum(pnl), NULL
FROM g WHERE client_id IN (SELECT client_id FROM top_clients) GROUP BY client_id, currency
UNION ALL
(SELECT 'volume', NULL, currency, client_id, account_id, login, server, n, buy, sell, pnl, NULL FROM accounts
 ORDER BY buy + sell DESC, account_id LIMIT {top_accounts})
UNION ALL
(SELECT 'winner', NULL, currency, client_id, account_id, login, server, n, buy, sell, pnl, NULL FROM (
    SELECT *, row_number() OVER (PARTITION BY currency ORDER BY pnl DESC, account_id) AS rank
    FROM accounts WHERE pnl > 0) ranked
 WHERE rank <= {top_accounts} ORDER BY currency, rank)
