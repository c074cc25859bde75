"""Simplified Chinese: Django groups by four with no mark ("1234567.50"); amounts in Chinese banking and
trading apps are grouped by three with commas ("1,234,567.50 USD")."""

THOUSAND_SEPARATOR = ","
NUMBER_GROUPING = 3
