-- The exposure report of a brand's positions (of one server, or all: server key 0) as its rows.
INSERT INTO trading_exposurerow (brand_id, server_key, part, symbol, currency, client_id, account_id, login,
                                 server_name, positions, buy, sell, pnl, count, refreshed_at)
SELECT %s, %s, r.part, COALESCE(r.symbol, ''), COALESCE(r.currency, ''), r.client_id, r.account_id, r.login,
       COALESCE(r.server, ''), r.n, r.buy, r.sell, r.pnl, r.count, %s
FROM ({report}) AS r(part, symbol, currency, client_id, account_id, login, server, n, buy, sell, pnl, count)
