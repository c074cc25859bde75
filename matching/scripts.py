"""Romanisation of the scripts a letter-by-letter transliterator reads wrongly: Thai, Myanmar and the
joined syllables of Japanese kana.

Both write vowels around their consonant (Thai เ แ โ ใ ไ before it, Myanmar ေ before it as well) and
give a consonant another sound at the end of a syllable than at its start, so anyascii's letter by
letter output ("esrstha" for เศรษฐา, "mn'eanlhiun" for မင်းအောင်လှိုင်) shares little with the
spellings lists and clients use (Settha, Min Aung Hlaing). Here a word is read syllable by syllable:
Thai after the Royal Thai General System (RTGS: initial and final values of each consonant, silent
letters under the thanthakhat, leading vowels after their consonant, the inherent o or a between
consonants), Myanmar after the conventional romanisation of names (onset, medials, rhyme: Kyaw, Aung,
Myint, Htun). The result is approximate in its vowels; the matcher compares such words on their
consonants first.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

# --- Thai -------------------------------------------------------------------------------------------

_TH_INITIAL = {
    "ก": "k", "ข": "kh", "ฃ": "kh", "ค": "kh", "ฅ": "kh", "ฆ": "kh", "ง": "ng", "จ": "ch", "ฉ": "ch", "ช": "ch",
    "ซ": "s", "ฌ": "ch", "ญ": "y", "ฎ": "d", "ฏ": "t", "ฐ": "th", "ฑ": "th", "ฒ": "th", "ณ": "n", "ด": "d",
    "ต": "t", "ถ": "th", "ท": "th", "ธ": "th", "น": "n", "บ": "b", "ป": "p", "ผ": "ph", "ฝ": "f", "พ": "ph",
    "ฟ": "f", "ภ": "ph", "ม": "m", "ย": "y", "ร": "r", "ล": "l", "ว": "w", "ศ": "s", "ษ": "s", "ส": "s",
    "ห": "h", "ฬ": "l", "อ": "", "ฮ": "h",
}
_TH_FINAL = {c: "k" for c in "กขคฆ"} | {c: "t" for c in "จฉชซฌฎฏฐฑฒดตถทธศษส"} | \
    {c: "n" for c in "ญณนรลฬ"} | {c: "p" for c in "บปพฟภ"} | {"ง": "ng", "ม": "m", "ย": "i", "ว": "o", "อ": ""}
_TH_LEADING = "เแโใไ"
_TH_ABOVE = {"ั": "a", "ิ": "i", "ี": "i", "ึ": "ue", "ื": "ue", "ุ": "u", "ู": "u", "็": ""}
_TH_AFTER = {"ะ": "a", "า": "a", "ำ": "am", "ๅ": "a"}
_TH_MARKS = set("่้๊๋ํ๎")
_TH_SILENT = "์"
# Second consonants of the clusters Thai writes without a vowel between (ปร, กล, คว, ...).
_TH_CLUSTER = {"ร", "ล", "ว"}
_TH_CLUSTER_FIRST = set("กขคปผพตบฟ")
_TH_SILENT_R = set("ศสซจ")
# The silent ห and อ before a sonorant (หน, หม, หย, หล, หว, อย) only give it its tone.
_TH_TONE_LEADERS = {("ห", c) for c in "งญนมยรลว"} | {("อ", "ย")}


# The vowels a syllable closed by the rules below has read (ี, า, ู, ื; ั reads a as า does, so the rules
# take it as well: approximate).
_TH_LONG = ("i", "a", "u", "ue")
_TH_SILENT_I = set("ตทธ")


def _is_th_consonant(char: str) -> bool:
    return char in _TH_INITIAL


def thai_to_latin(word: str) -> str:  # noqa: C901, PLR0912 - one branch per kind of Thai letter
    """A Thai word in RTGS (approximately): ทักษิณ -> thaksin, ชินวัตร -> chinwat, เศรษฐา -> setha."""
    chars = [c for c in word if c not in _TH_MARKS]
    # A consonant (with its vowel sign) under the thanthakhat is silent.
    kept: list[str] = []
    for c in chars:
        if c == _TH_SILENT:
            while kept and not _is_th_consonant(kept[-1]):
                kept.pop()
            if kept and kept.pop() == "ร" and len(kept) >= 2 and kept[-1] in "ทต" and _is_th_consonant(kept[-2]):
                kept.pop()  # จันทร์, ศาสตร์: a ท or ต before the silent ร closing a syllable is silent too (chan, sat)
            continue
        kept.append(c)
    out: list[str] = []
    i, n = 0, len(kept)
    while i < n:
        leading = ""
        if kept[i] in _TH_LEADING:
            leading, i = kept[i], i + 1
            if i >= n:
                break
        if not _is_th_consonant(kept[i]):
            out.append(_TH_ABOVE.get(kept[i], _TH_AFTER.get(kept[i], "")))
            i += 1
            continue
        onset = kept[i]
        i += 1
        if (onset, kept[i] if i < n else "") in _TH_TONE_LEADERS:
            onset, i = kept[i], i + 1
        sound = _TH_INITIAL[onset]
        if i + 1 < n and kept[i] == "ร" and onset in _TH_SILENT_R:
            i += 1  # ศรี, สร้าง: the ร after s and ch is silent
        if kept[i:i + 2] == ["ร", "ห"] and onset in _TH_CLUSTER_FIRST and i + 2 < n and _is_th_consonant(kept[i + 2]):
            sound, i = sound + "r", i + 2  # พรหม (Brahma): phrom, the ห silent
        if i < n and kept[i] in _TH_CLUSTER and onset in _TH_CLUSTER_FIRST and i + 1 < n and \
                (not _is_th_consonant(kept[i + 1]) or leading):
            sound += _TH_INITIAL[kept[i]]
            i += 1
        vowel = ""
        while i < n and not _is_th_consonant(kept[i]) and kept[i] not in _TH_LEADING:
            vowel += _TH_ABOVE.get(kept[i], _TH_AFTER.get(kept[i], ""))
            i += 1
        if leading:
            vowel = {"เ": "e", "แ": "ae", "โ": "o", "ใ": "ai", "ไ": "ai"}[leading] + vowel
            if leading == "เ" and vowel == "eue" and i < n and kept[i] == "อ":
                vowel, i = "uea", i + 1
            elif leading == "เ" and i < n and kept[i] == "อ":
                vowel, i = "oe", i + 1
            elif leading == "เ" and vowel == "ei":
                vowel = "oe"
        # The final consonant: one consonant not starting a syllable of its own.
        final = ""
        if i < n and _is_th_consonant(kept[i]):
            starts_next = (i + 1 < n and not _is_th_consonant(kept[i + 1]) and kept[i + 1] not in _TH_LEADING) \
                or kept[i + 1:i + 3] == ["ร", "ร"]
            if vowel in _TH_LONG and i + 2 == n and _is_th_consonant(kept[i + 1]) and kept[i + 1] != "ร":
                pass  # ศรีวงศ์: after a long vowel the last two consonants are a syllable of their own (wong)
            elif vowel in _TH_LONG and kept[i] == "ร" and i + 2 < n and _is_th_consonant(kept[i + 1]) \
                    and not _is_th_consonant(kept[i + 2]):
                final, i = "ra", i + 1  # วีรกูล: a ร between a long vowel and a syllable links them (wirakun)
            elif vowel in ("a", "") and kept[i] in _TH_SILENT_I and i + 1 < n and kept[i + 1] == "ิ" \
                    and (i + 2 == n or _is_th_consonant(kept[i + 2])):
                final, i = "t", i + 2  # ชาติ, สมบัติ: the i of a final ติ after a is not sounded (chat, sombat)
            elif i + 1 == n - 1 and kept[i + 1] == "ร" and not starts_next:
                final, i = _TH_FINAL[kept[i]], i + 2  # ประวิตร: a final ร after t is silent
            elif kept[i] == "ว" and not vowel and not starts_next:
                vowel, i = "ua", i + 1  # ชวน: the ว is the vowel
                if i < n and _is_th_consonant(kept[i]) and not (i + 1 < n and not _is_th_consonant(kept[i + 1])):
                    final, i = _TH_FINAL[kept[i]], i + 1
            elif kept[i] == "อ" and not vowel and i + 1 < n and _is_th_consonant(kept[i + 1]):
                vowel, i = "o", i + 1  # จอน: the อ is the vowel
                final, i = _TH_FINAL[kept[i]], i + 1
            elif kept[i] == "ร" and i + 1 < n and kept[i + 1] == "ร":
                vowel, i = "a", i + 2  # รร: an (or a before a final)
                if i < n and _is_th_consonant(kept[i]) and not (i + 1 < n and not _is_th_consonant(kept[i + 1])):
                    final, i = _TH_FINAL[kept[i]], i + 1
                elif not (i < n and _is_th_consonant(kept[i])):
                    final = "n"
            elif not starts_next:
                final, i = _TH_FINAL[kept[i]], i + 1
        if not vowel:
            vowel = "o" if final else "a"
        out.append(sound + vowel + final)
    return "".join(out)


# --- Myanmar ----------------------------------------------------------------------------------------

_MY_ONSET = {
    "က": "k", "ခ": "kh", "ဂ": "g", "ဃ": "g", "င": "ng", "စ": "s", "ဆ": "s", "ဇ": "z", "ဈ": "z", "ည": "ny",
    "ဉ": "ny", "ဋ": "t", "ဌ": "ht", "ဍ": "d", "ဎ": "d", "ဏ": "n", "တ": "t", "ထ": "ht", "ဒ": "d", "ဓ": "d",
    "န": "n", "ပ": "p", "ဖ": "ph", "ဗ": "b", "ဘ": "b", "မ": "m", "ယ": "y", "ရ": "y", "လ": "l", "ဝ": "w",
    "သ": "th", "ဟ": "h", "ဠ": "l", "အ": "",
}
_MY_INDEPENDENT = {"ဣ": "i", "ဤ": "i", "ဥ": "u", "ဦ": "oo", "ဧ": "ay", "ဩ": "aw", "ဪ": "aw", "ဿ": "th"}
_MY_ASAT = "်"
_MY_VIRAMA = "္"
# Rhymes: (vowel signs, the killed final consonant) -> the conventional spelling; "" = none.
_MY_RHYMES = {
    ("", ""): "a", ("ာ", ""): "ar", ("ါ", ""): "ar", ("ိ", ""): "i", ("ီ", ""): "i", ("ု", ""): "u",
    ("ူ", ""): "oo", ("ေ", ""): "ay", ("ဲ", ""): "e", ("ော", ""): "aw", ("ေါ", ""): "aw", ("ို", ""): "o",
    ("ော", "်"): "aw", ("ေါ", "်"): "aw",
    ("", "င"): "in", ("ိ", "င"): "ein", ("ု", "င"): "oun", ("ို", "င"): "aing", ("ော", "င"): "aung",
    ("ေါ", "င"): "aung", ("", "ဉ"): "in", ("", "ည"): "i",
    ("", "န"): "an", ("ိ", "န"): "ein", ("ု", "န"): "oun", ("", "မ"): "an", ("ိ", "မ"): "ein", ("ု", "မ"): "oun",
    ("", "က"): "et", ("ိ", "က"): "eik", ("ု", "က"): "ok", ("ို", "က"): "aik", ("ော", "က"): "auk",
    ("ေါ", "က"): "auk", ("", "တ"): "at", ("ိ", "တ"): "eik", ("ု", "တ"): "ok", ("", "ပ"): "at",
    ("ိ", "ပ"): "eik", ("ု", "ပ"): "ok", ("", "စ"): "it", ("", "ယ"): "e", ("", "ဏ"): "an",
}
_MY_MEDIALS = {"ျ": "y", "ြ": "y", "ွ": "w", "ှ": "h"}
_MY_VOWEL_SIGNS = "ါာိီုူေဲ"
_MY_TONES = "့းံ"
_MY_WITH_MEDIAL = {
    ("k", "y"): "ky", ("kh", "y"): "ch", ("g", "y"): "gy", ("p", "y"): "py", ("ph", "y"): "phy", ("b", "y"): "by",
    ("m", "y"): "my", ("l", "y"): "ly",
}


def myanmar_to_latin(word: str) -> str:  # noqa: C901, PLR0912 - one branch per part of a Myanmar syllable
    """A Myanmar word in the conventional romanisation of names, syllable by syllable:
    မင်းအောင်လှိုင် -> minaunghlaing, ကျော် -> kyaw, ထွန်း -> htun."""
    out: list[str] = []
    i, n = 0, len(word)
    while i < n:
        c = word[i]
        if c in _MY_INDEPENDENT:
            out.append(_MY_INDEPENDENT[c])
            i += 1
            while i < n and word[i] in _MY_TONES + _MY_ASAT + _MY_VOWEL_SIGNS:
                i += 1
            continue
        if c not in _MY_ONSET:
            i += 1
            continue
        onset = _MY_ONSET[c]
        i += 1
        medials = ""
        while i < n and word[i] in _MY_MEDIALS:
            medials += _MY_MEDIALS[word[i]]
            i += 1
        if "h" in medials:
            onset = "sh" if c == "ရ" else "h" + onset if onset in ("l", "m", "n", "ny", "w") else onset
        if "y" in medials:
            onset = _MY_WITH_MEDIAL.get((onset, "y"), onset + "y")
        if "w" in medials:
            onset += "w"
        vowels = ""
        while i < n and (word[i] in _MY_VOWEL_SIGNS):
            vowels += word[i]
            i += 1
        final, creaky = "", False
        after = i + 1
        while after < n and word[after] == "့":
            after += 1
        if i + 1 < n and word[i] in _MY_ONSET and after < n and word[after] == _MY_ASAT:
            final, creaky, i = word[i], after > i + 1, after + 1
        elif i + 1 < n and word[i] in _MY_ONSET and word[i + 1] == _MY_VIRAMA:
            final, i = word[i], i + 2  # a stacked consonant closes this syllable (စန္ဒာ)
        elif i < n and word[i] == _MY_ASAT:  # ော် : the asat closes the vowel itself
            final, i = _MY_ASAT, i + 1
        while i < n and word[i] in _MY_TONES + _MY_ASAT:
            creaky = creaky or word[i] == "့"
            if word[i] == "ံ":
                final = "မ"
            i += 1
        if onset.endswith("w") and vowels == "" and final in ("န", "မ", "တ", "ပ"):
            onset, rhyme = onset[:-1], {"န": "un", "မ": "un", "တ": "ut", "ပ": "ut"}[final]
        elif onset.endswith("w") and vowels == "" and final == "":
            onset, rhyme = onset[:-1], "wa"
        elif onset.endswith("w") and vowels == "ေ" and final == "":
            rhyme = "e"  # ရွှေ Shwe, ဆွေ Swe
        else:
            rhyme = _MY_RHYMES.get((vowels, final), _MY_RHYMES.get((vowels, ""), "a"))
        if creaky and final in ("န", "င", "မ") and rhyme.endswith("n"):
            rhyme += "t"  # the creaky tone of a nasal rhyme: Myint, Nyunt
        out.append(onset + rhyme)
    return "".join(out)


# --- Japanese kana -----------------------------------------------------------------------------------

_KANA_SMALL_Y = {"ゃ": "a", "ゅ": "u", "ょ": "o", "ャ": "a", "ュ": "u", "ョ": "o"}
_KANA_SOKUON = {"っ", "ッ"}


def kana_to_latin(word: str, letters: Callable[[str], str]) -> str:
    """Kana in Hepburn: the small ya, yu, yo join the syllable before (しゅ shu, きょ kyo), the small tsu
    doubles the next consonant (はっとり hattori), the long-vowel mark is dropped (as passports do).
    `letters` transliterates one kana (anyascii)."""
    out = ""
    double = False
    for char in word:
        if char in _KANA_SMALL_Y and out.endswith("i"):
            head = out[:-1]
            out = head + _KANA_SMALL_Y[char] if head.endswith(("sh", "ch", "j")) else head + "y" + _KANA_SMALL_Y[char]
            continue
        if char in _KANA_SOKUON:
            double = True
            continue
        if char == "ー":
            continue
        latin = letters(char).lower()
        if double and latin and latin[0] not in "aeiou":
            latin = ("t" if latin.startswith("ch") else latin[0]) + latin
        double = False
        out += latin
    return out


# --- Japanese names in kanji ---------------------------------------------------------------------------
# Kanji read as Chinese (anyascii: 吉田翔太 -> Ji Tian Xiang Tai) share nothing with the Hepburn a list
# writes (YOSHIDA, Shota). A name in Han that looks Japanese (kana in it, or a word starting with one of
# the commonest Japanese surnames, which Chinese does not write) is also read as Japanese (pykakasi's
# dictionary, into kana, which `kana_to_latin` reads as it reads typed kana). The surnames are those of
# two kanji or more: one kanji (林, 森) is as often a Chinese surname (Lin, Sen).
JAPANESE_SURNAMES = frozenset("""
佐藤 鈴木 高橋 田中 伊藤 渡辺 渡邊 渡邉 山本 中村 小林 加藤 吉田 山田 佐々木 山口 松本 井上 木村 斎藤 斉藤 齋藤
清水 山崎 森田 池田 橋本 阿部 石川 山下 中島 石井 小川 前田 岡田 長谷川 藤田 後藤 近藤 村上 遠藤 青木 坂本
福田 太田 西村 藤井 金子 岡本 藤原 中野 三浦 原田 中川 松田 竹内 小野 田村 中山 和田 石田 上田 森本 内田
柴田 酒井 宮崎 横山 高木 安藤 宮本 大野 小島 谷口 今井 工藤 高田 増田 丸山 杉山 村田 大塚 新井 小山 平野
藤本 河野 上野 野口 武田 松井 千葉 岩崎 菅原 木下 久保 佐野 野村 松尾 市川 菊地 杉本 古川 大西 島田 水野
桜井 高野 渡部 吉川 山内 西田 飯田 菊池 西川 小松 北村 安田 五十嵐 川口 平田 中田 久保田 服部 岩田 土屋
川崎 福島 本田 樋口 秋山 田口 永井 山中 中西 吉村 川上 石原 大橋 松岡 馬場 浜田 星野 矢野 浅野 大久保 松下
荒木 大島 小池 野田 熊谷 松村 西山 大谷 平井 中井 今村 岡崎 片山 辻本 関口 堀 北川 宮田 須藤 小西 榎本
""".split())
_KANA = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f]")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_HAN_OR_KANA = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3005]+")


@lru_cache(maxsize=1)
def _kakasi() -> Any:  # noqa: ANN401 - pykakasi ships no types
    import pykakasi  # noqa: PLC0415 - its dictionary takes most of a second: loaded on the first kanji name only

    return pykakasi.kakasi()  # type: ignore[no-untyped-call]  # pykakasi leaves its constructor unannotated


def looks_japanese(name: str) -> bool:
    """Whether a name with Han in it reads as Japanese: kana in it, or a word of Han or kana
    starting with a common Japanese surname (吉田翔太, 佐々木 恵)."""
    if not _HAN.search(name):
        return False
    if _KANA.search(name):
        return True
    return any(run[:n] in JAPANESE_SURNAMES for run in _HAN_OR_KANA.findall(name) for n in (2, 3, 4))


@lru_cache(maxsize=20_000)
def japanese_reading(name: str) -> str | None:
    """A name written in Han that looks Japanese (`looks_japanese`) with its Han and kana in kana, word
    by word (吉田翔太 -> よしだ しょうた, 大野 純一郎 -> おおの じゅんいちろう); None for any other name.
    A leading common surname is read alone, so that the given name after it is a word of its own."""
    if not looks_japanese(name):
        return None

    def kana(word: str) -> list[str]:
        return [k for item in _kakasi().convert(word) if (k := item["hira"].strip())]

    def read(run: str) -> str:
        for n in (4, 3, 2):
            if run[:n] in JAPANESE_SURNAMES and len(run) > n:
                return "".join(kana(run[:n])) + " " + "".join(kana(run[n:]))
        return " ".join(kana(run))

    return _HAN_OR_KANA.sub(lambda m: f" {read(m.group())} ", name)


_THAI = re.compile(r"[\u0e00-\u0e7f]")
_MYANMAR = re.compile(r"[\u1000-\u109f]")


def romanise_script(word: str) -> str | None:
    """The word romanised here when it is Thai or Myanmar, else None (anyascii's business)."""
    if _THAI.search(word):
        return thai_to_latin(word)
    if _MYANMAR.search(word):
        return myanmar_to_latin(word)
    return None
