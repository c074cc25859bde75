-- The CTEs `origins` (distinct client, ip, browser), `shared` (one row per pair and what they share,
-- client a < b, both of one brand) and `links` (pairs whose weights reach the threshold).
-- Parameters: monitoring.abuse.link_params().
clients AS (
    SELECT id, brand_id FROM crm_public_clients
    WHERE (%(brand)s::bigint IS NULL OR brand_id = %(brand)s::bigint) AND NOT ('merged' = ANY(tags))
),
origins AS (
    SELECT DISTINCT o.client_id, c.brand_id, o.ip, nullif(o.user_agent, '') AS ua
    FROM crm_public_origins o JOIN clients c ON c.id = o.client_id
    WHERE o.at >= %(since)s - interval '90 days' AND o.at < %(until)s
),
ip_pop AS (SELECT ip, count(DISTINCT client_id) AS n FROM origins GROUP BY ip),
ua_pop AS (SELECT ua, count(DISTINCT client_id) AS n FROM origins WHERE ua IS NOT NULL GROUP BY ua),
combo_pop AS (SELECT ip, ua, count(DISTINCT client_id) AS n FROM origins WHERE ua IS NOT NULL GROUP BY ip, ua),
shared AS (
    SELECT DISTINCT a.client_id AS a, b.client_id AS b, 'ip' AS via, a.ip AS value, p.n AS crowd
    FROM origins a JOIN origins b ON b.ip = a.ip AND b.brand_id = a.brand_id AND a.client_id < b.client_id
    JOIN ip_pop p ON p.ip = a.ip WHERE p.n <= %(max_ip)s
      AND (%(focus)s::bigint IS NULL OR %(focus)s::bigint IN (a.client_id, b.client_id))
    UNION
    SELECT DISTINCT a.client_id, b.client_id, 'device', a.ua, p.n
    FROM origins a JOIN origins b ON b.ua = a.ua AND b.brand_id = a.brand_id AND a.client_id < b.client_id
    JOIN ua_pop p ON p.ua = a.ua WHERE p.n <= %(max_device)s
      AND (%(focus)s::bigint IS NULL OR %(focus)s::bigint IN (a.client_id, b.client_id))
    UNION
    SELECT DISTINCT a.client_id, b.client_id, 'ip+device', a.ip, p.n
    FROM origins a JOIN origins b ON b.ip = a.ip AND b.ua = a.ua AND b.brand_id = a.brand_id
         AND a.client_id < b.client_id
    JOIN combo_pop p ON p.ip = a.ip AND p.ua = a.ua WHERE p.n <= %(max_combo)s
      AND (%(focus)s::bigint IS NULL OR %(focus)s::bigint IN (a.client_id, b.client_id))
    UNION
    SELECT DISTINCT a.client_id, b.client_id, 'instrument', a.destination_masked, 0
    FROM wallet_public_payout_destinations a
    JOIN wallet_public_payout_destinations b ON b.destination_key = a.destination_key AND a.client_id < b.client_id
    JOIN clients ca ON ca.id = a.client_id JOIN clients cb ON cb.id = b.client_id AND cb.brand_id = ca.brand_id
    WHERE (%(focus)s::bigint IS NULL OR %(focus)s::bigint IN (a.client_id, b.client_id))
    UNION
    SELECT DISTINCT a.client_id, b.client_id, 'address', a.postcode || ', ' || a.country, 0
    FROM kyc_public_addresses a
    JOIN kyc_public_addresses b ON b.line_key = a.line_key AND b.postcode_key = a.postcode_key
         AND b.country = a.country AND a.client_id < b.client_id
    JOIN clients ca ON ca.id = a.client_id JOIN clients cb ON cb.id = b.client_id AND cb.brand_id = ca.brand_id
    WHERE (%(focus)s::bigint IS NULL OR %(focus)s::bigint IN (a.client_id, b.client_id))
),
shared_best AS (
    SELECT DISTINCT ON (a, b, via) a, b, via, value, crowd FROM shared ORDER BY a, b, via, value
),
links AS (
    SELECT s.a, s.b, c.brand_id,
           sum(CASE s.via WHEN 'instrument' THEN %(w_instrument)s WHEN 'ip+device' THEN %(w_combo)s
                          WHEN 'ip' THEN %(w_ip)s WHEN 'device' THEN %(w_device)s ELSE %(w_address)s END) AS weight,
           jsonb_agg(jsonb_build_object('via', s.via, 'value', s.value, 'crowd', s.crowd) ORDER BY s.via) AS vias
    FROM shared_best s JOIN clients c ON c.id = s.a
    GROUP BY s.a, s.b, c.brand_id
    HAVING sum(CASE s.via WHEN 'instrument' THEN %(w_instrument)s WHEN 'ip+device' THEN %(w_combo)s
                          WHEN 'ip' THEN %(w_ip)s WHEN 'device' THEN %(w_device)s ELSE %(w_address)s END)
           >= %(threshold)s
)
