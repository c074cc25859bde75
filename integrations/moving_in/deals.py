"""Moving in the old system's closed trades: deals.csv, the deals of the trading accounts (accounts.csv,
or already here), through trading.services.trading_deals_import (the upsert of `manage.py
trading_import_deals` and of the sync).

    deals.csv   server (the trading server's name here; may be left out when the brand has one),
                then the columns of trading_import_deals: Deal (the old ticket, kept as the deal's
                id), Time (the server's clock), Login, Type, Direction, Symbol, Volume, Price,
                Profit, Commission, Swap, Fee, Position, Order, Comment ...

Each row stands alone: a bad one (a cell trading's reader refuses, a login without an account on
the server, a deal ticket already on an earlier line) is reported and left out, the rest are stored.
The deal ticket is the deal's id on its server, so a second run stores nothing twice (each deal is
found unchanged), and a later export that changed a deal updates it. No ImportedRef per deal: the
deal's own id is the old one.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from integrations.moving_in.folder import Row
from trading.selectors import server_list_for_system
from trading.services import trading_deals_import

# `run` below is the CrmImport (integrations.moving_in.importer) that calls these functions; it is not
# imported here, which would make the two modules import each other.
CrmImport = Any

DEALS_FILE = "deals.csv"
_OURS = ("server",)  # columns of deals.csv that are not trading's


def deals_import(run: CrmImport) -> None:
    """deals.csv of `run`'s folder (none: nothing), counted as "deals" (created, updated, unchanged,
    failed); a dry run's deals are rolled back with the rest of it."""
    rows = list(run.folder.rows(DEALS_FILE))
    if not rows:
        return
    run.total += len(rows)
    servers = {s.name.lower(): s for s in server_list_for_system(brand_id=run.brand.pk)}
    only = next(iter(servers.values())) if len(servers) == 1 else None
    groups: dict[Any, list[Row]] = defaultdict(list)
    seen: dict[tuple[int, str], int] = {}
    for row in rows:
        name = row.mapped("server")
        server = servers.get(name.lower()) if name else only
        ticket = row.text("deal")
        if server is None:
            row.problem("server", f"The brand has no trading server named “{name}”: add it, or map the name in "
                                  "mapping.json (values.server)." if name else
                                  "Name the trading server (the server column): the brand has several.")
        elif ticket and (server.pk, ticket) in seen:
            row.problem("deal", f"The deal {ticket} is also on line {seen[(server.pk, ticket)]}: one old deal, "
                                "one row (the first is imported).")
        else:
            if ticket:
                seen[(server.pk, ticket)] = row.line
            groups[server].append(row)
            continue
        _counted(run, "failed")
    for server, group in groups.items():
        _server_deals(run, server, group)


def _server_deals(run: CrmImport, server: Any, rows: list[Row]) -> None:
    header = [name for name in rows[0].cells if name not in _OURS]
    for row in rows[1:]:
        header += [name for name in row.cells if name not in _OURS and name not in header]
    result = trading_deals_import(server=server, header=header,
                                  rows=[[row.cells.get(name, "") for name in header] for row in rows])
    refused: set[int] = set()
    for problem in result.problems:
        if problem.index < 0:
            for row in rows:
                row.problem("", f"{problem.problem} (no deal of {server.name} was imported)")
            refused.update(range(len(rows)))
            break
        rows[problem.index].problem(problem.column.lower(), problem.problem)
        refused.add(problem.index)
    for _index in refused:
        _counted(run, "failed")
    for outcome, n in (("created", result.inserted), ("updated", result.updated), ("unchanged", result.unchanged)):
        for _ in range(n):
            _counted(run, outcome)


def _counted(run: CrmImport, outcome: str) -> None:
    run.report.counts["deals"][outcome] += 1
    run._step()
