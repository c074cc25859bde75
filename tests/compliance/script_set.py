"""Runs the harder set of names as clients of six scripts write them (tests/compliance/data/
make_script_set.py) through the matcher, scored per script and per kind of variation, for each half:
`tune` (what the matcher may be improved on, by category) and `held` (reported, never tuned on). The
same for the variant set (make_variant_set.py: Latin names' variations beside the scripts) with `variant`.

Scoring as in labelled.py: the expected entry alerting is a true positive, not alerting a false
negative, every alert on any other entry a false positive. `python tests/compliance/script_set.py
[variant] [tune|held] [-v]` prints the tables (with -v the tuning half's misses; the held-out half's never).
"""

from __future__ import annotations

import csv
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from compliance.watchlists.parsers import SourceFile, parse  # noqa: E402
from matching import ListedEntry, Query, Screener  # noqa: E402
from tests.compliance.labelled import DATA, Score  # noqa: E402

CROSS_SCRIPT = ("han", "hangul", "japanese", "thai", "myanmar", "arabic")


def script_screener(name: str = "script") -> Screener:
    """The listed parties of a set: `script` (make_script_set.py) or `variant` (make_variant_set.py)."""
    files = [SourceFile(p.name, p.read_bytes()) for p in
             (DATA / f"{name}_sdn.csv", DATA / f"{name}_alt.csv", DATA / f"{name}_add.csv")]
    entries = parse("ofac-csv", files)
    return Screener(ListedEntry(key=e.ent_num, entry_type=e.entry_type, names=tuple(e.names), dobs=tuple(e.dobs),
                                countries=frozenset(e.countries)) for e in entries)


def script_queries(name: str = "script") -> list[dict[str, str]]:
    with (DATA / f"{name}_queries.csv").open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def evaluate(half: str, screener: Screener | None = None,
             misses: list[tuple[str, str, str, str]] | None = None, *, name: str = "script") -> dict[str, Score]:
    """Scores keyed `all`, `script:<script>`, `variation:<variation>`, `cross_script` (a name typed in
    its own script, of the six scripts) and `negatives`."""
    screener = screener or script_screener(name)
    scores: dict[str, Score] = defaultdict(Score)
    for row in script_queries(name):
        if row["half"] != half:
            continue
        query = Query(full_name=row["full_name"], country=row["country"], client_type=row["client_type"])
        alerted = {hit.entry.key for hit in screener.screen(query)}
        also = set(row.get("also", "").split())  # other parties the query is as much (variant set)
        keys = ["all", f"script:{row['script']}", f"variation:{row['variation']}"]
        if row["variation"] == "native" and row["script"] in CROSS_SCRIPT:
            keys.append("cross_script")
        if not row["expected"]:
            keys.append("negatives")
        for key in keys:
            score = scores[key]
            score.queries += 1
            score.alerted += bool(alerted)
            if row["expected"]:
                score.tp += row["expected"] in alerted
                score.fn += row["expected"] not in alerted
            score.fp += len(alerted - {row["expected"]} - also)
        wrong = alerted - {row["expected"]} - also or (row["expected"] and row["expected"] not in alerted)
        if misses is not None and wrong:
            misses.append((row["script"], row["variation"], row["full_name"],
                           f"expected {row['expected'] or '-'} got {sorted(alerted)}"))
    return dict(scores)


def table(scores: dict[str, Score]) -> str:
    lines = [f"{'category':28} {'queries':>7} {'alerted':>7} {'precision':>9} {'recall':>7} {'F1':>6}"]
    for key, s in sorted(scores.items(), key=lambda kv: (kv[0] == "all", kv[0])):
        lines.append(f"{key:28} {s.queries:7d} {s.alerted:7d} {s.precision:9.3f} {s.recall:7.3f} {s.f1:6.3f}")
    return "\n".join(lines)


if __name__ == "__main__":
    halves = [h for h in ("tune", "held") if h in sys.argv] or ["tune", "held"]
    which = "variant" if "variant" in sys.argv else "script"
    for half in halves:
        found: list[tuple[str, str, str, str]] = []
        print(f"== {which} {half} ==")
        print(table(evaluate(half, misses=found, name=which)))
        if "-v" in sys.argv and half == "tune":
            for miss in found:
                print(*miss, sep=" | ")
