-- A rule's dry run: the rows its query finds, the highest scores first, at most a thousand.
SELECT f.client_id, f.transaction_ids, f.score, f.facts, f.summary
FROM ({found}) f
ORDER BY f.score DESC, f.client_id
LIMIT 1000
