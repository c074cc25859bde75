-- The provider's matcher lock: pg_advisory_lock, pg_try_advisory_lock or their _xact kinds.
SELECT {lock}(hashtext(%(key)s))
