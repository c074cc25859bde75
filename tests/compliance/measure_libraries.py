"""Measures the transliteration libraries on the labelled set: the matcher with anyascii (shipped),
Unidecode, and ICU's Any-Latin; Latin-ASCII (PyICU), each where installed. Prints one table per
library (per-kind precision, recall, F1) and the time per query. Not a test: run it by hand after
changing the matcher: python tests/compliance/measure_libraries.py"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from matching import compare, normalise  # noqa: E402
from tests.compliance.labelled import evaluate, labelled_queries, labelled_screener, table  # noqa: E402


def candidates() -> dict[str, Callable[[str], str]]:
    from anyascii import anyascii

    found: dict[str, Callable[[str], str]] = {"anyascii": anyascii}
    try:
        from unidecode import unidecode

        found["unidecode"] = unidecode
    except ImportError:
        pass
    try:
        import icu

        icu_latin = icu.Transliterator.createInstance("Any-Latin; Latin-ASCII")
        found["icu"] = icu_latin.transliterate
    except ImportError:
        pass
    return found


def reset() -> None:
    normalise._tokens_of_word.cache_clear()
    compare._SIMILARITY.clear()
    compare._join.cache_clear()
    compare.units.cache_clear()


def main() -> None:
    queries = len(labelled_queries())
    for name, function in candidates().items():
        normalise.transliterate = function
        reset()
        began = time.perf_counter()
        scores = evaluate(labelled_screener())
        elapsed = time.perf_counter() - began
        print(f"== {name}: {elapsed / queries * 1000:.2f} ms per query (cold caches)")
        print(table(scores))


if __name__ == "__main__":
    main()
