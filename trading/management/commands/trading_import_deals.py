"""`manage.py trading_import_deals FILE.csv --server <code>`: backfill historical deals from an MT5
deal report through the sync's idempotent upsert (see trading/deal_import.py for the columns)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from trading import deal_import
from trading.adapters.base import ServerClock
from trading.models import PlatformServer
from trading.sync import deals_store


class Command(BaseCommand):
    help = (
        "Backfill historical deals of one platform server from an MT5 deal report (CSV, UTF-8 or UTF-16; "
        "comma, semicolon or tab separated) through the same idempotent upsert as the sync: new deals are "
        "inserted, changed ones updated, the rest left unchanged; re-running a file changes nothing. "
        "Columns (case, spaces, dots and underscores ignored): Time, Deal [Ticket], Login [Account], "
        "Type [Action] (buy, sell, balance, credit, charge, correction, bonus, commission, ... or the MT5 "
        "action number) and Profit are required; Direction [Entry] (in, out, in/out, out by) is required for "
        "buy and sell; Order, Position, Symbol, Volume [Lots], Price, Commission, Swap [Storage], Fee, Comment "
        "and Reason are optional, and so are the market's prices at the deal for the commission engine's spread "
        "basis: Market Bid [Bid] and Market Ask [Ask], or Spread (ask - bid, in price units), or Spread Points "
        "with Digits (the symbol's decimals). Times are the server's clock (its time zone or offset converts them). "
        "Every row is checked first: a bad row is reported with its row number and column and nothing is "
        "written. Deals of logins without a trading account on the server are skipped and listed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="the MT5 deal report, CSV")
        parser.add_argument("--server", required=True,
                            help="the platform server's code (UUID, on its page) or its name (as ib_import names it)")
        parser.add_argument("--dry-run", action="store_true", help="check and count, write nothing")
        parser.add_argument("--known-since-deal-time", action="store_true",
                            help="a migration's history: each deal counts as known since its own time, so that "
                                 "a commission run as of a past moment (ib_calculate --as-of) reads it")

    def handle(self, *args: Any, file: Path, server: str, dry_run: bool = False,
               known_since_deal_time: bool = False, **options: Any) -> None:
        platform = _server(server)
        try:
            text = deal_import.decode(file.read_bytes())
            parsed = deal_import.parse(text, clock=ServerClock(offset_minutes=platform.server_tz_offset_minutes,
                                                               tz_name=platform.server_tz))
        except OSError as error:
            raise CommandError(f"{file}: {error.strerror or error}") from None
        except deal_import.ReportUnreadable as error:
            raise CommandError(f"{file}: {error}") from None
        if parsed.errors:
            for problem in parsed.errors[:200]:
                self.stderr.write(problem)
            more = len(parsed.errors) - 200
            raise CommandError(f"{file}: {len(parsed.errors)} problem(s)"
                               f"{f' ({more} not shown)' if more > 0 else ''}; nothing was imported.")
        known = deal_import.known_logins(platform.pk, (d.login for d in parsed.deals))
        deals = [d for d in parsed.deals if d.login in known]
        unknown = sorted({d.login for d in parsed.deals} - known)
        with transaction.atomic():
            result = deals_store(platform, deals)
            filled = deal_import.market_prices_fill(platform.pk, deals)
            if known_since_deal_time:
                deal_import.deals_known_since_own_time(platform.pk, (d.deal_id for d in deals))
            if dry_run:
                transaction.set_rollback(True)
        unchanged = len(deals) - result.inserted - result.edited - filled
        self.stdout.write(
            f"{'Dry run: ' if dry_run else ''}{len(parsed.deals)} deals read from {parsed.rows} rows: "
            f"inserted {result.inserted}, updated {result.edited}, "
            f"{f'market prices filled in {filled}, ' if filled else ''}unchanged {unchanged}, "
            f"skipped {len(parsed.deals) - len(deals)}.")
        if unknown:
            shown = ", ".join(str(x) for x in unknown[:20])
            self.stdout.write(f"Skipped: no trading account on {platform.name} for login(s) {shown}"
                              f"{' ...' if len(unknown) > 20 else ''}.")


def _server(text: str) -> PlatformServer:
    """The server named by its code (a UUID) or by its name (refused when several servers have it)."""
    try:
        code = uuid.UUID(text)
    except ValueError:
        named = list(PlatformServer.objects.filter(name=text)[:2])
        if len(named) == 1:
            return named[0]
        if named:
            raise CommandError(f"--server: several servers are named {text!r}: give its code.") from None
        raise CommandError(f"--server: {text!r} is not a server code (a UUID) nor a server's name.") from None
    platform = PlatformServer.objects.filter(code=code).first()
    if platform is None:
        raise CommandError(f"--server: no platform server has the code {text}.")
    return platform
