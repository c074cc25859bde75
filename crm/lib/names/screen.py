"""Screening a query against listed entries through an in-memory candidate index.

The index maps keys of each listed token (its vowel form, its consonant skeleton, its voicing-folded
skeleton, the skeleton less one consonant, and the same for neighbouring tokens written together) to the entries
that carry it. A query looks up its own keys and fully compares only the entries that share keys
with two of its words (one for names of one word), never the whole list.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from crm.lib.names.compare import NameComparison, compare_names
from crm.lib.names.normalise import Token, tokenise

DEFAULT_THRESHOLD = 0.8
WEAK_ALIAS_THRESHOLD = 0.97
PERSON_TYPES = frozenset({"person", "individual", ""})


@dataclass(frozen=True, slots=True)
class DOB:
    """A listed date of birth at the precision the list gives: a day, a month, a year, a range of
    years (`year_to`), or circa a year (taken as two years either way)."""

    year: int
    month: int | None = None
    day: int | None = None
    circa: bool = False
    year_to: int | None = None

    def agrees(self, born: dt.date) -> bool:
        low, high = self.year, self.year_to or self.year
        if self.circa:
            low, high = low - 2, high + 2
        if not low <= born.year <= high:
            return False
        if self.circa or self.year_to:
            return True
        if self.month is not None and self.month != born.month:
            return False
        return self.day is None or self.day == born.day

    def __str__(self) -> str:
        if self.year_to:
            text = f"{self.year}-{self.year_to}"
        elif self.day and self.month:
            text = f"{self.year:04d}-{self.month:02d}-{self.day:02d}"
        elif self.month:
            text = f"{self.year:04d}-{self.month:02d}"
        else:
            text = str(self.year)
        return f"circa {text}" if self.circa else text


@dataclass(frozen=True, slots=True)
class ListedName:
    text: str
    kind: str = "primary"  # primary, aka, fka, nka
    weak: bool = False


@dataclass(frozen=True, slots=True)
class ListedEntry:
    key: str  # the list's own entry number (OFAC ent_num)
    entry_type: str
    names: tuple[ListedName, ...]
    dobs: tuple[DOB, ...] = ()
    countries: frozenset[str] = frozenset()
    list_name: str = ""


@dataclass(frozen=True, slots=True)
class Query:
    full_name: str
    dob: dt.date | None = None
    country: str = ""
    client_type: str = "person"
    query_id: str = ""


@dataclass(frozen=True, slots=True)
class Hit:
    entry: ListedEntry
    score: float
    name: ListedName
    explanation: str
    comparison: NameComparison = field(repr=False)


def _keys(tok: Token) -> set[str]:
    """Index keys of a token: its vowel form (spelling variants), its skeleton and voicing-folded
    skeleton (transliterations), and the skeleton less one consonant (a typing error in a consonant)."""
    keys = {"v:" + tok.vowels, "s:" + tok.skeleton, "l:" + tok.loose}
    skel = tok.skeleton
    if len(skel) >= 3:
        keys.update("s:" + skel[:i] + skel[i + 1:] for i in range(len(skel)))
    elif len(skel) <= 1:
        keys.add("a:" + tok.ascii)
    return keys


def _word_keys(tokens: tuple[Token, ...]) -> list[set[str]]:
    """Keys per word (a word and its joins with its neighbours); particles and legal forms give none."""
    from crm.lib.names.compare import _join

    out: list[set[str]] = []
    for i, tok in enumerate(tokens):
        if tok.particle or tok.generic or tok.initial:
            continue
        keys = _keys(tok)
        for size in (2, 3):
            for start in range(max(0, i - size + 1), min(i, len(tokens) - size) + 1):
                group = tokens[start:start + size]
                if not any(t.initial for t in group):
                    keys |= _keys(_join(group))
        out.append(keys)
    return out


class Screener:
    """Listed entries held in memory with their token index; `screen` gives the hits for a query."""

    def __init__(self, entries: Iterable[ListedEntry], *, threshold: float = DEFAULT_THRESHOLD) -> None:
        self.threshold = threshold
        self.entries: list[ListedEntry] = []
        self._names: list[list[tuple[ListedName, tuple[Token, ...]]]] = []
        self._index: dict[str, set[int]] = defaultdict(set)
        self._short: set[int] = set()  # entries with a name of one word
        for entry in entries:
            self.add(entry)

    def add(self, entry: ListedEntry) -> None:
        number = len(self.entries)
        self.entries.append(entry)
        company = entry.entry_type not in PERSON_TYPES
        names = []
        for name in entry.names:
            tokens = tokenise(name.text, company=company)
            names.append((name, tokens))
            words = _word_keys(tokens)
            if len(words) <= 1:
                self._short.add(number)
            for keys in words:
                for key in keys:
                    self._index[key].add(number)
        self._names.append(names)

    def candidates(self, tokens: tuple[Token, ...]) -> set[int]:
        """Entries sharing keys with two of the query's words (or one, for one-word names)."""
        seen: dict[int, int] = defaultdict(int)
        words = _word_keys(tokens)
        for keys in words:
            found: set[int] = set()
            for key in keys:
                found |= self._index.get(key, set())
            for number in found:
                seen[number] += 1
        need = 1 if len(words) <= 1 else 2
        return {n for n, count in seen.items() if count >= need or n in self._short}

    def screen(self, query: Query, *, threshold: float | None = None) -> list[Hit]:
        limit = self.threshold if threshold is None else threshold
        company = query.client_type == "company"
        tokens = tokenise(query.full_name, company=company)
        hits: list[Hit] = []
        for number in self.candidates(tokens):
            entry = self.entries[number]
            if company == (entry.entry_type in PERSON_TYPES) and entry.entry_type:
                continue
            hit = self._judge(query, tokens, entry, self._names[number], company)
            if hit is not None and hit.score >= limit:
                hits.append(hit)
        hits.sort(key=lambda h: (-h.score, h.entry.key))
        return hits

    def _judge(self, query: Query, tokens: tuple[Token, ...], entry: ListedEntry,
               names: list[tuple[ListedName, tuple[Token, ...]]], company: bool) -> Hit | None:
        best: tuple[float, ListedName, NameComparison] | None = None
        for name, listed in names:
            result = compare_names(tokens, listed, company=company)
            if result.conflict or result.score <= 0:
                continue
            if name.weak and (result.score < WEAK_ALIAS_THRESHOLD or result.unmatched_typed or result.unmatched_listed):
                continue  # a weak alias alerts only on the whole alias, nearly exactly
            if best is None or result.score > best[0]:
                best = (result.score, name, result)
        if best is None:
            return None
        score, name, result = best
        notes: list[str] = []
        if query.dob and entry.dobs:
            agreeing = [d for d in entry.dobs if d.agrees(query.dob)]
            if not agreeing:
                return None  # a DOB contradicting every listed DOB clears the hit
            exact = any(d.day for d in agreeing)
            score = min(1.0, score + (0.06 if exact else 0.03))
            notes.append(f"DOB {query.dob.isoformat()} agrees with listed {agreeing[0]}")
        elif entry.dobs:
            notes.append("no DOB given to compare with " + ", ".join(str(d) for d in entry.dobs))
        if query.country and entry.countries:
            if query.country.upper() in entry.countries:
                notes.append(f"country {query.country.upper()} listed")
            else:
                notes.append(f"country {query.country.upper()} not listed (not decisive)")
        parts = [f"'{m.typed}' = '{m.listed}' ({m.how})" for m in result.matches]
        if result.unmatched_listed:
            parts.append("listed only: " + ", ".join(result.unmatched_listed))
        if result.unmatched_typed:
            parts.append("typed only: " + ", ".join(result.unmatched_typed))
        label = name.kind + (" weak" if name.weak else "")
        explanation = f"{label} name '{name.text}': " + "; ".join(parts)
        if notes:
            explanation += ". " + "; ".join(notes)
        return Hit(entry=entry, score=round(score, 3), name=name, explanation=explanation, comparison=result)
