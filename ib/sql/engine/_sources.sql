{deal_sources}
UNION ALL
SELECT 'cpa', b.client_id, b.partner_id, b.rule_id, b.qualified_at,
       (b.qualified_at AT TIME ZONE 'UTC')::date, (b.qualified_at AT TIME ZONE 'UTC')::date, 1, b.rule_currency, NULL, b.client_id,
       NULL, NULL, NULL
FROM _cpa b
JOIN _fx dfx ON dfx.src = b.currency AND dfx.dst = b.rule_currency AND dfx.day = (b.deposit_at AT TIME ZONE 'UTC')::date
WHERE (b.cpa_min_deposit IS NULL OR b.amount * dfx.rate >= b.cpa_min_deposit)
  AND b.qualified_at >= %(start)s AND b.qualified_at < %(end)s
UNION ALL
SELECT 'chargeback', cb.id, b.partner_id, b.rule_id, cb.at,
       (cb.at AT TIME ZONE 'UTC')::date, (b.qualified_at AT TIME ZONE 'UTC')::date, -1, b.rule_currency, NULL, b.client_id,
       NULL, NULL, NULL
FROM _cpa b
JOIN LATERAL (SELECT x.id, x.at FROM ib_clientchargeback x WHERE x.client_id = b.client_id AND x.at >= b.qualified_at
              AND x.at <= %(as_of)s AND COALESCE(x.recorded_at, x.at) <= %(as_of)s AND (b.clawback_scope = 'any' OR x.deposit_reference = b.deposit_reference)
              ORDER BY x.at, x.id LIMIT 1) cb ON true
JOIN _fx dfx ON dfx.src = b.currency AND dfx.dst = b.rule_currency AND dfx.day = (b.deposit_at AT TIME ZONE 'UTC')::date
WHERE b.clawback_on_chargeback AND (b.cpa_min_deposit IS NULL OR b.amount * dfx.rate >= b.cpa_min_deposit)
  AND cb.at >= %(start)s AND cb.at < %(end)s
