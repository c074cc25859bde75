"""Vietnamese: Django groups no digits (NUMBER_GROUPING unset): "1.234.567,50 USD", as Vietnamese banks print it."""

NUMBER_GROUPING = 3
