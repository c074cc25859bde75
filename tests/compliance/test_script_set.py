"""The harder set of names as clients of six scripts write them (tests/compliance/data, made by
make_script_set.py, split by listed party into a tuning half and a held-out half): the committed files
are the script's output, and the matcher keeps what it scores on each half (a floor, not the goal:
the issue's goal is F1 >= 0.97 and cross-script recall >= 0.90: met on the tuning half, the held-out
half's F1 is still short, 0.963, mostly two-edit typos and Korean spellings)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from tests.compliance.labelled import DATA
from tests.compliance.script_set import evaluate, script_queries


def test_the_committed_set_is_what_the_script_makes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = importlib.util.spec_from_file_location("make_script_set", DATA / "make_script_set.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "make_script_set", module)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "HERE", tmp_path)
    module.main()
    for name in ("script_sdn.csv", "script_alt.csv", "script_add.csv", "script_queries.csv"):
        assert (tmp_path / name).read_bytes() == (DATA / name).read_bytes(), name


def test_the_set_covers_every_script_and_both_halves() -> None:
    rows = script_queries()
    for script in ("han", "hangul", "japanese", "thai", "myanmar", "arabic"):
        for half in ("tune", "held"):
            mine = [r for r in rows if r["script"] == script and r["half"] == half]
            assert sum(1 for r in mine if r["expected"]) >= 40, (script, half)
            assert any(not r["expected"] for r in mine), (script, half)


@pytest.mark.parametrize(("half", "f1", "cross_script"), [("tune", 0.99, 0.98), ("held", 0.95, 0.95)])
def test_the_matcher_keeps_its_scores_on_each_half(half: str, f1: float, cross_script: float) -> None:
    scores = evaluate(half)
    assert scores["all"].f1 >= f1, scores["all"]
    assert scores["cross_script"].recall >= cross_script, scores["cross_script"]
    assert scores["negatives"].alerted <= scores["negatives"].queries * 0.02, scores["negatives"]
    assert scores["all"].precision >= 0.98, scores["all"]
