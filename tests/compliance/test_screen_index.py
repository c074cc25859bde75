"""The screening index finds every listed spelling the matcher can match a typed word to: it is what
keeps the candidate search from missing a listed person, so a new way for two words to meet in
matching/compare.py needs its key in matching/screen.py, and this test says which pair
lacks one."""

from __future__ import annotations

from matching.compare import TYPO_1, token_similarity
from matching.normalise import tokenise
from matching.screen import _listed_keys, _typed_keys, _word_units
from tests.compliance.labelled import labelled_queries, labelled_screener


def test_every_listed_spelling_alike_a_typed_word_shares_a_key_with_it() -> None:
    screener = labelled_screener()
    letters = "".join(sorted(screener._letters))
    listed = [(unit, screener._unit_single[n], _listed_keys(unit, single=screener._unit_single[n]))
              for n, unit in enumerate(screener._units)]
    per_kind: dict[str, int] = {}
    typed = {}
    for row in labelled_queries():
        if per_kind.get(row["kind"], 0) >= 3:
            continue
        per_kind[row["kind"]] = per_kind.get(row["kind"], 0) + 1
        for word in _word_units(tokenise(row["full_name"], company=row["client_type"] == "company")):
            for n, unit in enumerate(word):
                typed[unit.ascii, unit.alt, unit.foreign, n == 0] = unit
    missing = []
    for (*_, single), unit in typed.items():
        keys = _typed_keys(unit, single=single, letters=letters)
        for other, other_single, other_keys in listed:
            score, how = token_similarity(unit, other)
            # compare_names pairs words written together only with single words, and nearly alike.
            counts = score >= TYPO_1 and (single or other_single) if not (single and other_single) else score > 0
            if counts and keys.isdisjoint(other_keys):
                missing.append((unit.raw, other.raw, how))
    assert len(typed) > 100
    assert missing == []
