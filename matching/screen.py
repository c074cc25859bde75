"""Screening a query against listed entries through an in-memory candidate index.

The index holds each distinct spelling of the listed words (and of neighbouring words written
together) under keys chosen so that every spelling `compare.token_similarity` can match a typed
word to shares a key with it (see `_listed_keys`). A query's word looks its keys up, keeps the
spellings that really are alike, and takes their entries (cached per typed spelling, since clients'
names repeat); only entries alike two of its words (one for names of one word or with an initial)
are compared in full, never the whole list.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from matching.compare import (
    _LIQUID,
    _VOICED,
    NameComparison,
    _join,
    abjad,
    compare_names,
    linking_script,
    token_similarity,
)
from matching.normalise import Token, has_letters, readings, unlinked_key

DEFAULT_THRESHOLD = 0.8
WEAK_ALIAS_THRESHOLD = 0.97
PERSON_TYPES = frozenset({"person", "individual", ""})


CIRCA_YEARS = 2  # a listed "circa 1971" agrees with 1969 to 1973
DOB_AGREES_EXACT = 0.06  # a birth date agreeing with a listed day
DOB_AGREES = 0.03  # agreeing with a listed month, year, range or circa year
DOB_SLIP = 0.04  # one typing slip from a listed date: most likely that date mistyped
DOB_CONTRADICTS = 0.25  # contradicting every listed date by more than a slip: even the whole
# listed name falls below the default threshold (a namesake), but stays a hit below it


@dataclass(frozen=True, slots=True)
class DOB:
    """A listed date of birth at the precision the list gives: a day, a month, a year, a range of
    years (`year_to`), or circa a year (taken as `CIRCA_YEARS` either way)."""

    year: int
    month: int | None = None
    day: int | None = None
    circa: bool = False
    year_to: int | None = None

    def _years(self) -> tuple[int, int]:
        low, high = self.year, self.year_to or self.year
        if self.circa:
            low, high = low - CIRCA_YEARS, high + CIRCA_YEARS
        return low, high

    def agrees(self, born: dt.date) -> bool:
        low, high = self._years()
        if not low <= born.year <= high:
            return False
        if self.circa or self.year_to:
            return True
        if self.month is not None and self.month != born.month:
            return False
        return self.day is None or self.day == born.day

    def slip(self, born: dt.date) -> bool:
        """Whether `born`, contradicting this date, is one typing slip from it: one digit of the date
        changed, two neighbouring digits swapped, day and month swapped, or the year one out; for a
        listed year, range or circa year, a year one beyond it."""
        if self.circa or self.year_to or self.month is None:
            low, high = self._years()
            return low - 1 <= born.year <= high + 1
        listed = f"{self.year:04d}{self.month:02d}{self.day or 0:02d}"
        typed = f"{born.year:04d}{born.month:02d}{born.day:02d}"
        if self.day is None:
            listed, typed = listed[:6], typed[:6]
        differ = [i for i, (a, b) in enumerate(zip(listed, typed, strict=True)) if a != b]
        if len(differ) == 1:
            return True
        if len(differ) == 2 and differ[1] == differ[0] + 1 and listed[differ[0]] == typed[differ[1]] \
                and listed[differ[1]] == typed[differ[0]]:
            return True  # neighbouring digits swapped
        if (born.month, born.day) == (self.month, self.day or born.day) and abs(born.year - self.year) == 1:
            return True  # 1989-05-02 for 1990-05-02
        return bool(self.day) and (born.year, born.month, born.day) == (self.year, self.day, self.month)

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


def dob_effect(born: dt.date, dobs: tuple[DOB, ...]) -> tuple[float, str]:
    """What a client's birth date does to a hit's score, and the words for it: agreeing with a listed
    date raises it; one slip of the keyboard from one lowers it a little (a mistyped date must not hide
    a listed person); contradicting every listed date lowers it further (a namesake), never to nothing."""
    agreeing = [d for d in dobs if d.agrees(born)]
    if agreeing:
        exact = any(d.day for d in agreeing)
        return (DOB_AGREES_EXACT if exact else DOB_AGREES), f"DOB {born.isoformat()} agrees with listed {agreeing[0]}"
    listed = ", ".join(str(d) for d in dobs)
    if any(d.slip(born) for d in dobs):
        return -DOB_SLIP, f"DOB {born.isoformat()} one slip from listed {listed}"
    return -DOB_CONTRADICTS, f"DOB {born.isoformat()} contradicts listed {listed}"


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
    nationality: str = ""  # ISO alpha-2, compared with the entry's countries as the residence is


@dataclass(frozen=True, slots=True)
class Hit:
    entry: ListedEntry
    score: float
    name: ListedName
    explanation: str
    comparison: NameComparison = field(repr=False)


def _deletions(word: str, times: int) -> set[str]:
    """`word` less one letter, and with `times` 2 also less two (a symmetric-deletion neighbourhood:
    two words within that many edits share one of them)."""
    out = {word[:i] + word[i + 1:] for i in range(len(word))}
    if times > 1:
        out.update(w[:i] + w[i + 1:] for w in tuple(out) for i in range(len(w)))
    return out


def _halves(word: str, length: int) -> tuple[str, str]:
    """The keys of one edit: a word of `length` letters and any word one edit from it (a letter
    changed, added, dropped, or two neighbours swapped) share its head before the middle letter or
    its tail from the middle letter on, since one edit cannot touch both. For a listed word,
    `length` is its own; a typed word asks with each length one edit can give."""
    middle = length // 2
    return f"p{length}:{word[:middle - 1]}", f"q{length}:{word[len(word) - (length - middle):]}"


def _neighbours(word: str, letters: str) -> set[str]:
    """Every word one edit from `word` over `letters` (and `word` itself)."""
    out = {word}
    for i in range(len(word) + 1):
        head, tail = word[:i], word[i:]
        if tail:
            out.add(head + tail[1:])
            if len(tail) > 1:
                out.add(head + tail[1] + tail[0] + tail[2:])
        for letter in letters:
            out.add(head + letter + tail)
            if tail:
                out.add(head + letter + tail[1:])
    return out


# Each way `compare.token_similarity` lets two tokens meet (initials aside) has keys here, so that the
# index finds every listed spelling a typed word can meet:
# - `a:` the spelling and its umlaut form (the same name, "Müller" / "Mueller"); `k:` the romanisation key
#   (`normalise.roman_key`: Zhang / Chang, Shuichi / Syuiti, Lee / Yi; also read with a Wade-Giles j as r,
#   `normalise.wade_giles_r_key`); `t:` the older Thai spelling's key (`normalise.thai_key`); `n:` the key
#   of a name's forms (`normalise.name_key`: Cyrillic transliterations, nicknames, Ukrainian forms);
# - `v:` the vowel form (spelling variants), `w:` the same with voicing folded; `s:` the consonant skeleton;
# - a typing error within the budget: `p:` / `q:` the halves of any unit (`_halves`) for one edit
#   (all that joined words may differ by); `d:` the spelling and it less one or two letters for single
#   words of ten letters and more, which may be two edits apart (symmetric deletion). A word of six to
#   nine letters two edits apart inside its first and last letters (compare's `TWO_EDITS_SHORT`, beside
#   words alike exactly) has `e:` keys: its inside less up to two letters, framed by the first and last
#   (`_framed_deletions`; they cost re-screening about a quarter more time, measured on the benchmark);
# - `u:` / `T:` a Thai key without linking vowels (`normalise.unlinked_key`): a listed Latin word under
#   `u:`, a listed word from Thai or Myanmar script under `T:`; each looks up the other's;
# - the rules for a word from another script (`r:` the vowel form with l/r and voicing folded, `l:` the
#   voicing-folded skeleton) and for a script without vowels (that skeleton one edit apart) apply when
#   either side is such a word: every listed unit is indexed under the small keys, such a listed unit
#   also under the same in capitals; a typed word of that kind looks up the small keys, any other the
#   capital ones. A typed word from a script without vowels looks up each skeleton one edit from its
#   own (`_neighbours`), a listed one is indexed under its skeleton less one letter (`M:`).


def _common_keys(tok: Token, *, single: bool) -> set[str]:
    ascii_, vowels = tok.ascii, tok.vowels
    keys = {"a:" + ascii_, "a:" + tok.alt, "v:" + vowels, "w:" + vowels.translate(_VOICED), "s:" + tok.skeleton}
    if tok.roman:
        keys.add("k:" + tok.roman)
    if tok.wade_r:
        keys.add("k:" + tok.wade_r)
    if tok.thai:
        keys.add("t:" + tok.thai)
    if tok.name:
        keys.add("n:" + tok.name)
    if single and len(ascii_) >= 10:  # two edits apart (the halves find one edit)
        keys.add("d:" + ascii_)
        keys.update("d:" + k for k in _deletions(ascii_, 2))
    if single and FRAMED_TWO_EDITS[0] <= len(ascii_) <= FRAMED_TWO_EDITS[1]:
        keys.update(_framed_deletions(ascii_))
    return keys


FRAMED_TWO_EDITS = (6, 9)  # the lengths of words compared two edits apart inside their first and last letters


def _framed_deletions(word: str) -> set[str]:
    """`e:` keys of a word two edits from another inside the same first and last letters (compare's
    keyboard slips: Hignbin / Hongbin, Pongong / Pingrong): its inside less up to two letters, framed."""
    head, inside, tail = word[0], word[1:-1], word[-1]
    return {f"e:{head}{k}{tail}" for k in _deletions(inside, 2) | {inside}}


def _listed_keys(tok: Token, *, single: bool) -> set[str]:
    """The keys a listed unit is indexed under."""
    keys = _common_keys(tok, single=single)
    if len(tok.ascii) >= 4:
        keys.update(_halves(tok.ascii, len(tok.ascii)))
    foreign = {"r:" + tok.vowels.translate(_LIQUID), "l:" + tok.loose}
    keys |= foreign
    if tok.thai:
        keys.add(("T:" if linking_script(tok) else "u:") + unlinked_key(tok.thai))
    if tok.foreign:
        keys.update(k.upper() for k in foreign)
    if abjad(tok) and len(tok.loose) >= 2:
        keys.update("M:" + k.upper() for k in _deletions(tok.loose, 1) | {tok.loose})
    return keys


def _typed_keys(tok: Token, *, single: bool, letters: str) -> set[str]:
    """The keys a typed unit looks up (`letters`: those of the listed skeletons)."""
    keys = _common_keys(tok, single=single)
    size = len(tok.ascii)
    for length in (size - 1, size, size + 1):
        if length >= 4:
            keys.update(_halves(tok.ascii, length))
    foreign = {"r:" + tok.vowels.translate(_LIQUID), "l:" + tok.loose}
    keys.update(foreign if tok.foreign else (k.upper() for k in foreign))
    if tok.thai:  # a word from Thai or Myanmar script meets listed Latin ones without linking vowels, and back
        keys.add(("u:" if linking_script(tok) else "T:") + unlinked_key(tok.thai))
    if abjad(tok):
        keys.update("l:" + k for k in _neighbours(tok.loose, letters))
    elif len(tok.loose) >= 2:
        keys.update("M:" + k.upper() for k in _deletions(tok.loose, 1) | {tok.loose})
    return keys


def _word_units(tokens: tuple[Token, ...]) -> list[list[Token]]:
    """The indexed units of each word: the word itself and its joins with its neighbours (two or three
    written together); particles, legal forms and initials are no word of their own."""
    out: list[list[Token]] = []
    for i, tok in enumerate(tokens):
        if tok.particle or tok.generic or tok.initial:
            continue
        word = [tok]
        for size in (2, 3):
            for start in range(max(0, i - size + 1), min(i, len(tokens) - size) + 1):
                group = tokens[start:start + size]
                if not any(t.initial for t in group):
                    word.append(_join(group))
        out.append(word)
    return out


Form = tuple[str, str, bool, bool, bool]


def _form(tok: Token) -> Form:
    """What a token's likeness to another depends on (compare.token_similarity caches on the same)."""
    return tok.ascii, tok.alt, tok.foreign, tok.abjad, tok.syllabic


_UNIT_CACHE_LIMIT = 400_000


class Screener:
    """Listed entries held in memory with their token index; `screen` gives the hits for a query.

    The index is built once per set of entries, in two levels: the listed *units* (each word of a
    listed name and its joins with its neighbours, each distinct spelling once) under their keys, and
    each unit's entries. A typed unit looks up its keys, keeps the listed units that are actually alike
    (`compare.token_similarity`, computed once per pair of spellings and cached per typed spelling,
    so a million clients with their repeating names pay for each spelling once) and takes their
    entries. An entry is a candidate when two of the query's words are alike one of its units (one,
    for names of one word); only candidates are compared in full (`compare.compare_names`).
    """

    def __init__(self, entries: Iterable[ListedEntry], *, threshold: float = DEFAULT_THRESHOLD) -> None:
        self.threshold = threshold
        self.entries: list[ListedEntry] = []
        self._names: list[list[tuple[ListedName, tuple[Token, ...]]]] = []
        self._units: list[Token] = []  # each distinct listed spelling once
        self._unit_ids: dict[Form, int] = {}
        self._unit_entries: list[set[int]] = []
        self._letters: set[str] = set()  # the letters of the listed skeletons
        self._unit_single: list[bool] = []  # indexed as a word of its own, not only joined
        self._index: dict[str, list[int]] = defaultdict(list)  # key -> listed units
        self._one_word: set[int] = set()  # entries with a name of one word or with an initial
        self._typed: dict[Form, frozenset[int]] = {}  # a typed spelling -> the entries of its alike units
        for entry in entries:
            self.add(entry)

    def add(self, entry: ListedEntry) -> None:
        number = len(self.entries)
        self.entries.append(entry)
        self._typed.clear()
        company = entry.entry_type not in PERSON_TYPES
        names = []
        for name in entry.names:
            for tokens in readings(name.text, company=company):  # a Japanese name in kanji: both readings
                names.append((name, tokens))
                words = _word_units(tokens)
                if len(words) <= 1 or any(t.initial for t in tokens):
                    self._one_word.add(number)
                for word in words:
                    for n, unit in enumerate(word):
                        self._unit_entries[self._unit_id(unit, single=n == 0)].add(number)
        self._names.append(names)

    def _unit_id(self, unit: Token, *, single: bool) -> int:
        """The number of a listed unit's spelling, indexed under its keys the first time it is seen
        (and under the keys of a single word the first time it stands alone)."""
        form = _form(unit)
        found = self._unit_ids.get(form)
        if found is None:
            found = self._unit_ids[form] = len(self._units)
            self._units.append(unit)
            self._unit_entries.append(set())
            self._unit_single.append(single)
            keys = _listed_keys(unit, single=single)
            self._letters.update(unit.loose)
        elif single and not self._unit_single[found]:
            self._unit_single[found] = True
            keys = _listed_keys(unit, single=True) - _listed_keys(unit, single=False)
        else:
            return found
        index = self._index
        for key in keys:
            index[key].append(found)
        return found

    def _alike(self, unit: Token, *, single: bool) -> frozenset[int]:
        """The entries holding a listed unit alike the typed `unit` (cached for single words; joins
        of a client's neighbouring words seldom repeat)."""
        form = _form(unit)
        found = self._typed.get(form) if single else None
        if found is None:
            listed: set[int] = set()
            index = self._index
            letters = "".join(sorted(self._letters))
            for key in _typed_keys(unit, single=single, letters=letters):
                more = index.get(key)
                if more:
                    listed.update(more)
            entries: set[int] = set()
            for number in listed:
                if token_similarity(unit, self._units[number])[0] > 0:
                    entries |= self._unit_entries[number]
            found = frozenset(entries)
            if single:
                if len(self._typed) >= _UNIT_CACHE_LIMIT:
                    self._typed.clear()
                self._typed[form] = found
        return found

    def candidates(self, tokens: tuple[Token, ...]) -> set[int]:
        """Entries with a unit alike each of two of the query's words: only those can pass
        `compare_names`, which wants two words in common. One is enough for a query or an entry of
        one word, or with an initial (an initial matches without an index key)."""
        words = _word_units(tokens)
        found = [frozenset().union(*(self._alike(u, single=n == 0) for n, u in enumerate(word))) for word in words]
        if len(found) <= 1 or any(t.initial for t in tokens):
            return set().union(*found)
        seen: dict[int, int] = defaultdict(int)
        for entries in found:
            for number in entries:
                seen[number] += 1
        one_word = self._one_word
        return {n for n, count in seen.items() if count >= 2 or n in one_word}

    def screen(self, query: Query, *, threshold: float | None = None) -> list[Hit]:
        if not has_letters(query.full_name):
            return []  # digits and signs only: nothing to compare, whatever the entries
        limit = self.threshold if threshold is None else threshold
        company = query.client_type == "company"
        best: dict[int, Hit] = {}
        # One reading of the name, or two for a Japanese name in kanji (Chinese and Japanese): the best hit.
        for tokens in readings(query.full_name, company=company):
            for number in self.candidates(tokens):
                entry = self.entries[number]
                if company == (entry.entry_type in PERSON_TYPES) and entry.entry_type:
                    continue
                hit = self._judge(query, tokens, entry, self._names[number], company)
                if hit is not None and hit.score >= limit and (number not in best or hit.score > best[number].score):
                    best[number] = hit
        return sorted(best.values(), key=lambda h: (-h.score, h.entry.key))

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
            change, note = dob_effect(query.dob, entry.dobs)
            score = min(1.0, score + change)
            notes.append(note)
        elif entry.dobs:
            notes.append("no DOB given to compare with " + ", ".join(str(d) for d in entry.dobs))
        for label, code in (("country", query.country), ("nationality", query.nationality)):
            if code and entry.countries:
                if code.upper() in entry.countries:
                    notes.append(f"{label} {code.upper()} listed")
                else:
                    notes.append(f"{label} {code.upper()} not listed (not decisive)")
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
