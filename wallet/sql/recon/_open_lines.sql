-- The file's lines still open: neither duplicates nor paired yet.
(SELECT * FROM recon_lines x WHERE x.state = 'open'
 AND NOT EXISTS (SELECT 1 FROM recon_pairs p WHERE p.line_id = x.id))
