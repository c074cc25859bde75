-- The links between some clients (ids: a partner's clients).
WITH {links}
SELECT a, b, weight, vias FROM links WHERE a = ANY(%(ids)s) AND b = ANY(%(ids)s)
ORDER BY weight DESC, a, b
