"""Synthetic KYC documents for the tests and the benchmark: passports (TD3) and identity cards (TD1)
with MRZ lines built by the `mrz` package, driving licences, a library card, utility bills and bank
statements; placed on a scanned page, turned, skewed, blurred, shrunk or photographed on a desk; and
written as PNG, JPEG, image-only PDF or (bills) a PDF with a text layer.

Fonts: DejaVu Sans Mono / DejaVu Sans (Debian fonts-dejavu-core), found by their usual paths or by
fc-match. Every case is reproducible from its seed.
"""

from __future__ import annotations

import io
import random
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from functools import cache

from mrz.generator.td1 import TD1CodeGenerator
from mrz.generator.td3 import TD3CodeGenerator
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from kyc.checks import Applicant, CheckPolicy
from kyc.checks.names import icao, mrz_name_field

AS_OF = date(2025, 6, 1)
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
               "October", "November", "December")


@cache
def _font_path(family: str) -> str:
    known = {"DejaVu Sans Mono": "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
             "DejaVu Sans": "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
             "DejaVu Sans:bold": "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"}
    try:
        with open(known[family], "rb"):
            return known[family]
    except OSError:
        out = subprocess.run(["fc-match", "-f", "%{file}", family], capture_output=True, text=True, check=True)
        return out.stdout.strip()


@cache
def font(size: int, family: str = "DejaVu Sans") -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(_font_path(family), size)


def mono(size: int) -> ImageFont.FreeTypeFont:
    return font(size, "DejaVu Sans Mono")


# --- what a document says ------------------------------------------------------------------------

@dataclass(frozen=True)
class Holder:
    surname: str  # as printed in the visual zone (may carry diacritics)
    given_names: str
    birth: date
    sex: str = "F"
    nationality: str = "UTO"
    mrz_surname: str = ""  # the MRZ spelling when it is not the ICAO one of the printed name
    mrz_given: str = ""


@dataclass(frozen=True)
class IdDoc:
    kind: str  # passport | id_card | driving_licence | library_card
    holder: Holder
    number: str = "L898902C3"
    country: str = "UTO"
    issued: date = date(2021, 4, 15)
    expiry: date = date(2031, 4, 14)
    corrupt_digit: bool = False


def _yymmdd(d: date) -> str:
    return d.strftime("%y%m%d")


def _visual(d: date) -> str:
    return f"{d.day:02d} {MONTHS[d.month - 1]} {d.year}"


def mrz_lines(doc: IdDoc) -> list[str]:
    h = doc.holder
    surname = h.mrz_surname or icao(h.surname).replace("<", " ")
    given = h.mrz_given or icao(h.given_names).replace("<", " ")
    width = 39 if doc.kind == "passport" else 30
    name_field = mrz_name_field(surname, given, width)
    short_given = given
    while len(icao(surname) + "<<" + icao(short_given)) > width:
        short_given = short_given[:-1].rstrip()
    if doc.kind == "passport":
        code = TD3CodeGenerator("P", doc.country, surname, short_given, doc.number, h.nationality, _yymmdd(h.birth),
                                h.sex, _yymmdd(doc.expiry), force=True)
        lines = str(code).split("\n")
        lines[0] = lines[0][:5] + name_field
    else:
        code = TD1CodeGenerator("ID", doc.country, doc.number, _yymmdd(h.birth), h.sex, _yymmdd(doc.expiry),
                                h.nationality, surname, short_given)
        lines = str(code).split("\n")
        lines[2] = name_field
    if doc.corrupt_digit:
        line = lines[1]
        pos = 19 if doc.kind == "passport" else 6  # the birth date's check digit
        lines[1] = line[:pos] + str((int(line[pos]) + 3) % 10) + line[pos + 1:]
    return lines


# --- drawing -------------------------------------------------------------------------------------

def _background(size: tuple[int, int], tint: tuple[int, int, int], rng: random.Random) -> Image.Image:
    img = Image.new("RGB", size, tint)
    d = ImageDraw.Draw(img)
    w, h = size
    shade = tuple(max(0, c - 18) for c in tint)
    for i in range(0, w + h, 23):  # a faint guilloche-like hatching
        d.line([(i, 0), (i - h // 2, h)], fill=shade, width=1)
    return img


def _photo(d: ImageDraw.ImageDraw, box: tuple[int, int, int, int]) -> None:
    x0, y0, x1, y1 = box
    d.rectangle(box, fill=(205, 205, 210), outline=(120, 120, 120))
    cx, w = (x0 + x1) // 2, x1 - x0
    d.ellipse([cx - w // 4, y0 + w // 8, cx + w // 4, y0 + w // 8 + w // 2], fill=(150, 140, 135))
    d.pieslice([x0 + w // 10, y0 + w // 2 + w // 6, x1 - w // 10, y1 + w // 2], 180, 360, fill=(90, 90, 110))


def _field(d: ImageDraw.ImageDraw, xy: tuple[int, int], label: str, value: str, size: int = 26) -> None:
    d.text(xy, label, font=font(size - 10), fill=(70, 70, 90))
    d.text((xy[0], xy[1] + size - 6), value, font=font(size, "DejaVu Sans:bold"), fill=(15, 15, 20))


def _draw_mrz(img: Image.Image, lines: list[str], top: int) -> None:
    d = ImageDraw.Draw(img)
    w = img.size[0]
    size = int((w - 60) / (len(lines[0]) * 0.602))
    f = mono(size)
    d.rectangle([0, top - 12, w, img.size[1]], fill=(250, 250, 247))
    for i, line in enumerate(lines):
        d.text((30, top + i * int(size * 1.35)), line, font=f, fill=(10, 10, 10))


def passport_image(doc: IdDoc, seed: int = 0) -> Image.Image:
    rng = random.Random(seed)
    img = _background((1250, 880), (232, 236, 242), rng)
    d = ImageDraw.Draw(img)
    h = doc.holder
    d.text((40, 28), "PASSPORT  PASSEPORT", font=font(40, "DejaVu Sans:bold"), fill=(30, 40, 90))
    d.text((700, 36), f"P   {doc.country}   {doc.number}", font=font(30), fill=(20, 20, 20))
    _photo(d, (40, 110, 330, 490))
    x = 380
    _field(d, (x, 100), "Surname / Nom", h.surname.upper())
    _field(d, (x, 170), "Given names / Prénoms", h.given_names.upper())
    _field(d, (x, 240), "Nationality / Nationalité", h.nationality)
    _field(d, (x, 310), "Date of birth / Date de naissance", _visual(h.birth))
    _field(d, (x + 480, 310), "Sex / Sexe", h.sex)
    _field(d, (x, 380), "Date of issue / Date de délivrance", _visual(doc.issued))
    _field(d, (x, 450), "Date of expiry / Date d'expiration", _visual(doc.expiry))
    _draw_mrz(img, mrz_lines(doc), 640)
    return img


def id_card_images(doc: IdDoc, seed: int = 0) -> tuple[Image.Image, Image.Image]:
    rng = random.Random(seed)
    h = doc.holder
    front = _background((1100, 700), (236, 230, 240), rng)
    d = ImageDraw.Draw(front)
    d.text((40, 24), "IDENTITY CARD  CARTE D'IDENTITÉ", font=font(38, "DejaVu Sans:bold"), fill=(80, 30, 90))
    _photo(d, (40, 110, 320, 470))
    _field(d, (370, 110), "Surname", h.surname.upper(), 30)
    _field(d, (370, 200), "Given names", h.given_names.upper(), 30)
    _field(d, (370, 290), "Date of birth", _visual(h.birth), 30)
    _field(d, (370, 380), "Document no.", doc.number, 30)
    _field(d, (750, 380), "Expiry", _visual(doc.expiry), 30)
    back = _background((1100, 700), (236, 230, 240), rng)
    d = ImageDraw.Draw(back)
    d.text((40, 40), f"Issued {_visual(doc.issued)}  Authority {doc.country}", font=font(28), fill=(40, 40, 40))
    _draw_mrz(back, mrz_lines(doc), 380)
    return front, back


def driving_licence_image(doc: IdDoc, seed: int = 0) -> Image.Image:
    rng = random.Random(seed)
    h = doc.holder
    img = _background((1100, 700), (225, 236, 228), rng)
    d = ImageDraw.Draw(img)
    d.rectangle([0, 0, 150, 700], fill=(40, 60, 150))
    d.text((40, 560), doc.country, font=font(40, "DejaVu Sans:bold"), fill=(250, 250, 250))
    d.text((180, 24), "DRIVING LICENCE", font=font(42, "DejaVu Sans:bold"), fill=(30, 80, 40))
    _photo(d, (180, 110, 420, 420))
    rows = [f"1. {h.surname.upper()}", f"2. {h.given_names.upper()}",
            f"3. {h.birth:%d.%m.%Y} UTOPIA CITY", f"4a. {doc.issued:%d.%m.%Y}  4b. {doc.expiry:%d.%m.%Y}",
            "4c. DVLA", f"5. {doc.number}", "9. AM/A/B"]
    for i, row in enumerate(rows):
        d.text((460, 110 + i * 68), row, font=font(34, "DejaVu Sans:bold"), fill=(15, 15, 20))
    return img


def library_card_image(doc: IdDoc, seed: int = 0) -> Image.Image:
    rng = random.Random(seed)
    h = doc.holder
    img = _background((1100, 700), (250, 240, 215), rng)
    d = ImageDraw.Draw(img)
    d.text((40, 30), "CITY PUBLIC LIBRARY", font=font(46, "DejaVu Sans:bold"), fill=(120, 50, 20))
    d.text((40, 100), "Library card - members only", font=font(32), fill=(60, 40, 20))
    _field(d, (40, 200), "Member", f"{h.given_names} {h.surname}".upper(), 34)
    _field(d, (40, 300), "Card number", doc.number, 34)
    _field(d, (40, 400), "Valid until", _visual(doc.expiry), 34)
    d.rectangle([40, 520, 1060, 640], fill=(20, 20, 20))
    for i in range(60, 1060, 14):  # a barcode
        d.rectangle([i, 530, i + rng.choice((3, 5, 8)), 630], fill=(250, 250, 250))
    return img


# --- proof of address ----------------------------------------------------------------------------

# Bills and statements as the brand's countries write them: the issuer's words, the date's label and
# the day-month-year date with the month's name in the language (the issuers are invented).
@dataclass(frozen=True)
class Wording:
    utility: tuple[str, str]  # the issuer, the document's title
    bank: tuple[str, str]
    bill_date: str
    statement_date: str
    due: str
    amount: str
    months: tuple[str, ...]
    written: str  # the date with the month's name: {d} day, {m} month name, {y} year
    numeric: str  # the date in figures: {d:02d}, {mo:02d}, {y}


WORDINGS = {
    "de": Wording(("STADTWERKE RHEINAU", "Stromrechnung"), ("RHEINAU SPARKASSE", "Kontoauszug"), "Rechnungsdatum",
                  "Datum", "Fällig am", "Rechnungsbetrag: 84,17 EUR",
                  ("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober",
                   "November", "Dezember"), "{d}. {m} {y}", "{d:02d}.{mo:02d}.{y}"),
    "fr": Wording(("ÉNERGIES DU VAL", "Facture d'électricité"), ("BANQUE DU VAL", "Relevé de compte"),
                  "Date de facture", "Date du relevé", "À payer avant le", "Montant à payer : 84,17 EUR",
                  ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
                   "novembre", "décembre"), "{d} {m} {y}", "{d:02d}/{mo:02d}/{y}"),
    "es": Wording(("ENERGÍAS DEL VALLE", "Factura de electricidad"), ("BANCO DEL VALLE", "Extracto de cuenta"),
                  "Fecha de emisión", "Fecha del extracto", "Fecha de cargo", "Importe total: 84,17 EUR",
                  ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
                   "noviembre", "diciembre"), "{d} de {m} de {y}", "{d:02d}/{mo:02d}/{y}"),
    "it": Wording(("ENERGIA DELLA VALLE", "Bolletta luce e gas"), ("BANCA DELLA VALLE", "Estratto conto"),
                  "Data emissione", "Data estratto", "Scadenza", "Totale da pagare: 84,17 EUR",
                  ("gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno", "luglio", "agosto", "settembre",
                   "ottobre", "novembre", "dicembre"), "{d} {m} {y}", "{d:02d}/{mo:02d}/{y}"),
    "nl": Wording(("DALSTROOM ENERGIE", "Energierekening"), ("DALBANK", "Rekeningafschrift"), "Factuurdatum",
                  "Datum afschrift", "Vervaldatum", "Te betalen: 84,17 EUR",
                  ("januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus", "september",
                   "oktober", "november", "december"), "{d} {m} {y}", "{d:02d}-{mo:02d}-{y}"),
    "pt": Wording(("ENERGIA DO VALE", "Fatura de eletricidade"), ("BANCO DO VALE", "Extrato bancário"),
                  "Data de emissão", "Data do extrato", "Data limite de pagamento", "Total a pagar: 84,17 EUR",
                  ("janeiro", "fevereiro", "março", "abril", "maio", "junho", "julho", "agosto", "setembro",
                   "outubro", "novembro", "dezembro"), "{d} de {m} de {y}", "{d:02d}/{mo:02d}/{y}"),
    "ro": Wording(("ENERGIA VĂII", "Factură energie electrică"), ("BANCA VĂII", "Extras de cont"),
                  "Data facturii", "Data extrasului", "Scadența", "Total de plată: 84,17 RON",
                  ("ianuarie", "februarie", "martie", "aprilie", "mai", "iunie", "iulie", "august", "septembrie",
                   "octombrie", "noiembrie", "decembrie"), "{d} {m} {y}", "{d:02d}.{mo:02d}.{y}"),
    "pl": Wording(("ENERGIA DOLINY", "Faktura za energię elektryczną"), ("BANK DOLINY", "Wyciąg z rachunku"),
                  "Data wystawienia", "Data wyciągu", "Termin płatności", "Do zapłaty: 84,17 PLN",
                  ("stycznia", "lutego", "marca", "kwietnia", "maja", "czerwca", "lipca", "sierpnia", "września",
                   "października", "listopada", "grudnia"), "{d} {m} {y}", "{d:02d}.{mo:02d}.{y}"),
}


def _written(w: Wording, d: date) -> str:
    return w.written.format(d=d.day, m=w.months[d.month - 1], y=d.year)


def _numeric(w: Wording, d: date) -> str:
    return w.numeric.format(d=d.day, mo=d.month, y=d.year)


@dataclass(frozen=True)
class Bill:
    kind: str  # utility_bill | bank_statement
    name: str
    address: str  # lines separated by newlines
    issued: date
    number: str = "ACC 4417 2231"
    language: str = "en"  # a key of WORDINGS, or "en"
    written_date: bool = True  # the issue date with the month's name (else in figures)

    def lines(self) -> list[str]:
        if self.language != "en":
            return self._lines_in(WORDINGS[self.language])
        d = self.issued
        period_start = d - timedelta(days=30)
        if self.kind == "utility_bill":
            head = ["NORTHERN POWER & GAS", "Electricity and gas bill", ""]
            dates = [f"Bill date: {d.day} {MONTH_NAMES[d.month - 1]} {d.year}",
                     f"Billing period: {period_start:%d/%m/%Y} - {d:%d/%m/%Y}",
                     f"Payment due: {(d + timedelta(days=21)):%d/%m/%Y}"]
            tail = ["Amount due: 84.17 GBP", f"Account number: {self.number}"]
        else:
            head = ["UTOPIA SAVINGS BANK", "Current account statement", ""]
            dates = [f"Statement date: {d:%d/%m/%Y}",
                     f"Period: {period_start:%d/%m/%Y} to {d:%d/%m/%Y}"]
            tail = ["Opening balance: 1,204.50 GBP", "Closing balance: 986.12 GBP", f"IBAN: GB33 UTOB 0000 {self.number[-4:]}"]
        return head + [self.name.upper(), *self.address.upper().splitlines(), ""] + dates + [""] + tail

    def _lines_in(self, w: Wording) -> list[str]:
        d = self.issued
        issuer, title = w.utility if self.kind == "utility_bill" else w.bank
        label = w.bill_date if self.kind == "utility_bill" else w.statement_date
        when = _written(w, d) if self.written_date else _numeric(w, d)
        dates = [f"{label}: {when}", f"{_numeric(w, d - timedelta(days=30))} - {_numeric(w, d)}"]
        if self.kind == "utility_bill":
            dates.append(f"{w.due}: {_numeric(w, d + timedelta(days=21))}")
            tail = [w.amount, f"{self.number}"]
        else:
            tail = [w.amount.split(":")[0] + ": 986,12", f"IBAN: DE89 3704 0044 0532 {self.number[-4:]} 00"]
        return [issuer, title, "", self.name.upper(), *self.address.upper().splitlines(), ""] + dates + [""] + tail


def bill_image(bill: Bill) -> Image.Image:
    img = Image.new("RGB", (1240, 1754), (255, 255, 255))
    d = ImageDraw.Draw(img)
    y = 90
    for i, line in enumerate(bill.lines()):
        f = font(44, "DejaVu Sans:bold") if i == 0 else font(30)
        d.text((100, y), line, font=f, fill=(20, 20, 20))
        y += 62 if line else 40
    return img


def _pdf_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _winansi(text: str) -> str:
    """The text in WinAnsi: a letter it lacks (ă, ț, ę) written as its base letter."""
    import unicodedata

    out = []
    for ch in text:
        try:
            ch.encode("cp1252")
            out.append(ch)
        except UnicodeEncodeError:
            base = unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode()
            out.append(base or "?")
    return "".join(out)


def text_pdf(lines: list[str]) -> bytes:
    """A one-page A4 PDF with a real text layer (Helvetica, WinAnsi), written by hand."""
    ops = ["BT", "/F1 12 Tf", "14 TL", "60 780 Td"]
    for line in lines:
        ops.append(f"({_pdf_escape(_winansi(line).encode('cp1252').decode('latin-1'))}) Tj T*")
    ops.append("ET")
    stream = "\n".join(ops).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
    ]
    return _pdf_file(objects)


# --- scanning, turning, photographing ------------------------------------------------------------

def on_page(doc: Image.Image, seed: int = 0, page: tuple[int, int] = (1240, 1754)) -> Image.Image:
    """The document scanned on an A4 page at 150 dpi, somewhere in its upper half."""
    rng = random.Random(seed)
    canvas = Image.new("RGB", page, (248, 248, 246))
    scale = (page[0] * 0.78) / doc.size[0]
    doc = doc.resize((int(doc.size[0] * scale), int(doc.size[1] * scale)), Image.Resampling.LANCZOS)
    x = rng.randint(40, page[0] - doc.size[0] - 40)
    y = rng.randint(60, page[1] // 2 - doc.size[1] // 2)
    canvas.paste(doc, (x, y))
    return canvas


def rotated(img: Image.Image, degrees: int) -> Image.Image:
    return img.rotate(degrees, expand=True, fillcolor=(248, 248, 246))


def skewed(img: Image.Image, degrees: float = 6.0) -> Image.Image:
    return img.rotate(degrees, expand=True, resample=Image.Resampling.BICUBIC, fillcolor=(248, 248, 246))


def low_contrast(img: Image.Image, ink: int = 150, paper: int = 212) -> Image.Image:
    """A faded scan: black ink printed as grey `ink`, white paper as grey `paper`."""
    return img.convert("L").point(lambda v: ink + (paper - ink) * v // 255).convert("RGB")


def embedded_pdf(img: Image.Image, *, width: float = 0.45, left: float = 0.08, top: float = 0.08,
                 page: tuple[float, float] = (595.0, 842.0), caption: str = "") -> bytes:
    """The picture as a JPEG drawn on part of an A4 page (`width` of the page's width, its top-left corner
    at `left`, `top` of the page), as a phone's scanning app or a printer's "scan to PDF" writes it; the
    page carries no text layer unless `caption` is given."""
    jpeg = encode(img, "jpeg")
    pw, ph = page
    dw = pw * width
    dh = dw * img.size[1] / img.size[0]
    x, y = pw * left, ph - ph * top - dh
    ops = f"q {dw:.2f} 0 0 {dh:.2f} {x:.2f} {y:.2f} cm /Im1 Do Q\n"
    if caption:
        ops += f"BT /F1 9 Tf 40 30 Td ({_pdf_escape(caption)}) Tj ET\n"
    stream = ops.encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {pw:.0f} {ph:.0f}] /Resources << /XObject << /Im1 4 0 R >> "
        "/Font << /F1 6 0 R >> >> /Contents 5 0 R >>".encode(),
        f"<< /Type /XObject /Subtype /Image /Width {img.size[0]} /Height {img.size[1]} /ColorSpace /DeviceRGB "
        f"/BitsPerComponent 8 /Filter /DCTDecode /Length {len(jpeg)} >>\nstream\n".encode() + jpeg + b"\nendstream",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    return _pdf_file(objects)


def _pdf_file(objects: list[bytes]) -> bytes:
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{i} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for off in offsets:
        out.write(f"{off:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def blurred(img: Image.Image, radius: float = 5.0) -> Image.Image:
    return img.filter(ImageFilter.GaussianBlur(radius))


def low_resolution(img: Image.Image, width: int = 360) -> Image.Image:
    return img.resize((width, int(img.size[1] * width / img.size[0])), Image.Resampling.BILINEAR)


def _find_coeffs(dst: list[tuple[float, float]], src: list[tuple[float, float]]) -> list[float]:
    import numpy as np

    rows = []
    for (x, y), (u, v) in zip(dst, src, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    a = np.array(rows, dtype=float)
    b = np.array([c for p in src for c in p], dtype=float)
    return list(np.linalg.solve(a, b))


def phone_photo(doc: Image.Image, seed: int = 0) -> Image.Image:
    """The document photographed on a wooden desk: perspective, a textured background, uneven light,
    a little noise, then JPEG-like softness."""
    import numpy as np

    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    w, h = 1600, 1200
    # The desk: wood-like streaks.
    ys = np.arange(h)[:, None]
    xs = np.arange(w)[None, :]
    grain = 25 * np.sin(xs / 7.0 + 3 * np.sin(ys / 40.0)) + nrng.normal(0, 8, (h, w))
    desk = np.stack([150 + grain, 105 + grain * 0.8, 65 + grain * 0.5], axis=-1).clip(0, 255).astype("uint8")
    canvas = Image.fromarray(desk, "RGB")
    dw, dh = doc.size
    scale = (w * 0.72) / dw
    tw, th = dw * scale, dh * scale
    cx, cy = w / 2 + rng.uniform(-60, 60), h / 2 + rng.uniform(-40, 40)
    j = lambda: rng.uniform(-0.06, 0.06) * tw  # noqa: E731
    quad = [(cx - tw / 2 + j(), cy - th / 2 + j()), (cx + tw / 2 + j(), cy - th / 2 + j()),
            (cx + tw / 2 * 0.93 + j(), cy + th / 2 + j()), (cx - tw / 2 * 0.93 + j(), cy + th / 2 + j())]
    coeffs = _find_coeffs(quad, [(0, 0), (dw, 0), (dw, dh), (0, dh)])
    warped = doc.convert("RGBA").transform((w, h), Image.Transform.PERSPECTIVE, coeffs, Image.Resampling.BICUBIC)
    canvas.paste(warped, (0, 0), warped)
    arr = np.asarray(canvas).astype(float)
    light = 0.85 + 0.25 * (xs / w) * (1 - ys / (2 * h))
    arr = arr * light[..., None] + nrng.normal(0, 4, arr.shape)
    return Image.fromarray(arr.clip(0, 255).astype("uint8"), "RGB")


def encode(img: Image.Image, fmt: str) -> bytes:
    """PNG, JPEG or an image-only PDF (a scan without a text layer)."""
    out = io.BytesIO()
    if fmt == "png":
        img.save(out, "PNG", optimize=False, compress_level=1)
    elif fmt == "jpeg":
        img.convert("RGB").save(out, "JPEG", quality=88)
    elif fmt == "pdf":
        img.convert("RGB").save(out, "PDF", resolution=150.0)
    else:
        raise ValueError(fmt)
    return out.getvalue()


# --- cases: a document with who registered it and what the checks must decide ---------------------

@dataclass(frozen=True)
class Case:
    name: str
    slot: str
    files: tuple[tuple[bytes, str, str, str], ...]  # (data, filename, kind, side)
    applicant: Applicant
    expected: str  # approve | review | reject
    failing: frozenset[str] = frozenset()  # the checks that must fail or be unreadable
    policy: CheckPolicy = field(default_factory=CheckPolicy)
    as_of: date = AS_OF


ANNA = Holder("Eriksson", "Anna Maria", date(1974, 8, 12))


def applicant_for(h: Holder, **kw: object) -> Applicant:
    given = h.given_names.split()
    base = Applicant(first_name=given[0], middle_name=" ".join(given[1:]), last_name=h.surname,
                     date_of_birth=h.birth, country="GB", address="12 Baker Street\nLondon NW1 6XE")
    return replace(base, **kw)  # type: ignore[arg-type]


def identity_image(doc: IdDoc, seed: int = 0) -> Image.Image:
    if doc.kind == "passport":
        return on_page(passport_image(doc, seed), seed)
    if doc.kind == "id_card":
        return on_page(id_card_images(doc, seed)[1], seed)
    if doc.kind == "driving_licence":
        return on_page(driving_licence_image(doc, seed), seed)
    return on_page(library_card_image(doc, seed), seed)


def _id_case(name: str, doc: IdDoc, applicant: Applicant, expected: str, failing: set[str] | None = None, *,
             fmt: str = "png", transform: str = "", seed: int = 0, kind: str = "", **kw: object) -> Case:
    img = identity_image(doc, seed)
    if transform.startswith("rot"):
        img = rotated(img, int(transform[3:]))
    elif transform == "skew":
        img = skewed(img, 7.0 if seed % 2 else -6.0)
    elif transform == "photo":
        img = phone_photo(passport_image(doc, seed) if doc.kind == "passport" else identity_image(doc, seed), seed)
    elif transform == "blur":
        img = blurred(img, 6.0)
    elif transform == "lowres":
        img = low_resolution(img)
    data = encode(img, fmt)
    ext = {"png": "png", "jpeg": "jpg", "pdf": "pdf"}[fmt]
    side = "back" if doc.kind == "id_card" else ""
    return Case(name, "identity", ((data, f"{name}.{ext}", kind or doc.kind, side),), applicant, expected,
                frozenset(failing or ()), **kw)  # type: ignore[arg-type]


def bill_scan(bill: Bill, transform: str = "", seed: int = 0) -> Image.Image:
    """The bill's page as a scan: upright, turned (rot90/rot180/rot270), skewed (skew, or skewN for N
    degrees), faded (lowcontrast) or a faded skewed scan (lowcontrast+skew)."""
    img = bill_image(bill)
    for step in transform.split("+") if transform else ():
        if step.startswith("rot"):
            img = rotated(img, int(step[3:]))
        elif step.startswith("skew"):
            img = skewed(img, float(step[4:]) if step[4:] else (4.0 if seed % 2 else -3.0))
        elif step == "lowcontrast":
            img = low_contrast(img)
        else:
            raise ValueError(step)
    return img


def _bill_case(name: str, bill: Bill, applicant: Applicant, expected: str, failing: set[str] | None = None, *,
               fmt: str = "pdf-text", transform: str = "", seed: int = 0, **kw: object) -> Case:
    if fmt == "pdf-text":
        data, ext = text_pdf(bill.lines()), "pdf"
    elif fmt == "pdf-embed":
        data, ext = embedded_pdf(bill_scan(bill, transform, seed), width=0.84, left=0.08, top=0.05), "pdf"
    else:
        data, ext = encode(bill_scan(bill, transform, seed), fmt), {"png": "png", "jpeg": "jpg", "pdf": "pdf"}[fmt]
    return Case(name, "address", ((data, f"{name}.{ext}", bill.kind, ""),), applicant, expected,
                frozenset(failing or ()), **kw)  # type: ignore[arg-type]


SURNAMES = ("Eriksson", "Novak", "Fischer", "Moreau", "Rossi", "Jansen", "Kowalski", "Larsen", "Silva",
            "Hughes", "Petrov", "Haddad", "Okafor", "Tanaka", "Lindqvist", "Dubois")
GIVEN = (("Anna", "Maria"), ("Peter", ""), ("Laura", "Sofia"), ("James", "Robert"), ("Elena", ""),
         ("Tomas", "Karel"), ("Sara", ""), ("Daniel", "Jose"), ("Olivia", "Grace"), ("Marco", ""))
OTHER = ("Whitfield", "Barrington", "Castellano", "Vandermeer")


def _holder(rng: random.Random) -> Holder:
    first, middle = rng.choice(GIVEN)
    birth = date(rng.randint(1950, 2003), rng.randint(1, 12), rng.randint(1, 28))
    return Holder(rng.choice(SURNAMES), f"{first} {middle}".strip(), birth, rng.choice("MF"))


def _number(rng: random.Random) -> str:
    letters = "ABCDEFGHJKLMNPRSTUVWXYZ"
    return "".join(rng.choice(letters) for _ in range(2)) + "".join(str(rng.randint(0, 9)) for _ in range(7))


def special_cases() -> list[Case]:
    """One case per behaviour the checks must get right (the tests' table)."""
    ok = IdDoc("passport", ANNA)
    a = applicant_for(ANNA)
    muller = Holder("Müller", "Jürgen", date(1980, 3, 2), "M", "D")
    ivanova = Holder("Ivanova", "Iuliia", date(1991, 11, 23), "F", "RUS")
    haddad = Holder("Haddad", "Mohamed", date(1987, 1, 9), "M", "UTO")
    long_name = Holder("Wolfeschlegelsteinhausen Bergerdorff", "Hubert Blaine Charles", date(1970, 5, 5), "M")
    bill = Bill("utility_bill", "Anna Maria Eriksson", "12 Baker Street\nLondon NW1 6XE", AS_OF - timedelta(days=20))
    return [
        _id_case("passport_valid", ok, a, "approve"),
        _id_case("passport_valid_jpeg", ok, a, "approve", fmt="jpeg"),
        _id_case("passport_valid_pdf", ok, a, "approve", fmt="pdf"),
        _id_case("id_card_valid", IdDoc("id_card", ANNA, number="D23145890"), a, "approve"),
        _id_case("passport_expired", replace(ok, expiry=AS_OF - timedelta(days=3)), a, "reject", {"document_expiry"}),
        _id_case("passport_expiring_soon", replace(ok, expiry=AS_OF + timedelta(days=12)), a, "approve"),
        _id_case("name_mismatch", ok, applicant_for(ANNA, last_name="Whitfield"), "review", {"name_match"}),
        _id_case("dob_mismatch", ok, applicant_for(ANNA, date_of_birth=date(1975, 8, 12)), "review",
                 {"birth_date_match"}),
        _id_case("check_digit_corrupted", replace(ok, corrupt_digit=True), a, "review", {"mrz_check_digits"}),
        _id_case("blurred", ok, a, "review", {"legibility"}, transform="blur"),
        _id_case("low_resolution", ok, a, "review", {"legibility"}, transform="lowres"),
        _id_case("diacritics", IdDoc("passport", muller, country="D"),
                 Applicant(first_name="Jürgen", last_name="Müller", date_of_birth=muller.birth), "approve"),
        _id_case("diacritics_typed_plain", IdDoc("passport", muller, country="D"),
                 Applicant(first_name="Jurgen", last_name="Muller", date_of_birth=muller.birth), "approve"),
        _id_case("cyrillic", IdDoc("passport", ivanova, country="RUS"),
                 Applicant(first_name="Юлия", last_name="Иванова", date_of_birth=ivanova.birth), "approve"),
        _id_case("cyrillic_other_romanisation", IdDoc("passport", ivanova, country="RUS"),
                 Applicant(first_name="Yulia", last_name="Ivanova", date_of_birth=ivanova.birth), "approve"),
        _id_case("arabic", IdDoc("passport", haddad),
                 Applicant(first_name="محمد", last_name="حداد", date_of_birth=haddad.birth), "approve"),
        _id_case("arabic_other_romanisation", IdDoc("passport", haddad),
                 Applicant(first_name="Mohammed", last_name="Haddad", date_of_birth=haddad.birth), "approve"),
        _id_case("middle_name_left_out", ok, applicant_for(ANNA, middle_name=""), "approve"),
        _id_case("truncated_long_name", IdDoc("passport", long_name),
                 Applicant(first_name="Hubert", middle_name="Blaine Charles",
                           last_name="Wolfeschlegelsteinhausen Bergerdorff", date_of_birth=long_name.birth), "approve"),
        _id_case("wrong_type_library_card", IdDoc("library_card", ANNA, number="LIB-220931"), a, "reject",
                 {"document_type"}, kind="id_card"),
        _id_case("country_not_allowed", ok, a, "reject", {"issuing_country_allowed"},
                 policy=CheckPolicy(allowed_issuing_countries=frozenset({"GB", "FR"}))),
        _id_case("rotated_90", ok, a, "approve", transform="rot90"),
        _id_case("rotated_180", ok, a, "approve", transform="rot180"),
        _id_case("rotated_270", ok, a, "approve", transform="rot270"),
        _id_case("skewed", ok, a, "approve", transform="skew", seed=1),
        _id_case("phone_photo", ok, a, "approve", transform="photo", fmt="jpeg", seed=2),
        _id_case("driving_licence_valid", IdDoc("driving_licence", ANNA, number="ERIKS708124AM9IJ", country="GBR"),
                 a, "approve"),
        _bill_case("bill_valid", bill, a, "approve"),
        _bill_case("bill_valid_png", bill, a, "approve", fmt="png"),
        _bill_case("bank_statement_valid", replace(bill, kind="bank_statement"), a, "approve", fmt="png"),
        _bill_case("bill_too_old", replace(bill, issued=AS_OF - timedelta(days=130)), a, "reject", {"document_date"}),
        _bill_case("bill_other_name", replace(bill, name="Oliver Whitfield"), a, "review", {"name_match"}),
        _bill_case("bill_other_address", replace(bill, address="77 Harbour Road\nLeeds LS1 4AP"), a, "review",
                   {"address_match"}),
    ]


def generated_set(n: int, seed: int = 7) -> Iterator[Case]:
    """n random cases over every outcome, formats and transformations (the benchmark's set)."""
    rng = random.Random(seed)
    kinds = ["valid"] * 10 + ["expired", "name", "dob", "digit", "blur", "lowres", "library", "bill", "bill_old",
                              "bill_name"] * 1 + ["bill"] * 3
    for i in range(n):
        k = kinds[i % len(kinds)] if i < len(kinds) else rng.choice(kinds)
        h = _holder(rng)
        a = applicant_for(h, middle_name="" if rng.random() < 0.3 else applicant_for(h).middle_name)
        doc = IdDoc(rng.choice(("passport", "passport", "id_card")), h, number=_number(rng),
                    issued=AS_OF - timedelta(days=rng.randint(30, 3000)),
                    expiry=AS_OF + timedelta(days=rng.randint(40, 3500)))
        fmt = rng.choice(("png", "jpeg", "pdf"))
        transform = rng.choice(("", "", "", "rot90", "rot180", "rot270", "skew", "photo"))
        s = rng.randint(0, 10_000)
        name = f"gen{i:04d}_{k}"
        if k == "valid":
            yield _id_case(name, doc, a, "approve", fmt=fmt, transform=transform, seed=s)
        elif k == "expired":
            yield _id_case(name, replace(doc, expiry=AS_OF - timedelta(days=rng.randint(1, 900))), a, "reject",
                           {"document_expiry"}, fmt=fmt, transform=transform, seed=s)
        elif k == "name":
            yield _id_case(name, doc, replace(a, last_name=rng.choice(OTHER)), "review", {"name_match"}, fmt=fmt,
                           transform=transform, seed=s)
        elif k == "dob":
            yield _id_case(name, doc, replace(a, date_of_birth=h.birth + timedelta(days=rng.choice((-400, 1, 31)))),
                           "review", {"birth_date_match"}, fmt=fmt, transform=transform, seed=s)
        elif k == "digit":
            yield _id_case(name, replace(doc, corrupt_digit=True), a, "review", {"mrz_check_digits"}, fmt=fmt,
                           transform=transform, seed=s)
        elif k == "blur":
            yield _id_case(name, doc, a, "review", {"legibility"}, fmt=fmt, transform="blur", seed=s)
        elif k == "lowres":
            yield _id_case(name, doc, a, "review", {"legibility"}, fmt=fmt, transform="lowres", seed=s)
        elif k == "library":
            yield _id_case(name, replace(doc, kind="library_card"), a, "reject", {"document_type"}, fmt=fmt,
                           seed=s, kind="id_card")
        else:
            bill = Bill(rng.choice(("utility_bill", "bank_statement")), f"{a.first_name} {a.last_name}", a.address,
                        AS_OF - timedelta(days=rng.randint(1, 80)))
            bfmt = rng.choice(("pdf-text", "png", "jpeg", "pdf"))
            if k == "bill":
                yield _bill_case(name, bill, a, "approve", fmt=bfmt)
            elif k == "bill_old":
                yield _bill_case(name, replace(bill, issued=AS_OF - timedelta(days=rng.randint(95, 400))), a, "reject",
                                 {"document_date"}, fmt=bfmt)
            else:
                yield _bill_case(name, replace(bill, name=f"{rng.choice(('Oliver', 'Grace'))} {rng.choice(OTHER)}"), a,
                                 "review", {"name_match"}, fmt=bfmt)
