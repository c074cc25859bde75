-- The partners the scope's accounts were attributed to in the period, each with those accounts.
SELECT partner_id, array_agg(DISTINCT account_id) FROM ({attr_select}) x GROUP BY partner_id
