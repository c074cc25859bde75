"""Legibility: is the upload sharp and large enough for a person (and the OCR) to read it?"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
from django.utils.translation import gettext_noop as _

from kyc.checks import images, ocr
from kyc.checks.report import CheckResult, OnFail, Outcome
from kyc.uploads import Upload

MIN_SIDE = 600  # pixels: the shorter side of an image below this is too small to read a document from
# ... unless it is a card scanned alone (an ID-1 card at 200 dpi is 674 x 425 pixels): a shorter side
# of MIN_CARD_SIDE or more whose text lines were read at least LARGE_TEXT_HEIGHT pixels high is legible.
MIN_CARD_SIDE = 400
MIN_TEXT_HEIGHT = 14  # pixels (in the upload): the median height of the text lines read
LARGE_TEXT_HEIGHT = 18  # pixels: well above MIN_TEXT_HEIGHT
MIN_SHARPNESS = 0.45  # images.sharpness(): crisp print scores ~1, a blurred photo ~0.2
HINT = _("The picture is too blurred or too small to read. Take a sharp photo or scan of the whole document in "
         "good light.")


def page_reading(upload: Upload, *, enough: Callable[[Sequence[Any]], bool] | None = None
                 ) -> Iterator[tuple[images.Page, ocr.Reading]]:
    for page in images.pages(upload):
        yield page, ocr.read_page(page.image, enough=enough)


def legibility_check(document: str, page: images.Page, reading: ocr.Reading) -> CheckResult:
    h, w = page.image.shape[:2]
    sharp = images.sharpness(page.image)
    # Pixels of the upload per pixel of the read image (the page may have been reduced twice); for a
    # PDF page rendered around a poorer scan, the scan's own pixels (Page.detail).
    source = (round(page.source_size[0] * page.detail), round(page.source_size[1] * page.detail))
    per_pixel = source[0] / w / reading.scale
    heights = sorted(r.height * per_pixel for r in reading.rows)
    text_height = float(np.median(heights)) if heights else 0.0
    evidence: dict[str, Any] = {"width": source[0], "height": source[1], "sharpness": round(sharp, 3),
                "min_sharpness": MIN_SHARPNESS, "text_height_px": round(text_height, 1),
                "min_text_height_px": MIN_TEXT_HEIGHT, "rotation": reading.rotation, "text_lines": len(reading.rows)}
    problems = []
    if min(source) < MIN_SIDE and not (min(source) >= MIN_CARD_SIDE and text_height >= LARGE_TEXT_HEIGHT):
        problems.append("resolution")
    if heights and text_height < MIN_TEXT_HEIGHT:
        problems.append("text_too_small")
    if sharp < MIN_SHARPNESS:
        problems.append("blurred")
    if not reading.rows:
        problems.append("no_text")
    evidence["problems"] = problems
    if problems:
        return CheckResult("legibility", Outcome.FAIL, evidence, document, OnFail.REVIEW, HINT)
    return CheckResult("legibility", Outcome.PASS, evidence, document)
