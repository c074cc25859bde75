"""Name matching, pure Python (no Django), shared by KYC (a document against the registration) and
sanctions screening (a client against the lists): see `screen.Screener` and `compare.compare_names`."""

from __future__ import annotations

from crm.lib.names.normalise import has_letters
from crm.lib.names.screen import DOB, Hit, ListedEntry, ListedName, Query, Screener

__all__ = ["DOB", "Hit", "ListedEntry", "ListedName", "Query", "Screener", "has_letters"]
