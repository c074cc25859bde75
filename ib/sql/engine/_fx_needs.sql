-- The rates a whole run needs: the deals' (_fx_needs_deals) and the CPA's (its rule's currency to
-- the plan's on the qualification day; the first deposit's to the rule's on the deposit day).
{fx_needs_deals}
UNION ALL SELECT rule_currency, plan_currency, (qualified_at AT TIME ZONE 'UTC')::date FROM _cpa
UNION ALL SELECT currency, rule_currency, (deposit_at AT TIME ZONE 'UTC')::date FROM _cpa
