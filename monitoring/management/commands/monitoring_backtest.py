"""`manage.py monitoring_backtest EVENTS.jsonl --context CONTEXT.json [--budget N] --out ALERTS.csv`:
score a history of agent activity with the behaviour model, calibrate the thresholds to the alert
budget on that history, and write one row per agent-day scored (the formats are in the README)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import orjson
from django.core.management.base import BaseCommand, CommandError

from monitoring import scoring


def read_events(path: Path) -> list[scoring.Event]:
    """EVENTS.jsonl, one JSON object per line (blank lines skipped); errors name the line."""
    events: list[scoring.Event] = []
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise CommandError(f"EVENTS: cannot read {path}: {exc.strerror}") from exc
    with handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise CommandError(f"EVENTS line {number}: not JSON ({exc})") from exc
            try:
                events.append(scoring.event_from_dict(obj, ref=str(number)))
            except scoring.ScoringInputError as exc:
                raise CommandError(f"EVENTS line {number}: {exc}".replace(f"event {number}: ", "")) from exc
    if not events:
        raise CommandError("EVENTS: no events in the file")
    return events


def read_context(path: Path) -> scoring.Context:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CommandError(f"--context: cannot read {path}: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise CommandError(f"--context: not JSON ({exc})") from exc
    try:
        return scoring.context_from_dict(data)
    except scoring.ScoringInputError as exc:
        raise CommandError(f"--context: {exc}") from exc


class Command(BaseCommand):
    help = ("Score agent activity (EVENTS.jsonl) against each agent's baseline, calibrate to an alert budget "
            "and write ALERTS.csv (agent, day, score, alerted, reasons).")
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("events", type=Path, help="EVENTS.jsonl: the activity export, one JSON object per line")
        parser.add_argument("--context", type=Path, required=True, help="CONTEXT.json: agents, cover, leave, "
                            "campaign days, holidays")
        parser.add_argument("--budget", type=float, default=0.5,
                            help="alerts per 100 agent-days the desk can review (default 0.5)")
        parser.add_argument("--out", type=Path, required=True, help="ALERTS.csv to write")

    def handle(self, *args: Any, **options: Any) -> None:
        budget = options["budget"]
        if not budget > 0:
            raise CommandError("--budget must be a positive number of alerts per 100 agent-days")
        context = read_context(options["context"])
        events = read_events(options["events"])
        try:
            scores, thresholds = scoring.backtest(events, context, budget=budget)
        except scoring.ScoringInputError as exc:
            raise CommandError(str(exc)) from exc
        out: Path = options["out"]
        tmp = out.with_name(out.name + ".part")
        with tmp.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["agent", "day", "score", "alerted", "reasons"])
            for s in sorted(scores, key=lambda s: (s.agent, s.day)):
                writer.writerow([s.agent, s.day.isoformat(), f"{s.score:.3f}", "true" if s.alerted else "false",
                                 "; ".join(s.reasons)])
        tmp.replace(out)   # no half-written file under the asked name
        alerts = sum(1 for s in scores if s.alerted)
        self.stdout.write(
            f"{len(events)} events, {len(scores)} agent-days scored, {alerts} alerted "
            f"({100.0 * alerts / max(len(scores), 1):.2f} per 100 agent-days); thresholds: {thresholds.normal} "
            f"(under notice {thresholds.watched}) for a budget of {budget:g} per 100 agent-days")
