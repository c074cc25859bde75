-- One figure of the events (its rows grouped by the ORM, figures) added to the day's figures.
INSERT INTO reports_dailyfigure (day, brand_id, desk_id, currency, metric, dimension, key, amount, count)
SELECT r_day, r_brand, r_desk, r_currency, r_metric, r_dimension, r_key, r_amount, r_count FROM ({figures}) figures
