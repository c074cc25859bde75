-- A CPA's first deposit in a currency without a rate on its day (its minimum is checked in the
-- rule's currency): each pair with its first such day.
SELECT src, dst, min(day) FROM _fx
WHERE rate IS NULL AND (src, dst, day) IN (
    SELECT currency, rule_currency, (deposit_at AT TIME ZONE 'UTC')::date FROM _cpa)
GROUP BY src, dst ORDER BY 3, 1, 2
