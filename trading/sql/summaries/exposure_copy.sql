-- A brand on one server: that server's report is the brand's (server key 0), copied.
INSERT INTO trading_exposurerow (brand_id, server_key, part, symbol, currency, client_id, account_id, login,
                                 server_name, positions, buy, sell, pnl, count, refreshed_at)
SELECT brand_id, %(server)s, part, symbol, currency, client_id, account_id, login, server_name, positions, buy, sell,
       pnl, count, refreshed_at
FROM trading_exposurerow WHERE brand_id = %(brand)s AND server_key = 0
