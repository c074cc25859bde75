-- The positions as the ORM sums them per account and symbol (positions, the user's scope included),
-- read by column name.
SELECT account_id, g_login AS login, g_server AS server, g_currency AS currency, g_client AS client_id, symbol, n,
       buy, sell, pnl
FROM ({positions}) AS q
