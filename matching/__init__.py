"""Name and address matching, pure Python (no Django, nothing of the CRM), shared by KYC (a document
against the registration: `documents`, `addresses`) and sanctions screening (a client against the
lists: `screen.Screener`, `compare.compare_names`). The import contract `matching` keeps it so: it is
loaded once per process and tested alone."""

from __future__ import annotations

from matching.normalise import has_letters
from matching.screen import DOB, Hit, ListedEntry, ListedName, Query, Screener

__all__ = ["DOB", "Hit", "ListedEntry", "ListedName", "Query", "Screener", "has_letters"]
