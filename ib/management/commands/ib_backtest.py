"""`manage.py ib_backtest --month YYYY-MM [--as-of TIMESTAMP] [--brand CODE] [--json]`: compute an
imported month from what was known then (a new numbered run, as `ib_calculate --as-of` does; by
default as of the month's end) and print each partner's total beside what the old CRM paid (the
import's `old_crm_totals`), the difference, and the lines behind each total."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.dateparse import parse_datetime

from crm.exceptions import DomainError
from crm.models import Brand
from ib import commissions as cs
from ib.models import LegacyCommissionTotal


class Command(BaseCommand):
    help = "Backtest an imported month: the engine's totals beside the old CRM's, the differences and the lines."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--month", required=True, help="YYYY-MM")
        parser.add_argument("--as-of", default="", help="what was known at this time (ISO 8601; default: the "
                                                         "month's end)")
        parser.add_argument("--brand", default="", help="brand code (default: every brand with the old CRM's totals "
                                                        "for the month)")
        parser.add_argument("--json", action="store_true", help="print one JSON document")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            period = cs.period_parse(options["month"])
        except DomainError:
            raise CommandError("--month: give the month as YYYY-MM") from None
        as_of = cs.backtest_as_of(period)
        if options["as_of"]:
            parsed = parse_datetime(options["as_of"])
            if parsed is None or parsed.tzinfo is None:
                raise CommandError("--as-of: give a time with its zone, such as 2024-04-01T00:00:00Z")
            as_of = parsed
        if options["brand"]:
            brands = list(Brand.objects.filter(code=options["brand"]))
            if not brands:
                raise CommandError(f"--brand: no brand {options['brand']!r}")
        else:
            brands = list(Brand.objects.filter(
                pk__in=LegacyCommissionTotal.objects.filter(period=period).values("brand_id")).order_by("code"))
            if not brands:
                raise CommandError(f"no old CRM totals for {period:%Y-%m}: import them (old_crm_totals) or "
                                   "name the brand with --brand")
        out = []
        for brand in brands:
            try:
                run = cs.commission_run(actor=None, brand=brand, period=period, as_of=as_of)
            except DomainError as error:
                raise CommandError(f"{brand.code}: {error.message}") from None
            out.append(_report(brand, cs.run_backtest(run)))
        if options["json"]:
            self.stdout.write(json.dumps({"month": f"{period:%Y-%m}", "backtests": out}, indent=2))
            return
        for report in out:
            self.stdout.write(f"{report['brand']} {report['month']} run #{report['number']} as of {report['as_of']}: "
                              f"{report['differing']} of {len(report['partners'])} partner totals differ")
            self.stdout.write(f"  {'partner':<30} {'engine':>14} {'old CRM':>14} {'difference':>14}")
            for row in report["partners"]:
                self.stdout.write(f"  {row['partner']:<30} {row['engine']:>14} {row['old'] or '-':>14} "
                                  f"{row['difference']:>14} {row['currency']}")
                for line in row["lines"]:
                    self.stdout.write(f"      {cs.line_text(line)}")


def _report(brand: Brand, backtest: cs.Backtest) -> dict[str, Any]:
    run = backtest.run
    return {
        "brand": brand.code, "month": f"{run.period:%Y-%m}", "run": str(run.code), "number": run.number,
        "as_of": run.as_of.isoformat(), "differing": len(backtest.differing),
        "partners": [{"partner": row.partner, "partner_id": row.partner_id, "currency": row.currency,
                      "engine": format(row.engine, "f"), "old": None if row.old is None else format(row.old, "f"),
                      "difference": format(row.difference, "f"),
                      "lines": [cs.line_record(line) for line in row.lines]}
                     for row in backtest.rows],
    }
