"""A second KYC document generator, written apart from the checks (issue 61).

Written from the checks' documented input contract only (`manage.py kyc_check`'s options and the
README), without reading the checks or the first generator (tests/kyc/docgen.py, hardset.py), so that
its documents are not shaped by the hands that tune the checks. It draws passports of twelve issuers
(TD3 machine-readable zone with ICAO check digits and transliteration), ID cards of eight (both sides,
TD1 zone), EU driving licences, utility bills and bank statements in nine languages, in other fonts
(Pillow's own Aileron, PDFium's Helvetica, Times and Courier, the DejaVu families when installed) and
layouts, captured four ways: a phone photo (perspective, rotation, uneven light, blur, noise, JPEG),
a flatbed scan (slight skew, paper tint, noise, PNG or JPEG), a scan inside a PDF, and a PDF with a
text layer (bills and statements, as online banking prints them).

`generate(out_dir, split)` writes one split and returns its samples: "tune" (seed 1) and "tune2" (seed
3, added in the third round so that a change is tried on documents it was not first made on) and
"tune3" (seed 4, the fourth round's fresh look at failures) are the splits the checks may be improved on, category by category; "heldout" (seed 2) is never used for
tuning, only reported. Everything comes from `random.Random(seed)` and numpy's `default_rng(seed)`, so a split is
the same documents on every run; nothing is committed but this code.

A sample is "clean" (every check should pass: the right answer is an automatic approval) or carries
one defect (expired, another person's name, another birth date, a broken MRZ check digit, an old
bill, another address): the right answer is anything but an approval, and an approval is a false
approval.
"""

from __future__ import annotations

import io
import math
import random
import time
import unicodedata
import zlib
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pypdfium2 as pdfium
from PIL import Image, ImageDraw, ImageFilter, ImageFont

AS_OF = date(2026, 11, 15)
SEEDS = {"tune": 1, "heldout": 2, "tune2": 3, "tune3": 4}
IDENTITY_CAPTURES = ("photo", "scan", "pdf_scan")
ADDRESS_CAPTURES = ("photo", "scan", "pdf_scan", "pdf_text")
KINDS = ("passport", "id_card", "driving_licence", "utility_bill", "bank_statement")
MM_PT = 72 / 25.4

# ---------------------------------------------------------------------------------------- people

# country: (ISO alpha-3 used in the MRZ, language, given names, surnames, streets, towns with postcodes)
COUNTRIES: dict[str, dict[str, Any]] = {
    "DE": {
        "mrz": "D", "lang": "de",
        "given": ["Jürgen", "Käthe", "Björn", "Lena", "Maximilian", "Sören", "Anneliese", "Tobias"],
        "surnames": ["Müller", "Weiß", "Schröder", "Köhler", "Hoffmann", "Groß", "Bäcker", "Fuchs"],
        "street": "{s} {n}", "streets": ["Hauptstraße", "Lindenallee", "Goethestraße", "Am Mühlbach"],
        "towns": [("10115", "Berlin"), ("80331", "München"), ("50667", "Köln"), ("01067", "Dresden")],
        "town": "{p} {t}",
    },
    "FR": {
        "mrz": "FRA", "lang": "fr",
        "given": ["François", "Hélène", "Amélie", "Jérôme", "Benoît", "Noémie", "Gaëlle", "Loïc"],
        "surnames": ["Lefèvre", "Dubois", "Moreau", "Girard", "Fournier", "Bérenger", "Lemaître"],
        "street": "{n} {s}", "streets": ["rue de la République", "avenue Victor Hugo", "boulevard Voltaire"],
        "towns": [("75011", "Paris"), ("69002", "Lyon"), ("13001", "Marseille"), ("31000", "Toulouse")],
        "town": "{p} {t}",
    },
    "ES": {
        "mrz": "ESP", "lang": "es",
        "given": ["José María", "Lucía", "Álvaro", "Inés", "Nuria", "Íñigo", "Begoña"],
        "surnames": ["García López", "Fernández Ruiz", "Martínez Peña", "Sánchez Ibáñez", "Núñez Gil"],
        "street": "{s} {n}", "streets": ["Calle Mayor", "Calle de Alcalá", "Avenida de la Constitución"],
        "towns": [("28013", "Madrid"), ("41004", "Sevilla"), ("46002", "Valencia"), ("08002", "Barcelona")],
        "town": "{p} {t}",
    },
    "IT": {
        "mrz": "ITA", "lang": "it",
        "given": ["Giulia", "Niccolò", "Francesca", "Lorenzo", "Chiara", "Matteo"],
        "surnames": ["Bianchi", "Esposito", "Romano", "Colombo", "Ricci", "De Luca"],
        "street": "{s} {n}", "streets": ["Via Roma", "Corso Vittorio Emanuele", "Via Garibaldi"],
        "towns": [("00184", "Roma"), ("20121", "Milano"), ("80134", "Napoli"), ("50122", "Firenze")],
        "town": "{p} {t}",
    },
    "PT": {
        "mrz": "PRT", "lang": "pt",
        "given": ["João", "Inês", "Gonçalo", "Conceição", "Tomás", "Leonor"],
        "surnames": ["Gonçalves", "Simões", "Magalhães", "Araújo", "Conceição", "Rodrigues"],
        "street": "{s} {n}", "streets": ["Rua Augusta", "Avenida da Liberdade", "Rua de Santa Catarina"],
        "towns": [("1100-053", "Lisboa"), ("4000-447", "Porto"), ("3000-150", "Coimbra")],
        "town": "{p} {t}",
    },
    "NL": {
        "mrz": "NLD", "lang": "nl",
        "given": ["Jan", "Sanne", "Pieter", "Femke", "Joost", "Anouk"],
        "surnames": ["de Vries", "van den Berg", "Jansen", "Visser", "Bakker", "van Dijk"],
        "street": "{s} {n}", "streets": ["Keizersgracht", "Kerkstraat", "Prinsengracht", "Dorpsstraat"],
        "towns": [("1015 CJ", "Amsterdam"), ("3011 AB", "Rotterdam"), ("3511 LK", "Utrecht")],
        "town": "{p} {t}",
    },
    "PL": {
        "mrz": "POL", "lang": "pl",
        "given": ["Małgorzata", "Łukasz", "Zofia", "Wojciech", "Agnieszka", "Paweł"],
        "surnames": ["Wiśniewska", "Kowalczyk", "Nowak", "Zieliński", "Wójcik", "Dąbrowski"],
        "street": "ul. {s} {n}", "streets": ["Marszałkowska", "Długa", "Piotrkowska", "Floriańska"],
        "towns": [("00-590", "Warszawa"), ("31-019", "Kraków"), ("90-001", "Łódź"), ("80-831", "Gdańsk")],
        "town": "{p} {t}",
    },
    "GB": {
        "mrz": "GBR", "lang": "en",
        "given": ["Oliver James", "Amelia", "Harry", "Charlotte Rose", "George", "Isla"],
        "surnames": ["Smith", "Taylor", "Whitfield", "Hughes", "Pemberton", "Clarke"],
        "street": "{n} {s}", "streets": ["Baker Street", "Church Lane", "Victoria Road", "Mill Close"],
        "towns": [("NW1 6XE", "London"), ("M1 1AE", "Manchester"), ("LS1 4DY", "Leeds"), ("BS1 5TR", "Bristol")],
        "town": "{t}\n{p}",
    },
    "IE": {
        "mrz": "IRL", "lang": "en",
        "given": ["Siobhán", "Ciarán", "Aoife", "Seán", "Niamh"],
        "surnames": ["O'Brien", "Ó Súilleabháin", "Murphy", "Kelly", "McCarthy"],
        "street": "{n} {s}", "streets": ["Grafton Street", "Main Street", "Patrick Street"],
        "towns": [("D02 X285", "Dublin 2"), ("T12 K8AF", "Cork"), ("H91 E2K3", "Galway")],
        "town": "{t}\n{p}",
    },
    "SE": {
        "mrz": "SWE", "lang": "sv",
        "given": ["Åsa", "Björn", "Linnéa", "Örjan", "Ingrid", "Måns"],
        "surnames": ["Lindström", "Åkesson", "Björklund", "Nyström", "Söderberg"],
        "street": "{s} {n}", "streets": ["Drottninggatan", "Storgatan", "Kungsgatan"],
        "towns": [("111 21", "Stockholm"), ("411 04", "Göteborg"), ("211 22", "Malmö")],
        "town": "{p} {t}",
    },
    "CY": {
        "mrz": "CYP", "lang": "en",
        "given": ["Andreas", "Eleni", "Christos", "Maria", "Panayiotis"],
        "surnames": ["Georgiou", "Constantinou", "Ioannou", "Charalambous", "Nicolaou"],
        "street": "{s} {n}", "streets": ["Makariou III Avenue", "Ledras Street", "Archbishop Kyprianou Street"],
        "towns": [("1065", "Nicosia"), ("3036", "Limassol"), ("6023", "Larnaca")],
        "town": "{p} {t}",
    },
    "ZA": {
        "mrz": "ZAF", "lang": "en",
        "given": ["Thabo", "Naledi", "Sipho", "Lerato", "Pieter"],
        "surnames": ["Mokoena", "Nkosi", "van der Merwe", "Dlamini", "Botha"],
        "street": "{n} {s}", "streets": ["Long Street", "Jan Smuts Avenue", "Church Street"],
        "towns": [("8001", "Cape Town"), ("2196", "Johannesburg"), ("0002", "Pretoria")],
        "town": "{t}\n{p}",
    },
}
GREEK = {"Georgiou": "ΓΕΩΡΓΙΟΥ", "Constantinou": "ΚΩΝΣΤΑΝΤΙΝΟΥ", "Ioannou": "ΙΩΑΝΝΟΥ",
         "Charalambous": "ΧΑΡΑΛΑΜΠΟΥΣ", "Nicolaou": "ΝΙΚΟΛΑΟΥ", "Andreas": "ΑΝΔΡΕΑΣ", "Eleni": "ΕΛΕΝΗ",
         "Christos": "ΧΡΙΣΤΟΣ", "Maria": "ΜΑΡΙΑ", "Panayiotis": "ΠΑΝΑΓΙΩΤΗΣ"}


@dataclass
class Person:
    country: str
    given: str
    surname: str
    dob: date
    sex: str
    street: str
    town_line: str

    @property
    def name(self) -> str:
        return f"{self.given} {self.surname}"

    @property
    def address(self) -> str:
        return f"{self.street}\n{self.town_line}"


def make_person(rng: random.Random, country: str) -> Person:
    c = COUNTRIES[country]
    postcode, town = rng.choice(c["towns"])
    number = str(rng.randint(1, 180)) + (rng.choice(["", "", "", "a", "B"]) if country in ("DE", "NL", "GB") else "")
    given = rng.choice(c["given"])
    return Person(
        country=country,
        given=given,
        surname=rng.choice(c["surnames"]),
        dob=date(rng.randint(1950, 2004), rng.randint(1, 12), rng.randint(1, 28)),
        sex="F" if given in ("Käthe", "Lena", "Anneliese", "Hélène", "Amélie", "Noémie", "Gaëlle", "Lucía",
                             "Inés", "Nuria", "Begoña", "Giulia", "Francesca", "Chiara", "Inês", "Conceição",
                             "Leonor", "Sanne", "Femke", "Anouk", "Małgorzata", "Zofia", "Agnieszka", "Amelia",
                             "Charlotte Rose", "Isla", "Siobhán", "Aoife", "Niamh", "Åsa", "Linnéa", "Ingrid",
                             "Eleni", "Maria", "Naledi", "Lerato") else "M",
        street=c["street"].format(s=rng.choice(c["streets"]), n=number),
        town_line=c["town"].format(p=postcode, t=town),
    )


# ------------------------------------------------------------------------------------------- MRZ

_TRANSLIT = {"Ä": "AE", "Ö": "OE", "Ü": "UE", "ß": "SS", "Å": "AA", "Ø": "OE", "Æ": "AE", "Ł": "L", "Ð": "D",
             "Þ": "TH"}


def mrz_name(text: str) -> str:
    """ICAO 9303 transliteration: German and Nordic letters spelt out, other marks dropped."""
    out = []
    for ch in text.upper():
        if ch in _TRANSLIT:
            out.append(_TRANSLIT[ch])
        elif ch in " -":
            out.append("<")
        elif ch == "'":
            continue
        else:
            base = unicodedata.normalize("NFD", ch)[0]
            out.append(base if base.isascii() and base.isalpha() else "")
    return "".join(out)


def check_digit(text: str) -> str:
    total = 0
    for i, ch in enumerate(text):
        value = int(ch) if ch.isdigit() else (ord(ch) - 55 if ch.isalpha() else 0)
        total += value * (7, 3, 1)[i % 3]
    return str(total % 10)


def _yymmdd(d: date) -> str:
    return d.strftime("%y%m%d")


def _pad(text: str, width: int) -> str:
    return (text + "<" * width)[:width]


def td3(issuer: str, number: str, person: Person, expiry: date, broken: bool) -> list[str]:
    names = _pad(f"{mrz_name(person.surname)}<<{mrz_name(person.given)}", 39)
    line1 = "P<" + _pad(issuer, 3) + names
    num = _pad(number, 9)
    ncd = check_digit(num)
    if broken:
        ncd = str((int(ncd) + 3) % 10)
    dob, exp, opt = _yymmdd(person.dob), _yymmdd(expiry), "<" * 14
    nat = _pad(issuer, 3)
    body = num + ncd + nat + dob + check_digit(dob) + person.sex + exp + check_digit(exp) + opt + check_digit(opt)
    composite = check_digit(num + ncd + dob + check_digit(dob) + exp + check_digit(exp) + opt + check_digit(opt))
    return [line1, body + composite]


def td1(issuer: str, number: str, person: Person, expiry: date, broken: bool) -> list[str]:
    num = _pad(number, 9)
    ncd = check_digit(num)
    if broken:
        ncd = str((int(ncd) + 3) % 10)
    line1 = "I<" + _pad(issuer, 3) + num + ncd + "<" * 15
    dob, exp = _yymmdd(person.dob), _yymmdd(expiry)
    line2 = dob + check_digit(dob) + person.sex + exp + check_digit(exp) + _pad(issuer, 3) + "<" * 11
    composite = check_digit(line1[5:30] + line2[0:7] + line2[8:15] + line2[18:29])
    line3 = _pad(f"{mrz_name(person.surname)}<<{mrz_name(person.given)}", 30)
    return [line1, line2 + composite, line3]


# --------------------------------------------------------------------------------------- drawing


@dataclass
class Canvas:
    """A page in millimetres, drawn later by Pillow (TrueType) or as a PDF (PDFium's base fonts)."""

    width: float
    height: float
    background: tuple[int, int, int] = (255, 255, 255)
    items: list[tuple[Any, ...]] = field(default_factory=list)

    def text(self, x: float, y: float, s: str, size: float, bold: bool = False, mono: bool = False,
             colour: tuple[int, int, int] = (20, 20, 25)) -> None:
        """y is the baseline; size the font's size in millimetres."""
        self.items.append(("text", x, y, s, size, bold, mono, colour))

    def rect(self, x: float, y: float, w: float, h: float, fill: tuple[int, int, int]) -> None:
        self.items.append(("rect", x, y, w, h, fill))

    def line(self, points: list[tuple[float, float]], colour: tuple[int, int, int], width: float = 0.2) -> None:
        self.items.append(("line", points, colour, width))

    def image(self, x: float, y: float, w: float, h: float, img: Image.Image) -> None:
        self.items.append(("image", x, y, w, h, img))


# Pillow faces: (regular, bold, mono); a missing DejaVu file falls back to Pillow's own Aileron.
PIL_FACES = {
    "aileron": (None, None, "DejaVuSansMono.ttf"),
    "dejavu-sans": ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSansMono.ttf"),
    "dejavu-serif": ("DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSansMono.ttf"),
    "dejavu-condensed": ("DejaVuSansCondensed.ttf", "DejaVuSansCondensed-Bold.ttf", "DejaVuSansMono-Bold.ttf"),
    "dejavu-serif-condensed": ("DejaVuSerifCondensed.ttf", "DejaVuSerifCondensed-Bold.ttf", "DejaVuSansMono.ttf"),
}
# PDF base fonts: (regular, bold, mono)
PDF_FACES = {
    "helvetica": ("Helvetica", "Helvetica-Bold", "Courier"),
    "times": ("Times-Roman", "Times-Bold", "Courier"),
    "courier": ("Courier", "Courier-Bold", "Courier-Bold"),
}
_font_cache: dict[tuple[str | None, int], Any] = {}


def _pil_font(name: str | None, px: int) -> Any:
    key = (name, px)
    if key not in _font_cache:
        try:
            _font_cache[key] = ImageFont.truetype(name, px) if name else ImageFont.load_default(px)
        except OSError:
            _font_cache[key] = ImageFont.load_default(px)
    return _font_cache[key]


def render_pil(c: Canvas, face: str, dpi: int) -> Image.Image:
    k = dpi / 25.4
    img = Image.new("RGB", (round(c.width * k), round(c.height * k)), c.background)
    draw = ImageDraw.Draw(img)
    regular, bold_face, mono_face = PIL_FACES[face]
    for item in c.items:
        if item[0] == "text":
            _, x, y, s, size, bold, mono, colour = item
            name = mono_face if mono else (bold_face if bold else regular)
            font = _pil_font(name, max(6, round(size * k)))
            draw.text((x * k, y * k), s, font=font, fill=colour, anchor="ls")
        elif item[0] == "rect":
            _, x, y, w, h, fill = item
            draw.rectangle([x * k, y * k, (x + w) * k, (y + h) * k], fill=fill)
        elif item[0] == "line":
            _, points, colour, width = item
            draw.line([(px * k, py * k) for px, py in points], fill=colour, width=max(1, round(width * k)))
        elif item[0] == "image":
            _, x, y, w, h, pic = item
            img.paste(pic.resize((round(w * k), round(h * k))), (round(x * k), round(y * k)))
    return img


def pdf_encodable(c: Canvas) -> bool:
    try:
        for item in c.items:
            if item[0] == "text":
                item[3].encode("cp1252")
    except UnicodeEncodeError:
        return False
    return True


def _pdf_str(s: str) -> bytes:
    raw = s.encode("cp1252")
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def render_pdf(c: Canvas, face: str) -> bytes:
    """A one-page PDF with a real text layer in PDF base fonts (WinAnsi), written by hand."""
    fonts = PDF_FACES[face]
    w, h = c.width * MM_PT, c.height * MM_PT
    ops: list[bytes] = []
    images: list[bytes] = []
    r, g, b = (v / 255 for v in c.background)
    ops.append(f"{r:.3f} {g:.3f} {b:.3f} rg 0 0 {w:.2f} {h:.2f} re f".encode())
    for item in c.items:
        if item[0] == "text":
            _, x, y, s, size, bold, mono, colour = item
            font = 3 if mono else (2 if bold else 1)
            r, g, b = (v / 255 for v in colour)
            ops.append(
                f"BT {r:.3f} {g:.3f} {b:.3f} rg /F{font} {size * MM_PT:.2f} Tf {x * MM_PT:.2f} {h - y * MM_PT:.2f} Td ".encode()
                + _pdf_str(s) + b" Tj ET"
            )
        elif item[0] == "rect":
            _, x, y, rw, rh, fill = item
            r, g, b = (v / 255 for v in fill)
            ops.append(f"{r:.3f} {g:.3f} {b:.3f} rg {x * MM_PT:.2f} {h - (y + rh) * MM_PT:.2f} "
                       f"{rw * MM_PT:.2f} {rh * MM_PT:.2f} re f".encode())
        elif item[0] == "line":
            _, points, colour, width = item
            r, g, b = (v / 255 for v in colour)
            path = " ".join(f"{px * MM_PT:.2f} {h - py * MM_PT:.2f} {'m' if i == 0 else 'l'}"
                            for i, (px, py) in enumerate(points))
            ops.append(f"{r:.3f} {g:.3f} {b:.3f} RG {width * MM_PT:.2f} w {path} S".encode())
        elif item[0] == "image":
            _, x, y, iw, ih, pic = item
            buf = io.BytesIO()
            pic.convert("RGB").save(buf, "JPEG", quality=90)
            images.append(buf.getvalue())
            ops.append(f"q {iw * MM_PT:.2f} 0 0 {ih * MM_PT:.2f} {x * MM_PT:.2f} {h - (y + ih) * MM_PT:.2f} cm "
                       f"/Im{len(images)} Do Q".encode())
    content = zlib.compress(b"\n".join(ops))
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    ]
    font_refs = " ".join(f"/F{i + 1} {5 + i} 0 R" for i in range(3))
    image_refs = " ".join(f"/Im{i + 1} {8 + i} 0 R" for i in range(len(images)))
    objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {w:.2f} {h:.2f}] /Contents 4 0 R "
                   f"/Resources << /Font << {font_refs} >> /XObject << {image_refs} >> >> >>".encode())
    objects.append(b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(content) + content + b"\nendstream")
    for name in fonts:
        objects.append(f"<< /Type /Font /Subtype /Type1 /BaseFont /{name} /Encoding /WinAnsiEncoding >>".encode())
    for data in images:
        pic = Image.open(io.BytesIO(data))
        objects.append(f"<< /Type /XObject /Subtype /Image /Width {pic.width} /Height {pic.height} "
                       f"/ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /DCTDecode /Length {len(data)} >>\n"
                       "stream\n".encode() + data + b"\nendstream")
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, obj in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{i} 0 obj\n".encode() + obj + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for off in offsets:
        out.write(f"{off:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def render_pdfium(pdf: bytes, dpi: int) -> Image.Image:
    doc = pdfium.PdfDocument(pdf)
    try:
        return doc[0].render(scale=dpi / 72).to_pil().convert("RGB")
    finally:
        doc.close()


def face_picture(rng: random.Random, w: int = 280, h: int = 360) -> Image.Image:
    """A plain studio portrait: light backdrop, hair, face, eyes, brows, nose, mouth, shoulders."""
    bg = tuple(rng.randint(205, 240) for _ in range(3))
    img = Image.new("RGB", (w, h), bg)
    d = ImageDraw.Draw(img)
    skin = rng.choice([(236, 200, 170), (210, 160, 120), (160, 110, 75), (110, 72, 50), (245, 215, 190)])
    hair = rng.choice([(40, 30, 25), (90, 60, 35), (200, 170, 110), (30, 30, 30), (120, 120, 120)])
    cloth = tuple(rng.randint(20, 120) for _ in range(3))
    d.ellipse([w * 0.05, h * 0.78, w * 0.95, h * 1.3], fill=cloth)
    d.rectangle([w * 0.4, h * 0.62, w * 0.6, h * 0.82], fill=skin)
    d.ellipse([w * 0.2, h * 0.08, w * 0.8, h * 0.55], fill=hair)
    d.ellipse([w * 0.26, h * 0.16, w * 0.74, h * 0.72], fill=skin)
    for ex in (0.39, 0.61):
        d.ellipse([w * (ex - 0.06), h * 0.38, w * (ex + 0.06), h * 0.43], fill=(250, 250, 250))
        d.ellipse([w * (ex - 0.025), h * 0.385, w * (ex + 0.025), h * 0.425], fill=(50, 40, 35))
        d.line([w * (ex - 0.07), h * 0.35, w * (ex + 0.07), h * 0.345], fill=hair, width=max(2, w // 45))
    d.line([w * 0.5, h * 0.43, w * 0.48, h * 0.53, w * 0.52, h * 0.54], fill=(skin[0] - 50, skin[1] - 50, skin[2] - 40),
           width=2)
    d.arc([w * 0.4, h * 0.56, w * 0.6, h * 0.64], 10, 170, fill=(150, 60, 60), width=3)
    return img.filter(ImageFilter.GaussianBlur(1.0))


def guilloche(c: Canvas, rng: random.Random, x0: float, y0: float, w: float, h: float) -> None:
    colour = tuple(rng.randint(180, 230) for _ in range(3))
    amp, period, phase = rng.uniform(1.5, 4), rng.uniform(12, 30), rng.uniform(0, 6)
    step = h / 9
    for i in range(9):
        base = y0 + step * (i + 0.5)
        pts = [(x0 + t, base + amp * math.sin((t / period) * 2 * math.pi + phase + i)) for t in np.arange(0, w, 2.0)]
        c.line(pts, colour, 0.15)


# ---------------------------------------------------------------------------------- identity

ISSUERS: dict[str, dict[str, Any]] = {
    "DE": {"state": "BUNDESREPUBLIK DEUTSCHLAND", "sub": "FEDERAL REPUBLIC OF GERMANY",
           "passport": "REISEPASS / PASSPORT / PASSEPORT", "id": "PERSONALAUSWEIS / IDENTITY CARD",
           "surname": "Name / Surname / Nom", "given": "Vornamen / Given names / Prénoms",
           "dob": "Geburtstag / Date of birth", "expiry": "Gültig bis / Date of expiry",
           "issue": "Datum / Date of issue", "nat": "Staatsangehörigkeit / Nationality", "natv": "DEUTSCH",
           "datefmt": "dotted", "colour": (120, 20, 40)},
    "FR": {"state": "RÉPUBLIQUE FRANÇAISE", "sub": "",
           "passport": "PASSEPORT / PASSPORT", "id": "CARTE NATIONALE D'IDENTITÉ / IDENTITY CARD",
           "surname": "Nom / Surname", "given": "Prénoms / Given names",
           "dob": "Date de naissance / Date of birth", "expiry": "Date d'expiration / Date of expiry",
           "issue": "Date de délivrance / Date of issue", "nat": "Nationalité / Nationality", "natv": "Française",
           "datefmt": "spaced", "colour": (110, 25, 45)},
    "ES": {"state": "REINO DE ESPAÑA", "sub": "UNIÓN EUROPEA",
           "passport": "PASAPORTE / PASSPORT", "id": "DOCUMENTO NACIONAL DE IDENTIDAD",
           "surname": "Apellidos / Surname", "given": "Nombre / Given names",
           "dob": "Fecha de nacimiento / Date of birth", "expiry": "Fecha de caducidad / Date of expiry",
           "issue": "Fecha de expedición / Date of issue", "nat": "Nacionalidad / Nationality", "natv": "ESPAÑOLA",
           "datefmt": "spaced", "colour": (130, 20, 30)},
    "IT": {"state": "REPUBBLICA ITALIANA", "sub": "UNIONE EUROPEA",
           "passport": "PASSAPORTO / PASSPORT", "id": "CARTA DI IDENTITÀ / IDENTITY CARD",
           "surname": "Cognome / Surname", "given": "Nome / Given names",
           "dob": "Data di nascita / Date of birth", "expiry": "Scadenza / Date of expiry",
           "issue": "Data di rilascio / Date of issue", "nat": "Cittadinanza / Nationality", "natv": "ITALIANA",
           "datefmt": "month", "colour": (120, 25, 50)},
    "PT": {"state": "REPÚBLICA PORTUGUESA", "sub": "UNIÃO EUROPEIA",
           "passport": "PASSAPORTE / PASSPORT", "id": "CARTÃO DE CIDADÃO / CITIZEN CARD",
           "surname": "Apelido(s) / Surname", "given": "Nome(s) / Given names",
           "dob": "Data de nascimento / Date of birth", "expiry": "Data de validade / Date of expiry",
           "issue": "Data de emissão / Date of issue", "nat": "Nacionalidade / Nationality", "natv": "PRT",
           "datefmt": "spaced", "colour": (115, 20, 40)},
    "NL": {"state": "KONINKRIJK DER NEDERLANDEN", "sub": "KINGDOM OF THE NETHERLANDS",
           "passport": "PASPOORT / PASSPORT", "id": "IDENTITEITSKAART / IDENTITY CARD",
           "surname": "Naam / Surname", "given": "Voornamen / Given names",
           "dob": "Geboortedatum / Date of birth", "expiry": "Geldig tot / Date of expiry",
           "issue": "Datum verstrekking / Date of issue", "nat": "Nationaliteit / Nationality",
           "natv": "Nederlandse", "datefmt": "month", "colour": (125, 30, 40)},
    "PL": {"state": "RZECZPOSPOLITA POLSKA", "sub": "REPUBLIC OF POLAND",
           "passport": "PASZPORT / PASSPORT", "id": "DOWÓD OSOBISTY / IDENTITY CARD",
           "surname": "Nazwisko / Surname", "given": "Imiona / Given names",
           "dob": "Data urodzenia / Date of birth", "expiry": "Data ważności / Date of expiry",
           "issue": "Data wydania / Date of issue", "nat": "Obywatelstwo / Nationality", "natv": "POLSKIE",
           "datefmt": "dotted", "colour": (120, 20, 35)},
    "GB": {"state": "UNITED KINGDOM OF GREAT BRITAIN AND NORTHERN IRELAND", "sub": "",
           "passport": "PASSPORT / PASSEPORT", "id": "",
           "surname": "Surname / Nom (1)", "given": "Given names / Prénoms (2)",
           "dob": "Date of birth / Date de naissance (4)", "expiry": "Date of expiry / Date d'expiration (9)",
           "issue": "Date of issue / Date de délivrance (8)", "nat": "Nationality / Nationalité (3)",
           "natv": "BRITISH CITIZEN", "datefmt": "month-fr", "colour": (40, 30, 80)},
    "IE": {"state": "ÉIRE / IRELAND", "sub": "",
           "passport": "PAS / PASSPORT / PASSEPORT", "id": "",
           "surname": "Sloinne / Surname", "given": "Réamhainm / Forename",
           "dob": "Dáta breithe / Date of birth", "expiry": "Dáta éaga / Date of expiry",
           "issue": "Dáta eisiúna / Date of issue", "nat": "Náisiúntacht / Nationality", "natv": "ÉIREANNACH/IRISH",
           "datefmt": "month", "colour": (20, 70, 50)},
    "SE": {"state": "SVERIGE", "sub": "SWEDEN",
           "passport": "PASS / PASSPORT", "id": "IDENTITETSKORT / IDENTITY CARD",
           "surname": "Efternamn / Surname", "given": "Förnamn / Given names",
           "dob": "Födelsedatum / Date of birth", "expiry": "Giltig t.o.m. / Date of expiry",
           "issue": "Utfärdandedatum / Date of issue", "nat": "Medborgarskap / Nationality", "natv": "SVENSK",
           "datefmt": "month", "colour": (100, 30, 50)},
    "CY": {"state": "ΚΥΠΡΙΑΚΗ ΔΗΜΟΚΡΑΤΙΑ / REPUBLIC OF CYPRUS", "sub": "",
           "passport": "ΔΙΑΒΑΤΗΡΙΟ / PASSPORT", "id": "",
           "surname": "Επώνυμο / Surname", "given": "Όνομα / Name",
           "dob": "Ημερομηνία γεννήσεως / Date of birth", "expiry": "Ημερ. λήξεως / Date of expiry",
           "issue": "Ημερ. εκδόσεως / Date of issue", "nat": "Υπηκοότητα / Nationality", "natv": "ΚΥΠΡΙΑΚΗ/CYPRIOT",
           "datefmt": "slashed", "colour": (110, 30, 40)},
    "ZA": {"state": "REPUBLIC OF SOUTH AFRICA", "sub": "",
           "passport": "PASSPORT / PASPOORT", "id": "",
           "surname": "Surname / Van", "given": "Given names / Voorname",
           "dob": "Date of birth / Geboortedatum", "expiry": "Date of expiry / Vervaldatum",
           "issue": "Date of issue / Uitreikingsdatum", "nat": "Nationality / Nasionaliteit", "natv": "SOUTH AFRICAN",
           "datefmt": "month", "colour": (20, 60, 40)},
}
ID_CARD_COUNTRIES = [k for k, v in ISSUERS.items() if v["id"]]
_MONTHS_EN = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
_MONTHS_FR = ["JANV", "FÉVR", "MARS", "AVR", "MAI", "JUIN", "JUIL", "AOÛT", "SEPT", "OCT", "NOV", "DÉC"]


def id_date(d: date, fmt: str) -> str:
    if fmt == "dotted":
        return d.strftime("%d.%m.%Y")
    if fmt == "spaced":
        return d.strftime("%d %m %Y")
    if fmt == "slashed":
        return d.strftime("%d/%m/%Y")
    if fmt == "month-fr":
        return f"{d.day:02d} {_MONTHS_EN[d.month - 1]} /{_MONTHS_FR[d.month - 1]} {d.year}"
    return f"{d.day:02d} {_MONTHS_EN[d.month - 1]} {d.year}"


def doc_number(rng: random.Random, country: str) -> str:
    letters = "CFGHJKLMNPRTVWXYZ"
    if country in ("DE",):
        return "".join(rng.choice(letters + "0123456789") for _ in range(9))
    if country in ("FR", "NL", "IT", "ES"):
        return "".join(rng.choice(letters) for _ in range(2)) + "".join(rng.choice("0123456789") for _ in range(7))
    return "".join(rng.choice("0123456789") for _ in range(9))


def _surname_view(person: Person) -> str:
    if person.country == "CY" and person.surname in GREEK:
        return f"{GREEK[person.surname]} / {person.surname.upper()}"
    return person.surname.upper()


def _given_view(person: Person) -> str:
    if person.country == "CY" and person.given in GREEK:
        return f"{GREEK[person.given]} / {person.given.upper()}"
    return person.given.upper()


def passport(rng: random.Random, person: Person, number: str, issued: date, expiry: date, broken: bool) -> Canvas:
    iss = ISSUERS[person.country]
    c = Canvas(125, 88, background=tuple(rng.randint(232, 250) for _ in range(3)))
    guilloche(c, rng, 0, 10, 125, 50)
    c.rect(0, 0, 125, 9, iss["colour"])
    c.text(4, 6, iss["state"][:60], 2.6, bold=True, colour=(250, 250, 250))
    c.text(40, 13.5, iss["passport"], 2.6, bold=True)
    if iss["sub"]:
        c.text(40, 17, iss["sub"], 1.9)
    c.image(4, 14, 30, 39, face_picture(rng))
    fmt = iss["datefmt"]
    rows = [
        ("Type / Code / No.", f"P      {COUNTRIES[person.country]['mrz']}      {number}"),
        (iss["surname"], _surname_view(person)),
        (iss["given"], _given_view(person)),
        (iss["nat"], iss["natv"]),
        (iss["dob"], id_date(person.dob, fmt)),
        ("Sex / Sexe", person.sex),
        (iss["issue"], id_date(issued, fmt)),
        (iss["expiry"], id_date(expiry, fmt)),
    ]
    y = 21.0
    for label, value in rows:
        c.text(40, y, label, 1.6, colour=(70, 70, 90))
        c.text(40, y + 3.3, value, 2.7, bold=rng.random() < 0.5)
        y += 5.6
    mrz_lines = td3(COUNTRIES[person.country]["mrz"], number, person, expiry, broken)
    c.rect(0, 66, 125, 22, tuple(rng.randint(238, 252) for _ in range(3)))
    for i, line in enumerate(mrz_lines):
        c.text(4.5, 74 + i * 7.5, line, 3.85, mono=True)
    return c


def id_card(rng: random.Random, person: Person, number: str, issued: date, expiry: date, broken: bool) -> Canvas:
    """Both sides of a TD1 card on one page, front above back, as people scan them."""
    iss = ISSUERS[person.country]
    c = Canvas(95.6, 124, background=(255, 255, 255))
    card_bg = tuple(rng.randint(225, 248) for _ in range(3))
    fmt = iss["datefmt"]
    for top in (5, 64):
        c.rect(5, top, 85.6, 54, card_bg)
        guilloche(c, rng, 5, top + 8, 85.6, 44)
    c.rect(5, 5, 85.6, 7, iss["colour"])
    c.text(8, 9.8, iss["state"][:44], 2.2, bold=True, colour=(250, 250, 250))
    c.text(32, 15.5, iss["id"][:40], 2.0, bold=True)
    c.image(8, 16, 22, 29, face_picture(rng))
    y = 20.0
    for label, value in [
        (iss["surname"], _surname_view(person)),
        (iss["given"], _given_view(person)),
        (iss["dob"], id_date(person.dob, fmt)),
        (iss["expiry"], id_date(expiry, fmt)),
        ("No.", number),
    ]:
        c.text(32, y, label, 1.3, colour=(70, 70, 90))
        c.text(32, y + 2.8, value, 2.3, bold=True)
        y += 6.2
    c.text(8, 70, iss["issue"], 1.3, colour=(70, 70, 90))
    c.text(8, 73, id_date(issued, fmt), 2.2)
    c.text(8, 78, person.street, 2.0)
    c.text(8, 81.5, person.town_line.replace("\n", " "), 2.0)
    for i, line in enumerate(td1(COUNTRIES[person.country]["mrz"], number, person, expiry, broken)):
        c.text(8.5, 99 + i * 5.8, line, 3.2, mono=True)
    return c


def driving_licence(rng: random.Random, person: Person, number: str, issued: date, expiry: date) -> Canvas:
    titles = {"de": "FÜHRERSCHEIN", "fr": "PERMIS DE CONDUIRE", "es": "PERMISO DE CONDUCCIÓN",
              "it": "PATENTE DI GUIDA", "pt": "CARTA DE CONDUÇÃO", "nl": "RIJBEWIJS", "pl": "PRAWO JAZDY",
              "sv": "KÖRKORT", "en": "DRIVING LICENCE"}
    lang = COUNTRIES[person.country]["lang"]
    c = Canvas(95.6, 64, background=(255, 255, 255))
    c.rect(5, 5, 85.6, 54, (236, 222, 232))
    guilloche(c, rng, 5, 5, 85.6, 54)
    c.rect(5, 5, 10, 54, (30, 50, 140))
    c.text(7.3, 12, person.country, 3.0, bold=True, colour=(250, 250, 250))
    c.text(18, 10.5, titles[lang], 2.6, bold=True, colour=(40, 30, 90))
    c.image(18, 14, 20, 27, face_picture(rng))
    fmt = "dotted" if lang in ("de", "pl", "nl", "sv") else "slashed"
    lines = [
        f"1. {person.surname.upper()}",
        f"2. {person.given.upper()}",
        f"3. {id_date(person.dob, fmt)}  {COUNTRIES[person.country]['towns'][0][1].upper()}",
        f"4a. {id_date(issued, fmt)}   4c. {'Stadt' if lang == 'de' else 'DVLA' if lang == 'en' else 'Prefecture'}",
        f"4b. {id_date(expiry, fmt)}",
        f"5. {number}",
        "9. AM/B1/B",
    ]
    y = 17.5
    for line in lines:
        c.text(41, y, line, 2.2, bold=line.startswith(("1.", "2.")))
        y += 5.2
    return c


# ---------------------------------------------------------------------------------- address

BILL_TEXT: dict[str, dict[str, Any]] = {
    "en": {"bill": ["Electricity bill", "Your gas bill", "Water services invoice"], "stmt": "Statement of account",
           "issue": ["Bill date", "Date of issue", "Invoice date"], "stmt_date": "Statement date",
           "period": "Billing period", "due": "Payment due by", "total": "Total to pay", "acct": "Account number",
           "months": ["January", "February", "March", "April", "May", "June", "July", "August", "September",
                      "October", "November", "December"], "date": "dmy-long"},
    "de": {"bill": ["Stromrechnung", "Jahresabrechnung Gas", "Rechnung Wasser/Abwasser"], "stmt": "Kontoauszug",
           "issue": ["Rechnungsdatum", "Datum"], "stmt_date": "Erstellt am",
           "period": "Abrechnungszeitraum", "due": "Fällig am", "total": "Rechnungsbetrag", "acct": "Kundennummer",
           "months": ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September",
                      "Oktober", "November", "Dezember"], "date": "dotted"},
    "fr": {"bill": ["Facture d'électricité", "Votre facture de gaz", "Facture d'eau"], "stmt": "Relevé de compte",
           "issue": ["Date de facture", "Date d'émission"], "stmt_date": "Date d'édition",
           "period": "Période de facturation", "due": "À payer avant le", "total": "Montant TTC",
           "acct": "Référence client",
           "months": ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
                      "octobre", "novembre", "décembre"], "date": "dmy-long"},
    "es": {"bill": ["Factura de electricidad", "Factura de gas natural", "Factura del agua"],
           "stmt": "Extracto de cuenta", "issue": ["Fecha de emisión", "Fecha de factura"],
           "stmt_date": "Fecha de emisión", "period": "Periodo de facturación", "due": "Fecha de cargo",
           "total": "Total a pagar", "acct": "Nº de contrato",
           "months": ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre",
                      "octubre", "noviembre", "diciembre"], "date": "de-long"},
    "it": {"bill": ["Bolletta luce", "Bolletta gas", "Fattura servizio idrico"], "stmt": "Estratto conto",
           "issue": ["Data emissione", "Data di emissione"], "stmt_date": "Data contabile",
           "period": "Periodo di fatturazione", "due": "Scadenza", "total": "Totale da pagare",
           "acct": "Codice cliente",
           "months": ["gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno", "luglio", "agosto",
                      "settembre", "ottobre", "novembre", "dicembre"], "date": "slashed"},
    "pt": {"bill": ["Fatura de eletricidade", "Fatura de gás", "Fatura da água"], "stmt": "Extrato bancário",
           "issue": ["Data de emissão", "Data da fatura"], "stmt_date": "Data de emissão",
           "period": "Período de faturação", "due": "Data limite de pagamento", "total": "Total a pagar",
           "acct": "N.º de cliente",
           "months": ["janeiro", "fevereiro", "março", "abril", "maio", "junho", "julho", "agosto", "setembro",
                      "outubro", "novembro", "dezembro"], "date": "dashed"},
    "nl": {"bill": ["Energierekening", "Jaarnota gas en stroom", "Waterrekening"], "stmt": "Rekeningafschrift",
           "issue": ["Factuurdatum", "Datum"], "stmt_date": "Datum afschrift",
           "period": "Periode", "due": "Te betalen voor", "total": "Totaal te betalen", "acct": "Klantnummer",
           "months": ["januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus", "september",
                      "oktober", "november", "december"], "date": "dmy-long"},
    "pl": {"bill": ["Faktura za energię elektryczną", "Faktura VAT - gaz", "Rachunek za wodę"],
           "stmt": "Wyciąg z rachunku", "issue": ["Data wystawienia", "Data faktury"],
           "stmt_date": "Data wyciągu", "period": "Okres rozliczeniowy", "due": "Termin płatności",
           "total": "Do zapłaty", "acct": "Numer klienta",
           "months": ["stycznia", "lutego", "marca", "kwietnia", "maja", "czerwca", "lipca", "sierpnia",
                      "września", "października", "listopada", "grudnia"], "date": "dotted"},
    "sv": {"bill": ["Elräkning", "Faktura fjärrvärme", "Vattenräkning"], "stmt": "Kontoutdrag",
           "issue": ["Fakturadatum", "Datum"], "stmt_date": "Utskriftsdatum",
           "period": "Period", "due": "Förfallodag", "total": "Att betala", "acct": "Kundnummer",
           "months": ["januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti", "september",
                      "oktober", "november", "december"], "date": "iso"},
}
COMPANIES = {
    "bill": ["Nordlicht Energie", "Aquaris Services", "Voltaria Power", "Gasnova", "Hydrovia", "Lumen Utilities",
             "Citywater", "Brightgrid Energy"],
    "stmt": ["Banco Meridiano", "Hanse Privatbank", "Banque du Lac", "Baltica Bank", "Cedar Savings",
             "Kustbanken", "Atlântico Banco", "First Harbour Bank"],
}


def bill_date(d: date, lang: str, style: str | None = None) -> str:
    t = BILL_TEXT[lang]
    style = style or t["date"]
    if style == "dotted":
        return d.strftime("%d.%m.%Y")
    if style == "slashed":
        return d.strftime("%d/%m/%Y")
    if style == "dashed":
        return d.strftime("%d-%m-%Y")
    if style == "iso":
        return d.isoformat()
    if style == "de-long":
        return f"{d.day} de {t['months'][d.month - 1]} de {d.year}"
    return f"{d.day} {t['months'][d.month - 1]} {d.year}"


def _money(rng: random.Random, lang: str, low: float, high: float) -> str:
    v = rng.uniform(low, high)
    if lang == "en":
        return f"{v:,.2f}"
    return f"{v:,.2f}".replace(",", " ").replace(".", ",")


def address_document(rng: random.Random, kind: str, person: Person, holder: str, address: str,
                     issued: date) -> Canvas:
    lang = COUNTRIES[person.country]["lang"]
    t = BILL_TEXT[lang]
    c = Canvas(210, 297)
    company = rng.choice(COMPANIES["bill" if kind == "utility_bill" else "stmt"])
    brand = tuple(rng.randint(20, 160) for _ in range(3))
    left = rng.uniform(14, 22)
    layout = rng.choice(["window-left", "window-right", "header-band"])
    if layout == "header-band":
        c.rect(0, 0, 210, 24, brand)
        c.text(left, 15, company, 7, bold=True, colour=(255, 255, 255))
    else:
        c.rect(left, 12, 9, 9, brand)
        c.text(left + 12, 19, company, 6, bold=True, colour=brand)
    c.text(left, 31, f"{company} · {rng.randint(1, 99)} {rng.choice(['Business Park', 'Plaza', 'Centre'])}", 2.4,
           colour=(100, 100, 100))
    ax = left if layout != "window-right" else 112
    ay = 50
    for i, line in enumerate([holder, *address.split("\n")]):
        c.text(ax, ay + i * 5.2, line, 3.6)
    title = rng.choice(t["bill"]) if kind == "utility_bill" else t["stmt"]
    bx = 118 if layout != "window-right" else left
    c.text(bx, 45, title, 5.2, bold=True)
    account = f"{rng.randint(10_000_000, 99_999_999)}"
    label = rng.choice(t["issue"]) if kind == "utility_bill" else t["stmt_date"]
    period_end = issued - timedelta(days=rng.randint(1, 6))
    period_start = period_end - timedelta(days=rng.choice([29, 30, 60, 91]))
    meta = [
        (label, bill_date(issued, lang)),
        (t["acct"], account if kind == "utility_bill" else
         f"{person.country}{rng.randint(10, 99)} {rng.randint(1000, 9999)} {rng.randint(1000, 9999)} "
         f"{rng.randint(1000, 9999)} {rng.randint(10, 99)}"),
        (t["period"], f"{bill_date(period_start, lang, 'dotted' if lang != 'en' else 'slashed')} - "
                      f"{bill_date(period_end, lang, 'dotted' if lang != 'en' else 'slashed')}"),
    ]
    if kind == "utility_bill":
        meta.append((t["due"], bill_date(issued + timedelta(days=rng.choice([14, 21, 30])), lang)))
    for i, (k, v) in enumerate(meta):
        c.text(bx, 56 + i * 6, f"{k}:", 3.0, colour=(80, 80, 80))
        c.text(bx + 42 if kind == "utility_bill" else bx + 36, 56 + i * 6, v, 3.0, bold=i == 0)
    y = 100
    c.rect(left, y - 6, 210 - 2 * left, 8, tuple(min(255, v + 150) for v in brand))
    if kind == "utility_bill":
        heads = {"en": ["Description", "Amount"], "de": ["Position", "Betrag"], "fr": ["Désignation", "Montant"],
                 "es": ["Concepto", "Importe"], "it": ["Voce", "Importo"], "pt": ["Descrição", "Valor"],
                 "nl": ["Omschrijving", "Bedrag"], "pl": ["Pozycja", "Kwota"], "sv": ["Beskrivning", "Belopp"]}[lang]
        c.text(left + 2, y, heads[0], 3.0, bold=True)
        c.text(170, y, heads[1], 3.0, bold=True)
        for _ in range(rng.randint(4, 7)):
            y += 7
            c.text(left + 2, y, f"{rng.choice(['kWh', 'm³', 'Tarif', 'VAT', 'Standing charge', 'Netz'])} "
                                f"{rng.randint(1, 900)}", 3.0)
            c.text(170, y, _money(rng, lang, 2, 140), 3.0)
        y += 10
        c.text(left + 2, y, t["total"], 3.6, bold=True)
        c.text(170, y, _money(rng, lang, 40, 400) + (" GBP" if lang == "en" else " EUR"), 3.6, bold=True)
    else:
        day = period_start
        c.text(left + 2, y, "Date", 3.0, bold=True)
        c.text(left + 30, y, {"de": "Buchungstext", "fr": "Libellé", "es": "Concepto", "it": "Descrizione",
                              "pt": "Descritivo", "nl": "Omschrijving", "pl": "Opis", "sv": "Text"}.get(lang, "Details"),
               3.0, bold=True)
        c.text(150, y, "+/-", 3.0, bold=True)
        c.text(178, y, "Saldo" if lang != "en" else "Balance", 3.0, bold=True)
        for _ in range(rng.randint(6, 12)):
            day = min(period_end, day + timedelta(days=rng.randint(1, 5)))
            y += 6.5
            c.text(left + 2, y, bill_date(day, lang, "dotted" if lang != "en" else "slashed"), 2.7)
            c.text(left + 30, y, rng.choice(["SEPA", "POS", "CARD", "TRANSFER", "DD"]) + " "
                   + rng.choice(["SUPERMARKT", "RENT", "SALARY", "PHARMACY", "CAFE", "TELECOM", "INSURANCE"]), 2.7)
            c.text(150, y, ("-" if rng.random() < 0.8 else "+") + _money(rng, lang, 3, 900), 2.7)
            c.text(178, y, _money(rng, lang, 100, 9000), 2.7)
    c.text(left, 282, f"{company} · {rng.choice(['Reg.', 'VAT', 'RCS', 'NIF', 'KvK'])} {rng.randint(10**7, 10**8)}",
           2.2, colour=(120, 120, 120))
    return c


# ---------------------------------------------------------------------------------- capture


def _np(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("RGB"), dtype=np.uint8)


def photo(img: Image.Image, rng: random.Random, nrng: np.random.Generator) -> Image.Image:
    """A phone photo: on a table, at an angle, turned, unevenly lit, a little blurred, noisy."""
    src = _np(img)
    h, w = src.shape[:2]
    scale = rng.uniform(1.25, 1.5)
    cw, ch = int(w * scale), int(h * scale)
    table = np.zeros((ch, cw, 3), np.float32)
    table[:] = [rng.randint(60, 200) for _ in range(3)]
    table += nrng.normal(0, 8, (ch, cw, 1)).astype(np.float32)
    ox, oy = (cw - w) / 2, (ch - h) / 2
    jitter = rng.uniform(0.02, 0.07)
    dst = np.float32([[ox + rng.uniform(-jitter, jitter) * w, oy + rng.uniform(-jitter, jitter) * h],
                      [ox + w + rng.uniform(-jitter, jitter) * w, oy + rng.uniform(-jitter, jitter) * h],
                      [ox + w + rng.uniform(-jitter, jitter) * w, oy + h + rng.uniform(-jitter, jitter) * h],
                      [ox + rng.uniform(-jitter, jitter) * w, oy + h + rng.uniform(-jitter, jitter) * h]])
    angle = math.radians(rng.uniform(-10, 10))
    centre = np.float32([cw / 2, ch / 2])
    rot = np.float32([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    dst = (dst - centre) @ rot.T + centre
    m = cv2.getPerspectiveTransform(np.float32([[0, 0], [w, 0], [w, h], [0, h]]), dst.astype(np.float32))
    warped = cv2.warpPerspective(src, m, (cw, ch), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    mask = cv2.warpPerspective(np.ones((h, w), np.float32), m, (cw, ch))[..., None]
    out = warped.astype(np.float32) * mask + table * (1 - mask)
    gx = np.linspace(rng.uniform(0.7, 0.95), rng.uniform(0.95, 1.08), cw, dtype=np.float32)[None, :, None]
    gy = np.linspace(rng.uniform(0.85, 1.0), rng.uniform(0.9, 1.05), ch, dtype=np.float32)[:, None, None]
    out = out * gx * gy
    tint = np.float32([rng.uniform(0.95, 1.05), 1.0, rng.uniform(0.9, 1.02)])
    out = out * tint
    out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.5, 1.2))
    out += nrng.normal(0, rng.uniform(2, 6), out.shape).astype(np.float32)
    pic = Image.fromarray(np.clip(out, 0, 255).astype(np.uint8))
    turn = rng.random()
    if turn < 0.1:
        pic = pic.transpose(Image.Transpose.ROTATE_90)
    elif turn < 0.15:
        pic = pic.transpose(Image.Transpose.ROTATE_180)
    return pic


def scan(img: Image.Image, rng: random.Random, nrng: np.random.Generator, page_mm: float | None,
         doc_mm: float, dpi: int) -> Image.Image:
    """A flatbed scan: the document (alone or on an A4 glass), a little skewed, tinted, noisy."""
    if page_mm is not None:
        k = dpi / 25.4
        page = Image.new("RGB", (round(210 * k), round(297 * k)), (252, 252, 250))
        page.paste(img, (round(rng.uniform(10, 40) * k), round(rng.uniform(10, 40) * k)))
        img = page
    angle = rng.uniform(-2.5, 2.5)
    img = img.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=(250, 250, 248))
    arr = _np(img).astype(np.float32)
    arr = arr * np.float32([rng.uniform(0.96, 1.0), rng.uniform(0.96, 1.0), rng.uniform(0.9, 0.99)])
    arr = cv2.GaussianBlur(arr, (0, 0), rng.uniform(0.3, 0.8))
    arr += nrng.normal(0, rng.uniform(1, 4), arr.shape).astype(np.float32)
    pic = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    if rng.random() < 0.35:
        pic = pic.convert("L")
    return pic


# --------------------------------------------------------------------------------------- plan


@dataclass
class Sample:
    file: str
    kind: str
    capture: str
    defect: str  # "" when clean
    font: str
    options: dict[str, Any]

    @property
    def clean(self) -> bool:
        return not self.defect


IDENTITY_DEFECTS = ("expired", "other_name", "other_dob", "mrz_digit")
ADDRESS_DEFECTS = ("old", "other_name", "other_address")


def _plan(rng: random.Random, n: int) -> list[tuple[str, str, str]]:
    """Each (kind, capture) category in turn, about one document in four carrying a defect."""
    cats = [(k, cap) for k in KINDS for cap in (IDENTITY_CAPTURES if k in KINDS[:3] else ADDRESS_CAPTURES)]
    plan = []
    for i in range(n):
        kind, capture = cats[i % len(cats)]
        defect = ""
        if rng.random() < 0.25:
            pool = IDENTITY_DEFECTS if kind in KINDS[:3] else ADDRESS_DEFECTS
            if kind == "driving_licence":
                pool = ("expired", "other_name", "other_dob")
            defect = rng.choice(pool)
        plan.append((kind, capture, defect))
    return plan


def _other_person(rng: random.Random, person: Person) -> Person:
    other = make_person(rng, person.country)
    while mrz_name(other.surname) == mrz_name(person.surname):
        other = make_person(rng, person.country)
    other.given = rng.choice([g for g in COUNTRIES[person.country]["given"] if g != person.given])
    return other


def _encode(img: Image.Image, path: Path, fmt: str, rng: random.Random, dpi: int) -> None:
    if fmt == "jpg":
        img.convert("RGB").save(path, "JPEG", quality=rng.randint(55, 88))
    elif fmt == "png":
        img.save(path, "PNG")
    else:
        stamp = time.gmtime(1767225600)  # 2026-01-01, a fixed date: the same bytes on every run
        img.convert("RGB").save(path, "PDF", resolution=float(dpi), creationDate=stamp, modDate=stamp)


def _on_document(rng: random.Random, person: Person, defect: str) -> Person:
    """Who the document names: the applicant, or for a defect another name, birth date or address."""
    if defect == "other_name":
        on_doc = _other_person(rng, person)
        on_doc.dob, on_doc.street, on_doc.town_line, on_doc.sex = (person.dob, person.street, person.town_line,
                                                                  person.sex)
        return on_doc
    if defect == "other_dob":
        return Person(**{**person.__dict__, "dob": person.dob + timedelta(days=rng.choice([-400, 97, 3 * 365]))})
    if defect == "other_address":
        other = make_person(rng, person.country)
        number = str(rng.randint(181, 400))
        street = COUNTRIES[person.country]["street"].format(s=rng.choice(COUNTRIES[person.country]["streets"]),
                                                             n=number)
        return Person(**{**person.__dict__, "street": street, "town_line": other.town_line})
    return person


def _canvas(rng: random.Random, kind: str, person: Person, on_doc: Person, defect: str) -> Canvas:
    if kind in KINDS[:3]:
        number = doc_number(rng, person.country)
        if defect == "expired":
            expiry = AS_OF - timedelta(days=rng.randint(20, 700))
        else:
            expiry = AS_OF + timedelta(days=rng.randint(90, 3400))
        issued = expiry.replace(year=expiry.year - 10) - timedelta(days=1)
        if kind == "passport":
            return passport(rng, on_doc, number, issued, expiry, defect == "mrz_digit")
        if kind == "id_card":
            return id_card(rng, on_doc, number, issued, expiry, defect == "mrz_digit")
        return driving_licence(rng, on_doc, number, issued, expiry)
    age = rng.randint(120, 420) if defect == "old" else rng.randint(4, 75)
    return address_document(rng, kind, on_doc, on_doc.name, on_doc.address, AS_OF - timedelta(days=age))


def _write(canvas: Canvas, font: str, capture: str, stem: Path, rng: random.Random,
           nrng: np.random.Generator) -> Path:
    """The document as its capture makes it: a text PDF, a photo, a scan, or a scan in a PDF."""
    small = canvas.width < 150
    if capture == "pdf_text":
        path = stem.with_suffix(".pdf")
        path.write_bytes(render_pdf(canvas, font))
        return path
    dpi = rng.choice([300, 400]) if small else rng.choice([150, 200, 250])
    if capture == "photo":
        dpi = rng.choice([350, 450]) if small else rng.choice([170, 220])
    img = render_pdfium(render_pdf(canvas, font), dpi) if font in PDF_FACES else render_pil(canvas, font, dpi)
    if capture == "photo":
        path = stem.with_suffix(".jpg")
        _encode(photo(img, rng, nrng), path, "jpg", rng, dpi)
        return path
    scan_dpi = rng.choice([200, 300]) if small else dpi
    if small:
        k = scan_dpi / dpi
        img = img.resize((round(img.width * k), round(img.height * k)), Image.Resampling.LANCZOS)
    pic = scan(img, rng, nrng, 297 if small and rng.random() < 0.5 else None, canvas.width, scan_dpi)
    fmt = "pdf" if capture == "pdf_scan" else rng.choice(["png", "jpg"])
    path = stem.with_suffix("." + fmt)
    _encode(pic, path, fmt, rng, scan_dpi)
    if fmt == "png" and path.stat().st_size > 6_000_000:  # a noisy colour A4 page: saved as a JPEG, as scanners do
        path.unlink()
        path = stem.with_suffix(".jpg")
        pic.convert("RGB").save(path, "JPEG", quality=90)
    return path


def generate(out_dir: Path, split: str = "heldout", n: int = 102, indices: list[int] | None = None) -> list[Sample]:
    """Write the split's documents into out_dir; `indices` writes only those (the same documents as in
    the whole split: each document draws from a generator seeded by the split and its index)."""
    seed = SEEDS[split]
    out_dir.mkdir(parents=True, exist_ok=True)
    samples = []
    for i, (kind, capture, defect) in enumerate(_plan(random.Random(seed), n)):
        if indices is not None and i not in indices:
            continue
        rng = random.Random(seed * 100_003 + i)
        nrng = np.random.default_rng([seed, i])
        person = make_person(rng, rng.choice(ID_CARD_COUNTRIES if kind == "id_card" else sorted(COUNTRIES)))
        if capture == "pdf_text":
            while not pdf_encodable(Canvas(1, 1, items=[("text", 0, 0, person.name + person.address)])):
                person = make_person(rng, rng.choice(["DE", "FR", "ES", "IT", "PT", "NL", "GB", "IE", "SE", "ZA"]))
        on_doc = _on_document(rng, person, defect)
        options: dict[str, Any] = {
            "slot": "identity" if kind in KINDS[:3] else "address",
            "name": person.name,
            "dob": person.dob.isoformat(),
            "country": person.country,
            "address": person.address,
            "as_of": AS_OF.isoformat(),
            "kind": kind,
        }
        canvas = _canvas(rng, kind, person, on_doc, defect)
        # fonts: PDF base fonts when every letter is in WinAnsi, else a TrueType face
        font_pool = list(PIL_FACES)
        if pdf_encodable(canvas):
            font_pool += list(PDF_FACES) * 2
        if capture == "pdf_text":
            font_pool = list(PDF_FACES)
        font = rng.choice(font_pool)
        stem = out_dir / f"{split}-{i:03d}-{kind}-{capture}{'-' + defect if defect else ''}"
        path = _write(canvas, font, capture, stem, rng, nrng)
        options["file"] = str(path)
        samples.append(Sample(file=str(path), kind=kind, capture=capture, defect=defect, font=font, options=options))
    return samples
