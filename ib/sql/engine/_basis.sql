-- What each source row is worth before the level split, per matching rule: (basis, its currency).
-- The rule's formula (_pick) picks it: lots (volume x contract size / the group's units per lot),
-- the spread's value (spread x volume x contract size), minus the commission, or minus the net
-- result (profit + swap + commission + fee). A subquery, not a table: it is read once (the
-- batches), or twice with tiered rules.
SELECT s.deal_pk, s.account_id, s.client_id, s.time, s.partner_id, s.version_id, s.plan_currency,
       r.id AS rule_id, r.code AS rule_code,
       CASE k.formula WHEN 1 THEN s.volume * s.contract_size / s.units_per_lot
                      WHEN 2 THEN COALESCE(s.spread * s.volume * s.contract_size,
                                           s.volume * s.contract_size / s.units_per_lot * s.markup_per_lot)
                      WHEN 3 THEN -s.commission
                      ELSE -(s.net - CASE WHEN r.net_with_commission THEN 0 ELSE s.commission END
                                   - CASE WHEN r.net_with_swap THEN 0 ELSE s.swap END
                                   - CASE WHEN r.net_with_fee THEN 0 ELSE s.fee END) END
       * CASE WHEN k.formula <= 2 AND k.hedge_mode = 'net'
              THEN COALESCE(s.net_factor, CASE WHEN s.hedged THEN 0 ELSE 1 END) ELSE 1 END
       AS basis,
       {basis_currency} AS basis_currency,
       CASE WHEN k.formula = 1 THEN 1 ELSE 0.01 END AS unit
FROM _src s
{rule_join}
