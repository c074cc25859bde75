-- The lines written after the run's last earlier batch (after), per kind of source (deal, cpa, chargeback).
SELECT b.source_kind, sum(s.lines) FROM ib_commissionshare s
JOIN ib_commissionbatch b ON b.id = s.batch_id
WHERE s.run_id = %(run)s AND s.batch_id > %(after)s
GROUP BY b.source_kind
