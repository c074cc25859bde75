-- Each linked client with every client it is linked to, both ways.
WITH {links}
SELECT a AS client_id, b AS other, brand_id, weight, vias FROM links
UNION ALL SELECT b, a, brand_id, weight, vias FROM links ORDER BY 1, 4 DESC, 2
