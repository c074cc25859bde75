"""Persian: Django groups no digits (NUMBER_GROUPING unset): "1,234,567.50 USD" as Iranian banks print it."""

NUMBER_GROUPING = 3
