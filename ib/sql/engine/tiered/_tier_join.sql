LEFT JOIN _tier t ON t.deal_pk = b.deal_pk AND t.rule_id = b.rule_id
