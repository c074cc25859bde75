-- The currency of a rule's basis: per lot, the rule's (else the plan's); spread, the instrument's
-- profit currency; commission and net loss, the account's.
CASE k.formula WHEN 1 THEN COALESCE(NULLIF(r.currency, ''), s.plan_currency)
            WHEN 2 THEN s.profit_currency
            ELSE s.account_currency END
