-- The risk class of client c: the band ('low', 'medium', 'high') of its latest risk score
-- (compliance.risk), NULL before it has one (then only the rules for all clients apply to it).
(SELECT rs.band FROM compliance_riskscore rs WHERE rs.client_id = c.id
 ORDER BY rs.computed_at DESC, rs.id DESC LIMIT 1)
