-- monitoring.partners: client ring.
WITH {referred},
origins AS (
    SELECT DISTINCT o.client_id, o.ip, nullif(o.user_agent, '') AS ua
    FROM crm_public_origins o
    WHERE o.client_id IS NOT NULL AND o.at >= %(since)s AND o.at < %(until)s
),
spots AS (
    SELECT 'ip' AS via, ip AS value, client_id FROM origins
    UNION SELECT 'device', ua, client_id FROM origins WHERE ua IS NOT NULL
),
crowd AS (SELECT via, value, count(DISTINCT client_id) AS everyone FROM spots GROUP BY via, value),
rings AS (
    SELECT r.partner_id, r.brand_id, s.via, s.value, count(DISTINCT s.client_id) AS theirs, c.everyone,
           array_agg(DISTINCT s.client_id) AS clients
    FROM referred r JOIN spots s ON s.client_id = r.client_id
    JOIN crowd c ON c.via = s.via AND c.value = s.value
    GROUP BY r.partner_id, r.brand_id, s.via, s.value, c.everyone
    HAVING count(DISTINCT s.client_id) >= %(min_clients)s AND count(DISTINCT s.client_id) >= %(share)s * c.everyone
)
SELECT partner_id, brand_id, max(theirs) AS biggest,
       jsonb_agg(jsonb_build_object('via', via, 'value', value, 'theirs', theirs, 'everyone', everyone)
                 ORDER BY theirs DESC) AS spots,
       (SELECT array_agg(DISTINCT x) FROM rings r2, unnest(r2.clients) x WHERE r2.partner_id = rings.partner_id)
           AS clients
FROM rings GROUP BY partner_id, brand_id
