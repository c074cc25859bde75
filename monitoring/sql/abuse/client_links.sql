-- The clients linked to one client (focus), strongest first.
WITH {links}
SELECT CASE WHEN a = %(focus)s THEN b ELSE a END AS other, weight, vias FROM links
WHERE %(focus)s IN (a, b) ORDER BY weight DESC, 1
