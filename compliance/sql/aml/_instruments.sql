-- The brand's clients' deposits and payouts with their payment instruments (i), each with its client (c),
-- in the rule's risk class; of the one client asked for, if any.
wallet_public_payment_instruments i
JOIN crm_public_clients c ON c.id = i.client_id AND c.brand_id = %(brand)s
  AND (%(client)s::bigint IS NULL OR i.client_id = %(client)s::bigint)
  AND (%(risk_class)s = 'all' OR {risk_class} = %(risk_class)s)
