"""Traditional Chinese: Django leaves amounts ungrouped ("1234567.50"); amounts in Taiwan's and Hong Kong's
banking and trading apps are grouped by three with commas ("1,234,567.50 USD"), as for Simplified Chinese."""

THOUSAND_SEPARATOR = ","
NUMBER_GROUPING = 3
