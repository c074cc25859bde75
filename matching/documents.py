"""A name as registered against the name printed on an identity document or a bill (KYC).

The tokens and their comparison are screening's (`normalise.tokenise`, `compare.token_similarity`),
so that both read "Müller" and "MUELLER", "Umar" and "OMAR", "محمد" and "MOHAMED" alike. What is
stricter here is what may pass without a person looking: a passing name approves a document, where a
screening hit only alerts an analyst. So:

- a token pair counts when the two are the same (after transliteration, diacritics written either
  way) or the same name in another romanisation (vowels as another language writes them: Mostafa /
  MUSTAFA, Yulia / IULIIA, Sergey / SERGEI; consonants alone for a name typed in Arabic script); one
  letter apart (Anna / ANNE, Ivan / IVANA, Daniel / DANIELA) is another name, and so is another final
  vowel (Maria / MARIO, Andrea / ANDREI): a different given name is a different person; an umlaut
  is a letter of its own (Möller is not MUELLER, Muller is); a name typed in Arabic script must
  carry the romanisation's long vowels (محمد is MOHAMED, not MAHMOUD);
- the registered surname must be found in the document's surname, each of its words but particles
  (van, de, al...), which belong to the surname wherever the client typed them ("Sem van Dijk" typed
  as first name Sem, middle name van, last name Dijk is the document's VAN DIJK);
- the registered first name must be found in the document's given names, in full;
- a middle name on only one side is normal, unless both sides carry a middle name and they differ;
- an initial stands for a given name that starts with it (never for a surname or the first name);
- words written together on one side and apart on the other (Anna Maria / ANNAMARIA, Abdul Rahman /
  ABDULRAHMAN) and hyphens (Anne-Marie / ANNE MARIE) are the same words;
- a name field filled to its width (an MRZ) may cut the document's last word short.

The evidence pairs each registered word with the document word it matched and how.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field, replace

from matching.compare import SAME, abjad, units
from matching.compare import token_similarity as _similarity
from matching.normalise import _DIGRAPHS, _INNER_PUNCT, _SPLIT, _VOWELS, Token, tokenise

# How two tokens met, in the words of `compare.token_similarity`, that a document check accepts.
_ACCEPTED = frozenset({"transliteration variant", "spelling variant", "same consonants (script without vowels)"})
# ... and, for a name typed in another script than the document's, a voiced or unvoiced consonant
# (Zhang / CHANG, Ж as ZH or J): the scripts do not pair their consonants one to one.
_ACROSS_SCRIPTS = frozenset({"transliteration variant (voiced/unvoiced)"})
_VOWEL_ENDINGS = frozenset("aiu")
_MRZ_FILLER = re.compile(r"<+")
_IOTATED_PAIR = re.compile(r"[iyj][aeuo]")
_UMLAUT_DIGRAPHS = ("ae", "oe", "ue")

# Cyrillic romanisations that the vowel forms do not meet: Ю and Я as IU/YU/JU and IA/YA/JA (ICAO,
# English, German/Polish), Е as IE/YE/E, Й as I/Y/J.
_IOTATED = (("iu", "u"), ("yu", "u"), ("ju", "u"), ("ia", "a"), ("ya", "a"), ("ja", "a"), ("ie", "e"),
            ("ye", "e"), ("je", "e"), ("io", "o"), ("yo", "o"), ("jo", "o"), ("j", "y"), ("kh", "h"),
            ("ks", "x"), ("w", "v"))


@dataclass(frozen=True, slots=True)
class WordMatch:
    registered: str
    document: str
    how: str
    part: str  # "surname" | "given names": where on the document it was found

    def as_dict(self) -> dict[str, str]:
        return {"registered": self.registered, "document": self.document, "how": self.how, "part": self.part}


@dataclass(frozen=True)
class DocumentNameMatch:
    matched: bool
    words: tuple[WordMatch, ...] = ()
    missing: tuple[str, ...] = ()  # registered words not on the document (that count)
    extra: tuple[str, ...] = ()  # document words the client did not type (middle names, particles)
    reason: str = ""  # why it did not match, in plain words
    notes: tuple[str, ...] = field(default=())  # tolerated differences (a dropped particle, a cut field)

    @property
    def how(self) -> dict[str, str]:
        """Each registered word and how it was found."""
        return {w.registered: w.how for w in self.words}

    def as_evidence(self) -> dict[str, object]:
        return {"matched": self.matched, "how": self.how, "pairs": [w.as_dict() for w in self.words],
                "missing": list(self.missing), "extra": list(self.extra), "reason": self.reason,
                "notes": list(self.notes)}


def _iotated(word: str) -> str:
    out = re.sub(r"(.)\1+", r"\1", word)
    for a, b in _IOTATED:
        out = out.replace(a, b)
    out = re.sub(r"(.)\1+", r"\1", out)
    return out.replace("y", "i") if len(out) > 1 else out


def _ending_differs(a: Token, b: Token) -> bool:
    """Another final vowel (Maria / Mario, Andrea / Andrei): in most languages another name."""
    end_a, end_b = a.vowels[-1:], b.vowels[-1:]
    return end_a != end_b and (end_a in _VOWEL_ENDINGS or end_b in _VOWEL_ENDINGS)


def _umlauts_disagree(a: Token, b: Token) -> bool:
    """Vowels written as umlauts (ö, oe) are letters of their own: Möller is not MUELLER, though both
    read as the same vowels; Muller is MUELLER with the umlaut left out."""
    if a.foreign or b.foreign or not any(d in t.alt for t in (a, b) for d in _UMLAUT_DIGRAPHS):
        return False
    return _without_umlauts(a.alt) != _without_umlauts(b.alt)


def _without_umlauts(word: str) -> str:
    for digraph in _UMLAUT_DIGRAPHS:
        word = word.replace(digraph, digraph[0])
    return word


def _segments(ascii_word: str) -> list[str]:
    """The vowels between the consonants of a word, one string per consonant of its skeleton (and
    one before the first): 'mahmoud' -> ['', 'a', '', 'ou', '']. Consonants are counted as
    `normalise.skeleton` counts them, so that two words of one skeleton align."""
    word = "".join(c for c in ascii_word if c.isalpha())
    for digraph, sound in _DIGRAPHS:
        word = word.replace(digraph, sound)
    if word[:1] in ("w", "y") and word[1:2] in _VOWELS:
        word = word[1:]  # Yusuf, Wael: a consonant, not a long vowel
    segments = [""]
    last = ""
    for i, ch in enumerate(word):
        if ch in _VOWELS:
            segments[-1] += ch
        elif (ch == "h" and i and word[i - 1] in "kgstcdp") or ch == last:
            continue
        else:
            last = ch
            segments.append("")
    return segments


_LONG = {"w": ("u", "o"), "y": ("i", "e", "y")}
_LATIN_LONG = {"w": ("ou", "oo", "uu"), "y": ("ee", "ii", "ei", "ey")}


def _long_vowels_agree(arabic: Token, latin: Token) -> bool:
    """Arabic script writes its long vowels (و for ū, ي for ī) and leaves the short ones out: each
    long vowel must be in the romanisation between the same consonants, and a long vowel the
    romanisation spells as one (OU, EE) must be written in Arabic. Without this, محمد (Muhammad) and
    MAHMOUD, or حسين (Husayn) and HASSAN, would be one name by their consonants."""
    a, b = _segments(arabic.ascii), _segments(latin.ascii)
    if len(a) != len(b):
        return False
    for seg_a, seg_b in zip(a, b, strict=True):
        for letter, vowels in _LONG.items():
            if letter in seg_a and not any(v in seg_b for v in vowels):
                return False
            if letter not in seg_a and any(d in seg_b for d in _LATIN_LONG[letter]):
                return False
    return True


# ICAO 9303's transliteration of the Latin letters that an MRZ writes as two (part 3, 6.A): Å as AA,
# Æ as AE, Ø as OE, Þ as TH, Ĳ as IJ, Œ as OE (the umlauts are the tokens' `alt`).
_ICAO_DIGRAPHS = str.maketrans({"å": "aa", "æ": "ae", "ø": "oe", "þ": "th", "ĳ": "ij", "œ": "oe"})


def _icao(word: str) -> str:
    return _NON_LETTER.sub("", unicodedata.normalize("NFKD", word.lower().translate(_ICAO_DIGRAPHS)).encode(
        "ascii", "ignore").decode())


_NON_LETTER = re.compile(r"[^a-z]")


def word_similarity(registered: Token, document: Token) -> str:
    """How a registered word and a document word are the same name, or '' when they are not (the
    strict reading: see the module's docstring)."""
    score, how = _similarity(registered, document)
    if score < SAME and not (registered.initial or document.initial) and document.raw.isascii() \
            and not registered.raw.isascii() and _icao(registered.raw) == _icao(document.raw) != "":
        return "same, as ICAO 9303 transliterates it"
    if registered.initial or document.initial:
        return "initial" if how == "initial" else ""
    if score >= SAME:
        if how == "same" and not (registered.raw.isascii() and document.raw.isascii()):
            return "same, diacritics left out"
        return how
    accepted = how in _ACCEPTED or (how in _ACROSS_SCRIPTS and registered.foreign != document.foreign)
    # Arabic script leaves a final short vowel out: the ending is judged by the long vowels below.
    ending_differs = not how.startswith("same consonants") and _ending_differs(registered, document)
    if score > 0 and accepted and not ending_differs and not _umlauts_disagree(registered, document):
        if how.startswith("same consonants"):
            arabic, latin = (registered, document) if abjad(registered) else (document, registered)
            if not _long_vowels_agree(arabic, latin):
                return ""
        return how
    # The ICAO, English and German romanisations of Cyrillic (Юлия: IULIIA, Yulia, Julia) write the
    # iotated vowels each its own way; both sides must write one (Maria is not Mara).
    if len(registered.ascii) >= 4 and _IOTATED_PAIR.search(registered.ascii) and _IOTATED_PAIR.search(document.ascii) \
            and _iotated(registered.ascii) == _iotated(document.ascii) and not _ending_differs(registered, document):
        return "romanisation variant (iotated vowels)"
    return ""


@dataclass(frozen=True, slots=True)
class _Side:
    tokens: tuple[Token, ...]
    parts: tuple[str, ...]  # per token: "surname" | "given"
    first: frozenset[int] = frozenset()  # the registered first name's tokens


def _tokens(text: str) -> tuple[Token, ...]:
    """The tokens of a name, each with the word as written (for the evidence) as its `raw`."""
    out: list[Token] = []
    for word in (w for w in _SPLIT.split(_MRZ_FILLER.sub(" ", text)) if w):
        # ة (ta marbuta) ends a name as a vowel: Fatima, not Fatimah.
        toks = tokenise(word.replace("ة", "ا"))
        pieces = [p for p in _INNER_PUNCT.split(word.strip(".")) if p]
        if len(toks) == 1:
            out.append(replace(toks[0], raw=word.rstrip(".")))
        elif len(pieces) == len(toks):
            out.extend(replace(t, raw=p) for t, p in zip(toks, pieces, strict=True))
        else:
            out.extend(toks)
    return tuple(out)


def _side(surname: str, given: str, middle: str = "") -> _Side:
    sur, first, mid = _tokens(surname), _tokens(given), _tokens(middle)
    # Particles typed as the middle name belong to the surname (Pieter, van der, Merwe: VANDERMERWE).
    while mid and mid[-1].particle and sur:
        sur, mid = (mid[-1], *sur), mid[:-1]
    parts = ("surname",) * len(sur) + ("given",) * (len(first) + len(mid))
    first_idx = frozenset(range(len(sur), len(sur) + len(first)))
    return _Side(sur + first + mid, parts, first_idx)


def _prefix_of(doc: Token, reg: Token) -> bool:
    return bool(doc.ascii) and (reg.ascii.startswith(doc.ascii) or reg.alt.startswith(doc.alt))


_Pair = tuple[int, int, tuple[int, ...], tuple[int, ...], str, Token, Token]


def _candidates(reg: _Side, doc: _Side, truncated: bool) -> list[_Pair]:
    """Every acceptable pairing of registered and document words (single, or neighbours joined on one
    side), best first."""
    pairs: list[_Pair] = []
    doc_units = units(doc.tokens)
    last = len(doc.tokens) - 1
    for ri, rt in units(reg.tokens):
        for di, dt in doc_units:
            if len(ri) > 1 and len(di) > 1:
                continue
            if len({reg.parts[i] for i in ri}) > 1 or len({doc.parts[i] for i in di}) > 1:
                continue  # a join never crosses from the surname to the given names
            reg_part, doc_part = reg.parts[ri[0]], doc.parts[di[0]]
            if reg_part == "surname" and doc_part != "surname" and not rt.particle:
                continue  # the registered surname is found in the document's surname
            how = word_similarity(rt, dt)
            if how in ("", "initial") and truncated and di == (last,) and len(ri) == 1 and _prefix_of(dt, rt):
                how = "cut at the field's width"
            if not how:
                continue
            if (rt.particle or dt.particle) and not how.startswith("same"):
                continue
            if how == "initial" and (reg_part == "surname" or doc_part == "surname" or set(ri) & reg.first):
                continue
            if len(ri) > 1 or len(di) > 1:
                how += ", written together" if len(ri) > len(di) or len(di) > len(ri) else ""
            rank = (0 if how.startswith("same") else 1 if how != "initial" else 3) + (0 if reg_part == doc_part
                                                                                      else 2)
            pairs.append((rank, -(len(ri) + len(di)), ri, di, how, rt, dt))
    pairs.sort(key=lambda p: (p[0], p[1], p[2], p[3]))
    return pairs


def match_document_name(*, first_name: str, last_name: str, middle_name: str = "", document_surname: str,
                        document_given_names: str, field_full: bool = False) -> DocumentNameMatch:
    """The registered name (first, middle, last) against the document's surname and given names (an
    MRZ's fields with '<' as spaces, a licence's fields, or a bill's name line split by the caller).
    `field_full`: the document's name field had no room left, so its last word may be cut short."""
    found = _document_name(_side(last_name, first_name, middle_name), _side(document_surname, document_given_names),
                           field_full)
    middle = middle_name.split()
    if not found.matched and middle:
        # A second surname typed as the middle name (Íñigo, Sánchez, Ibáñez: SANCHEZ IBANEZ or
        # SANCHEZIBANEZ): the name is tried again with it as the surname's first word.
        again = _document_name(_side(f"{middle[-1]} {last_name}", first_name, " ".join(middle[:-1])),
                               _side(document_surname, document_given_names), field_full)
        if again.matched and any(w.part == "surname" and middle[-1] in w.registered for w in again.words):
            return replace(again, notes=(*again.notes, f"'{middle[-1]}' typed as a middle name, on the document "
                                                       "as a surname"))
    return found


def _document_name(reg: _Side, doc: _Side, field_full: bool) -> DocumentNameMatch:
    if not any(p == "surname" for p in reg.parts) or not doc.tokens:
        return DocumentNameMatch(False, missing=tuple(t.raw for t in reg.tokens), reason="no name to compare")
    used_r: set[int] = set()
    used_d: set[int] = set()
    words: list[WordMatch] = []
    for _rank, _size, ri, di, how, rt, dt in _candidates(reg, doc, field_full):
        if used_r.intersection(ri) or used_d.intersection(di):
            continue
        used_r.update(ri)
        used_d.update(di)
        words.append(WordMatch(rt.raw, dt.raw, how, "surname" if doc.parts[di[0]] == "surname" else "given names"))
    return _judge(reg, doc, used_r, used_d, tuple(words), field_full)


def _judge(reg: _Side, doc: _Side, used_r: set[int], used_d: set[int], words: tuple[WordMatch, ...],
           field_full: bool) -> DocumentNameMatch:
    def counts(tok: Token) -> bool:
        return not tok.particle

    free_r = [i for i, t in enumerate(reg.tokens) if i not in used_r]
    free_d = [i for i, t in enumerate(doc.tokens) if i not in used_d]
    missing = tuple(reg.tokens[i].raw for i in free_r if counts(reg.tokens[i]))
    extra = tuple(doc.tokens[i].raw for i in free_d)
    notes = [f"particle '{reg.tokens[i].raw}' not on the document" for i in free_r if not counts(reg.tokens[i])]

    def refused(reason: str) -> DocumentNameMatch:
        return DocumentNameMatch(False, words, missing, extra, reason, tuple(notes))

    if any(reg.parts[i] == "surname" and counts(reg.tokens[i]) for i in free_r):
        return refused("the registered surname is not the document's")
    if not used_d.intersection(i for i, p in enumerate(doc.parts) if p == "surname"):
        return refused("the registered surname is not the document's")
    first = sorted(reg.first)
    if first and not set(first) <= used_r:
        if not (field_full and _cut_after_match(reg, used_r, doc, used_d)):
            return refused("the registered first name is not among the document's given names")
        notes.append("given names cut at the field's width")
        missing = ()
    free_given_r = [i for i in free_r if reg.parts[i] == "given" and counts(reg.tokens[i])]
    free_given_d = [i for i in free_d if doc.parts[i] == "given" and counts(doc.tokens[i])]
    if free_given_r and field_full and _cut_after_match(reg, used_r, doc, used_d):
        notes.append("given names cut at the field's width")
        free_given_r = []
        missing = ()
    if free_given_r and free_given_d:
        names = ", ".join(reg.tokens[i].raw for i in free_given_r)
        printed = ", ".join(doc.tokens[i].raw for i in free_given_d)
        return refused(f"registered '{names}' where the document has '{printed}'")
    if free_given_r:
        notes.append("middle name typed but not on the document")
        missing = ()
    if not any(w.how != "initial" for w in words if w.part == "given names") and reg.first:
        return refused("the registered first name is not among the document's given names")
    return DocumentNameMatch(True, words, missing, extra, "", tuple(notes))


def _cut_after_match(reg: _Side, used_r: set[int], doc: _Side, used_d: set[int]) -> bool:
    """A full name field cut the registered given names short: every document word is used and the
    registered words left over all come after the last one matched."""
    if len(used_d) < len(doc.tokens) or not used_r:
        return False
    last_used = max(used_r)
    return all(i > last_used for i, p in enumerate(reg.parts) if p == "given" and i not in used_r)


_BILL_SPLIT = re.compile(r"[^\w'’-]+")


_OCR_ESZETT = re.compile(r"(?<=[a-zäöü])B(?![A-Z])")


def _ocr_folded(text: str) -> str:
    return text.replace("j", "i")


def names_in_text(text: str, *, first_name: str, last_name: str, middle_name: str = "") -> DocumentNameMatch:
    """The registered name found in a document's free text (a bill's addressee line): the first
    name and every surname word must be there; a middle name may be. Each line is tried as a name (in
    either order), then the whole text read without spaces (OCR that lost them)."""
    best: DocumentNameMatch | None = None
    if "ß" in first_name + middle_name + last_name:
        text = _OCR_ESZETT.sub("ß", text)  # OCR reads a printed ß as B (WeiB for Weiß)
    # A label before the name ("Account holder: ANNA ERIKSSON") is left out.
    lines = [ln.rpartition(":")[2].strip() for ln in text.splitlines()]
    surname_tokens = [t for t in _tokens(last_name) if not t.particle]
    for line in (ln for ln in lines if ln):
        words = [w for w in _BILL_SPLIT.split(line) if w]
        if not 1 <= len(words) <= 8:
            continue
        line_tokens = _tokens(line)
        if not all(any(word_similarity(s, t) for t in line_tokens) for s in surname_tokens):
            continue  # no line without the surname can name the client
        # A bill prints "Given Surname" or "SURNAME Given": every split into the two is tried.
        for cut in range(len(words) + 1):
            for given, surname in ((words[:cut], words[cut:]), (words[cut:], words[:cut])):
                if not surname:
                    continue
                found = match_document_name(first_name=first_name, middle_name=middle_name, last_name=last_name,
                                            document_surname=" ".join(surname), document_given_names=" ".join(given))
                if found.matched and (best is None or len(found.extra) < len(best.extra)):
                    best = found
    if best is not None:
        return best
    # Read without spaces, an OCR'd capital J is often an I (TOMASKARELIANSEN): both sides are compared
    # with J as I.
    squashed = _ocr_folded(re.sub(r"[^A-Za-z]", "", text).lower())
    reg = _side(last_name, first_name)
    wanted = [t for t in reg.tokens if not t.particle]
    if wanted and all(len(t.ascii) >= 3 and (_ocr_folded(t.ascii) in squashed or _ocr_folded(t.alt) in squashed)
                      for t in wanted):
        return DocumentNameMatch(True, tuple(WordMatch(t.raw, t.raw.upper(), "same, text read without spaces",
                                                       "text") for t in wanted))
    return DocumentNameMatch(False, missing=tuple(t.raw for t in wanted), reason="the registered name is not on the document")
