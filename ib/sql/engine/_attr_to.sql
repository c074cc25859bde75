CASE WHEN at.effective_to IS NOT NULL AND COALESCE(at.ended_recorded_at, at.effective_to) <= %(as_of)s THEN at.effective_to ELSE 'infinity' END
