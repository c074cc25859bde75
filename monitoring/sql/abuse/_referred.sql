-- The CTE `referred`: (partner, its brand, client) for clients attributed to the partner at some time in
-- [since, until).
referred AS (
    SELECT DISTINCT p.id AS partner_id, p.brand_id, p.code AS partner_code, a.client_id
    FROM ib_public_attributions a JOIN ib_public_partners p ON p.id = a.partner_id
    WHERE a.effective_from < %(until)s AND (a.effective_to IS NULL OR a.effective_to > %(since)s)
      AND (%(brand)s::bigint IS NULL OR p.brand_id = %(brand)s::bigint)
)
