"""What the matcher's category tests ask of a Screener over their own few listed entries: which
entries a typed name alerts on, and how the one hit explains itself."""

from __future__ import annotations

from matching import Query, Screener


def alerts(screener: Screener, name: str) -> list[str]:
    return [h.entry.key for h in screener.screen(Query(name))]


def how(screener: Screener, name: str) -> str:
    [hit] = screener.screen(Query(name))
    return hit.explanation
