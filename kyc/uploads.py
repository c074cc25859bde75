"""What a KYC upload must be before anything is stored: PNG, JPEG or PDF by its content (never by its
name or the browser's word), not empty, not over the size limit, and readable (a corrupt image or PDF
is refused here, not discovered by a reviewer).

`upload_read` takes a file object and reads at most one byte over the limit, so a 50 MB upload is
refused without being held in memory whole.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

from django.conf import settings
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext

from kyc import pdf_inspect
from kyc.exceptions import UploadRefused

if TYPE_CHECKING:
    from pypdfium2 import PdfDocument

PNG = "image/png"
JPEG = "image/jpeg"
PDF = "application/pdf"
CONTENT_TYPES = (PNG, JPEG, PDF)
EXTENSIONS = {PNG: "png", JPEG: "jpg", PDF: "pdf"}
MAX_PDF_PAGES = 10
MAX_PIXELS = 60_000_000  # a decompression bomb is refused before it is decoded
MAX_IMAGE_SIDE = 20_000  # pixels: a longer side is a strip no camera or scanner makes of a document
# A PNG that is interlaced or has 16 bits a channel is decoded whole, at up to twice the memory of an
# ordinary one, before anything can reduce it: above this many pixels it is refused (a phone's photo
# is 12 MP; a scan of an A4 page at 600 dpi is 35 MP and is saved as 8-bit, not interlaced).
MAX_PNG_COSTLY_PIXELS = 16_000_000
PNG_STREAM_CHECK_PIXELS = 4_000_000
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # by colour type
# A PDF page's longer side, in points (1/72 in): 5000 pt is 1.76 m, twice A0's long side. PDF allows
# 14,400 pt; nothing a client sends as a document is that large.
MAX_PDF_PAGE_SIDE = 5000

# Signatures of what people upload by mistake (or on purpose), to name it in the refusal.
_KNOWN = (
    (b"MZ", "a Windows program"),
    (b"\x7fELF", "a program"),
    (b"PK\x03\x04", "a ZIP archive or an Office document"),
    (b"GIF8", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"RIFF", "a WebP image or a media file"),
    (b"\xd0\xcf\x11\xe0", "an old Office document"),
    (b"#!", "a script"),
)


@dataclass(frozen=True)
class Upload:
    data: bytes
    filename: str
    content_type: str
    sha256: str
    pages: int

    @property
    def size(self) -> int:
        return len(self.data)


def max_upload_bytes() -> int:
    return int(getattr(settings, "KYC_MAX_UPLOAD_BYTES", 10 * 1024 * 1024))


def max_pdf_expanded_bytes() -> int:
    """What a PDF's streams (its images aside) may inflate to: a bank statement of ten text pages is
    well under 2 MB; PDFium parses it into objects that take up to thirty times the inflated size in memory
    (4 MB of path operators: about 130 MB at render)."""
    return int(getattr(settings, "KYC_MAX_PDF_EXPANDED_BYTES", 4 * 1024 * 1024))


def sniff(data: bytes) -> str | None:
    """The content type by the file's first bytes, or None when it is none of the accepted ones."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data[:1024].lstrip().startswith(b"%PDF-"):
        return PDF
    return None


def _what(data: bytes) -> str:
    for magic, label in _KNOWN:
        if data.startswith(magic):
            return label
    return "not an image or a PDF"


def _refuse(message: str, field: str) -> UploadRefused:
    return UploadRefused(message, fields={field: [message]})


def _image_pages(data: bytes, field: str) -> int:
    import struct
    import zlib

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise _refuse(gettext("The image is too large (%(w)s × %(h)s pixels).") % {"w": width, "h": height},
                              field)
            if max(width, height) > MAX_IMAGE_SIDE:
                raise _refuse(gettext("The image is too long (%(w)s × %(h)s pixels; at most %(max)s a side): send a "
                                      "photo or scan of the document itself.")
                              % {"w": width, "h": height, "max": MAX_IMAGE_SIDE}, field)
            if image.format == "PNG" and width * height > MAX_PNG_COSTLY_PIXELS:
                _png_costly_refuse(data, width, height, field)
            streamed = image.format == "PNG" and data[24:29:4] == b"\x08\x00" and width * height > PNG_STREAM_CHECK_PIXELS
            image.verify()
        if streamed:
            # A large 8-bit PNG, not interlaced: its pixel data inflated and measured a piece at a
            # time, not decoded whole (240 MB for 60 MP).
            _png_stream_check(data)
            return 1
        with Image.open(io.BytesIO(data)) as image:
            if image.format == "JPEG":
                # Every byte of the picture is decoded (a damaged one is found) at an eighth of its size.
                image.draft(image.mode, (image.width // 8, image.height // 8))
            image.load()
    except UploadRefused:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, KeyError, zlib.error, struct.error,
            Image.DecompressionBombError) as exc:
        raise _refuse(gettext("The image is damaged and cannot be opened."), field) from exc
    return 1


def _png_stream_check(data: bytes) -> None:
    """A non-interlaced PNG's pixel data is whole and sound: the IDAT stream inflates, a megabyte at a
    time, to exactly one filter byte (0-4) and one row of pixels per row of the image, and ends
    there. ValueError (or zlib.error) when not. Chunk CRCs are Pillow's `verify`."""
    import struct
    import zlib

    width, height, bits, colour = struct.unpack(">IIBB", data[16:26])
    row = 1 + (width * _PNG_CHANNELS[colour] * bits + 7) // 8
    inflate = zlib.decompressobj()
    seen = 0
    offset = 8

    def take(chunk: bytes) -> None:
        nonlocal seen
        first = -seen % row  # where the next row (its filter byte) starts in this piece
        if chunk[first::row] and max(chunk[first::row]) > 4:
            raise ValueError("unknown PNG filter")
        seen += len(chunk)
        if seen > row * height:
            raise ValueError("PNG pixel data longer than the image")

    while offset + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        if kind == b"IDAT":
            pending = data[offset + 8:offset + 8 + length]
            while pending:
                take(inflate.decompress(pending, 1 << 20))
                pending = inflate.unconsumed_tail
        elif kind == b"IEND":
            break
        offset += 12 + length
    take(inflate.flush())
    if not inflate.eof or seen != row * height:
        raise ValueError("PNG pixel data cut short")


def _png_costly_refuse(data: bytes, width: int, height: int, field: str) -> None:
    """Refuse a large PNG that is interlaced or has 16 bits a channel, naming which (its header says)."""
    bits, interlaced = data[24], data[28]  # IHDR: bit depth and interlace method, at fixed offsets
    params = {"w": width, "h": height, "max": MAX_PNG_COSTLY_PIXELS // 1_000_000}
    if interlaced:
        raise _refuse(gettext("The PNG image is interlaced and too large for that (%(w)s × %(h)s pixels; at most "
                              "%(max)s megapixels): save it without interlacing, or as a JPEG.") % params, field)
    if bits > 8:
        raise _refuse(gettext("The PNG image has 16 bits a colour and is too large for that (%(w)s × %(h)s pixels; "
                              "at most %(max)s megapixels): save it with 8 bits a colour, or as a JPEG.") % params,
                      field)


def _inspected(data: bytes, field: str) -> pdf_inspect.Inspection:
    """The PDF's streams measured within the limit and its active content listed; an encrypted one
    through a decrypted copy that PDFium writes without parsing a page."""
    import pypdfium2
    import pypdfium2.raw as pdfium_c

    limit = max_pdf_expanded_bytes()
    mb = {"max": limit // (1024 * 1024)}
    try:
        found = pdf_inspect.inspect(data, max_expanded=limit)
        if found.encrypted:
            try:
                pdf = pypdfium2.PdfDocument(data)
            except pypdfium2.PdfiumError as exc:
                raise _refuse(gettext("The PDF is damaged or protected and cannot be opened."), field) from exc
            try:
                copy = io.BytesIO()
                pdf.save(copy, flags=pdfium_c.FPDF_REMOVE_SECURITY)
            finally:
                pdf.close()
            found = pdf_inspect.inspect(copy.getvalue(), max_expanded=limit)
    except pdf_inspect.PdfTooLarge as exc:
        raise _refuse(gettext("The file expands to more than %(max)s MB when opened: send a plain scan or photo of "
                              "the document.") % mb, field) from exc
    return found


def pdf_safety_check(data: bytes, field: str = "file") -> None:
    """Refuse (UploadRefused, by name) a PDF that expands past the limit, holds an image of more
    pixels than an image upload may have, or carries active content (JavaScript, launch or submit
    actions, embedded files, automatic actions): it is refused rather than stripped, so that what
    the client sent is what the officer sees. Reads the bytes only; PDFium has parsed nothing yet."""
    found = _inspected(data, field)
    if found.active:
        raise _refuse(gettext("The PDF contains active content (%(what)s), which documents must not have: print it "
                              "to a new PDF, or scan or photograph the document, and send that.")
                      % {"what": ", ".join(sorted(found.active))}, field)
    pixels, width, height = found.largest_image
    if pixels > MAX_PIXELS:
        raise _refuse(gettext("The PDF holds an image that is too large (%(w)s × %(h)s pixels).")
                      % {"w": width, "h": height}, field)


def _pdf_page_sizes(pdf: PdfDocument, field: str) -> None:
    """Refuse a page larger than MAX_PDF_PAGE_SIDE; read from the page tree, no page is parsed."""
    import pypdfium2

    for index in range(min(len(pdf), MAX_PDF_PAGES + 1)):
        try:
            width, height = pdf.get_page_size(index)
        except pypdfium2.PdfiumError as exc:
            raise _refuse(gettext("The PDF is damaged or protected and cannot be opened."), field) from exc
        if max(width, height) > MAX_PDF_PAGE_SIDE:
            raise _refuse(gettext("The page is too large (%(w)s × %(h)s cm): send the document on ordinary paper "
                                  "sizes, up to %(max)s cm a side.")
                          % {"w": round(width / 72 * 2.54), "h": round(height / 72 * 2.54),
                             "max": round(MAX_PDF_PAGE_SIDE / 72 * 2.54)}, field)


def pdf_open_checked(data: bytes, field: str = "file") -> PdfDocument:
    """The PDF opened with PDFium after `pdf_safety_check` and the page size check, for rendering.
    The caller closes it."""
    import pypdfium2

    pdf_safety_check(data, field)
    try:
        pdf = pypdfium2.PdfDocument(data)
    except pypdfium2.PdfiumError as exc:
        raise _refuse(gettext("The PDF is damaged or protected and cannot be opened."), field) from exc
    try:
        _pdf_page_sizes(pdf, field)
    except UploadRefused:
        pdf.close()
        raise
    return pdf


def _pdf_pages(data: bytes, field: str) -> int:
    import pypdfium2

    pdf = pdf_open_checked(data, field)
    try:
        pages = len(pdf)
        if pages == 0:
            raise _refuse(gettext("The PDF has no pages."), field)
        if pages > MAX_PDF_PAGES:
            raise _refuse(gettext("The PDF has %(n)s pages; send at most %(max)s.") % {"n": pages, "max": MAX_PDF_PAGES},
                          field)
        try:
            pdf[0].get_size()
        except pypdfium2.PdfiumError as exc:
            raise _refuse(gettext("The PDF is damaged or protected and cannot be opened."), field) from exc
    finally:
        pdf.close()
    return pages


def upload_validate(data: bytes, *, filename: str, field: str = "file") -> Upload:
    """The upload if it is an acceptable document; otherwise UploadRefused naming the problem."""
    limit = max_upload_bytes()
    if not data:
        raise _refuse(gettext("The file is empty."), field)
    if len(data) > limit:
        raise _refuse(gettext("The file is larger than %(max)s.") % {"max": filesizeformat(limit)}, field)
    content_type = sniff(data)
    if content_type is None:
        raise _refuse(gettext("Only PNG, JPEG or PDF files are accepted; this file is %(what)s.")
                      % {"what": gettext(_what(data))}, field)
    pages = _pdf_pages(data, field) if content_type == PDF else _image_pages(data, field)
    return Upload(data=data, filename=(filename or "upload")[:200], content_type=content_type,
                  sha256=hashlib.sha256(data).hexdigest(), pages=pages)


def upload_read(file: IO[bytes], *, filename: str, field: str = "file") -> Upload:
    """Read a file object (a Django UploadedFile, an open file) and validate it, reading no more than
    one byte past the limit."""
    limit = max_upload_bytes()
    chunks: list[bytes] = []
    total = 0
    while total <= limit:
        chunk = file.read(min(1024 * 1024, limit + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return upload_validate(b"".join(chunks), filename=filename, field=field)
