-- Client c is the one asked for (when one is) and in the rule's risk class.
(%(client)s::bigint IS NULL OR c.id = %(client)s::bigint)
  AND (%(risk_class)s = 'all' OR {risk_class} = %(risk_class)s)
