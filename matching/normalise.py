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

from matching.scripts import japanese_reading, kana_to_latin, romanise_script

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
    abjad: bool = False  # from a script that writes few vowels (Arabic, Hebrew, Syriac): consonants decide
    syllabic: bool = False  # read from Han, Hangul or kana: its romanisation is exact, vowels and all
    roman: str = ""  # the romanisation key (`roman_key`): one for every system's spelling of a syllable
    wade_r: str = ""  # the romanisation key with Wade-Giles j read as pinyin r (`wade_giles_r_key`)
    thai: str = ""  # the key older Thai spellings share with RTGS (`thai_key`)
    name: str = ""  # the key of a name's forms (`name_key`): transliterations from Cyrillic, nicknames

    @property
    def initial(self) -> bool:
        # A syllable of another script ("우", "이") is a word, not an initial, even as one Latin letter.
        return len(self.ascii) == 1 and not self.foreign


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


_VOWEL_RUNS = (("aw", "o"), ("eo", "o"), ("eu", "u"), ("ee", "i"), ("oo", "u"), ("ou", "u"), ("ei", "i"), ("ey", "i"),
               ("ie", "i"), ("ue", "u"), ("ae", "a"), ("oe", "o"))
_VOWEL_CLASS = {"a": "a", "e": "i", "i": "i", "y": "i", "o": "u", "u": "u"}


# "Abd al-" written as Arabic names are: Abdul Rahman, Abdel Rahman, Abdurrahman, Abd al-Rahman, Abdullah.
_ABD = re.compile(r"^abd(?:[aeiou][lr]?|[lr])?(?=[a-z]{3})")


def vowel_form(ascii_word: str) -> str:
    """The spelling as heard: transliteration digraphs folded (kh/h, sh/s, x/ks, ...), common vowel
    digraphs folded (ee/i, ou/u, eo/o), and each vowel as its class (a; e, i, y; o, u), repeats
    collapsed. Mohammed and Muhammad differ by one class; Mahmoud and Muhammad by more."""
    word = _ABD.sub("abdal", ascii_word)
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
        parts = [part for chunk in transliterate(word).split() for part in _CAMEL.findall(chunk)]
        if "hangul" in scripts:
            # A Hangul syllable's final ㄱ, ㄷ, ㅂ as Revised Romanization and every passport write them
            # (박 bak, 혁 hyeok), not as the transliterator's g, d, b (bag, hyeog).
            parts = [_HANGUL_FINAL.sub(lambda m: _HANGUL_FINALS[m.group(0)], p) for p in parts]
        return parts
    if scripts and scripts <= {"hiragana", "katakana"}:
        return [kana_to_latin(word, transliterate)]
    if scripts & {"thai", "myanmar"}:
        return [romanise_script(word) or transliterate(word)]
    if "arabic" in scripts and word.endswith("ة"):
        word = word[:-1]  # the ta marbuta is written a or ah, if at all: Hamza, Usama, Fatimah
    if "arabic" in scripts and word.startswith("ال") and len(word) > 3:
        return ["al", transliterate(word[2:])]
    return [transliterate(word)]


_HANGUL_FINALS = {"g": "k", "gg": "k", "d": "t", "b": "p"}
_HANGUL_FINAL = re.compile(r"(?<=[aeiouy])(?:gg|g|d|b)$", re.IGNORECASE)

# Scripts that write few vowels: a word from them is compared on its consonants.
ABJADS = frozenset({"arabic", "hebrew", "syriac", "thaana"})
SYLLABARIES = frozenset({"cjk", "hangul", "hiragana", "katakana"})

# Surnames whose spellings share no rule: each spelling -> the key they share (Korean surnames in Revised
# Romanization, McCune-Reischauer and the spellings passports use; a few Chinese ones in Cantonese and
# older spellings). Compared on the key as romanisation variants.
_SURNAME_SPELLINGS = (
    ("i", "yi", "lee", "ri", "rhee", "li", "rhie", "ree"), ("bak", "pak", "park", "bahk"), ("choe", "choi", "chey"),
    ("jeong", "jung", "chung", "cheong", "chong", "joung"), ("gim", "kim"), ("im", "lim", "rim"),
    ("ryu", "yu", "yoo", "ryoo", "rew"), ("no", "noh", "roh", "ro"), ("seo", "suh", "so", "seoh"),
    ("sin", "shin", "shinn"), ("jo", "cho", "joe"), ("o", "oh"), ("an", "ahn"), ("gwon", "kwon", "kwun"),
    ("jeon", "chon", "chun", "jun", "jeun"), ("gang", "kang"), ("jang", "chang"), ("yun", "yoon"),
    ("gu", "koo", "ku", "goo"), ("u", "woo", "wu"), ("nam", "nahm"), ("hyeon", "hyun", "hyon"),
    ("yeom", "yum", "yom"), ("heo", "hur", "huh"), ("seong", "sung", "song"),
)
_SURNAME_KEY = {spelling: group[0] for group in _SURNAME_SPELLINGS for spelling in group}

# Romanisation systems written over one another: each rewrite turns one system's spelling into a form
# they share (applied to both sides, so it only ever adds equivalences): Kunrei-shiki into Hepburn (si/shi,
# ti/chi, tu/tsu, hu/fu, zi/ji, sy/sh), Japanese long vowels (Satoh, Satou, Sato), Wade-Giles into pinyin
# (hs/x, ts/z, ch/zh/j/q, ieh/ie, ien/ian, ung/ong, ih/i, kuo/guo), McCune-Reischauer into Revised
# Romanization (ŏ/eo, ŭ/eu), and the voicing neither system agrees on (k/g, t/d, p/b).
_ROMAN_REWRITES = (
    (re.compile(r"hs"), "x"),
    # Burmese and Thai names as clients spell them: Htun / Tun, Swar / Swa, Htay / Htei, Phyo / Pyo,
    # Vichai / Wichai, Nattapol / Nattaphon.
    (re.compile(r"^ht"), "t"), (re.compile(r"(?<=[^aeiou])ar$"), "a"), (re.compile(r"(?:ay|ae|ei)$"), "e"),
    (re.compile(r"v"), "w"), (re.compile(r"(?<=[tpk])h"), ""),
    (re.compile(r"([aeiou])h(?=[^aeiouy]|$)"), r"\1"), (re.compile(r"(?<=[^aeiou])u(?=u)|(?<=o)[ou]"), ""),
    (re.compile(r"sy"), "sh"), (re.compile(r"ty"), "ch"), (re.compile(r"zy"), "j"),
    (re.compile(r"hui"), "hi"), (re.compile(r"(?<![cs])hu(?![aeiou])"), "fu"), (re.compile(r"(?<![cst])si"), "shi"), (re.compile(r"(?<![cs])ti"), "chi"),
    (re.compile(r"tu(?!n)"), "tsu"), (re.compile(r"[zd]i"), "ji"),
    (re.compile(r"t[sz]"), "z"), (re.compile(r"zh|ch|q"), "j"), (re.compile(r"c"), "z"),
    (re.compile(r"ieh"), "ie"), (re.compile(r"ien"), "ian"), (re.compile(r"ung"), "ong"), (re.compile(r"ih"), "i"),
    (re.compile(r"uo"), "o"), (re.compile(r"eo"), "o"), (re.compile(r"eu"), "u"), (re.compile(r"ee"), "i"),
    (re.compile(r"oo"), "u"), (re.compile(r"b"), "p"), (re.compile(r"d"), "t"), (re.compile(r"g"), "k"),
    (re.compile(r"shi"), "si"), (re.compile(r"sh"), "s"), (re.compile(r"(.)\1+"), r"\1"),
)
# A word built of syllables (an optional initial, a vowel, an optional n, ng or r): the shape of every
# Chinese, Korean and Japanese romanisation. Only such words get a romanisation key.
_SYLLABIC = re.compile(r"(?:(?:ch|sh|zh|hs|ts|tz|ss|ph|th|kh|ht|[bcdfghjklmnpqrstvwxyz])?[wy]?[aeiou]{1,3}(?:ng|nt|n|r|m|k|p|l|t|h|y|w)?)+")


@lru_cache(maxsize=200_000)
def roman_key(ascii_word: str) -> str:
    """The spelling of a romanised Chinese, Korean or Japanese word (or any word of that syllable shape)
    folded so that its romanisations meet: Zhang / Chang, Jianguo / Chienkuo, Shuichi / Syuiti, Satoh /
    Sato, Yeong / Yong, Gim / Kim, Lee / Yi. Empty for a word of another shape."""
    word = _SURNAME_KEY.get(ascii_word, "")
    if not word:
        if (len(ascii_word) < 3 and not (len(ascii_word) == 2 and ascii_word[0] in "xq")) \
                or not _SYLLABIC.fullmatch(ascii_word):  # pinyin's Xu is Hsu
            return ""
        word = ascii_word
    for pattern, replacement in _ROMAN_REWRITES:
        word = pattern.sub(replacement, word)
    return word


# Wade-Giles writes pinyin r as j (Jung / Rong, Jen / Ren, Jao / Rao); pinyin's own j comes only before i
# and u (Jian, Jun), so a j before a, e, o, ung, ui or ih is Wade-Giles.
_WADE_J = re.compile(r"j(?=[aeo]|ung|ui|ih)")


@lru_cache(maxsize=200_000)
def wade_giles_r_key(ascii_word: str) -> str:
    """The romanisation key of a word read with its Wade-Giles j as pinyin r (taojung -> taorong), or
    "" for a word without such a j: compared with the other word's `roman_key`."""
    if not _WADE_J.search(ascii_word):
        return ""
    key = roman_key(_WADE_J.sub("r", ascii_word))
    return key if key != roman_key(ascii_word) else ""


# Thai names as older (Sanskrit-based) spellings and passports write them, folded into what RTGS writes:
# doubled letters (Chinnawat / Shinawatra), v for w, bh and dh (Abhisit), j, sh and tch for ch (Vejjajiva /
# Wetchachiwa), the aspirate h (Thanaphon / Tanapol), the silent tra written at the end (Shinawatra), an r
# written after a vowel and not sounded (Charn / Chan, Prasert / Prasoet), oe for e, a final l sounded n
# (Nattapol / Nattaphon, Charnvirakul / Chanwirakun).
_THAI_OLDER = (
    (re.compile(r"(.)\1+"), r"\1"), (re.compile(r"v"), "w"), (re.compile(r"bh"), "ph"), (re.compile(r"dh"), "th"),
    (re.compile(r"tch|sh|j"), "ch"), (re.compile(r"(?<=[ptk])h"), ""), (re.compile(r"tra$"), "t"),
    (re.compile(r"(?<=[aeiou])r(?=[^aeiouy]|$)"), ""), (re.compile(r"oe"), "e"), (re.compile(r"l$"), "n"),
)
THAI_KEY_LENGTH = 6


@lru_cache(maxsize=200_000)
def thai_key(ascii_word: str) -> str:
    """The spelling of a (Thai) name of six letters or more with the differences between the older
    spellings and RTGS folded (Vejjajiva and Wetchachiwa -> wechachiwa); "" for a shorter word."""
    if len(ascii_word) < THAI_KEY_LENGTH or not ascii_word.isalpha():
        return ""
    word = ascii_word
    for pattern, replacement in _THAI_OLDER:
        word = pattern.sub(replacement, word)
    return word


_LINKING_A = re.compile(r"(?<=[^aeiou])a(?=[^aeiou])")


@lru_cache(maxsize=200_000)
def unlinked_key(thai: str) -> str:
    """A Thai name's key (`thai_key`) without the a between two consonants: Pali and Sanskrit compounds
    sound a linking a that the Thai script does not write (ณัฐพล read natphon, listed Nattapol; ชินวัตร
    read chinwat, listed Shinawatra), so a word read from Thai script meets its listed spelling on this."""
    return _LINKING_A.sub("", thai)


# Russian and Ukrainian names as the transliteration systems write them (BGN/PCGN, ICAO, the German
# and Polish ones): w for v, sch and tsch for sh and ch, j for y, -off for -ov, z for s and tz for ts,
# c for k, the soft sign and the y or i before a vowel (Solovyov / Soloviev / Solovjov, Vasilyev /
# Wassiljew, Yevgeniy / Evgeny), and the endings -iy, -ii, -ij, -y (Dmitriy / Dmitry / Dmitrii,
# Pavlovskiy / Pavlovsky).
_SLAVIC = (
    (re.compile(r"x"), "ks"), (re.compile(r"w"), "v"), (re.compile(r"tsch"), "ch"), (re.compile(r"sch"), "sh"),
    (re.compile(r"tch"), "ch"), (re.compile(r"j"), "y"), (re.compile(r"c(?!h)"), "k"), (re.compile(r"kh"), "h"),
    (re.compile(r"off$"), "ov"), (re.compile(r"tz"), "ts"), (re.compile(r"ts"), "s"), (re.compile(r"z"), "s"),
    (re.compile(r"(?<=[^aeiou])[yi]o"), "e"), (re.compile(r"gu(?=[ei])"), "g"),
    (re.compile(r"(?:iy|ii|ij|yi|y)$"), "i"), (re.compile(r"(?<=[aeou])y(?=[^aeiou]|$)"), "i"),
    (re.compile(r"[yi](?=[aeiou])"), ""), (re.compile(r"(.)\1+"), r"\1"),
)
SLAVIC_KEY_LENGTH = 4


def slavic_key(ascii_word: str) -> str:
    """A (Russian or Ukrainian) name's spelling with the differences between transliteration systems
    folded: Schewtschenko and Shevchenko -> shevchenko, Aleksandrowitsch and Aleksandrovich ->
    aleksandrovich; "" for a word shorter than four letters."""
    if len(ascii_word) < SLAVIC_KEY_LENGTH or not ascii_word.isalpha():
        return ""
    word = ascii_word
    for pattern, replacement in _SLAVIC:
        word = pattern.sub(replacement, word)
    return word


# Forms of one given name that share no spelling rule: nicknames and short forms (Bill / William, Pepe /
# José, Sasha / Aleksandr) and a name's form in a neighbouring language (Ukrainian Oleksandr, Mykola,
# Hryhoriy for Russian Aleksandr, Nikolay, Grigoriy). The first of each group names it. A short form
# shared by two names (Alex, Pat, Sasha for a woman) is left out: it would make two people one.
NAME_FORMS = (
    ("aleksandr", "alexander", "aleksander", "oleksandr", "sasha", "sacha", "shura"), ("aleksey", "oleksiy", "oleksii", "alyosha", "lyosha"),
    ("dmitriy", "dmytro", "dima", "mitya"), ("sergey", "serhiy", "serhii", "seryozha", "serezha"),
    ("yevgeniy", "yevhen", "ievgen", "zhenya", "eugene"), ("yuriy", "yura"),
    ("mikhail", "mykhailo", "mykhaylo", "misha"), ("nikolay", "mykola", "kolya"), ("vladimir", "volodymyr", "volodya", "vova"),
    ("pyotr", "petro", "petya", "peter"), ("andrey", "andriy", "andrii", "andryusha"),
    ("grigoriy", "hryhoriy", "hryhorii", "grisha"), ("viktor", "vitya"), ("vyacheslav", "slava"),
    ("konstantin", "kostiantyn", "kostyantyn", "kostya"), ("anatoliy", "tolya"), ("ivan", "vanya"),
    ("oleg", "oleh"), ("georgiy", "heorhiy", "zhora"), ("yekaterina", "kateryna", "katya"), ("olga", "olha"),
    ("tatyana", "tetiana", "tanya"), ("natalya", "nataliya", "natasha"), ("mariya", "masha"),
    ("jose", "pepe"), ("francisco", "paco", "pancho", "curro"), ("jesus", "chuy", "chucho"), ("joaquin", "quino"),
    ("ignacio", "nacho"), ("guillermo", "memo"), ("manuel", "manolo"), ("enrique", "quique"),
    ("alfonso", "poncho"), ("antonio", "tono"), ("rodrigo", "rodri"), ("dolores", "lola"), ("concepcion", "concha"),
    ("william", "bill", "billy", "will", "willy"), ("robert", "bob", "bobby", "rob", "robbie"),
    ("richard", "dick", "rick", "ricky", "rich"), ("james", "jim", "jimmy", "jamie"), ("margaret", "peggy", "maggie", "meg"),
    ("elizabeth", "liz", "beth", "betty", "lizzie", "eliza"), ("michael", "mike", "mick", "mickey"),
    ("thomas", "tom", "tommy"), ("edward", "ted", "eddie", "ned"), ("charles", "chuck", "charlie"),
    ("anthony", "tony"), ("joseph", "joe", "joey"), ("katherine", "kate", "kathy", "katie"), ("nicholas", "nick", "nicky"),
    ("christopher", "chris"), ("daniel", "dan", "danny"), ("jennifer", "jenny", "jen"), ("patrick", "paddy"),
    ("gregory", "greg"), ("benjamin", "ben", "benny"), ("jonathan", "jon"), ("matthew", "matt"), ("david", "dave"),
    ("stephen", "steven", "steve"), ("andrew", "andy", "drew"), ("samuel", "sam", "sammy"),
    ("timothy", "tim"), ("lawrence", "larry"), ("theodore", "theo"), ("frederick", "fred", "freddie"),
    ("susan", "sue", "susie"), ("deborah", "debbie", "deb"), ("rebecca", "becky"), ("barbara", "barb"),
)
_NAME_KEYS: dict[str, str] = {}
for _group in NAME_FORMS:
    for _form in _group:
        _NAME_KEYS.setdefault(_form, _group[0])
        _NAME_KEYS.setdefault(slavic_key(_form) or _form, _group[0])


@lru_cache(maxsize=200_000)
def name_key(ascii_word: str) -> str:
    """The key a name's forms share: its group in `NAME_FORMS` (a nickname, a Ukrainian form), else
    its `slavic_key` (a transliteration of Cyrillic); "" for a word that has neither."""
    found = _NAME_KEYS.get(ascii_word) or _NAME_KEYS.get(slavic_key(ascii_word))
    if found:
        return "=" + found
    return slavic_key(ascii_word)


@lru_cache(maxsize=200_000)
def _tokens_of_word(word: str, company: bool) -> tuple[Token, ...]:
    word = _fix_lookalikes(word)
    scripts = {_script(c) for c in word if c.isalpha()}
    foreign = bool(scripts - {"latin", "other"})
    abjad = bool(scripts & ABJADS)
    syllabic = bool(scripts & SYLLABARIES)
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
                abjad=abjad, syllabic=syllabic, roman="" if company else roman_key(piece),
                wade_r="" if company else wade_giles_r_key(piece), thai="" if company or abjad else thai_key(piece),
                name="" if company or abjad or syllabic else name_key(piece),
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


_MIDDLE_NAME_PARTICLES = frozenset({"van"})


def tokenise(name: str, *, company: bool = False) -> tuple[Token, ...]:
    """The tokens of a name as typed or listed. Word order is not kept as meaning: "SURNAME, Given"
    and "Given Surname" give the same tokens (in another order)."""
    text = unicodedata.normalize("NFKC", name)
    tokens: list[Token] = []
    surname_part, comma, _ = text.partition(",")
    surname_words = len([w for w in _SPLIT.split(surname_part) if w]) if comma and not company else 0
    surname_tokens = [t for w in _SPLIT.split(surname_part)[:surname_words] if w for t in _tokens_of_word(w, company)] \
        if surname_words else []
    # A particle that is the whole listed surname is the surname: the Vietnamese "LE, Thanh Tung".
    whole = bool(surname_tokens) and all(t.particle for t in surname_tokens)
    words = [w for w in _SPLIT.split(text) if w]
    for n, word in enumerate(words):
        if n < surname_words:
            tokens.extend(replace(t, surname=True, particle=t.particle and not whole)
                          for t in _tokens_of_word(word, company))
        elif n == surname_words and surname_words and n + 1 < len(words) and word.lower() in _MIDDLE_NAME_PARTICLES:
            # "NGUYEN, Van Thanh": a Dutch van goes with the surname, before the comma; leading the given
            # names it is the Vietnamese middle name Văn, a word of the name.
            tokens.extend(replace(t, particle=False) for t in _tokens_of_word(word, company))
        else:
            tokens.extend(_tokens_of_word(word, company))
    if company:
        # Legal forms written with dots or spaces ("L.L.C.", "S. A.") arrive as letters: join runs of
        # single letters so they meet the legal form.
        tokens = _join_letter_runs(tokens, company)
    return tuple(tokens)


def readings(name: str, *, company: bool = False) -> tuple[tuple[Token, ...], ...]:
    """The tokens of a name (`tokenise`), and for a person's name in Han that looks Japanese
    (`scripts.looks_japanese`) also those of its Japanese reading: 吉田翔太 is Ji Tian Xiang Tai as Chinese
    and Yoshida Shota as Japanese, and the matcher takes whichever meets the listed name."""
    first = tokenise(name, company=company)
    if company:
        return (first,)
    japanese = japanese_reading(unicodedata.normalize("NFKC", name))
    if japanese is None:
        return (first,)
    second = tokenise(japanese)
    return (first, second) if second and second != first else (first,)


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
