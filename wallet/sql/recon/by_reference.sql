-- Pairs whose reference (provider_ref of both, or merchant_ref of both) is equal, one to one.
INSERT INTO recon_pairs
SELECT line_id, tx_id, 'reference' FROM (
    SELECT l.id AS line_id, r.tx_id,
           row_number() OVER (PARTITION BY l.id ORDER BY r.tx_id) AS rl,
           row_number() OVER (PARTITION BY r.tx_id ORDER BY l.row) AS rt
    FROM {open_lines} l JOIN {open_ledger} r ON {ledger_ref} = {line_ref}
    WHERE {line_ref} <> '') c
WHERE rl = 1 AND rt = 1
