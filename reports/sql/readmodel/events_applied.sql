-- The events counted (their ids selected by the ORM, counted), so that none is counted twice.
INSERT INTO reports_appliedevent (event_id) SELECT id FROM ({counted}) counted ON CONFLICT DO NOTHING
