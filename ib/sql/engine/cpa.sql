-- The qualification moment of every client that qualified for a CPA rule by as_of (any period).
CREATE TEMP TABLE _cpa ON COMMIT DROP AS
WITH fd AS (
    SELECT DISTINCT ON (dp.client_id) dp.client_id, dp.at, dp.amount, dp.currency, dp.reference
    FROM ib_clientdeposit dp JOIN crm_public_clients c ON c.id = dp.client_id AND c.brand_id = %(brand)s
    WHERE dp.at <= %(as_of)s AND COALESCE(dp.recorded_at, dp.at) <= %(as_of)s ORDER BY dp.client_id, dp.at, dp.id
),
rules AS (
    SELECT r.*, v.plan_id, v.valid_from, v.valid_to, v.split_mode, v.pass_up, v.currency AS plan_currency
    FROM ib_planrule r JOIN _ver v ON v.id = r.version_id WHERE r.kind = 'cpa'
),
cand AS (
    SELECT fd.client_id, fd.at AS deposit_at, fd.amount, fd.currency, fd.reference AS deposit_reference, c.country,
           c.created_at AS registered_at, at.partner_id
    FROM fd JOIN crm_public_clients c ON c.id = fd.client_id
    JOIN ib_clientattribution at ON at.client_id = fd.client_id AND at.effective_from <= fd.at
         AND {attr_known} AND {attr_to} > fd.at
),
anchored AS (
    -- The rule's window: from the first deposit, or from the registration (the deposit inside it).
    SELECT cand.*, r.id AS rule_id, CASE WHEN r.cpa_window_from = 'registration' THEN cand.registered_at
                                         ELSE cand.deposit_at END AS window_from,
           CASE WHEN r.cpa_window_from = 'registration' THEN cand.registered_at ELSE cand.deposit_at END
           + make_interval(days => COALESCE(r.cpa_within_days, 36500)) AS window_to
    FROM cand JOIN _asg asg ON asg.partner_id = cand.partner_id AND asg.effective_from <= cand.deposit_at
         AND asg.effective_to > cand.deposit_at
    JOIN rules r ON r.plan_id = asg.plan_id AND r.valid_from <= cand.deposit_at AND r.valid_to > cand.deposit_at
),
q AS (
    SELECT cand.*, r.code AS rule_code, r.rate, r.level_rates, r.split_mode, r.pass_up,
           r.plan_currency, r.version_id, COALESCE(NULLIF(r.currency, ''), r.plan_currency) AS rule_currency,
           r.cpa_min_deposit, r.clawback_on_chargeback, r.clawback_scope,
           CASE WHEN r.cpa_min_lots IS NULL OR r.cpa_min_lots = 0 THEN cand.deposit_at ELSE (
               SELECT min(t) FROM (
                   SELECT d.time AS t, sum(d.volume * i.contract_size / COALESCE(i.units_per_lot, g.units_per_lot))
                          OVER (ORDER BY d.time, d.id) AS cum
                   FROM trading_public_deals d JOIN trading_public_accounts a ON a.id = d.account_id
                   JOIN ib_instrument i ON i.brand_id = %(brand)s AND i.symbol = d.symbol
                   JOIN ib_instrumentgroup g ON g.id = i.group_id
                   WHERE a.client_id = cand.client_id AND d.kind = 'trade' AND d.entry IN ('out', 'inout', 'out_by')
                     AND d.deleted_at IS NULL AND d.first_seen_at <= %(as_of)s AND d.time >= cand.window_from
                     AND d.time < cand.window_to
               ) x WHERE x.cum >= r.cpa_min_lots) END AS lots_at,
           CASE WHEN r.cpa_require_kyc OR r.cpa_kyc_within_window THEN (
               SELECT min(ap.approved_at) FROM kyc_public_approvals ap
               WHERE ap.client_id = cand.client_id AND ap.approved_at <= %(as_of)s
                 AND (NOT r.cpa_kyc_within_window OR ap.approved_at < cand.window_to))
                ELSE cand.deposit_at END AS kyc_at
    FROM anchored cand JOIN rules r ON r.id = cand.rule_id
    WHERE (cardinality(r.cpa_countries) = 0 OR cand.country = ANY(r.cpa_countries))
      AND cand.deposit_at < cand.window_to
)
SELECT q.*, greatest(q.deposit_at, q.lots_at, q.kyc_at) AS qualified_at, pa.path AS chain
FROM q JOIN ib_partner pa ON pa.id = q.partner_id
WHERE q.lots_at IS NOT NULL AND q.kyc_at IS NOT NULL AND greatest(q.deposit_at, q.lots_at, q.kyc_at) <= %(as_of)s;
