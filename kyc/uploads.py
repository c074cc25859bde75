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
from typing import IO

from django.conf import settings
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext

from kyc.exceptions import UploadRefused

PNG = "image/png"
JPEG = "image/jpeg"
PDF = "application/pdf"
CONTENT_TYPES = (PNG, JPEG, PDF)
EXTENSIONS = {PNG: "png", JPEG: "jpg", PDF: "pdf"}
MAX_PDF_PAGES = 10
MAX_PIXELS = 60_000_000  # a decompression bomb is refused before it is decoded

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
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise _refuse(gettext("The image is too large (%(w)s × %(h)s pixels).") % {"w": width, "h": height},
                              field)
            image.verify()
        with Image.open(io.BytesIO(data)) as image:
            image.load()
    except UploadRefused:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise _refuse(gettext("The image is damaged and cannot be opened."), field) from exc
    return 1


def _pdf_pages(data: bytes, field: str) -> int:
    import pypdfium2

    try:
        pdf = pypdfium2.PdfDocument(data)
    except pypdfium2.PdfiumError as exc:
        raise _refuse(gettext("The PDF is damaged or protected and cannot be opened."), field) from exc
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
