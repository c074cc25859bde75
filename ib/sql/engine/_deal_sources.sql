-- Every source of a line, in one shape: the period's deals (under each rule they match) and the CPA
-- qualifications and chargebacks (one each per client). A deal worth nothing (a basis or tier factor
-- of 0) makes no line; a deposit under the CPA rule's minimum, converted at its day's rate, none.
SELECT 'deal' AS kind, b.deal_pk AS source_id, b.partner_id, b.rule_id,
       b.time, (b.time AT TIME ZONE 'UTC')::date AS day, (b.time AT TIME ZONE 'UTC')::date AS fx_day, b.basis,
       b.basis_currency, b.account_id, b.client_id, {tier_columns}
FROM ({basis} OFFSET 0) b {tier_join}
WHERE b.basis <> 0 {tier_where}
