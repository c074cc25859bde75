-- An access to a client record (the row `a`): an open or a reveal of a client.
a.kind IN ('client_open', 'pii_reveal') AND a.client_id IS NOT NULL
