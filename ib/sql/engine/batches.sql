-- The run's batches (_batches_select over _sources: the deals', the CPA's and the chargebacks'),
-- without a sort: the aggregate is a hash, and the rows are written in the order they come.
SET LOCAL enable_sort = off;
INSERT INTO ib_commissionbatch ({batch_columns}) {batches_select};
SET LOCAL enable_sort = on
