"""Two names compared token by token, the way an analyst reads them.

`compare_names` aligns the typed tokens with the listed ones (each used once; two or three
neighbouring tokens may stand for one written together: "Abdul Rahman" / "Abdulrahman", "Jin Ping" /
"Jinping"), then decides:

- a typed token and a listed token that both found no partner are a different given name, surname,
  patronymic or distinctive company word: a different party, whatever else agrees;
- a listed token with no partner is allowed (missing middle name, patronymic, second surname), and
  lowers the score a little; so is a typed one (the list may not know a middle name);
- a person needs two matched tokens unless the listed name has one.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz.distance import DamerauLevenshtein, Levenshtein

from matching.normalise import _VOWEL_RUNS, Token, unlinked_key

SAME = 1.0
SPELLING = 0.93
TYPO_1 = 0.9
TYPO_2 = 0.84
TRANSLIT = 0.9
INITIAL = 0.78
NAME_FORM = 0.88  # a nickname or another language's form of a given name (`normalise.NAME_FORMS`)


@dataclass(frozen=True, slots=True)
class TokenMatch:
    typed: str
    listed: str
    score: float
    how: str


@dataclass(frozen=True, slots=True)
class NameComparison:
    score: float
    matches: tuple[TokenMatch, ...]
    unmatched_typed: tuple[str, ...]
    unmatched_listed: tuple[str, ...]
    conflict: str = ""


def _typo_budget(length: int) -> int:
    if length <= 3:
        return 0
    if length <= 9:
        return 1
    return 2


def token_similarity(q: Token, other: Token) -> tuple[float, str]:
    """How close two tokens are, and the words for how they met (cached: names repeat)."""
    return _similarity(q.ascii, q.alt, q.foreign, other.ascii, other.alt, other.foreign, q, other)


def _kind(tok: Token) -> int:
    return tok.foreign + 2 * tok.abjad + 4 * tok.syllabic


_SIMILARITY: dict[tuple[str, str, int, str, str, int], tuple[float, str]] = {}


def _similarity(q_ascii: str, q_alt: str, q_foreign: bool, l_ascii: str, l_alt: str, l_foreign: bool,
                q: Token, other: Token) -> tuple[float, str]:
    key = (q_ascii, q_alt, _kind(q), l_ascii, l_alt, _kind(other))
    found = _SIMILARITY.get(key)
    if found is None:
        if len(_SIMILARITY) > 500_000:
            _SIMILARITY.clear()
        found = _SIMILARITY[key] = _token_similarity(q, other)
    return found


def _token_similarity(q: Token, lt: Token) -> tuple[float, str]:
    """How close two tokens are (`_spelling_similarity`), or, when their spellings are not as close, two
    forms of one name (`normalise.name_key`: a nickname, the Ukrainian form of a Russian name, another
    transliteration from Cyrillic). A document check accepts neither of the latter (`documents._ACCEPTED`)."""
    found = _spelling_similarity(q, lt)
    if q.name and q.name == lt.name:
        form = (NAME_FORM, NAME_FORM_HOW) if q.name[0] == "=" else (TRANSLIT, CYRILLIC_HOW)
        if form[0] > found[0] or "apart" in found[1]:
            return form  # a name's form, not a typing error (which `_approximate` counts against the name)
    return found


NAME_FORM_HOW = "another form of the name (nickname or another language's)"
CYRILLIC_HOW = "transliteration variant (Cyrillic)"


def _spelling_similarity(q: Token, lt: Token) -> tuple[float, str]:  # noqa: PLR0911, C901 - one rule per way of meeting
    """How close two tokens' spellings are, and the words for how they met.

    Vowels carry the difference between many names whose consonants agree (Mahmoud and Muhammad,
    Hussein and Hassan), so a spelling variant must agree in consonants *and* nearly in vowels; only a
    name transliterated from a script that writes no vowels (Arabic, Persian) is compared on its
    consonants alone.
    """
    if q.ascii == lt.ascii:
        return SAME, "same after transliteration" if (q.foreign or lt.foreign) else "same"
    if q.alt == lt.alt or q.alt == lt.ascii or q.ascii == lt.alt:
        return SAME, "same (umlaut written out)"
    if q.roman and q.roman == lt.roman:
        return TRANSLIT, "romanisation variant"
    if (q.wade_r and q.wade_r == lt.roman) or (lt.wade_r and lt.wade_r == q.roman):
        return TRANSLIT, "romanisation variant (Wade-Giles j for r)"
    if q.initial or lt.initial:
        if q.ascii[0] == lt.ascii[0] and not (q.initial and lt.initial):
            return INITIAL, "initial"
        return 0.0, ""
    foreign = q.foreign or lt.foreign
    shortest = min(len(q.ascii), len(lt.ascii))
    if q.vowels == lt.vowels and (shortest > 4 or _vowel_runs(q.ascii) == _vowel_runs(lt.ascii)):
        # Short syllables (Zhou and Zhu, Vo and Vu) must agree in their very vowels.
        return SPELLING, "transliteration variant" if foreign else "spelling variant"
    vowel_distance = Levenshtein.distance(q.vowels, lt.vowels)
    # A syllable read from Han, Hangul or kana is exact in its vowels: yang is not yong, qing not kang.
    syllabic = q.syllabic or lt.syllabic
    if (not syllabic and q.skeleton == lt.skeleton and vowel_distance <= 1 and min(len(q.vowels), len(lt.vowels)) >= 4
            and _same_frame(q.vowels, lt.vowels)):
        return SPELLING, "transliteration variant" if foreign else "spelling variant"
    if q.thai and q.thai == lt.thai:
        # After the spelling rules: the folded key (doubled letters, v/w, ...) must not rename what they
        # already call a spelling variant (Mohammed / Mohamed), which a document's name check accepts.
        return TRANSLIT, "romanisation variant" + OLDER_THAI
    if q.thai and lt.thai and linking_script(q) != linking_script(lt) and unlinked_key(q.thai) == unlinked_key(lt.thai):
        return TYPO_1, "romanisation variant (linking vowel not written)"
    dist = DamerauLevenshtein.distance(q.ascii, lt.ascii)
    budget = _typo_budget(shortest)
    if dist <= budget and (q.ascii[0] == lt.ascii[0] or (dist == 1 and shortest >= 6)):
        return (TYPO_1 if dist == 1 else TYPO_2), f"{dist} letter{'s' if dist > 1 else ''} apart{_slip(q.ascii, lt.ascii)}"
    if dist == 1 and _vowel_dropped(q.ascii, lt.ascii):
        return TYPO_1, "1 letter apart (vowel dropped)"
    if dist == 1 and q.vowels != lt.vowels and _inner_dropped(q.ascii, lt.ascii):
        # A word of three letters typed for one of four less a letter inside it (Hok / Hyok, Sag / Sang,
        # Ang / Aung): counted only beside other words alike exactly, every word there (`compare_names`).
        return TYPO_1, ONE_EDIT_SHORT
    if dist == 2 and shortest >= KEYBOARD_TWO_EDITS and q.ascii[0] == lt.ascii[0] and q.ascii[-1] == lt.ascii[-1] \
            and _keyboard_typing(q, lt):
        # Two edits in a word of six to nine letters (longer ones have the typo budget above) inside its
        # first and last letters that are slips of the keyboard (a neighbouring key, two letters swapped, a
        # letter typed twice: Hignbin / Hongbin, Mratinnez / Martinez), or one slip and a letter left out in
        # a word that keeps its first vowel (Huying / Huayong); other pairs are other names (Haitao / Huatao,
        # Prayut / Prawit, Shuichi / Shinichi, Yingping / Yongming, Shevchenko / Savchenko). Counted only
        # beside other words alike exactly (`compare_names`).
        return TYPO_2, TWO_EDITS_SHORT
    sounds = q.vowels != lt.vowels or dist == 1 or q.ascii.translate(_NO_VOWELS) == lt.ascii.translate(_NO_VOWELS)
    if sounds and q.vowels.translate(_VOICED) == lt.vowels.translate(_VOICED) and min(len(q.vowels), len(lt.vowels)) >= 3:
        return TRANSLIT, "transliteration variant (voiced/unvoiced)"
    if abjad(q) or abjad(lt):
        # Written without vowels: the consonants are all there is to compare.
        if q.skeleton == lt.skeleton and len(q.skeleton) >= 2:
            return TRANSLIT, "same consonants (script without vowels)"
        if q.skeleton == lt.skeleton and q.skeleton and max(len(q.ascii), len(lt.ascii)) <= 4:
            return TRANSLIT - 0.05, "same consonants (script without vowels)"
        if q.loose == lt.loose and len(q.loose) >= 2:
            return TRANSLIT - 0.03, "similar consonants (script without vowels)"
        if Levenshtein.distance(q.loose, lt.loose) == 1 and min(len(q.loose), len(lt.loose)) >= 2 \
                and q.loose[0] == lt.loose[0] and (min(len(q.loose), len(lt.loose)) >= 3 or _dental(q.loose, lt.loose)):
            # One consonant apart: letters such as ض, ظ, ذ are romanised d, z or dh as the language has it.
            # Two consonants swapped are another root, not a spelling (حمزة hmz is not هشام hsm).
            return TYPO_2, "similar consonants (script without vowels)"
    elif not syllabic and shortest >= EGYPTIAN_G_LENGTH and _egyptian_g(q.ascii, lt.ascii):
        return TYPO_2, "transliteration variant (Egyptian g for j)"
    elif foreign and not syllabic and sounds and q.vowels.translate(_LIQUID) == lt.vowels.translate(_LIQUID):
        return TRANSLIT, "transliteration variant (l/r, voiced/unvoiced)"
    elif foreign and not syllabic and q.loose == lt.loose and len(q.loose) >= 2 and vowel_distance <= 1:
        return TYPO_2, "transliteration variant"
    return 0.0, ""


OLDER_THAI = " (older Thai spelling)"
KEYBOARD_TWO_EDITS = 6
EGYPTIAN_G_LENGTH = 5  # Gamal / Jamal, Naggar / Najjar; not a Korean syllable (Gang / Jang)
TWO_EDITS_SHORT = "2 letters apart (short word)"
ONE_EDIT_SHORT = "1 letter apart (three-letter word)"
LONG_WORD = 6  # a word of this length or more with a letter left out or added inside is that word mistyped


def _inner_dropped(a: str, b: str) -> bool:
    """A word of three letters that is one of four less a letter inside it, first and last kept."""
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    if len(short) != 3 or len(long_) != 4 or short[0] != long_[0] or short[-1] != long_[-1]:
        return False
    return long_[0] + long_[2:] == short or long_[:2] + long_[3:] == short


_KEY_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_KEY_AT = {c: (row, col + offset) for row, (keys, offset) in enumerate(zip(_KEY_ROWS, (0.0, 0.25, 0.75), strict=True))
           for col, c in enumerate(keys)}


def _neighbour_keys(a: str, b: str) -> bool:
    """Whether two letters are neighbouring keys of a QWERTY keyboard (i / o, u / y, a / s)."""
    if a not in _KEY_AT or b not in _KEY_AT:
        return False
    (ra, ca), (rb, cb) = _KEY_AT[a], _KEY_AT[b]
    return (ra == rb and abs(ca - cb) == 1) or (abs(ra - rb) == 1 and abs(ca - cb) <= 0.75)


def _keyboard_slips(a: str, b: str) -> int:
    """How many of the fewest edits from `a` to `b` are slips of the keyboard (a neighbouring key for
    the right one, two neighbours swapped, a letter typed twice or once where it is doubled), taking
    the alignment with the most slips among the cheapest (Damerau's optimal string alignment)."""
    rows, cols = len(a) + 1, len(b) + 1
    # Each cell: (edits, -slips), the smaller the better.
    cell = [[(0, 0)] * cols for _ in range(rows)]
    for i in range(1, rows):
        cell[i][0] = (i, 0)
    for j in range(1, cols):
        cell[0][j] = (j, 0)
    for i in range(1, rows):
        for j in range(1, cols):
            x, y = a[i - 1], b[j - 1]
            if x == y:
                best = cell[i - 1][j - 1]
            else:
                e, s = cell[i - 1][j - 1]
                best = (e + 1, s - _neighbour_keys(x, y))
            e, s = cell[i - 1][j]  # a letter of `a` left out of `b`
            doubled = (i > 1 and a[i - 2] == x) or (i < len(a) and a[i] == x)
            best = min(best, (e + 1, s - doubled))
            e, s = cell[i][j - 1]  # a letter of `b` not in `a`
            doubled = (j > 1 and b[j - 2] == y) or (j < len(b) and b[j] == y)
            best = min(best, (e + 1, s - doubled))
            if i > 1 and j > 1 and x == b[j - 2] and a[i - 2] == y and x != y:
                e, s = cell[i - 2][j - 2]
                best = min(best, (e + 1, s - 1))
            cell[i][j] = best
    return -cell[-1][-1][1]


def _keyboard_typing(q: Token, lt: Token) -> bool:
    slips = _keyboard_slips(q.ascii, lt.ascii)
    return slips == 2 or (slips == 1 and len(q.ascii) != len(lt.ascii)
                          and _first_vowel(q.vowels) == _first_vowel(lt.vowels))


_EGYPTIAN_G = str.maketrans({"j": "g"})


def _egyptian_g(a: str, b: str) -> bool:
    """Two spellings of an Arabic name apart only in a g written for j, as Egyptians say the letter
    (Gamal / Jamal, Ragab / Rajab, Gaber / Jaber); a gh is another letter."""
    if "j" not in a + b or "gh" in a + b:
        return False
    return a != b and a.translate(_EGYPTIAN_G) == b.translate(_EGYPTIAN_G)
SWAPPED = " (neighbours swapped)"
DOUBLED = " (letter doubled)"


def _slip(a: str, b: str) -> str:
    """How two words one edit apart differ when the edit is a slip of the keyboard that keeps the
    letters: two neighbours swapped (Yoshdia / Yoshida), or a letter typed twice or once (Zhhang /
    Zhang); "" for any other edit (a letter changed, added or dropped)."""
    if len(a) == len(b) and Levenshtein.distance(a, b) == 2:
        return SWAPPED
    longer, shorter = (a, b) if len(a) > len(b) else (b, a)
    if len(longer) == len(shorter) + 1:
        for i in range(1, len(longer)):
            if longer[i] == longer[i - 1] and longer[:i] + longer[i + 1:] == shorter:
                return DOUBLED
    return ""


_PLAIN_VOWELS = frozenset("aeiou")
_SYLLABLE_VOWELS = frozenset("ou")


def _vowel_dropped(a: str, b: str) -> bool:
    """A word of three letters without a vowel typed for one of four with it (Chn / Chen, Yng / Yang,
    Khn / Khin): no name is written so, the vowel was dropped."""
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    if len(short) != 3 or len(long_) != 4 or _PLAIN_VOWELS.intersection(short) or short[0] != long_[0]:
        return False
    return any(long_[i] in _PLAIN_VOWELS and long_[:i] + long_[i + 1:] == short for i in range(1, 4))


def _dental(a: str, b: str) -> bool:
    """Two consonant skeletons of two letters apart only in a d, t, z or s (Reza / رضا): with so few
    letters, any other difference (Tamimi / Than) is another name."""
    return len(a) == len(b) and all(x == y or {x, y} <= set("ts") for x, y in zip(a, b, strict=True))


def _vowel_runs(word: str) -> str:
    for run, vowel in _VOWEL_RUNS:
        word = word.replace(run, vowel)
    return word


def _first_vowel(form: str) -> str:
    return next((c for c in form if c in "aiu"), "")


def _same_frame(a: str, b: str) -> bool:
    """Two vowel forms one vowel apart are one name only if they start with the same vowel
    (Shevchenko is not Savchenko) and, when one is longer, agree at both ends (Qasim is not Kazemi)."""
    if _first_vowel(a) != _first_vowel(b):
        return False
    return len(a) == len(b) or (a[0] == b[0] and a[-1] == b[-1])


# A short syllable whose vowels sound alike (above) differing in a consonant as well is another name: Tin is
# not Thein; the vowels alone may be written two ways (Cheol / Chul, Seok / Suk).
_NO_VOWELS = str.maketrans("", "", "aeiou")
_VOICED = str.maketrans({"g": "k", "d": "t", "b": "p", "j": "c", "z": "s", "v": "f"})
_LIQUID = str.maketrans({"g": "k", "d": "t", "b": "p", "j": "c", "z": "s", "v": "f", "l": "r"})


def linking_script(tok: Token) -> bool:
    """A word read from a script of another alphabet (Thai, Myanmar), which may leave out the linking
    vowels a Latin spelling writes (`normalise.unlinked_key`)."""
    return tok.foreign and not tok.abjad and not tok.syllabic


def abjad(tok: Token) -> bool:
    """A token transliterated from a script that writes few vowels (Arabic, Hebrew): not a romanised
    Chinese or Korean syllable, which merely has few vowels ("zheng")."""
    return tok.abjad


def listed_particle(match: TokenMatch, listed: tuple[Token, ...]) -> bool:
    return any(t.raw == match.listed and t.particle for t in listed)


@lru_cache(maxsize=200_000)
def _join(tokens: tuple[Token, ...]) -> Token:
    from matching.normalise import roman_key, skeleton, thai_key, vowel_form, wade_giles_r_key

    ascii_ = "".join(t.ascii for t in tokens)
    alt = "".join(t.alt for t in tokens)
    skel = skeleton(ascii_)
    from matching.normalise import _VOICING

    return Token(raw=" ".join(t.raw for t in tokens), ascii=ascii_, alt=alt, skeleton=skel,
                 loose=skel.translate(_VOICING), vowels=vowel_form(ascii_), foreign=any(t.foreign for t in tokens),
                 abjad=any(t.abjad for t in tokens), syllabic=any(t.syllabic for t in tokens),
                 roman=roman_key(ascii_) if not any(t.abjad for t in tokens) else "",
                 wade_r=wade_giles_r_key(ascii_) if not any(t.abjad for t in tokens) else "",
                 thai=thai_key(ascii_) if not any(t.abjad for t in tokens) else "")


Units = list[tuple[tuple[int, ...], Token]]


@lru_cache(maxsize=100_000)
def units(tokens: tuple[Token, ...]) -> Units:
    """Each token, and each run of two or three neighbours written together."""
    return _units(tokens)


def _units(tokens: tuple[Token, ...]) -> Units:
    units: list[tuple[tuple[int, ...], Token]] = [((i,), t) for i, t in enumerate(tokens)]
    for size in (2, 3):
        for i in range(len(tokens) - size + 1):
            group = tokens[i:i + size]
            if any(t.initial and (t.ascii not in _PLAIN_VOWELS or n == len(group) - 1 or t.surname != group[-1].surname)
                   for n, t in enumerate(group)):
                continue  # a vowel alone may be a syllable of the name ("KIM, U Chol", "CHAN-O-CHA"): it joins the one after it
            if len({t.surname for t in group}) > 1 and not any(t.particle for t in group):
                continue  # a listed surname is not written together with a given name ("YI, Yong Min": no "Yiyong")
            units.append((tuple(range(i, i + size)), _join(group)))
    return units


Pair = tuple[float, int, tuple[int, ...], tuple[int, ...], str, Token, Token]


def _pairs(q_units: Units, l_units: Units, *, joined: bool = False) -> list[Pair]:
    pairs: list[Pair] = []
    for qi, qt in q_units:
        for li, lt in l_units:
            if len(qi) > 1 and len(li) > 1:
                continue
            score, how = token_similarity(qt, lt)
            if score <= 0:
                continue
            if joined and score < TYPO_1:
                continue
            if (qt.particle or lt.particle) and score < SAME:
                continue
            pairs.append((score, len(qi) + len(li), qi, li, how, qt, lt))
    return pairs


def _taken(pairs: list[Pair]) -> tuple[set[int], set[int]]:
    used_q: set[int] = set()
    used_l: set[int] = set()
    for _score, _, qi, li, *_ in sorted(pairs, key=lambda p: (-p[0], -p[1])):
        if used_q.intersection(qi) or used_l.intersection(li):
            continue
        used_q.update(qi)
        used_l.update(li)
    return used_q, used_l


def compare_names(typed: tuple[Token, ...], listed: tuple[Token, ...], *, company: bool) -> NameComparison:
    """Align and judge two tokenised names; see the module's docstring for the rules."""
    singles_q: Units = [((i,), t) for i, t in enumerate(typed)]
    singles_l: Units = [((i,), t) for i, t in enumerate(listed)]
    pairs = _pairs(singles_q, singles_l)
    first_q, first_l = _taken(pairs)
    if len(first_l) < len(listed) and (len(first_q) < len(typed) or any(t.initial for t in listed)):
        # Words left over on both sides: maybe written together on one side ("Abdulrahman",
        # "Jinping", "Albaghdadi"); only then are the neighbours joined and compared.
        pairs = pairs + _pairs(units(typed), [u for u in units(listed) if len(u[0]) > 1], joined=True) \
            + _pairs([u for u in units(typed) if len(u[0]) > 1], singles_l, joined=True)
    pairs.sort(key=lambda p: (-p[0], -p[1]))
    used_q: set[int] = set()
    used_l: set[int] = set()
    matches: list[tuple[TokenMatch, int, int, bool]] = []
    long_slips = 0  # a letter left out or added inside a long word (a letter changed may make another name)
    for score, _, qi, li, how, qt, lt in pairs:
        if used_q.intersection(qi) or used_l.intersection(li):
            continue
        used_q.update(qi)
        used_l.update(li)
        counts_for_name = not all(typed[i].particle or typed[i].generic for i in qi)
        if len(qi) > 1 or len(li) > 1:
            how = f"{how}, written {'together' if len(qi) < len(li) else 'apart'}" if how else how
        matches.append((TokenMatch(qt.raw, lt.raw, score, how), len(qi), len(li), counts_for_name))
        long_slips += how.startswith("1 letter apart") and not how.endswith((SWAPPED, DOUBLED)) \
            and min(len(qt.ascii), len(lt.ascii)) >= LONG_WORD and abs(len(qt.ascii) - len(lt.ascii)) == 1 \
            and qt.ascii[0] == lt.ascii[0] and qt.ascii[-1] == lt.ascii[-1]

    def counts(tok: Token) -> bool:
        return not tok.particle and not tok.generic

    free_q = tuple(t.raw for i, t in enumerate(typed) if i not in used_q and counts(t) and not t.initial)
    free_l = tuple(t.raw for i, t in enumerate(listed) if i not in used_l and counts(t) and not t.initial)
    token_matches = tuple(m for m, *_ in matches)
    decisive = [m for m, _, _, d in matches if d and m.how != "initial"]
    listed_count = sum(1 for t in listed if counts(t))
    typed_count = sum(1 for t in typed if counts(t))

    def refused(reason: str) -> NameComparison:
        return NameComparison(0.0, token_matches, free_q, free_l, reason)

    if not decisive:
        return refused("no word in common")
    if free_q and free_l:
        return refused(f"'{', '.join(free_q)}' typed where the list has '{', '.join(free_l)}'")
    # An initial left over is another name's when a word of the other side is left over too: "S. P.
    # Shevchenko" is not SHEVCHENKO, Nikolay Petrovich (its own initial would have met Nikolay).
    # U or O alone may be a syllable (U for the Burmese Oo, the Korean U or O): not taken for an initial here.
    stray_q = [t.raw for i, t in enumerate(typed) if i not in used_q and t.initial and t.ascii not in _SYLLABLE_VOWELS]
    stray_l = [t.raw for i, t in enumerate(listed) if i not in used_l and t.initial and t.ascii not in _SYLLABLE_VOWELS]
    if (stray_q and free_l) or (stray_l and free_q):
        return refused(f"initial '{', '.join(stray_q or stray_l)}' where the other name has "
                       f"'{', '.join(free_l if stray_q else free_q)}'")
    if company and free_q:
        return refused(f"distinctive word '{', '.join(free_q)}' not in the listed name")
    matched_listed = sum(n for m, _, n, d in matches if d)
    # A word matching two or three listed ones written together (a Myanmar name written solid) counts for each.
    decisive_words = sum(max(a, n) for m, a, n, d in matches if d and m.how != "initial")
    if not company and listed_count >= 2 and decisive_words + sum(1 for m in token_matches if m.how == "initial") < 2:
        return refused("only one word in common")
    surname = [i for i, t in enumerate(listed) if t.surname and counts(t)]
    if surname and not used_l.intersection(surname) and not company:
        return refused("the listed surname is not in the typed name")
    reason = _approximate(token_matches, listed, len(decisive), free_q=free_q, free_l=free_l, long_slips=long_slips)
    if reason:
        return refused(reason)
    weights = [(m.score, max(a, b)) for m, a, b, d in matches if d or m.how == "initial"]
    total = sum(w for _, w in weights)
    mean = sum(s * w for s, w in weights) / total if total else 0.0
    cover_l = min(1.0, matched_listed / listed_count) if listed_count else 1.0
    cover_q = min(1.0, (typed_count - len(free_q)) / typed_count) if typed_count else 1.0
    score = mean * (0.82 + 0.18 * cover_l) * (0.92 + 0.08 * cover_q)
    return NameComparison(round(score, 4), token_matches, free_q, free_l)


def _approximate(token_matches: tuple[TokenMatch, ...], listed: tuple[Token, ...], decisive: int, *,
                 free_q: tuple[str, ...], free_l: tuple[str, ...], long_slips: int) -> str:
    """Why words alike only approximately do not make the names one (`decisive` words matched,
    `long_slips` of them one letter apart inside a long word), or "" when they may."""
    typos = sum(1 for m in token_matches if "apart" in m.how or m.how.startswith("similar"))
    exact = sum(1 for m in token_matches if m.score >= SAME and not listed_particle(m, listed))
    two_edits = sum(1 for m in token_matches if m.how.startswith(TWO_EDITS_SHORT))
    if two_edits and (two_edits > 1 or free_q or free_l or exact < decisive - 1 or decisive < 2):
        # A short word two letters apart is that word only beside others alike exactly, all of them.
        return "a short word two letters apart beside words not alike exactly"
    short = sum(1 for m in token_matches if m.how == ONE_EDIT_SHORT)
    if short and (short > 1 or free_q or free_l or not exact or decisive < 2 + short):
        # A word of three letters one letter apart counts only beside a word alike exactly and one more
        # word matched, every word of both names there.
        return "a word of three letters one letter apart without the rest of the name alike"
    # Slips that keep the letters (two neighbours swapped, a letter doubled, one letter off inside a long
    # word) in every word but one are typing, not another name, when every word of both names is there.
    slips = sum(1 for m in token_matches if m.how.endswith((SWAPPED, DOUBLED))) + long_slips
    if typos >= 2 and not exact and not (typos - slips <= 1 and not free_q and not free_l and not two_edits):
        return "every word only approximately alike"
    if not exact and (free_l or free_q) and typos:
        return "no word alike exactly, one only approximately, and listed words missing"
    return ""
