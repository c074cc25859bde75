-- The closing deals (in lots) of the clients of the partners whose sources have a tiered rule, from
-- the longest window before the period on, each with the partner the client had at the deal's time.
CREATE TEMP TABLE _tierdeal ON COMMIT DROP AS
SELECT at.partner_id, d.account_id, d.time, d.volume * i.contract_size / COALESCE(i.units_per_lot, g.units_per_lot) AS lots
FROM trading_public_deals d
JOIN trading_public_accounts a ON a.id = d.account_id
JOIN ib_clientattribution at ON at.client_id = a.client_id AND at.effective_from <= d.time
     AND {attr_known} AND {attr_to} > d.time
JOIN ib_instrument i ON i.brand_id = %(brand)s AND i.symbol = d.symbol
JOIN ib_instrumentgroup g ON g.id = i.group_id
WHERE d.server_id IN (SELECT id FROM trading_public_servers WHERE brand_id = %(brand)s)
  AND d.time >= %(start)s::timestamptz - make_interval(days => %(tier_window)s) AND d.time < %(end)s
  AND d.kind = 'trade' AND d.entry IN ('out', 'inout', 'out_by') AND d.deleted_at IS NULL
  AND d.first_seen_at <= %(as_of)s
  AND at.partner_id IN (SELECT b.partner_id FROM ({basis}) b JOIN ib_planrule r ON r.id = b.rule_id
                        WHERE r.tiers <> '[]'::jsonb);
ANALYZE _tierdeal;
CREATE TEMP TABLE _tiermetric (deal_pk bigint, rule_id bigint, value numeric) ON COMMIT DROP;
