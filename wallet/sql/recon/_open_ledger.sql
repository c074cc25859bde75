-- The ledger's movements not paired yet.
(SELECT * FROM recon_ledger y WHERE NOT EXISTS (SELECT 1 FROM recon_pairs p WHERE p.tx_id = y.tx_id))
