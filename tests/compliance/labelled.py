"""Runs the labelled screening set (tests/compliance/data) through the matcher and scores it per kind.

Scoring: a query whose `expected` entry alerts is a true positive, one where it does not a false
negative; every alert on any other entry is a false positive. Precision, recall and F1 per kind and
overall; `python tests/compliance/labelled.py` prints the table.
"""

from __future__ import annotations

import csv
import datetime as dt
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from compliance.watchlists.parsers import SourceFile, parse  # noqa: E402
from matching import ListedEntry, Query, Screener  # noqa: E402

DATA = Path(__file__).resolve().parent / "data"
NON_LATIN = "script"


@dataclass
class Score:
    tp: int = 0
    fn: int = 0
    fp: int = 0
    queries: int = 0
    alerted: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def labelled_screener(**kwargs: object) -> Screener:
    files = [SourceFile(p.name, p.read_bytes()) for p in
             (DATA / "labelled_sdn.csv", DATA / "labelled_alt.csv", DATA / "labelled_add.csv")]
    entries = parse("ofac-csv", files)
    return Screener((ListedEntry(key=e.ent_num, entry_type=e.entry_type, names=tuple(e.names), dobs=tuple(e.dobs),
                                 countries=frozenset(e.countries)) for e in entries), **kwargs)  # type: ignore[arg-type]


def labelled_queries() -> list[dict[str, str]]:
    with (DATA / "labelled_queries.csv").open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def evaluate(screener: Screener | None = None, *, use_dob: bool = True,
             misses: list[tuple[str, str, str]] | None = None) -> dict[str, Score]:
    screener = screener or labelled_screener()
    scores: dict[str, Score] = defaultdict(Score)
    for row in labelled_queries():
        query = Query(full_name=row["full_name"], dob=dt.date.fromisoformat(row["dob"]) if row["dob"] and use_dob else None,
                      country=row["country"], client_type=row["client_type"])
        alerted = {hit.entry.key for hit in screener.screen(query)}
        for kind in (row["kind"], "all"):
            score = scores[kind]
            score.queries += 1
            score.alerted += bool(alerted)
            if row["expected"]:
                if row["expected"] in alerted:
                    score.tp += 1
                else:
                    score.fn += 1
            score.fp += len(alerted - {row["expected"]})
        if misses is not None and (alerted - {row["expected"]} or (row["expected"] and row["expected"] not in alerted)):
            misses.append((row["kind"], row["full_name"], f"expected {row['expected'] or '-'} got {sorted(alerted)}"))
    return dict(scores)


def table(scores: dict[str, Score]) -> str:
    lines = [f"{'kind':16} {'queries':>7} {'alerted':>7} {'precision':>9} {'recall':>7} {'F1':>6}"]
    for kind, s in sorted(scores.items(), key=lambda kv: (kv[0] == "all", kv[0])):
        lines.append(f"{kind:16} {s.queries:7d} {s.alerted:7d} {s.precision:9.3f} {s.recall:7.3f} {s.f1:6.3f}")
    return "\n".join(lines)


if __name__ == "__main__":
    found: list[tuple[str, str, str]] = []
    result = evaluate(misses=found)
    print(table(result))
    if "-v" in sys.argv:
        for miss in found:
            print(*miss, sep=" | ")
