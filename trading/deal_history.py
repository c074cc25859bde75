"""A migration's deal history (integrations.moving_in calls it through trading.services): rows of
an old system's closed trades, in the columns `manage.py trading_import_deals` reads
(trading.deal_import), stored through the sync's idempotent upsert.

Unlike that command, which refuses a whole file over one bad row, each row stands alone here: a
bad row, or one whose login has no trading account on the server, is returned as a problem and
left out, and the others are stored. The deal ticket stays the deal's id on its server, so a
second import of the same rows changes nothing (the upsert finds each deal unchanged) and a row
whose content changed in a later export updates its deal (an edit, as the sync records one).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from trading import deal_import
from trading.adapters.base import Deal, ServerClock
from trading.models import PlatformServer
from trading.sync import deals_store

_ERROR = re.compile(r"^row \d+, column (?P<column>.*?): (?P<why>.*)$", re.DOTALL)


@dataclass(frozen=True)
class DealProblem:
    """One refused row: its index in the rows given, the column (as the header names it), why."""

    index: int
    column: str
    problem: str


@dataclass
class DealsImported:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    problems: list[DealProblem] = field(default_factory=list)


def trading_deals_import(*, server: PlatformServer, header: Sequence[str],
                         rows: Sequence[Sequence[str]]) -> DealsImported:
    """Store the deals of `rows` (cells in the order of `header`, trading_import_deals' columns; times
    on the server's clock) on `server`, each counted as known since its own time (a commission run as
    of a past moment reads what the old system knew then). Rows with the same deal ticket are the
    caller's to refuse: the first of them is kept. Returns the counts and the refused rows; a header
    without a required column refuses every row (one problem, index -1)."""
    result = DealsImported()
    found, labels, header_problems = deal_import._columns(list(header))
    if header_problems:
        result.problems.append(DealProblem(-1, "", "; ".join(header_problems)))
        return result
    clock = ServerClock(offset_minutes=server.server_tz_offset_minutes, tz_name=server.server_tz)
    parsed: list[tuple[int, Deal]] = []
    seen: set[int] = set()
    for index, cells in enumerate(rows):
        deal, errors = deal_import._row(list(cells), index, found, labels, list(header), clock)
        for error in errors:
            match = _ERROR.match(error)
            result.problems.append(DealProblem(index, match["column"] if match else "", match["why"] if match else error))
        if deal is not None and deal.deal_id not in seen:
            seen.add(deal.deal_id)
            parsed.append((index, deal))
    known = deal_import.known_logins(server.pk, (deal.login for _index, deal in parsed))
    for index, deal in parsed:
        if deal.login not in known:
            result.problems.append(DealProblem(index, labels["login"], f"No trading account with the login "
                                                                       f"{deal.login} on {server.name}."))
    deals = [deal for _index, deal in parsed if deal.login in known]
    if not deals:
        return result
    stored = deals_store(server, deals)
    filled = deal_import.market_prices_fill(server.pk, deals)
    deal_import.deals_known_since_own_time(server.pk, (deal.deal_id for deal in deals))
    result.inserted, result.updated = stored.inserted, stored.edited + filled
    result.unchanged = len(deals) - stored.inserted - stored.edited - filled
    return result
