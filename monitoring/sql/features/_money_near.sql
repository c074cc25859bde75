-- Whether the access `a` falls on one of its client's money days (the export writes it per line).
({access}
     AND EXISTS (SELECT 1 FROM money n WHERE n.client_id = a.client_id AND n.day = (a.time AT TIME ZONE 'UTC')::date))
