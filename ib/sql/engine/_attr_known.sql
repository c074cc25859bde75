-- An attribution as known at as_of (`at`): recorded by then (NULL: since it took effect), and its
-- end only if that was known by then too (a migration's re-attribution recorded months later).
COALESCE(at.recorded_at, at.effective_from) <= %(as_of)s
