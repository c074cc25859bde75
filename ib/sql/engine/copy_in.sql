-- The second connection's batches written in the caller's transaction.
COPY ib_commissionbatch ({batch_columns}) FROM STDIN (FORMAT binary)
