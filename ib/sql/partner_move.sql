-- One statement re-paths the partner and every descendant: each path keeps its part from the
-- partner down and gets the new parent's path in front of it; the partner gets its new parent.
UPDATE ib_partner SET path = %(prefix)s::bigint[] || path[%(depth)s:],
       parent_id = CASE WHEN id = %(partner)s THEN %(parent)s ELSE parent_id END
WHERE path @> ARRAY[%(partner)s]::bigint[]
