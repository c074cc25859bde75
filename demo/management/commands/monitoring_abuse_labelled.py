"""`manage.py monitoring_abuse_labelled [--size N] [--seed S]`: build the trading- and partner-abuse
labelled set (demo.abuse_scenarios) in a brand of its own and print, per detector, its recall
and precision as JSON lines ({"benchmark", "value", "unit", "limit", "ratio", "goal", "size"}).
It writes synthetic clients, deals and postings through the services: run it on a scratch database."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from demo.abuse_scenarios import labelled_run

GOAL_RECALL = 0.85
GOAL_PRECISION = 0.9


class Command(BaseCommand):
    help = "Score the trading- and partner-abuse detectors on a synthetic labelled set (JSON lines)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--size", type=int, default=40, help="benign traders besides the confounders")
        parser.add_argument("--seed", type=int, default=7)

    def handle(self, *args: Any, size: int, seed: int, **options: Any) -> None:
        for score in labelled_run(size=size, seed=seed):
            for measure, value, goal in (("recall", score.recall, GOAL_RECALL),
                                         ("precision", score.precision, GOAL_PRECISION)):
                self.stdout.write(json.dumps({
                    "benchmark": f"abuse_{score.kind}_{measure}", "value": round(value, 3), "unit": "share",
                    "limit": None, "ratio": None, "goal": goal,
                    "size": {"traders": size, "injected": len(score.injected), "found": len(score.found)}}))
