FROM (SELECT p.line_id, sum(r.amount) AS amount, sum(r.fee) AS fee,
             CASE WHEN count(DISTINCT r.brand_id) = 1 THEN min(r.brand_id) END AS brand_id
      FROM recon_pairs p JOIN recon_ledger r ON r.tx_id = p.tx_id WHERE p.method = 'batch'
      GROUP BY p.line_id) s
JOIN recon_lines l ON l.id = s.line_id
