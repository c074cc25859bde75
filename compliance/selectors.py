"""Compliance reads: the current entries of the watchlists, as the matcher wants them."""

from __future__ import annotations

from collections.abc import Iterator

from compliance.models import Watchlist, WatchlistEntry, WatchlistVersion
from crm.lib.names import DOB, ListedEntry, ListedName, Screener


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


# Screeners built in this process, by the list versions they hold: a version never changes (a new load
# is a new version), so its index is built once and serves every screen until the next load.
_SCREENERS: dict[tuple[object, ...], Screener] = {}
_SCREENERS_KEPT = 4


def screener_for_lists(*, names: list[str] | None = None, threshold: float | None = None) -> Screener:
    """A Screener over the current versions of the lists (all, or those named), built once per set of
    versions in a process."""
    versions = watchlist_current_versions(names=names)
    key = (tuple((v.pk, v.checksum, v.loaded_at) for v in versions), threshold)
    screener = _SCREENERS.get(key)
    if screener is None:
        entries = listed_entries(versions)
        screener = Screener(entries) if threshold is None else Screener(entries, threshold=threshold)
        if len(_SCREENERS) >= _SCREENERS_KEPT:
            _SCREENERS.clear()
        _SCREENERS[key] = screener
    return screener
