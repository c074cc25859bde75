"""Names into comparable tokens: scripts, look-alike letters, diacritics, particles, legal forms.

No Django here: the matcher is pure Python so that it can be loaded once per process and tested alone.

A token keeps several *forms*, so that a comparison can say how two spellings met:
- `ascii`: the token transliterated to ASCII (anyascii, measured against Unidecode and ICU, see
  tests/compliance/measure_libraries.py) and lower-cased;
- `alt`: German-style folding of umlauts (ü -> ue) so that "Müller" and "Mueller" meet exactly;
- `skeleton`: the consonant skeleton after the usual transliteration digraphs are folded (kh/h,
  sh/s, ph/f, x/ks, q/k, ...) and vowels dropped, which makes Mohammed, Muhammad and Mohamad one key;
- `loose`: the skeleton with voiced and unvoiced consonants folded (g/k, d/t, b/p, j/ch), used only
  when one side came from another script or the two spellings are already close.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import lru_cache

from anyascii import anyascii
from confusable_homoglyphs import confusables

# Particles join or split freely ("al-Hassan", "Alhassan", "van der Berg"); they never decide.
PARTICLES = frozenset({
    "al", "el", "ul", "bin", "ibn", "bint", "ben", "binti", "van", "der", "den", "de", "da", "di", "del",
    "della", "dos", "das", "do", "du", "la", "le", "von", "zu", "ter", "ten",
})

# Legal forms and generic wording of company names: another form is the same company.
LEGAL_FORMS = frozenset({
    "ltd", "limited", "llc", "inc", "incorporated", "corp", "corporation", "co", "company", "gmbh", "ag", "sa",
    "sarl", "srl", "spa", "bv", "nv", "plc", "oy", "oyj", "ab", "as", "asa", "ooo", "zao", "oao", "pao", "ao",
    "jsc", "cjsc", "pjsc", "ojsc", "llp", "lp", "kg", "gmbhco", "pte", "pty", "fze", "fzco", "fzc", "fzllc",
    "ltda", "sas", "kft", "sro", "doo", "dd", "ad", "ead", "tov", "pat", "sal", "wll", "bsc", "psc", "qsc",
    "kk", "kabushiki", "kaisha", "sdn", "bhd", "tbk", "pt", "cv", "se", "eood", "sp", "zoo", "spzoo", "aps",
    "ehf", "hf", "bvba", "sprl", "nvsa", "mbh", "ug", "ohg", "sl", "sc", "scs", "snc", "ltdco", "lc",
    "joint", "stock", "liability", "public", "closed", "open", "private", "obshchestvo", "ogranichennoy", "otvetstvennostyu", "aktsionernoe", "obshchestvom", "tovarystvo",
})
GENERIC_WORDS = frozenset({
    "the", "and", "of", "for", "group", "holding", "holdings", "trading", "trade", "international", "intl",
    "general", "enterprise", "enterprises", "industries", "industry", "industrial", "services", "service",
    "global", "investment", "investments", "company", "establishment", "est", "firm", "partners",
})

_SPLIT = re.compile(r"[\s,;/\\|()\[\]{}\"“”«»]+")
_INNER_PUNCT = re.compile(r"[-‐‑‒–—_.]+")
_APOSTROPHES = re.compile(r"['’`´ʼʻʹ]+")  # O'Brien, and the ʿayn and hamza of romanised Arabic: joined
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_CAMEL = re.compile(r"[A-Z][a-z]*|[a-z]+|[0-9]+")

# Digraphs as the common romanisation systems write one sound (longest first).
_DIGRAPHS = (
    ("tch", "c"), ("sch", "s"), ("shch", "s"), ("kh", "h"), ("gh", "g"), ("sh", "s"), ("ch", "c"), ("zh", "j"),
    ("dj", "j"), ("dzh", "j"), ("ph", "f"), ("th", "t"), ("dh", "d"), ("ck", "k"), ("ts", "c"), ("tz", "c"),
    ("x", "ks"), ("q", "k"), ("z", "s"),
)
# w and y are vowels as often as consonants in romanised Arabic, Persian and Slavic names.
_VOWELS = frozenset("aeiouyw")
_VOICING = str.maketrans({"g": "k", "d": "t", "b": "p", "j": "c", "v": None, "f": "p"})
_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue"})


@dataclass(frozen=True, slots=True)
class Token:
    """One word of a name in its comparable forms."""

    raw: str
    ascii: str
    alt: str
    skeleton: str
    loose: str
    vowels: str  # the spelling with digraphs folded and each run of vowels as one class (a, i, u)
    foreign: bool  # written in another script than Latin: its transliteration is approximate
    particle: bool = False
    generic: bool = False  # a company's legal form or generic word: not distinctive
    surname: bool = False  # written before the comma of a listed "SURNAME, Given Names"

    @property
    def initial(self) -> bool:
        return len(self.ascii) == 1


def _script(char: str) -> str:
    if char.isascii():
        return "latin"
    try:
        name = unicodedata.name(char)
    except ValueError:
        return "other"
    return "latin" if name.startswith("LATIN") else name.split(" ", 1)[0].lower()


def _fix_lookalikes(word: str) -> str:
    """Letters of another script that look like Latin ones, inside a Latin word, read as the Latin
    letters they imitate ("Рutin" with a Cyrillic Р is Putin, not Rutin)."""
    scripts = {_script(c) for c in word if c.isalpha()}
    if "latin" not in scripts or len(scripts) < 2:
        return word
    found = confusables.is_confusable(word, greedy=True, preferred_aliases=["latin"]) or []
    table: dict[str, str] = {}
    for item in found:
        for glyph in item["homoglyphs"]:
            if glyph["n"].startswith("LATIN") and len(glyph["c"]) == 1:
                table[item["character"]] = glyph["c"]
                break
    return "".join(table.get(c, c) for c in word)


def skeleton(ascii_word: str) -> str:
    """The consonant skeleton: digraphs folded, vowels (and y, w as vowels) dropped, doubles collapsed."""
    word = ascii_word
    for digraph, sound in _DIGRAPHS:
        word = word.replace(digraph, sound)
    out: list[str] = []
    for i, ch in enumerate(word):
        if ch in _VOWELS or ch == "h" and i and word[i - 1] in "kgstcdp":
            continue
        if out and out[-1] == ch:
            continue
        out.append(ch)
    return "".join(out)


_VOWEL_RUNS = (("eo", "o"), ("eu", "u"), ("ee", "i"), ("oo", "u"), ("ou", "u"), ("ei", "i"), ("ey", "i"),
               ("ie", "i"), ("ue", "u"), ("ae", "a"), ("oe", "o"))
_VOWEL_CLASS = {"a": "a", "e": "i", "i": "i", "y": "i", "o": "u", "u": "u"}


def vowel_form(ascii_word: str) -> str:
    """The spelling as heard: transliteration digraphs folded (kh/h, sh/s, x/ks, ...), common vowel
    digraphs folded (ee/i, ou/u, eo/o), and each vowel as its class (a; e, i, y; o, u), repeats
    collapsed. Mohammed and Muhammad differ by one class; Mahmoud and Muhammad by more."""
    word = ascii_word
    for digraph, sound in _DIGRAPHS:
        word = word.replace(digraph, sound)
    for run, vowel in _VOWEL_RUNS:
        word = word.replace(run, vowel)
    out: list[str] = []
    for i, ch in enumerate(word):
        if ch == "h" and i and word[i - 1] in "kgstcdp":
            continue
        ch = _VOWEL_CLASS.get(ch, ch)
        if out and out[-1] == ch:
            continue
        out.append(ch)
    return "".join(out)


# The transliterator: anyascii, chosen by measuring it against Unidecode and ICU's Any-Latin on the
# labelled set (tests/compliance/measure_libraries.py); swappable for that measurement only.
transliterate: Callable[[str], str] = anyascii


def _romanise(word: str) -> list[str]:
    """A word of any script as one or more ASCII words (Chinese and Korean names split by syllable)."""
    scripts = {_script(c) for c in word if c.isalpha()}
    if scripts <= {"latin"}:
        return [transliterate(word)]
    if scripts & {"cjk", "hangul"}:
        return [part for chunk in transliterate(word).split() for part in _CAMEL.findall(chunk)]
    if "arabic" in scripts and word.startswith("ال") and len(word) > 3:
        return ["al", transliterate(word[2:])]
    return [transliterate(word)]


@lru_cache(maxsize=200_000)
def _tokens_of_word(word: str, company: bool) -> tuple[Token, ...]:
    word = _fix_lookalikes(word)
    foreign = any(_script(c) not in ("latin", "other") for c in word if c.isalpha())
    alt_word = word.translate(_UMLAUTS)
    out: list[Token] = []
    for part, alt_part in zip(_romanise(word), _romanise(alt_word) if alt_word != word else _romanise(word), strict=False):
        for piece, alt_piece in _pieces(part, alt_part):
            if not piece:
                continue
            # "Lê" and "Văn" (Vietnamese names) are not the particles "le" and "van".
            particle = piece in PARTICLES and (foreign or word.isascii())
            if particle and piece in ("el", "ul"):
                piece = alt_piece = "al"  # the Arabic article however it is romanised
            skel = skeleton(piece)
            out.append(Token(
                raw=f"{word} ({piece})" if foreign and word != piece else piece, ascii=piece, alt=alt_piece, skeleton=skel,
                loose=skel.translate(_VOICING), vowels=vowel_form(piece), foreign=foreign,
                particle=particle,
                generic=company and (piece in LEGAL_FORMS or piece in GENERIC_WORDS),
            ))
    return tuple(out)


def _pieces(part: str, alt_part: str) -> list[tuple[str, str]]:
    a = [_NON_ALNUM.sub("", p.lower()) for p in _INNER_PUNCT.split(_APOSTROPHES.sub("", part))]
    b = [_NON_ALNUM.sub("", p.lower()) for p in _INNER_PUNCT.split(_APOSTROPHES.sub("", alt_part))]
    if len(a) != len(b):
        b = a
    return list(zip(a, b, strict=True))


def has_letters(name: str) -> bool:
    """Whether `name` has a letter of any script. A name without one ("-1 -1", "123", "!!!") is no
    name to screen: the matcher finds nothing for it, at once, whatever the lists' size."""
    return any(unicodedata.category(char).startswith("L") for char in name)


def tokenise(name: str, *, company: bool = False) -> tuple[Token, ...]:
    """The tokens of a name as typed or listed. Word order is not kept as meaning: "SURNAME, Given"
    and "Given Surname" give the same tokens (in another order)."""
    text = unicodedata.normalize("NFKC", name)
    tokens: list[Token] = []
    surname_part, comma, _ = text.partition(",")
    surname_words = len([w for w in _SPLIT.split(surname_part) if w]) if comma and not company else 0
    for n, word in enumerate(w for w in _SPLIT.split(text) if w):
        if n < surname_words:
            tokens.extend(replace(t, surname=True) for t in _tokens_of_word(word, company))
        else:
            tokens.extend(_tokens_of_word(word, company))
    if company:
        # Legal forms written with dots or spaces ("L.L.C.", "S. A.") arrive as letters: join runs of
        # single letters so they meet the legal form.
        tokens = _join_letter_runs(tokens, company)
    return tuple(tokens)


def _join_letter_runs(tokens: list[Token], company: bool) -> list[Token]:
    out: list[Token] = []
    run: list[Token] = []

    def flush() -> None:
        if len(run) >= 2:
            joined = "".join(t.ascii for t in run)
            out.extend(_tokens_of_word(joined, company))
        else:
            out.extend(run)
        run.clear()

    for tok in tokens:
        if len(tok.ascii) == 1 and tok.ascii.isalpha():
            run.append(tok)
        else:
            flush()
            out.append(tok)
    flush()
    return out
