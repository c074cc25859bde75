-- The second connection's batches (its half's deal sources only) as binary COPY rows of
-- ib_commissionbatch's columns, each cast to the column's type (binary rows carry none).
COPY (SELECT {columns} FROM ({batches_select}) b({names})) TO STDOUT (FORMAT binary)
