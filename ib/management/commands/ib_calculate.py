"""`manage.py ib_calculate --period YYYY-MM [--as-of TIMESTAMP] [--brand CODE] [--json]`: run the
commission engine over a period (a new numbered run: a recalculation when the period has runs) and
print each partner's total, its difference against what was settled, and the lines."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.dateparse import parse_datetime

from crm.exceptions import DomainError
from crm.lib.money import decimal_text
from crm.models import Brand
from ib import commissions as cs
from ib.models import CommissionPlan


class Command(BaseCommand):
    help = "Compute a period's commissions: totals, deltas against what was settled, and lines."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--period", required=True, help="YYYY-MM")
        parser.add_argument("--as-of", default="", help="compute from what was known at this time (ISO 8601)")
        parser.add_argument("--brand", default="", help="brand code (default: every brand with plans)")
        parser.add_argument("--json", action="store_true", help="print one JSON document")
        parser.add_argument("--settle", action="store_true", help="mark the run's totals as settled")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            period = cs.period_parse(options["period"])
        except DomainError:
            raise CommandError("--period: give the period as YYYY-MM") from None
        as_of = None
        if options["as_of"]:
            as_of = parse_datetime(options["as_of"])
            if as_of is None:
                raise CommandError("--as-of: give a time such as 2024-04-01T00:00:00Z")
        if options["brand"]:
            brands = list(Brand.objects.filter(code=options["brand"]))
            if not brands:
                raise CommandError(f"--brand: no brand {options['brand']!r}")
        else:
            brands = list(Brand.objects.filter(pk__in=CommissionPlan.objects.values("brand_id")).order_by("code"))
        out: list[dict[str, Any]] = []
        for brand in brands:
            try:
                run = cs.commission_run(actor=None, brand=brand, period=period, as_of=as_of)
                if options["settle"]:
                    cs.commission_run_settle(actor=None, run=run)
                    run.refresh_from_db()
            except DomainError as error:
                raise CommandError(f"{brand.code}: {error.message}") from None
            out.append(_report(brand, run))
        if options["json"]:
            self.stdout.write(json.dumps({"period": options["period"], "runs": out}, indent=2))
            return
        for report in out:
            self.stdout.write(f"{report['brand']} {report['period']} run #{report['number']} as of {report['as_of']}")
            for t in report["totals"]:
                self.stdout.write(f"  {t['partner']:<30} {t['payable']:>14} {t['currency']}  "
                                  f"settled {t['settled']}  delta {t['delta']}"
                                  + (f"  carried {t['carry_out']}" if t["carry_out"] != "0" else ""))
            self.stdout.write("  lines:")
            for line in report["lines"]:
                self.stdout.write(f"    {cs.line_text(line)}")


def _report(brand: Brand, run: Any) -> dict[str, Any]:
    return {
        "brand": brand.code, "period": f"{run.period:%Y-%m}", "run": str(run.code), "number": run.number,
        "as_of": run.as_of.isoformat(), "stats": run.stats,
        "settled_at": run.settled_at.isoformat() if run.settled_at else None,
        "totals": [{"partner": t.partner, "partner_id": t.partner_id, "currency": t.currency,
                    "payable": format(t.payable, "f"), "settled": format(t.settled, "f"),
                    "delta": format(t.delta, "f"), "carry_out": decimal_text(t.carry_out)}
                   for t in cs.run_totals(run)],
        "lines": [cs.line_record(line) for line in cs.run_lines(run)],
    }
