"""`manage.py sanctions_screen INPUT.csv --out RESULTS.csv [--list NAME] [--threshold X]`: screen a
spreadsheet of names against the current versions of the lists.

Input columns: query_id, full_name, dob (ISO or empty), country (ISO alpha-2 or empty), client_type
(person or company). Output: one row per alert (query_id, matched_ent_num, score, explanation,
list, matched_name); a query without alerts gets one row with matched_ent_num empty."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from compliance.selectors import screener_for_lists
from matching import Query

OUTPUT = ["query_id", "matched_ent_num", "score", "explanation", "list", "matched_name"]


class Command(BaseCommand):
    help = "Screen a CSV of names against the sanctions and PEP lists."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("input")
        parser.add_argument("--out", required=True)
        parser.add_argument("--list", action="append", dest="lists", help="screen against this list only (repeatable)")
        parser.add_argument("--threshold", type=float, default=None, help="the product's threshold unless given")

    def handle(self, *args: Any, **options: Any) -> None:
        screener = screener_for_lists(names=options["lists"])
        if not screener.entries:
            raise CommandError("No list loaded" + (f" named {', '.join(options['lists'])}" if options["lists"] else "")
                               + ": load one with sanctions_load first.")
        source = Path(options["input"])
        try:
            text = source.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as error:
            raise CommandError(f"{source}: {error}") from None
        reader = csv.DictReader(text.splitlines())
        missing = {"query_id", "full_name"} - {h.strip() for h in (reader.fieldnames or [])}
        if missing:
            raise CommandError(f"{source}: header lacks {', '.join(sorted(missing))}")
        alerts = queries = 0
        with Path(options["out"]).open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(OUTPUT)
            for line, row in enumerate(reader, start=2):
                row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
                try:
                    dob = dt.date.fromisoformat(row["dob"]) if row.get("dob") else None
                except ValueError:
                    raise CommandError(f"{source}, line {line}, field dob: not an ISO date: {row['dob']!r}") from None
                client_type = (row.get("client_type") or "person").lower()
                if client_type not in ("person", "company"):
                    raise CommandError(f"{source}, line {line}, field client_type: person or company, not {client_type!r}")
                query = Query(full_name=row["full_name"], dob=dob, country=(row.get("country") or "").upper(),
                              client_type=client_type, query_id=row["query_id"])
                hits = screener.screen(query, threshold=options["threshold"])
                queries += 1
                alerts += len(hits)
                if not hits:
                    writer.writerow([row["query_id"], "", "", "", "", ""])
                for hit in hits:
                    writer.writerow([row["query_id"], hit.entry.key, f"{hit.score:.3f}", hit.explanation,
                                     hit.entry.list_name, hit.name.text])
        self.stdout.write(f"{queries} queries screened against {len(screener.entries)} entries: {alerts} alerts.")
