-- The brand's clients' wallet movements (m), each with its client (c), in the rule's risk class
-- (of the one client asked for, when one is).
wallet_public_client_movements m
JOIN crm_public_clients c ON c.id = m.client_id AND c.brand_id = %(brand)s
  AND (%(client)s::bigint IS NULL OR m.client_id = %(client)s::bigint)
  AND (%(risk_class)s = 'all' OR {risk_class} = %(risk_class)s)
