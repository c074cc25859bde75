"""Builds the harder screening set deterministically (seeded): names of Chinese, Korean, Japanese,
Burmese, Thai and Arabic clients as they really write them, against a list that spells each name one
way (OFAC's CSV layout: script_sdn.csv, script_alt.csv, script_add.csv) and script_queries.csv
(query_id, full_name, dob, country, client_type, script, variation, expected, half).

`expected` is the ent_num that must alert, empty when nothing may. `half` splits the set by listed
party: `tune` (the matcher may be improved on what its categories show) and `held` (never looked at
name by name, reported only). Negatives are assigned to the half of the listed party they imitate.

Variations with a listed party to find:
- native: the name in its own script (Han, Hangul, kana, kanji, Myanmar, Thai, Arabic);
- wade_giles (pinyin listed), pinyin_split ("Jian Guo Zhang");
- mr (McCune-Reischauer with its breves and apostrophes), rr (Revised Romanization), passport
  (the spelling Korean, Japanese and Thai passports and clients use: Park, Choi, Young; Satoh, Ohno; Shinawatra);
- kunrei (Japanese Kunrei-shiki: Syuiti, Tizuko), rtgs (Thailand's Royal General System where the list has a
  common spelling, or the reverse);
- honorific (a Burmese name with U, Daw, Ko or Maung before it), spacing (syllables joined or split);
- arabic_translit (another transliteration of each word: Mohammed, Muhammad, Mohamad), article (al-, el-,
  Al, joined or left out);
- typo2 (two edits: one in each of two words, or two in a word of ten letters or more).
Variations where nothing may alert (a name that every screening tool must take for a listed one is no
negative and is left out: all its words among the listed name's, or the reverse, or one word a typing
slip from the listed one; so is a listed name that is another listed name so): neg_same_surname (a listed common surname, Wang, Kim, Nguyen, Sato, with
another given name of the culture), neg_shared_given (the listed given name with another surname),
neg_entity (a company sharing a word with a listed one).

The native scripts and every romanisation are written here by hand from the systems' tables; the product
transliterates, this file only labels.

Run: python tests/compliance/data/make_script_set.py
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 61

# Chinese syllables: (Han, pinyin, Wade-Giles as written in Taiwanese passports and old records).
ZH_SURNAMES = [("王", "wang", "wang"), ("李", "li", "li"), ("张", "zhang", "chang"), ("刘", "liu", "liu"),
               ("陈", "chen", "chen"), ("杨", "yang", "yang"), ("黄", "huang", "huang"), ("赵", "zhao", "chao"),
               ("周", "zhou", "chou"), ("吴", "wu", "wu"), ("孙", "sun", "sun"), ("朱", "zhu", "chu"),
               ("郭", "guo", "kuo"), ("林", "lin", "lin"), ("高", "gao", "kao"), ("郑", "zheng", "cheng"),
               ("谢", "xie", "hsieh"), ("宋", "song", "sung"), ("邓", "deng", "teng"), ("曹", "cao", "tsao"),
               ("蒋", "jiang", "chiang"), ("许", "xu", "hsu"), ("秦", "qin", "chin"), ("钟", "zhong", "chung")]
ZH_GIVEN = [("建", "jian", "chien"), ("国", "guo", "kuo"), ("伟", "wei", "wei"), ("明", "ming", "ming"),
            ("华", "hua", "hua"), ("志", "zhi", "chih"), ("强", "qiang", "chiang"), ("军", "jun", "chun"),
            ("平", "ping", "ping"), ("东", "dong", "tung"), ("海", "hai", "hai"), ("德", "de", "te"),
            ("永", "yong", "yung"), ("春", "chun", "chun"), ("光", "guang", "kuang"), ("文", "wen", "wen"),
            ("庆", "qing", "ching"), ("新", "xin", "hsin"), ("荣", "rong", "jung"), ("成", "cheng", "cheng"),
            ("晓", "xiao", "hsiao"), ("红", "hong", "hung"), ("秀", "xiu", "hsiu"), ("英", "ying", "ying"),
            ("峰", "feng", "feng"), ("涛", "tao", "tao"), ("辉", "hui", "hui"), ("杰", "jie", "chieh"),
            ("振", "zhen", "chen"), ("玉", "yu", "yu"), ("宏", "hong", "hung"), ("斌", "bin", "pin")]
# The Wade-Giles of scholars and older lists: aspirates marked, ü written.
WG_APOSTROPHE = {"chiang": "ch'iang", "chun": "ch'un", "ching": "ch'ing", "cheng": "ch'eng", "chen": "ch'en",
                 "tao": "t'ao", "tsao": "ts'ao", "ping": "p'ing", "chin": "ch'in", "hsu": "hsü", "yu": "yü",
                 "chien": "ch'ien", "tung": "t'ung"}
WG_ASPIRATED = {"qiang", "chun", "qing", "cheng", "chen", "tao", "cao", "ping", "qin", "qian", "tong"}

# Korean syllables: (Hangul, Revised Romanization, McCune-Reischauer, the usual passport spelling).
KO_SURNAMES = [("김", "gim", "kim", "kim"), ("이", "i", "yi", "lee"), ("박", "bak", "pak", "park"),
               ("최", "choe", "ch'oe", "choi"), ("정", "jeong", "chŏng", "jung"), ("강", "gang", "kang", "kang"),
               ("조", "jo", "cho", "cho"), ("윤", "yun", "yun", "yoon"), ("장", "jang", "chang", "jang"),
               ("임", "im", "im", "lim"), ("한", "han", "han", "han"), ("신", "sin", "sin", "shin"),
               ("서", "seo", "sŏ", "suh"), ("권", "gwon", "kwŏn", "kwon"), ("황", "hwang", "hwang", "hwang"),
               ("송", "song", "song", "song"), ("전", "jeon", "chŏn", "jun"), ("리", "ri", "ri", "ri")]
KO_GIVEN = [("철", "cheol", "ch'ŏl", "chul"), ("수", "su", "su", "soo"), ("영", "yeong", "yŏng", "young"),
            ("민", "min", "min", "min"), ("준", "jun", "chun", "joon"), ("호", "ho", "ho", "ho"),
            ("성", "seong", "sŏng", "sung"), ("현", "hyeon", "hyŏn", "hyun"), ("진", "jin", "chin", "jin"),
            ("은", "eun", "ŭn", "eun"), ("우", "u", "u", "woo"), ("희", "hui", "hŭi", "hee"),
            ("남", "nam", "nam", "nam"), ("일", "il", "il", "il"), ("광", "gwang", "kwang", "kwang"),
            ("석", "seok", "sŏk", "suk"), ("혁", "hyeok", "hyŏk", "hyuk"), ("경", "gyeong", "kyŏng", "kyung"),
            ("명", "myeong", "myŏng", "myung"), ("상", "sang", "sang", "sang"), ("재", "jae", "chae", "jae"),
            ("원", "won", "wŏn", "won"), ("혜", "hye", "hye", "hye"), ("순", "sun", "sun", "soon"),
            ("학", "hak", "hak", "hak"), ("용", "yong", "yong", "yong"), ("국", "guk", "kuk", "kook")]

# Japanese names: (kanji, kana, Hepburn as listed, [Kunrei], [passport and client spellings]).
JA_SURNAMES = [
    ("佐藤", "さとう", "Sato", [], ["Satoh", "Satou"]), ("鈴木", "すずき", "Suzuki", [], []),
    ("高橋", "たかはし", "Takahashi", ["Takahasi"], []), ("田中", "たなか", "Tanaka", [], []),
    ("伊藤", "いとう", "Ito", [], ["Itoh", "Itou"]), ("渡辺", "わたなべ", "Watanabe", [], []),
    ("山本", "やまもと", "Yamamoto", [], []), ("中村", "なかむら", "Nakamura", [], []),
    ("小林", "こばやし", "Kobayashi", ["Kobayasi"], []), ("加藤", "かとう", "Kato", [], ["Katoh", "Katou"]),
    ("吉田", "よしだ", "Yoshida", ["Yosida"], []), ("松本", "まつもと", "Matsumoto", ["Matumoto"], []),
    ("清水", "しみず", "Shimizu", ["Simizu"], []), ("斎藤", "さいとう", "Saito", [], ["Saitoh", "Saitou"]),
    ("大野", "おおの", "Ono", ["Ôno"], ["Ohno", "Oono"]), ("近藤", "こんどう", "Kondo", [], ["Kondoh", "Kondou"]),
    ("後藤", "ごとう", "Goto", [], ["Gotoh", "Gotou"]), ("石川", "いしかわ", "Ishikawa", ["Isikawa"], []),
    ("藤田", "ふじた", "Fujita", ["Huzita"], []), ("遠藤", "えんどう", "Endo", [], ["Endoh", "Endou"]),
    ("太田", "おおた", "Ota", ["Ôta"], ["Ohta", "Oota"]), ("福島", "ふくしま", "Fukushima", ["Hukusima"], []),
]
JA_GIVEN = [
    ("健一", "けんいち", "Kenichi", [], ["Ken'ichi"]), ("修一", "しゅういち", "Shuichi", ["Syûiti"], ["Shuuichi"]),
    ("大輔", "だいすけ", "Daisuke", [], []), ("翔太", "しょうた", "Shota", ["Syôta"], ["Shohta", "Shouta"]),
    ("誠", "まこと", "Makoto", [], []), ("浩", "ひろし", "Hiroshi", ["Hirosi"], []),
    ("隆", "たかし", "Takashi", ["Takasi"], []), ("進一", "しんいち", "Shinichi", ["Sin'iti"], ["Shin'ichi"]),
    ("千鶴子", "ちづこ", "Chizuko", ["Tizuko"], []), ("由美子", "ゆみこ", "Yumiko", [], []),
    ("順子", "じゅんこ", "Junko", ["Zyunko"], []), ("陽子", "ようこ", "Yoko", ["Yôko"], ["Yohko", "Youko"]),
    ("哲也", "てつや", "Tetsuya", ["Tetuya"], []), ("雄一", "ゆういち", "Yuichi", ["Yûiti"], ["Yuichi", "Yuuichi"]),
    ("秀樹", "ひでき", "Hideki", [], []), ("幸子", "さちこ", "Sachiko", ["Satiko"], []),
    ("俊介", "しゅんすけ", "Shunsuke", ["Syunsuke"], []), ("純一郎", "じゅんいちろう", "Junichiro", ["Zyun'itirô"], ["Junichirou", "Junichiroh"]),
    ("直樹", "なおき", "Naoki", [], []), ("正夫", "まさお", "Masao", [], []),
]

# Thai names: (Thai, RTGS, [the spellings clients and passports use]).
TH_GIVEN = [("ทักษิณ", "Thaksin", []), ("สมชาย", "Somchai", []), ("ประยุทธ์", "Prayut", ["Prayuth"]),
            ("อภิสิทธิ์", "Aphisit", ["Abhisit"]), ("ประวิตร", "Prawit", []), ("สุเทพ", "Suthep", []),
            ("อนุทิน", "Anuthin", ["Anutin"]), ("เศรษฐา", "Settha", ["Srettha"]), ("พิธา", "Phita", ["Pita"]),
            ("สมศักดิ์", "Somsak", []), ("ประเสริฐ", "Prasoet", ["Prasert"]), ("วิชัย", "Wichai", ["Vichai"]),
            ("ณัฐพล", "Nattaphon", ["Nattapol", "Natthaphon"]), ("ธนพล", "Thanaphon", ["Tanapol"]),
            ("พงศ์ศักดิ์", "Phongsak", ["Pongsak"]), ("สุวิทย์", "Suwit", ["Suwith"]), ("กิตติ", "Kitti", []),
            ("สมพงษ์", "Somphong", ["Sompong"]), ("วีระ", "Wira", ["Veera", "Weera"]), ("ชาติชาย", "Chatchai", ["Chatchay"])]
TH_SURNAMES = [("ชินวัตร", "Chinnawat", ["Shinawatra"]), ("วงศ์สวัสดิ์", "Wongsawat", ["Wongsawad"]),
               ("จันทร์โอชา", "Chan-o-cha", ["Chan-ocha", "Chanocha"]), ("เวชชาชีวะ", "Wetchachiwa", ["Vejjajiva"]),
               ("วงษ์สุวรรณ", "Wongsuwan", ["Wongsuwon"]), ("ศรีสุข", "Sisuk", ["Srisuk"]),
               ("แสงทอง", "Saengthong", ["Sangthong"]), ("บุญมา", "Bunma", ["Boonma"]),
               ("ทองดี", "Thongdi", ["Thongdee", "Tongdee"]), ("พรหมมา", "Phromma", ["Promma"]),
               ("รุ่งเรือง", "Rungrueang", ["Roongruang"]), ("ศรีวงศ์", "Siwong", ["Sriwong"]),
               ("สุขสวัสดิ์", "Suksawat", ["Suksawad"]), ("ชาญวีรกูล", "Chanwirakun", ["Charnvirakul"]),
               ("ทวีสิน", "Thawisin", ["Thavisin"]), ("ลิ้มเจริญรัตน์", "Limcharoenrat", ["Limjaroenrat"])]

# Burmese names (no surname): words as (Myanmar, the list's spelling, [other spellings]).
MY_WORDS = [("မင်း", "Min", []), ("အောင်", "Aung", []), ("လှိုင်", "Hlaing", ["Hlain"]), ("သန်း", "Than", []),
            ("ရွှေ", "Shwe", []), ("သိန်း", "Thein", ["Thien"]), ("စိန်", "Sein", []), ("စိုး", "Soe", ["So"]),
            ("ဝင်း", "Win", []), ("မြင့်", "Myint", ["Myin"]), ("ဆွေ", "Swe", ["Sway"]), ("ကျော်", "Kyaw", ["Kyaw"]),
            ("ထွန်း", "Htun", ["Tun", "Htoon"]), ("မောင်", "Maung", ["Mg"]), ("ဦး", "Oo", ["U"]),
            ("ခင်", "Khin", []), ("ညွန့်", "Nyunt", ["Nyount"]), ("တင်", "Tin", ["Tin"]), ("ဇော်", "Zaw", ["Zaw"]),
            ("ဌေး", "Htay", ["Htei", "Tay"]), ("စွာ", "Swar", ["Swa"]), ("နိုင်", "Naing", ["Nai"]),
            ("ထက်", "Htet", ["Htat"]), ("ပြည့်", "Pyae", ["Pyay"]), ("ဖြိုး", "Phyo", ["Pyo"])]
MY_HONORIFICS = ["U", "Daw", "Ko", "Maung", "Ma"]

# Arabic: (Arabic, [transliterations, the list's first]).
AR_GIVEN = [("محمد", ["Muhammad", "Mohammed", "Mohamed", "Mohamad", "Mohammad", "Muhammed"]),
            ("أحمد", ["Ahmad", "Ahmed"]), ("يوسف", ["Yusuf", "Yousef", "Youssef", "Yousif"]),
            ("حسين", ["Husayn", "Hussein", "Hussain", "Husain"]), ("عمر", ["Umar", "Omar"]),
            ("أسامة", ["Usama", "Osama", "Oussama"]), ("خالد", ["Khalid", "Khaled"]),
            ("سعيد", ["Said", "Saeed", "Sa'id"]), ("إبراهيم", ["Ibrahim", "Ebrahim"]),
            ("مصطفى", ["Mustafa", "Mostafa", "Moustafa"]), ("جمال", ["Jamal", "Gamal"]),
            ("طارق", ["Tariq", "Tarek", "Tarik"]), ("عثمان", ["Uthman", "Othman", "Osman"]),
            ("صالح", ["Salih", "Saleh"]), ("فيصل", ["Faysal", "Faisal"]), ("هشام", ["Hisham", "Hesham"]),
            ("زكريا", ["Zakariya", "Zakaria", "Zakariyya"]), ("قاسم", ["Qasim", "Kassem", "Qassem"]),
            ("عبد الرحمن", ["Abd al-Rahman", "Abdul Rahman", "Abdel Rahman", "Abdulrahman", "Abdurrahman"]),
            ("عبد الله", ["Abd Allah", "Abdullah", "Abdallah", "Abdulla"]), ("ياسين", ["Yasin", "Yassin", "Yaseen"]),
            ("حمزة", ["Hamza", "Hamzah"]), ("نبيل", ["Nabil", "Nabeel"]), ("وليد", ["Walid", "Waleed"])]
AR_SURNAMES = [("الزهراني", ["Zahrani", "Zahrany"]), ("القحطاني", ["Qahtani", "Kahtani"]),
               ("الشمري", ["Shammari", "Shamari", "Shammary"]), ("العتيبي", ["Utaybi", "Otaibi", "Oteibi"]),
               ("الحربي", ["Harbi", "Harby"]), ("المصري", ["Masri", "Masry"]), ("البغدادي", ["Baghdadi", "Baghdady"]),
               ("الحسيني", ["Husayni", "Husseini", "Hussaini"]), ("الخطيب", ["Khatib", "Khateeb"]),
               ("النجار", ["Najjar", "Naggar", "Najar"]), ("الأنصاري", ["Ansari", "Ansary"]),
               ("الكبيسي", ["Kubaysi", "Kubaisi", "Kubeisi"]), ("الدوسري", ["Dawsari", "Dosari", "Dossary"]),
               ("السويدي", ["Suwaydi", "Suwaidi", "Sweidi"]), ("الهاشمي", ["Hashimi", "Hashemi"]),
               ("التميمي", ["Tamimi", "Tamimy"])]
AR_ARTICLES = ["al-{}", "el-{}", "Al {}", "Al{}", "{}", "Al-{}"]

VI_GIVEN = [("Văn Thành", "Van Thanh"), ("Văn Minh", "Van Minh"), ("Thị Hoa", "Thi Hoa"), ("Đức Anh", "Duc Anh"),
            ("Quốc Huy", "Quoc Huy"), ("Hữu Nghĩa", "Huu Nghia"), ("Thanh Tùng", "Thanh Tung"), ("Minh Khoa", "Minh Khoa")]
VI_SURNAMES = [("Nguyễn", "Nguyen"), ("Trần", "Tran"), ("Lê", "Le"), ("Phạm", "Pham")]

COMPANIES = [("KOREA MINING DEVELOPMENT TRADING CORPORATION", ["Korea Mining Equipment Corporation", "Korea Development Bank"]),
             ("MYANMA ECONOMIC HOLDINGS LIMITED", ["Myanma Timber Enterprise", "Myanmar Holdings Group Limited"]),
             ("GOLDEN STAR SHIPPING CO LTD", ["Golden Lotus Shipping Co Ltd", "Golden Star Restaurant Ltd"]),
             ("AL RASHID TRUST", ["Al Rashid Bakery LLC", "Al Noor Trust"]),
             ("CHINA NORTH INDUSTRIES GROUP CORPORATION", ["China North Textile Co", "China Southern Industries Corporation"]),
             ("DAEDONG CREDIT BANK", ["Daedong Travel Agency", "Daesong Credit Bank"]),
             ("SHANGHAI XINYE TRADING COMPANY", ["Shanghai Xinhua Trading Company", "Beijing Xinye Technology Company"]),
             ("SIAM PETROLEUM SUPPLY CO LTD", ["Siam Cement Supply Co Ltd", "Thai Petroleum Services Co Ltd"]),
             ("TOKYO MARINE LOGISTICS KK", ["Tokyo Dental Logistics KK", "Osaka Marine Logistics KK"]),
             ("AL AQSA FOUNDATION", ["Al Aqsa Pharmacy", "Al Amal Foundation"])]


@dataclass
class Listed:
    ent: str
    script: str
    listed: str  # as the list writes it
    country: str
    queries: list[tuple[str, str]] = field(default_factory=list)  # (variation, query)
    negatives: list[tuple[str, str, frozenset[str], str]] = field(default_factory=list)  # (variation, query, ident, latin)
    entity: bool = False
    ident: frozenset[str] = frozenset()  # who the name is: its words in their own script


def _typo2(rng: random.Random, name: str) -> str:
    """Two edits: one in each of two words, or two in a word of ten letters or more."""
    words = name.split(" ")
    long = [i for i, w in enumerate(words) if len(w) >= 10]
    fit = [i for i, w in enumerate(words) if len(w) >= 4]
    if len(fit) < 2 or (long and rng.random() < 0.3):
        i = rng.choice(long) if long else max(range(len(words)), key=lambda j: len(words[j]))
        words[i] = _edit(rng, _edit(rng, words[i]))
    else:
        for i in rng.sample(fit, 2):
            words[i] = _edit(rng, words[i])
    return " ".join(words)


def _edit(rng: random.Random, word: str) -> str:
    i = rng.randint(1, len(word) - 2)
    op = rng.choice(["swap", "drop", "double", "replace"])
    if op == "swap":
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if op == "drop":
        return word[:i] + word[i + 1:]
    if op == "double":
        return word[:i] + word[i] + word[i:]
    near = {"a": "s", "e": "r", "i": "o", "o": "i", "n": "m", "m": "n", "r": "t", "s": "a", "t": "r", "l": "k",
            "u": "y", "h": "j", "g": "h", "k": "l"}
    return word[:i] + near.get(word[i], "e") + word[i + 1:]


def _cap(text: str) -> str:
    return "-".join(p[:1].upper() + p[1:] for p in text.split("-"))


def chinese(rng: random.Random, n: int) -> list[Listed]:
    out: list[Listed] = []
    seen: set[tuple[str, ...]] = set()
    while len(out) < n:
        sur = rng.choice(ZH_SURNAMES)
        given = rng.sample(ZH_GIVEN, 2)
        if (sur[0], given[0][0], given[1][0]) in seen:
            continue
        seen.add((sur[0], given[0][0], given[1][0]))
        pinyin = given[0][1] + ("'" if given[1][1][0] in "aeo" else "") + given[1][1]
        listed = f"{sur[1].upper()}, {pinyin.replace(chr(39), '').capitalize()}"
        p = Listed("", "han", listed, "CN", ident=frozenset({sur[0], given[0][0] + given[1][0]}))
        native = sur[0] + given[0][0] + given[1][0]
        p.queries.append(("native", native))
        p.queries.append(("native", f"{sur[0]} {given[0][0]}{given[1][0]}"))
        wg = f"{sur[2].capitalize()} {given[0][2].capitalize()}-{given[1][2]}"
        p.queries.append(("wade_giles", wg if rng.random() < 0.5 else f"{given[0][2].capitalize()}-{given[1][2]} {sur[2].capitalize()}"))
        wg_marked = f"{WG_APOSTROPHE.get(sur[2], sur[2]).capitalize()} {WG_APOSTROPHE.get(given[0][2], given[0][2]).capitalize()}-{WG_APOSTROPHE.get(given[1][2], given[1][2])}"
        p.queries.append(("wade_giles", wg_marked))
        p.queries.append(("pinyin_split", f"{given[0][1].capitalize()} {given[1][1].capitalize()} {sur[1].capitalize()}"))
        p.queries.append(("typo2", _typo2(rng, f"{pinyin.replace(chr(39), '').capitalize()} {sur[1].capitalize()}")))
        other = rng.sample([g for g in ZH_GIVEN if g not in given], 2)
        o_ident = frozenset({sur[0], other[0][0] + other[1][0]})
        o_latin = f"{sur[1]} {other[0][1]}{other[1][1]}"
        p.negatives.append(("neg_same_surname", f"{sur[1].capitalize()} {other[0][1].capitalize()}{other[1][1]}", o_ident, o_latin))
        p.negatives.append(("neg_same_surname", sur[0] + other[0][0] + other[1][0], o_ident, o_latin))
        other_sur = rng.choice([s for s in ZH_SURNAMES if s[1] != sur[1]])
        p.negatives.append(("neg_shared_given", f"{pinyin.replace(chr(39), '').capitalize()} {other_sur[1].capitalize()}",
                            frozenset({other_sur[0], given[0][0] + given[1][0]}), f"{pinyin} {other_sur[1]}"))
        out.append(p)
    return out


def korean(rng: random.Random, n: int) -> list[Listed]:
    out: list[Listed] = []
    seen: set[tuple[str, ...]] = set()
    while len(out) < n:
        sur = rng.choice(KO_SURNAMES)
        given = rng.sample(KO_GIVEN, 2)
        if (sur[0], given[0][0], given[1][0]) in seen:
            continue
        seen.add((sur[0], given[0][0], given[1][0]))
        north = len(out) % 2 == 0  # North Korean entries: McCune-Reischauer, diacritics dropped, syllables apart
        if north:
            plain = [_plain(g[2]) for g in given]
            listed = f"{_plain(sur[2]).upper()}, {plain[0].capitalize()} {plain[1].capitalize()}"
        else:
            listed = f"{sur[3].upper()}, {given[0][3].capitalize()}-{given[1][3]}"
        p = Listed("", "hangul", listed, "KP" if north else "KR", ident=frozenset({sur[0], given[0][0] + given[1][0]}))
        p.queries.append(("native", sur[0] + given[0][0] + given[1][0]))
        p.queries.append(("rr", f"{given[0][1].capitalize()}{given[1][1]} {sur[1].capitalize()}"))
        p.queries.append(("rr", f"{sur[1].capitalize()} {given[0][1].capitalize()}-{given[1][1]}"))
        p.queries.append(("mr", f"{_cap(sur[2])} {_cap(given[0][2])}-{given[1][2]}"))
        p.queries.append(("passport", f"{given[0][3].capitalize()} {given[1][3].capitalize()} {sur[3].capitalize()}"))
        typed = f"{sur[3].capitalize()} {given[0][3].capitalize()}{given[1][3]}" if not north else \
            f"{_plain(sur[2]).capitalize()} {_plain(given[0][2]).capitalize()} {_plain(given[1][2]).capitalize()}"
        if sum(len(w) >= 4 for w in typed.split()) >= 2 or any(len(w) >= 10 for w in typed.split()):
            p.queries.append(("typo2", _typo2(rng, typed)))
        other = rng.sample([g for g in KO_GIVEN if g not in given], 2)
        o_ident = frozenset({sur[0], other[0][0] + other[1][0]})
        p.negatives.append(("neg_same_surname", f"{sur[3].capitalize()} {other[0][3].capitalize()}-{other[1][3]}", o_ident, ""))
        p.negatives.append(("neg_same_surname", sur[0] + other[0][0] + other[1][0], o_ident, ""))
        other_sur = rng.choice([s for s in KO_SURNAMES if s[3] != sur[3] and s[2] != sur[2]])
        p.negatives.append(("neg_shared_given", f"{other_sur[3].capitalize()} {given[0][3].capitalize()}-{given[1][3]}",
                            frozenset({other_sur[0], given[0][0] + given[1][0]}), ""))
        out.append(p)
    return out


def _plain(mr: str) -> str:
    return mr.replace("ŏ", "o").replace("ŭ", "u").replace("'", "")


def japanese(rng: random.Random, n: int) -> list[Listed]:
    out: list[Listed] = []
    seen: set[tuple[str, ...]] = set()
    while len(out) < n:
        sur, given = rng.choice(JA_SURNAMES), rng.choice(JA_GIVEN)
        if (sur[0], given[0]) in seen:
            continue
        seen.add((sur[0], given[0]))
        p = Listed("", "japanese", f"{sur[2].upper()}, {given[2]}", "JP", ident=frozenset({sur[0], given[0]}))
        p.queries.append(("native", sur[0] + given[0]))
        p.queries.append(("native", f"{sur[1]} {given[1]}"))
        p.queries.append(("native", _katakana(f"{sur[1]} {given[1]}")))
        if sur[3] or given[3]:
            p.queries.append(("kunrei", f"{(sur[3] or [sur[2]])[0]} {(given[3] or [given[2]])[0]}"))
        if sur[4] or given[4]:
            p.queries.append(("passport", f"{given[2] if not given[4] else rng.choice(given[4])} "
                                          f"{sur[2] if not sur[4] else rng.choice(sur[4])}"))
        typed = f"{given[2]} {sur[2]}"
        if sum(len(w) >= 4 for w in typed.split()) >= 2:
            p.queries.append(("typo2", _typo2(rng, typed)))
        other = rng.choice([g for g in JA_GIVEN if g is not given])
        p.negatives.append(("neg_same_surname", f"{other[2]} {sur[2]}", frozenset({sur[0], other[0]}), f"{sur[2]} {other[2]}"))
        p.negatives.append(("neg_same_surname", sur[0] + other[0], frozenset({sur[0], other[0]}), f"{sur[2]} {other[2]}"))
        other_sur = rng.choice([s for s in JA_SURNAMES if s is not sur])
        p.negatives.append(("neg_shared_given", f"{given[2]} {other_sur[2]}", frozenset({other_sur[0], given[0]}),
                            f"{other_sur[2]} {given[2]}"))
        out.append(p)
    return out


def _katakana(hiragana: str) -> str:
    return "".join(chr(ord(c) + 0x60) if "ぁ" <= c <= "ゖ" else c for c in hiragana)


def thai(rng: random.Random, n: int) -> list[Listed]:
    out: list[Listed] = []
    seen: set[tuple[str, ...]] = set()
    while len(out) < n:
        given, sur = rng.choice(TH_GIVEN), rng.choice(TH_SURNAMES)
        if (given[0], sur[0]) in seen:
            continue
        seen.add((given[0], sur[0]))
        common = len(out) % 3 == 0 and (given[2] or sur[2])  # a third listed in the common spelling
        g_list = given[2][0] if common and given[2] else given[1]
        s_list = sur[2][0] if common and sur[2] else sur[1]
        p = Listed("", "thai", f"{s_list.upper()}, {g_list}", "TH", ident=frozenset({given[0], sur[0]}))
        p.queries.append(("native", f"{given[0]} {sur[0]}"))
        g_other = [x for x in [given[1], *given[2]] if x != g_list]
        s_other = [x for x in [sur[1], *sur[2]] if x != s_list]
        if g_other or s_other:
            p.queries.append(("rtgs" if common else "passport",
                              f"{rng.choice(g_other) if g_other else g_list} {rng.choice(s_other) if s_other else s_list}"))
        p.queries.append(("typo2", _typo2(rng, f"{g_list} {s_list}")))
        other = rng.choice([g for g in TH_GIVEN if g is not given])
        p.negatives.append(("neg_same_surname", f"{other[1]} {s_list}", frozenset({other[0], sur[0]}), f"{other[1]} {s_list}"))
        p.negatives.append(("neg_same_surname", f"{other[0]} {sur[0]}", frozenset({other[0], sur[0]}), f"{other[1]} {s_list}"))
        out.append(p)
    return out


def burmese(rng: random.Random, n: int) -> list[Listed]:
    out: list[Listed] = []
    seen: set[tuple[str, ...]] = set()
    while len(out) < n:
        words = rng.sample(MY_WORDS, rng.choice([2, 3, 3]))
        if tuple(w[0] for w in words) in seen or words[0][1] in ("Maung", "Oo"):
            continue
        seen.add(tuple(w[0] for w in words))
        listed = " ".join(w[1] for w in words)
        p = Listed("", "myanmar", listed.upper(), "MM", ident=frozenset(w[0] for w in words))
        p.queries.append(("native", "".join(w[0] for w in words)))
        p.queries.append(("honorific", f"{rng.choice(MY_HONORIFICS)} {listed}"))
        variant = [rng.choice(w[2]) if w[2] and rng.random() < 0.7 else w[1] for w in words]
        if variant != [w[1] for w in words]:
            p.queries.append(("passport", " ".join(variant)))
        if len(words) == 3:
            p.queries.append(("spacing", f"{words[0][1]}{words[1][1].lower()} {words[2][1]}"))
        if sum(len(w[1]) >= 4 for w in words) >= 2:
            p.queries.append(("typo2", _typo2(rng, listed)))
        other = rng.choice([w for w in MY_WORDS if w not in words and w[1] not in ("Maung", "Oo")])
        swapped = [*words[:-1], other]
        o_ident, o_latin = frozenset(w[0] for w in swapped), " ".join(w[1] for w in swapped)
        p.negatives.append(("neg_shared_given", o_latin, o_ident, o_latin))
        p.negatives.append(("neg_shared_given", "".join(w[0] for w in swapped), o_ident, o_latin))
        out.append(p)
    return out


def arabic(rng: random.Random, n: int) -> list[Listed]:
    out: list[Listed] = []
    seen: set[tuple[str, ...]] = set()
    while len(out) < n:
        given, father, sur = rng.choice(AR_GIVEN), rng.choice(AR_GIVEN), rng.choice(AR_SURNAMES)
        if given is father or (given[0], father[0], sur[0]) in seen:
            continue
        seen.add((given[0], father[0], sur[0]))
        p = Listed("", "arabic", f"AL-{sur[1][0].upper()}, {given[1][0]} {father[1][0]}", "SA",
                   ident=frozenset({given[0], father[0], sur[0]}))
        p.queries.append(("native", f"{given[0]} {father[0]} {sur[0]}"))
        p.queries.append(("native", f"{given[0]} {sur[0]}") if rng.random() < 0.3 else ("native", f"{given[0]} {father[0]} {sur[0]}"))
        p.queries.append(("arabic_translit", f"{_other(rng, given[1])} {_other(rng, father[1])} al-{_other(rng, sur[1])}"))
        p.queries.append(("arabic_translit", f"{_other(rng, given[1])} {rng.choice(['el-', 'Al ', 'Al-'])}{_other(rng, sur[1])}"))
        p.queries.append(("article", f"{given[1][0]} {father[1][0]} " + rng.choice(AR_ARTICLES[1:]).format(sur[1][0])))
        p.queries.append(("typo2", _typo2(rng, f"{given[1][0]} {father[1][0]} al-{sur[1][0]}")))
        other = rng.choice([g for g in AR_GIVEN if g is not given and g is not father])
        o_ident, o_latin = frozenset({other[0], sur[0]}), f"{other[1][0]} {sur[1][0]}"
        p.negatives.append(("neg_same_surname", f"{other[1][0]} al-{sur[1][0]}", o_ident, o_latin))
        p.negatives.append(("neg_same_surname", f"{other[0]} {sur[0]}", o_ident, o_latin))
        other_sur = rng.choice([s for s in AR_SURNAMES if s is not sur])
        p.negatives.append(("neg_shared_given", f"{given[1][0]} {father[1][0]} al-{other_sur[1][0]}",
                            frozenset({given[0], father[0], other_sur[0]}), f"{given[1][0]} {father[1][0]} {other_sur[1][0]}"))
        out.append(p)
    return out


def _other(rng: random.Random, forms: list[str]) -> str:
    """Another transliteration than the list's (the first)."""
    return rng.choice(forms[1:]) if len(forms) > 1 else forms[0]


def vietnamese(rng: random.Random, n: int) -> list[Listed]:
    out: list[Listed] = []
    for i in range(n):
        sur, given = VI_SURNAMES[i % len(VI_SURNAMES)], VI_GIVEN[i % len(VI_GIVEN)]
        p = Listed("", "vietnamese", f"{sur[1].upper()}, {given[1]}", "VN", ident=frozenset({sur[1], *given[1].split()}))
        p.queries.append(("native", f"{sur[0]} {given[0]}"))
        other = rng.choice([g for g in VI_GIVEN if g is not given and g[1].split()[0] != given[1].split()[0]])
        o_ident = frozenset({sur[1], *other[1].split()})
        p.negatives.append(("neg_same_surname", f"{sur[1]} {other[1]}", o_ident, f"{sur[1]} {other[1]}"))
        p.negatives.append(("neg_same_surname", f"{sur[0]} {other[0]}", o_ident, f"{sur[1]} {other[1]}"))
        out.append(p)
    return out


def entities() -> list[Listed]:
    out: list[Listed] = []
    for listed, others in COMPANIES:
        p = Listed("", "entity", listed, "", entity=True)
        words = listed.title().split()
        p.queries.append(("legal_form", " ".join(words[:-1]) + (" Limited" if words[-1] != "Limited" else " Ltd")))
        for other in others:
            p.negatives.append(("neg_entity", other, frozenset(), ""))
        out.append(p)
    return out


def _folded(latin: str) -> set[str]:
    words = latin.lower().replace("-", " ").replace("'", "").replace(",", " ").split()
    return {w for w in words if w not in ("al", "el")}


def _one_edit(a: str, b: str) -> bool:
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        differ = [i for i in range(len(a)) if a[i] != b[i]]
        return len(differ) == 1 or (len(differ) == 2 and differ[1] == differ[0] + 1
                                    and a[differ[0]] == b[differ[1]] and a[differ[1]] == b[differ[0]])
    short, long = sorted((a, b), key=len)
    return any(long[:i] + long[i + 1:] == short for i in range(len(long)))


def _confusable(ident: frozenset[str], latin: str, other: Listed) -> bool:
    """Whether a name is, by the rules every screening tool follows, the listed `other`: all of one's words
    among the other's (a middle name or surname left out), or one word a typing slip from the listed one."""
    if ident and other.ident and (ident <= other.ident or other.ident <= ident):
        return True
    if not latin:
        return False
    typed, listed = _folded(latin), _folded(other.listed)
    rest_t, rest_l = typed - listed, listed - typed
    return len(rest_t) == 1 and len(rest_l) == 1 and _one_edit(next(iter(rest_t)), next(iter(rest_l)))


def build() -> tuple[list[Listed], list[tuple[str, ...]]]:
    rng = random.Random(SEED)
    made = (chinese(rng, 40) + korean(rng, 40) + japanese(rng, 30) + thai(rng, 30) + burmese(rng, 30)
            + arabic(rng, 40) + vietnamese(rng, 8) + entities())
    parties: list[Listed] = []
    for p in made:  # a listed name that is another listed name by those rules is left out
        if p.entity or not any(_confusable(p.ident, p.listed, q) for q in parties if q.script == p.script):
            parties.append(p)
    for n, p in enumerate(parties):
        p.ent = str(61000 + n)
    rows: list[tuple[str, ...]] = []
    for n, p in enumerate(parties):
        half = "tune" if n % 2 == 0 else "held"
        client_type = "company" if p.entity else "person"
        for variation, query in p.queries:
            rows.append((query, "", "", client_type, p.script, variation, p.ent, half))
        for variation, query, ident, latin in p.negatives:
            if not any(_confusable(ident, latin, q) for q in parties if q.script == p.script and not p.entity):
                rows.append((query, "", "", client_type, p.script, variation, "", half))
    return parties, rows


def main() -> None:
    parties, rows = build()
    with (HERE / "script_sdn.csv").open("w", newline="", encoding="utf-8") as sdn, \
            (HERE / "script_alt.csv").open("w", newline="", encoding="utf-8") as alt, \
            (HERE / "script_add.csv").open("w", newline="", encoding="utf-8") as add:
        sdn_w, add_w = (csv.writer(f, lineterminator="\r\n") for f in (sdn, add))
        del alt  # no aliases: each name is listed in one spelling
        for n, p in enumerate(parties, start=1):
            sdn_w.writerow([p.ent, p.listed, "-0- " if p.entity else "individual", "SDGT", "-0- ", "-0- ", "-0- ",
                            "-0- ", "-0- ", "-0- ", "-0- ", "-0- "])
            if p.country:
                add_w.writerow([p.ent, n, "-0- ", "-0- ", COUNTRY[p.country], "-0- "])
    with (HERE / "script_queries.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["query_id", "full_name", "dob", "country", "client_type", "script", "variation", "expected", "half"])
        for n, row in enumerate(rows, start=1):
            writer.writerow([f"S{n:04d}", *row])


COUNTRY = {"CN": "China", "KP": "Korea, North", "KR": "Korea, South", "JP": "Japan", "TH": "Thailand",
           "MM": "Burma", "SA": "Saudi Arabia", "VN": "Vietnam"}

if __name__ == "__main__":
    main()
