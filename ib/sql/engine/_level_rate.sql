-- The rate of level k (0: the client's partner) of a chain of n partners: per level; passed up
-- out of the client's partner's rate (each keeps 1 - p of what reaches it, the top the rest) or on
-- top of it (each level p of the amount of the level below); differential (each partner its own
-- rate, `d.own`, minus the highest rate below it in the chain, never below 0). A pass-up chain
-- (b.pass_up_reach: what reaches level k, 1 at level 0, 0 past the chain's end) instead of one p:
-- on top, level k earns rate x reach(k); out of, it keeps what reaches it less what it passes on,
-- rate x (reach(k) - reach(k + 1)), the top of the chain all that reaches it.
CASE WHEN b.split_mode = 'pass_up' AND cardinality(b.pass_up_reach) > 0 AND b.pass_up_base = 'on_top'
    THEN b.rate * COALESCE(b.pass_up_reach[k.k + 1], 0)
    WHEN b.split_mode = 'pass_up' AND cardinality(b.pass_up_reach) > 0
    THEN b.rate * (COALESCE(b.pass_up_reach[k.k + 1], 0)
                   - CASE WHEN k.k = cardinality(b.chain) - 1 THEN 0 ELSE COALESCE(b.pass_up_reach[k.k + 2], 0) END)
    WHEN b.split_mode = 'pass_up' AND b.pass_up_base = 'on_top' THEN b.rate * power(b.pass_up, k.k)
    WHEN b.split_mode = 'pass_up'
    THEN b.rate * CASE WHEN k.k = cardinality(b.chain) - 1 THEN power(b.pass_up, k.k)
                       ELSE (1 - b.pass_up) * power(b.pass_up, k.k) END
    WHEN b.split_mode = 'differential'
    THEN greatest(0, d.own[k.k + 1] - COALESCE((SELECT max(u) FROM unnest(d.own[1:k.k]) u), 0))
    ELSE b.level_rates[k.k + 1] END
