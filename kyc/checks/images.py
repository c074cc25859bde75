"""A validated upload turned into what the checks look at: page images (RGB numpy arrays) and, for a
PDF with a text layer, its text; and the legibility measures (resolution, sharpness)."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from kyc.uploads import PDF, Upload, pdf_open_checked

MAX_SIDE = 2000  # pixels: larger images are reduced before OCR (nothing is gained, time is lost)
# A PDF page is rendered to at most this many pixels a side whatever its size in points: the bitmap
# is at most 1700 x 1700 x 4 bytes (11.6 MB), so the page's size never sets the memory a check costs.
PDF_RENDER_SIDE = 1700
MAX_PAGES = 2  # only the first pages of a PDF are read


@dataclass(frozen=True)
class Page:
    image: np.ndarray  # RGB, uint8
    text_layer: str  # the PDF's own text ("" for images and scanned PDFs)
    source_size: tuple[int, int]  # the image's size before reduction (width, height)


def _reduce(image: object) -> tuple[np.ndarray, tuple[int, int]]:
    from PIL import Image, ImageOps

    assert isinstance(image, Image.Image)
    image = ImageOps.exif_transpose(image) or image
    image = image.convert("RGB")
    size = image.size
    if max(size) > MAX_SIDE:
        image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    return np.asarray(image), size


def pages(upload: Upload) -> list[Page]:
    if upload.content_type != PDF:
        from PIL import Image

        with Image.open(io.BytesIO(upload.data)) as image:
            array, size = _reduce(image)
        return [Page(array, "", size)]
    # Checked again here, not only at upload: a file stored before the limits existed, or handed in by
    # another path, must not cost the worker gigabytes (UploadRefused names the problem).
    out = []
    pdf = pdf_open_checked(upload.data)
    try:
        for index in range(min(len(pdf), MAX_PAGES)):
            page = pdf[index]
            textpage = page.get_textpage()
            text = textpage.get_text_range() or ""
            textpage.close()
            width, height = page.get_size()
            scale = PDF_RENDER_SIDE / max(width, height, 1)
            rendered = page.render(scale=scale, may_draw_forms=False).to_pil()
            array, size = _reduce(rendered)
            out.append(Page(array, text.replace("\r\n", "\n").replace("\r", "\n").strip(), size))
            page.close()
    finally:
        pdf.close()
    return out


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
