"""`manage.py monitoring_backtest EVENTS.jsonl --context CONTEXT.json [--budget N] [--context-known-at-end]
--out ALERTS.csv`: replay a history of agent activity day after day with the behaviour model (each day
scored and alerted with what was known by its end: peers, thresholds and context facts), and write one
row per agent-day scored (the formats are in the README). A context fact without the time it became
known is refused, unless `--context-known-at-end` reads every fact as known at the end of the period
(the whole period rescored as of its last day, as the nightly rescore does)."""

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


def read_context(path: Path, *, known_at_end: bool = False) -> scoring.Context:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CommandError(f"--context: cannot read {path}: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise CommandError(f"--context: not JSON ({exc})") from exc
    try:
        return scoring.context_from_dict(data, known_from_required=not known_at_end)
    except scoring.ScoringInputError as exc:
        raise CommandError(f"--context: {exc}") from exc


class Command(BaseCommand):
    help = ("Replay agent activity (EVENTS.jsonl) day after day against each agent's baseline, at thresholds "
            "calibrated to an alert budget on the days before, and write ALERTS.csv (agent, day, score, alerted, "
            "reasons, raised_on).")
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("events", type=Path, help="EVENTS.jsonl: the activity export, one JSON object per line")
        parser.add_argument("--context", type=Path, required=True, help="CONTEXT.json: agents, cover, leave, "
                            "campaign days, holidays")
        parser.add_argument("--budget", type=float, default=0.5,
                            help="alerts per 100 agent-days the desk can review (default 0.5)")
        parser.add_argument("--context-known-at-end", action="store_true",
                            help="read every context fact as known at the end of the period (no known_from needed): "
                                 "the whole period rescored as of its last day, every alert raised then")
        parser.add_argument("--out", type=Path, required=True, help="ALERTS.csv to write")

    def handle(self, *args: Any, **options: Any) -> None:
        budget = options["budget"]
        if not budget > 0:
            raise CommandError("--budget must be a positive number of alerts per 100 agent-days")
        known_at_end = bool(options["context_known_at_end"])
        context = read_context(options["context"], known_at_end=known_at_end)
        events = read_events(options["events"])
        try:
            scores, thresholds = scoring.backtest(events, context, budget=budget, known_at_end=known_at_end)
        except scoring.ScoringInputError as exc:
            raise CommandError(str(exc)) from exc
        out: Path = options["out"]
        tmp = out.with_name(out.name + ".part")
        with tmp.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["agent", "day", "score", "alerted", "reasons", "raised_on"])
            for s in sorted(scores, key=lambda s: (s.agent, s.day)):
                writer.writerow([s.agent, s.day.isoformat(), f"{s.score:.3f}", "true" if s.alerted else "false",
                                 "; ".join(s.reasons), s.raised_on.isoformat() if s.raised_on else ""])
        tmp.replace(out)   # no half-written file under the asked name
        alerts = sum(1 for s in scores if s.alerted)
        late = sum(1 for s in scores if s.alerted and s.raised_on != s.day)
        self.stdout.write(
            f"{len(events)} events, {len(scores)} agent-days scored, {alerts} alerted "
            f"({100.0 * alerts / max(len(scores), 1):.2f} per 100 agent-days, {late} raised on a later day); "
            f"thresholds {'on the last day' if not known_at_end else 'as of the last day'}: {thresholds.normal} "
            f"(under notice {thresholds.watched}) for a budget of {budget:g} per 100 agent-days")
