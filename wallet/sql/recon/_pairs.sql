FROM recon_pairs p JOIN recon_lines l ON l.id = p.line_id JOIN recon_ledger r ON r.tx_id = p.tx_id
WHERE p.method <> 'batch'
