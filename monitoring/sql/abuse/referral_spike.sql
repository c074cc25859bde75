-- monitoring.partners: referral spike.
WITH {referred},
first_client AS (
    SELECT a.partner_id, min(a.effective_from) AS first_at FROM ib_public_attributions a GROUP BY a.partner_id
),
daily AS (
    SELECT r.partner_id, r.brand_id, (d.time AT TIME ZONE 'UTC')::date AS day, sum(d.volume) AS lots,
           count(DISTINCT acc.client_id) AS clients
    FROM referred r
    JOIN trading_public_accounts acc ON acc.client_id = r.client_id AND NOT acc.is_demo
    JOIN trading_public_deals d ON d.account_id = acc.id
    WHERE d.kind = 'trade' AND d.entry = 'in' AND d.deleted_at IS NULL AND d.time >= %(since)s AND d.time < %(until)s
    GROUP BY r.partner_id, r.brand_id, (d.time AT TIME ZONE 'UTC')::date
),
baseline AS (
    SELECT r.partner_id, avg(coalesce(dl.lots, 0)) AS mean, stddev_pop(coalesce(dl.lots, 0)) AS sd
    FROM (SELECT DISTINCT partner_id FROM referred) r
    CROSS JOIN generate_series(%(day)s::date - %(baseline)s, %(day)s::date - 1, interval '1 day') g(day)
    LEFT JOIN daily dl ON dl.partner_id = r.partner_id AND dl.day = g.day::date
    GROUP BY r.partner_id
)
SELECT t.partner_id, t.brand_id, t.lots, t.clients, b.mean, b.sd
FROM daily t JOIN baseline b ON b.partner_id = t.partner_id
JOIN first_client f ON f.partner_id = t.partner_id
WHERE t.day = %(day)s AND f.first_at <= %(since)s AND t.lots >= %(min_lots)s AND t.lots >= %(times)s * b.mean
  AND t.lots > b.mean + %(sigmas)s * b.sd
