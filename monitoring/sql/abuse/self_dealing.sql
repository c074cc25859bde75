-- monitoring.partners: self dealing.
WITH {links}, {referred},
traders AS (
    SELECT DISTINCT acc.client_id FROM trading_public_deals d
    JOIN trading_public_accounts acc ON acc.id = d.account_id AND NOT acc.is_demo
    WHERE d.kind = 'trade' AND d.deleted_at IS NULL AND d.time >= %(since)s AND d.time < %(until)s
),
own AS (
    SELECT p.id AS partner_id, p.client_id, p.contact_email_hash AS email_hash, p.code::text AS code
    FROM ib_public_partners p WHERE %(brand)s::bigint IS NULL OR p.brand_id = %(brand)s::bigint
),
partner_origins AS (
    SELECT DISTINCT own.partner_id, o.ip, nullif(o.user_agent, '') AS ua
    FROM own JOIN crm_public_origins o ON o.object_type = 'ib.partner' AND o.object_id = own.code
    WHERE o.at >= %(since)s - interval '90 days' AND o.at < %(until)s
),
matches AS (
    SELECT r.partner_id, r.client_id, 'own' AS via, '' AS value FROM referred r JOIN own ON own.partner_id = r.partner_id
    WHERE own.client_id = r.client_id
    UNION
    SELECT r.partner_id, r.client_id, 'email', '' FROM referred r JOIN own ON own.partner_id = r.partner_id
    JOIN crm_public_clients c ON c.id = r.client_id
    WHERE own.email_hash <> '' AND c.email_hash = own.email_hash
    UNION
    SELECT r.partner_id, r.client_id, s.via, s.value FROM referred r JOIN own ON own.partner_id = r.partner_id
    JOIN shared_best s ON (s.a = own.client_id AND s.b = r.client_id) OR (s.b = own.client_id AND s.a = r.client_id)
    UNION
    SELECT r.partner_id, r.client_id, CASE WHEN po.ua = co.ua THEN 'ip+device' ELSE 'ip' END, po.ip
    FROM referred r JOIN partner_origins po ON po.partner_id = r.partner_id
    JOIN origins co ON co.client_id = r.client_id AND co.ip = po.ip
    JOIN ip_pop ON ip_pop.ip = po.ip
    WHERE ip_pop.n <= %(max_ip)s OR po.ua = co.ua
)
SELECT m.partner_id, r.brand_id, array_agg(DISTINCT m.client_id) AS clients,
       jsonb_agg(DISTINCT jsonb_build_object('client', m.client_id, 'via', m.via, 'value', m.value)) AS vias
FROM matches m JOIN (SELECT DISTINCT partner_id, brand_id FROM referred) r ON r.partner_id = m.partner_id
WHERE m.client_id IN (SELECT client_id FROM traders)
GROUP BY m.partner_id, r.brand_id
