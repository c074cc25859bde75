"""A validated upload turned into what the checks look at: page images (RGB numpy arrays) and, for a
PDF with a text layer, its text; and the legibility measures (resolution, sharpness)."""

from __future__ import annotations

import io
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from kyc.uploads import PDF, PNG, Upload, pdf_open_checked

if TYPE_CHECKING:
    from PIL import Image
    from pypdfium2 import PdfPage

MAX_SIDE = 2000  # pixels: larger images are reduced before OCR (nothing is gained, time is lost)
# A PDF page is rendered to at most this many pixels a side and this many pixels in all, whatever its
# size in points (an A4 page at 1700 pixels high; a square page at 1429 a side): the bitmap is at most
# 8 MB, and the page's size or shape never sets the memory a check costs.
PDF_RENDER_SIDE = 1700
PDF_RENDER_PIXELS = 1202 * 1700
# A scan inside a PDF is one picture drawn on the page. When it covers this share of the page or more
# and has more pixels than rendering the page would give it, it is read at its own resolution (a
# passport scanned at 300 dpi onto a third of the page keeps its machine-readable zone legible)...
EMBEDDED_MIN_SHARE = 0.05
# ...decoded from its own JPEG data (reduced as it is decoded), or by PDFium when it has at most this
# many pixels (PDFium decodes it whole, 4 bytes a pixel); a larger one of another kind is rendered.
EMBEDDED_MAX_PIXELS = 12_000_000
_IMAGE_DICT = re.compile(rb"/Subtype\s*/Image\b")
MAX_PAGES = 2  # only the first pages of a PDF are read


@dataclass(frozen=True)
class Page:
    image: np.ndarray  # RGB, uint8
    text_layer: str  # the PDF's own text ("" for images and scanned PDFs)
    source_size: tuple[int, int]  # the image's size before reduction (width, height)
    # A PDF page rendered whole around one scan that has fewer pixels than the rendering: the scan's
    # pixels per rendered pixel (below 1), so that legibility judges the scan, not its enlargement.
    detail: float = 1.0


# EXIF orientations that turn the picture a quarter (its width and height swap).
_QUARTER_TURNS = (5, 6, 7, 8)
# Modes that are reduced as they are; any other (palette, 16-bit, CMYK, ...) is made RGB first.
_REDUCIBLE = ("RGB", "RGBA", "L", "LA")


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation (1: upright). Read once the image is loaded: a PNG's getexif() decodes it."""
    return int(image.getexif().get(0x0112, 1) or 1)


def _upright(image: Image.Image, orientation: int) -> Image.Image:
    """The image turned upright by its EXIF orientation (as PIL.ImageOps.exif_transpose does)."""
    from PIL import Image

    t = Image.Transpose
    turn = {2: t.FLIP_LEFT_RIGHT, 3: t.ROTATE_180, 4: t.FLIP_TOP_BOTTOM, 5: t.TRANSPOSE, 6: t.ROTATE_270,
            7: t.TRANSVERSE, 8: t.ROTATE_90}.get(orientation)
    return image.transpose(turn) if turn is not None else image


def _reduce(image: Image.Image) -> tuple[np.ndarray, tuple[int, int]]:
    """The image as an RGB array of at most MAX_SIDE a side, and its size before reduction (upright).

    Reduced before anything else, in place: a JPEG is decoded at a fraction of its size (libjpeg's
    DCT scaling, through `thumbnail`'s draft), and a large image is never copied whole (turned
    upright, made RGB) but after it is small."""
    from PIL import Image

    width, height = image.size
    if image.mode not in _REDUCIBLE:
        orientation = _orientation(image)
        image = image.convert("RGB")
    else:
        if max(width, height) > MAX_SIDE:
            if image.format == "JPEG":
                image.draft(None, (MAX_SIDE, MAX_SIDE))  # decoded at 1/2, 1/4 or 1/8, still >= MAX_SIDE
            image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
        else:
            image.load()
        orientation = _orientation(image)
    if max(image.size) > MAX_SIDE:
        image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    image = _upright(image, orientation)
    if image.mode != "RGB":
        image = image.convert("RGB")
    size = (height, width) if orientation in _QUARTER_TURNS else (width, height)
    return np.asarray(image), size


def _png_reduced(data: bytes, header: Image.Image) -> tuple[np.ndarray, tuple[int, int]]:
    """A large PNG decoded by OpenCV in grey, a byte a pixel, to a half, a quarter or an eighth of its
    size (Pillow holds the whole image at 4 bytes a pixel before it can reduce it: 240 MB for 60 MP;
    this about 60 MB at its peak; the checks read text, not colours), then brought to MAX_SIDE and
    turned upright by the EXIF orientation its header carries (an eXIf chunk after the pixels is not
    looked for: finding it decodes them)."""
    import cv2
    from PIL import Image

    width, height = header.size
    exif = header.info.get("exif")
    orientation = 1
    if isinstance(exif, bytes):
        found = Image.Exif()
        found.load(exif)
        orientation = int(found.get(0x0112, 1) or 1)
    factor = next(f for f in (8, 4, 2) if max(width, height) // f >= MAX_SIDE)
    flag = {2: cv2.IMREAD_REDUCED_GRAYSCALE_2, 4: cv2.IMREAD_REDUCED_GRAYSCALE_4,
            8: cv2.IMREAD_REDUCED_GRAYSCALE_8}[factor]
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), flag | cv2.IMREAD_IGNORE_ORIENTATION)
    if decoded is None:
        raise ValueError("the PNG could not be decoded")
    image = Image.fromarray(decoded)
    del decoded
    image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    image = _upright(image, orientation).convert("RGB")
    size = (height, width) if orientation in _QUARTER_TURNS else (width, height)
    return np.asarray(image), size


def _heap_release() -> None:
    """Give the heap's free memory back to the system (glibc), after a large picture was decoded and
    dropped: what the OCR allocates next would otherwise start from the decoder's high-water mark."""
    import ctypes

    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def pages(upload: Upload) -> list[Page]:
    if upload.content_type != PDF:
        from PIL import Image

        with Image.open(io.BytesIO(upload.data)) as image:
            if upload.content_type == PNG and max(image.size) >= 2 * MAX_SIDE:
                array, size = _png_reduced(upload.data, image)
            else:
                array, size = _reduce(image)
        _heap_release()
        return [Page(array, "", size)]
    # PDFium's parse of a page (up to 100 MB of small objects for a page of many drawing operators) is
    # done in a thread of its own, so that it is allocated in a heap (a glibc arena) of that thread's:
    # freed, that heap is given back whole. In the main heap the space stayed mapped, and the text
    # detector's activations, placed in it instead of in maps of their own, raised its peak by 40 MB
    # and stayed 70 MB larger after it.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="kyc-pdf") as pool:
        return pool.submit(_pdf_pages, upload).result()


def _pdf_pages(upload: Upload) -> list[Page]:
    # Checked again here, not only at upload: a file stored before the limits existed, or handed in by
    # another path, must not cost the worker gigabytes (UploadRefused names the problem).
    out = []
    pdf = pdf_open_checked(upload.data)
    has_images = _IMAGE_DICT.search(upload.data) is not None
    try:
        for index in range(min(len(pdf), MAX_PAGES)):
            page = pdf[index]
            textpage = page.get_textpage()
            text = textpage.get_text_range() or ""
            textpage.close()
            width, height = page.get_size()
            scale = render_scale(width, height)
            found, detail = _embedded(page, width, height, scale) if has_images else (None, 1.0)
            if found is None:
                bitmap = page.render(scale=scale, may_draw_forms=False)
                found = _reduce(bitmap.to_pil())
                bitmap.close()
            page.close()
            out.append(Page(found[0], text.replace("\r\n", "\n").replace("\r", "\n").strip(), found[1], detail))
    finally:
        pdf.close()
    _heap_release()  # PDFium's parse of the page, before the OCR's turn
    return out


def render_scale(width: float, height: float) -> float:
    """Pixels a point for rendering a page of `width` x `height` points (PDF_RENDER_SIDE, PDF_RENDER_PIXELS)."""
    return min(PDF_RENDER_SIDE / max(width, height, 1), float((PDF_RENDER_PIXELS / max(width * height, 1)) ** 0.5))


def _embedded(page: PdfPage, width: float, height: float,
              scale: float) -> tuple[tuple[np.ndarray, tuple[int, int]] | None, float]:
    """The page's one scan at its own resolution (see EMBEDDED_MIN_SHARE), or None: no picture covers
    enough of the page, more than one does (a page composed of pictures is rendered whole), rendering
    gives it as many pixels, or it is drawn turned or mirrored (rendering turns it). With it, the
    scan's pixels per rendered pixel when the page is rendered around a scan poorer than the rendering
    (Page.detail), else 1."""
    import pypdfium2.raw as pdfium_c

    if page.get_rotation():
        return None, 1.0
    large = []
    for obj in page.get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_IMAGE,), max_depth=2):
        left, bottom, right, top = obj.get_bounds()
        if (right - left) * (top - bottom) >= EMBEDDED_MIN_SHARE * width * height:
            large.append(obj)
    if len(large) != 1:
        return None, 1.0
    image = large[0]
    m = image.get_matrix()
    if m.a <= 0 or m.d <= 0 or abs(m.b) > 1e-6 * m.a or abs(m.c) > 1e-6 * m.d:
        return None, 1.0
    px_width, px_height = image.get_px_size()
    if px_width < 1.2 * m.a * scale:
        return None, min(1.0, px_width / (m.a * scale), px_height / (m.d * scale))
    if image.get_filters() == ["DCTDecode"]:
        from PIL import Image

        try:
            with Image.open(io.BytesIO(bytes(image.get_data(decode_simple=False)))) as picture:
                if picture.format == "JPEG" and picture.mode in _REDUCIBLE:
                    return _reduce(picture), 1.0
        except (OSError, ValueError):  # not a JPEG PIL reads: PDFium's own decoder below
            pass
    if px_width * px_height > EMBEDDED_MAX_PIXELS:
        return None, 1.0
    bitmap = image.get_bitmap(render=False)
    try:
        return _reduce(bitmap.to_pil()), 1.0
    finally:
        bitmap.close()


def sharpness(image: np.ndarray) -> float:
    """How sharp the edges of the page's text are, independent of its size and contrast: the strongest
    gradients (99.7th percentile) over the contrast, on a copy brought to 1000 pixels wide. Crisp
    print scores about 0.4 and more; a blurred photo well under 0.2."""
    import cv2

    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    h, w = gray.shape
    scale = 1000 / max(w, h)
    gray = cv2.resize(gray, (max(1, int(w * scale)), max(1, int(h * scale))), interpolation=cv2.INTER_AREA)
    gray = gray.astype(np.float32)
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
    magnitude = np.hypot(gx, gy)
    contrast = float(np.percentile(gray, 99) - np.percentile(gray, 1))
    if contrast < 10:
        return 0.0
    return float(np.percentile(magnitude, 99.7)) / (contrast * 4.0)
