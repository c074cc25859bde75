-- Mutual best candidates: the same currency, the amount and the day within the tolerances, and no
-- reference on the ledger's side that says it is something else.
INSERT INTO recon_pairs
SELECT line_id, tx_id, 'tolerance' FROM (
    SELECT l.id AS line_id, r.tx_id,
           row_number() OVER (PARTITION BY l.id ORDER BY abs(l.amount - r.amount),
                              abs(l.value_date - r.day), r.tx_id) AS rl,
           row_number() OVER (PARTITION BY r.tx_id ORDER BY abs(l.amount - r.amount),
                              abs(l.value_date - r.day), l.row) AS rt
    FROM {open_lines} l JOIN {open_ledger} r
      ON r.currency = l.currency AND abs(l.amount - r.amount) <= %(tol)s
     AND r.day BETWEEN l.value_date - %(days)s AND l.value_date + %(days)s
     AND (r.provider_ref = '' OR r.provider_ref = l.provider_ref)) c
WHERE rl = 1 AND rt = 1
