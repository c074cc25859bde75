-- Each account of the scope with its client's partner attributions over the period (small: one row
-- per account and attribution), so that the join of the deals to them is a hash join.
SELECT a.id AS account_id, a.client_id, a.account_type, a.currency AS account_currency, at.partner_id,
       at.effective_from, {attr_to} AS effective_to
FROM trading_public_accounts a
JOIN ib_clientattribution at ON at.client_id = a.client_id AND {attr_known}
     AND at.effective_from < %(end)s AND {attr_to} > %(from)s
WHERE a.server_id IN (SELECT id FROM trading_public_servers WHERE brand_id = %(brand)s)
  AND (%(all_accounts)s OR a.id = ANY(%(accounts)s))
