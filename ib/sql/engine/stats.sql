SELECT count(*), count(*) FILTER (WHERE NOT held AND is_close), count(*) FILTER (WHERE hedged AND is_close), count(*) FILTER (WHERE group_id IS NULL) FROM _src
