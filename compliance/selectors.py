"""Compliance reads: the current entries of the watchlists, as the matcher wants them."""

from __future__ import annotations

from collections.abc import Iterator

from crm.lib.names import DOB, ListedEntry, ListedName, Screener
from compliance.models import Watchlist, WatchlistEntry, WatchlistVersion


def watchlist_current_versions(*, names: list[str] | None = None) -> list[WatchlistVersion]:
    """The latest version of each list (of the lists named, when `names` is given)."""
    lists = Watchlist.objects.all()
    if names:
        lists = lists.filter(name__in=names)
    out = []
    for watchlist in lists.order_by("name"):
        version = watchlist.versions.order_by("-number").first()
        if version is not None:
            out.append(version)
    return out


def listed_entries(versions: list[WatchlistVersion], *, ent_nums: list[str] | None = None) -> Iterator[ListedEntry]:
    """The entries of `versions` as the matcher's ListedEntry (all, or those numbered `ent_nums`)."""
    for version in versions:
        rows = WatchlistEntry.objects.filter(version=version)
        if ent_nums is not None:
            rows = rows.filter(ent_num__in=ent_nums)
        for row in rows.iterator(chunk_size=2000):
            yield ListedEntry(
                key=row.ent_num, entry_type=row.entry_type, list_name=version.watchlist.name,
                names=tuple(ListedName(n["text"], n.get("kind", "primary"), bool(n.get("weak"))) for n in row.names),
                dobs=tuple(DOB(d["year"], d.get("month"), d.get("day"), bool(d.get("circa")), d.get("year_to"))
                           for d in row.dobs),
                countries=frozenset(row.countries),
            )


def screener_for_lists(*, names: list[str] | None = None, threshold: float | None = None) -> Screener:
    """A Screener over the current versions of the lists (all, or those named)."""
    versions = watchlist_current_versions(names=names)
    entries = listed_entries(versions)
    return Screener(entries) if threshold is None else Screener(entries, threshold=threshold)


# --- jurisdictions and restrictions (compliance.jurisdictions, compliance.restrictions) -------------------
from compliance.jurisdictions import (  # noqa: E402 - the second part of the app's selectors
    clients_restricted_by,
    is_sanctioned,
    jurisdiction_in_effect,
    jurisdictions_for_brand,
    jurisdictions_of_country,
    registration_refusal,
)
from compliance.restrictions import (  # noqa: E402
    client_message,
    deposit_refusal,
    login_refusal,
    restriction_in_force,
    restrictions_for_client,
    restrictions_open,
)

__all__ = [
    "client_message", "clients_restricted_by", "deposit_refusal", "is_sanctioned", "jurisdiction_in_effect",
    "jurisdictions_for_brand", "jurisdictions_of_country", "listed_entries", "login_refusal", "registration_refusal",
    "restriction_in_force", "restrictions_for_client", "restrictions_open", "screener_for_lists",
    "watchlist_current_versions",
]
