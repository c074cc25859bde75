-- Per category of the month's clearing legs: their signed sum and the number of transactions.
SELECT {category} AS category, sum(l.amount), count(DISTINCT t.id)
{month_legs}
GROUP BY 1
