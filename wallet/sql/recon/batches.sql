-- One line, many payouts: the payouts of its batch id (or, without one, of its day and the days
-- before within the tolerance) whose total is the line's amount.
CREATE TEMP TABLE recon_batch AS
SELECT l.id AS line_id, l.amount AS line_amount, r.tx_id, r.amount
FROM {open_lines} l JOIN {open_ledger} r
  ON r.currency = l.currency AND sign(r.amount) = sign(l.amount)
 AND (r.batch_id = l.batch_id OR (r.batch_id = '' AND r.kind = 'withdrawal'
      AND r.day BETWEEN l.value_date - %(days)s AND l.value_date))
WHERE l.batch_id <> '';
-- A payout two batch lines could claim belongs to neither: a person decides.
DELETE FROM recon_batch WHERE tx_id IN (SELECT tx_id FROM recon_batch GROUP BY tx_id HAVING count(*) > 1);
INSERT INTO recon_pairs
SELECT b.line_id, b.tx_id, 'batch' FROM recon_batch b WHERE b.line_id IN (
    SELECT line_id FROM recon_batch GROUP BY line_id, line_amount
    HAVING count(*) > 1 AND abs(sum(amount) - line_amount) <= %(tol)s)
