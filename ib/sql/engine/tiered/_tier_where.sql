-- A step's factor of 0 earns nothing: no line.
AND COALESCE(t.factor, 1) <> 0
