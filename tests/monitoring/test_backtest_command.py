"""`manage.py monitoring_backtest`: the ALERTS.csv format, the budget, and bad input named by line."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from monitoring import scenarios


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, scenarios.Scenario]:
    folder = tmp_path_factory.mktemp("backtest")
    scenario = scenarios.generate(agents=24, days=100, seed=4, injections_per_kind=2)
    events = folder / "events.jsonl"
    with events.open("w") as handle:
        for obj in scenarios.events_as_dicts(scenario.events):
            handle.write(json.dumps(obj) + "\n")
    context = folder / "context.json"
    context.write_text(json.dumps(scenario.context))
    return events, context, scenario


def _run(events: Path, context: Path, out: Path, *extra: str) -> list[dict[str, str]]:
    call_command("monitoring_backtest", str(events), "--context", str(context), "--out", str(out), *extra)
    with out.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_it_writes_one_row_per_agent_day_with_score_alerted_and_reasons(history, tmp_path: Path) -> None:
    events, context, scenario = history
    rows = _run(events, context, tmp_path / "alerts.csv")
    assert list(rows[0]) == ["agent", "day", "score", "alerted", "reasons", "raised_on"]
    assert len({(r["agent"], r["day"]) for r in rows}) == len(rows)
    alerted = [r for r in rows if r["alerted"] == "true"]
    assert alerted and all(r["reasons"] for r in alerted)
    found = {(r["agent"], r["day"]) for r in alerted}
    injected = {(a, d.isoformat()) for a, d in scenario.labels}
    # a small desk (13 injected agent-days): most found, and few benign days alerted (within the budget)
    assert len(found & injected) >= 0.65 * len(injected)
    assert 100 * len(found - injected) / (len(rows) - len(injected)) <= 0.5


def test_a_larger_budget_alerts_more(history, tmp_path: Path) -> None:
    events, context, _ = history
    few = sum(r["alerted"] == "true" for r in _run(events, context, tmp_path / "a.csv", "--budget", "0.2"))
    many = sum(r["alerted"] == "true" for r in _run(events, context, tmp_path / "b.csv", "--budget", "5"))
    assert many > few


def test_bad_lines_are_refused_naming_the_line_and_nothing_is_written(history, tmp_path: Path) -> None:
    _, context, _ = history
    events = tmp_path / "bad.jsonl"
    events.write_text('{"time": "2026-01-05T10:00:00Z", "agent": "a", "kind": "client_open"}\n'
                      '{"time": "2026-01-05T10:00:00Z", "agent": "a", "kind": "fax"}\n')
    out = tmp_path / "alerts.csv"
    with pytest.raises(CommandError, match="EVENTS line 2: 'kind' must be one of"):
        _run(events, context, out)
    assert not out.exists()
    with pytest.raises(CommandError, match="--budget"):
        _run(events, context, out, "--budget", "0")
