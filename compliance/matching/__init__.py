"""Sanctions and PEP name matching, pure Python (no Django): see `screen.Screener`."""

from __future__ import annotations

from compliance.matching.screen import DOB, Hit, ListedEntry, ListedName, Query, Screener

__all__ = ["DOB", "Hit", "ListedEntry", "ListedName", "Query", "Screener"]
