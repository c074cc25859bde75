"""Offline OCR: RapidOCR's ONNX models, shipped inside the `rapidocr-onnxruntime` wheel (no download at
run time). The engine is loaded once per process, on first use, under a lock; ONNX Runtime sessions
may then be called from several threads.

KYC_OCR_THREADS (environment) caps the threads one OCR call uses (the default lets ONNX Runtime take
every core); a worker pool of N processes on N cores runs best with 1.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

_lock = threading.Lock()
_engine: Any = None


def engine() -> Any:
    global _engine
    if _engine is None:
        with _lock:
            if _engine is None:
                _engine = _build()
    return _engine


def _build() -> Any:
    """The engine, its ONNX Runtime sessions optimised at the basic level (see OPTIMISATION)."""
    from onnxruntime import GraphOptimizationLevel
    from rapidocr_onnxruntime import RapidOCR
    from rapidocr_onnxruntime.utils import OrtInferSession

    threads = int(os.environ.get("KYC_OCR_THREADS", "-1") or -1)
    given = OrtInferSession.__dict__["_init_sess_opts"]

    def options(config: dict[str, Any]) -> Any:
        opts = given.__func__(config)
        opts.graph_optimization_level = getattr(GraphOptimizationLevel, OPTIMISATION)
        opts.enable_cpu_mem_arena = False
        opts.enable_mem_pattern = False
        return opts

    OrtInferSession._init_sess_opts = staticmethod(options)  # RapidOCR takes no session options of its own
    try:
        return RapidOCR(intra_op_num_threads=threads, inter_op_num_threads=1 if threads > 0 else -1,
                        det_limit_side_len=960, det_limit_type="max", max_side_len=2400)
    finally:
        OrtInferSession._init_sess_opts = given


# RapidOCR optimises its models' graphs at every level ONNX Runtime has (ORT_ENABLE_ALL), whose layout
# level turns the convolutions to a blocked layout: the weights are held twice and the text detector's
# activations reordered, 10 MB more held and up to 40 MB more at the detector's peak, for no speed
# that shows on one core; the basic level (constant folding, redundant nodes) is kept. Its memory
# pattern (on by default) plans one block for all of a run's activations once a page's size has been
# seen, larger than what one run at a time holds (15 MB more from a page's second detection): off,
# each activation is allocated and freed as it is used (isolated.py gives them back at once).
OPTIMISATION = "ORT_ENABLE_BASIC"


@dataclass(frozen=True)
class Line:
    text: str
    score: float
    box: tuple[tuple[float, float], ...]  # four corners, clockwise from top-left, in image pixels

    @property
    def height(self) -> float:
        (x0, y0), (x1, y1), (x2, y2), (x3, y3) = self.box
        return float(min(np.hypot(x3 - x0, y3 - y0), np.hypot(x2 - x1, y2 - y1)))

    @property
    def width(self) -> float:
        (x0, y0), (x1, y1), _, _ = self.box
        return float(np.hypot(x1 - x0, y1 - y0))

    @property
    def center(self) -> tuple[float, float]:
        xs = [p[0] for p in self.box]
        ys = [p[1] for p in self.box]
        return sum(xs) / 4, sum(ys) / 4


# Pages are brought to at most DET_SIDE pixels on their longest side and DET_AREA pixels in all before
# text detection: the detector's memory grows with the area, so a square page is reduced further than
# an A4 one (whose 960-pixel long side makes 679 x 960); what a text line needs is height in pixels,
# which a page of a given area gives whatever its shape.
DET_SIDE = 960
DET_AREA = 679 * 960


def det_scale(width: int, height: int) -> float:
    """The factor a page of `width` x `height` pixels is reduced by for text detection (at most 1)."""
    return min(1.0, DET_SIDE / max(width, height, 1), float((DET_AREA / max(width * height, 1)) ** 0.5))
LONG = 8.0  # a box this many times wider than high is a long line (an MRZ line, an address line)


@dataclass(frozen=True)
class Row:
    """Boxes on one line of text, left to right (a long line that detection cut into pieces)."""

    lines: tuple[Line, ...]

    @property
    def text(self) -> str:
        return " ".join(ln.text for ln in self.lines)

    @property
    def height(self) -> float:
        return float(np.median([ln.height for ln in self.lines]))

    @property
    def score(self) -> float:
        return min(ln.score for ln in self.lines)


@dataclass(frozen=True)
class Reading:
    rows: tuple[Row, ...]  # in reading order, on the page turned upright
    rotation: int  # degrees (clockwise) the page was turned to read it upright
    scale: float  # the read image's pixels per pixel of the page given
    boxes: int  # text boxes detected
    complete: bool  # every box was recognised (False: the long lines only, which were enough)

    @property
    def text(self) -> str:
        return "\n".join(r.text for r in self.rows)


# The detector's activations grow with its input's area and set a check's peak memory: a page larger
# than DET_BAND_AREA pixels is detected in horizontal bands that overlap by DET_OVERLAP pixels, each
# box kept from the band that holds its centre away from the band's cut edge (a line up to
# DET_OVERLAP pixels high lies whole in one band).
# Bands are off for now: at 360,000 pixels they lost the machine-readable zone of a German passport
# and of a photographed ID card in a PDF (tests/kyc/test_checks_documents.py), so no page of at most
# DET_AREA pixels is cut; the area cap alone keeps a check near the 300 MB goal (benchmarks/
# kyc_check_memory.py measures it).
DET_BAND_AREA = 2 * DET_AREA
DET_OVERLAP = 96


def _det_once(image: np.ndarray) -> list[np.ndarray]:
    boxes, _ = engine().text_det(image)
    return [] if boxes is None else list(boxes)


def _det(image: np.ndarray) -> list[np.ndarray]:
    h, w = image.shape[:2]
    bands = -(-h * w // DET_BAND_AREA)
    if bands <= 1 or h <= 2 * DET_OVERLAP:
        boxes = _det_once(image)
    else:
        step = -(-h // bands)
        boxes = []
        for top in range(0, h, step):
            start, end = max(0, top - DET_OVERLAP // 2), min(h, top + step + DET_OVERLAP // 2)
            for box in _det_once(np.ascontiguousarray(image[start:end])):
                centre = float(np.mean(box[:, 1])) + start
                if top <= centre < top + step:
                    boxes.append(box + np.array([0, start], dtype=box.dtype))
    if not boxes:
        return []
    return list(engine().sorted_boxes(np.array(boxes)))


def _size(box: np.ndarray) -> tuple[float, float]:
    w = float(max(np.linalg.norm(box[0] - box[1]), np.linalg.norm(box[2] - box[3])))
    h = float(max(np.linalg.norm(box[0] - box[3]), np.linalg.norm(box[1] - box[2])))
    return w, h


def _rows(lines: list[Line]) -> list[Row]:
    rows: list[list[Line]] = []
    for line in sorted(lines, key=lambda ln: ln.center[1]):
        if rows:
            last = rows[-1]
            ref = float(np.mean([ln.center[1] for ln in last]))
            if abs(line.center[1] - ref) < 0.5 * min(line.height, min(ln.height for ln in last)):
                last.append(line)
                continue
        rows.append([line])
    return [Row(tuple(sorted(r, key=lambda ln: ln.center[0]))) for r in rows]


def _tighten(crop: np.ndarray) -> np.ndarray:
    """A long line's crop cut down to its ink, top and bottom, with a small margin: the recogniser
    drops repeated letters and fillers when the line sits in a tall box."""
    import cv2

    gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    _, ink = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    rows = np.where(ink.mean(axis=1) > 255 * 0.02)[0]
    if len(rows) < 4:
        return crop
    top, bottom = int(rows[0]), int(rows[-1])
    margin = max(1, (bottom - top) // 10)
    return crop[max(0, top - margin):min(crop.shape[0], bottom + margin + 1)]


# A page read whole (no `enough`) that detection reduced below this has every line recognised from the
# page at full resolution, not from the reduced copy.
SHARP_BELOW = 0.9

CONFIDENT = 0.8  # a recognised line this sure counts towards a page that "reads"
POOR_CHARS = 40  # a reading with fewer confident characters is tried the other way up


def _confident_chars(reading: Reading) -> int:
    return sum(len(r.text) for r in reading.rows if r.score >= CONFIDENT)


# Grey levels between the darkest and the lightest 1% of a page: a faded scan or a photo in poor light
# (grey ink on grey paper) spans fewer, and is stretched to the full range before it is read; a page
# that spans almost none is blank, and stays as it is.
LOW_CONTRAST = 120
BLANK = 12


def stretched(image: np.ndarray) -> np.ndarray:
    """The page with its grey levels stretched to the full range when its contrast is low (the
    detector finds no text in grey on grey), else the page itself."""
    import cv2

    gray = cv2.cvtColor(np.ascontiguousarray(image[::4, ::4]), cv2.COLOR_RGB2GRAY)
    low, high = (float(v) for v in np.percentile(gray, (1, 99)))
    if high - low >= LOW_CONTRAST or high - low < BLANK:
        return image
    table = np.clip((np.arange(256, dtype=np.float32) - low) * 255.0 / (high - low), 0, 255).astype(np.uint8)
    return cv2.LUT(image, table)


def read_page(image: np.ndarray, *, enough: Callable[[list[Row]], bool] | None = None) -> Reading:
    """Read a page: detect text boxes, turn the page upright (a scan turned by 90, 180 or 270 degrees;
    decided by the boxes' shape and the direction classifier's vote over the long lines), then
    recognise the long lines first; when `enough` says they hold what is needed (a valid MRZ), the
    rest is not recognised. When they do not, the long lines are read again from the page at its full
    resolution (detection ran on a reduced copy). A reading that makes little sense (few confidently
    recognised characters) is tried once more the other way up (the vote can be wrong on a photo), and
    the better of the two is kept. A page of low contrast is stretched to the full range first."""
    image = stretched(image)
    reading = _oriented(image, enough)
    if len(reading.rows) >= FEW_ROWS or (enough is not None and enough(list(reading.rows))):
        return reading
    # A page photographed a quarter turn round and tilted: its lines' boxes are not tall enough for the
    # turn to be seen, and few are found; read the page turned a quarter, and keep what reads better.
    turned = _oriented(np.ascontiguousarray(np.rot90(image)), enough)
    turned = replace(turned, rotation=(turned.rotation + 270) % 360)
    if (enough is not None and enough(list(turned.rows))) or _confident_chars(turned) > _confident_chars(reading):
        return turned
    return reading


# A reading of fewer rows than this that is not `enough` is tried again with the page turned a quarter.
FEW_ROWS = 6


def _oriented(image: np.ndarray, enough: Callable[[list[Row]], bool] | None) -> Reading:
    """The page read as it is, or turned a half when the first reading makes little sense (see
    read_page)."""
    first = _read(image, enough=enough, flip=None)
    if enough is not None and enough(list(first.rows)):
        return first
    if _confident_chars(first) >= POOR_CHARS:
        return _closer(image, enough, first)
    second = _read(image, enough=enough, flip=(first.rotation // 180) == 0)
    if enough is not None and enough(list(second.rows)):
        return second
    return _closer(image, enough, second if _confident_chars(second) > _confident_chars(first) else first)


# A document that fills less than this share of the page's area (a card or a passport scanned on an A4
# page, both sides of a card on one page) is read again from a crop around it when the page as a whole
# gave nothing that was `enough` (its machine-readable zone): detection then sees it at up to twice
# the resolution.
CROP_SHARE = 0.6
BACKGROUND_DIFF = 40  # grey levels from the page's border colour that make a pixel part of the document


def document_box(image: np.ndarray) -> tuple[int, int, int, int] | None:
    """(left, top, right, bottom) around what stands out from the page's background (the median grey
    of its border), with a margin; None when it fills CROP_SHARE of the page or more, or nothing does."""
    import cv2

    step = 4
    gray = cv2.cvtColor(np.ascontiguousarray(image[::step, ::step]), cv2.COLOR_RGB2GRAY)
    h, w = gray.shape
    if h < 16 or w < 16:
        return None
    border = np.concatenate([gray[:2].ravel(), gray[-2:].ravel(), gray[:, :2].ravel(), gray[:, -2:].ravel()])
    marked = (np.abs(gray.astype(np.int16) - int(np.median(border))) > BACKGROUND_DIFF).astype(np.uint8)
    ink = cv2.morphologyEx(marked, cv2.MORPH_OPEN, np.ones((2, 2), np.uint8))  # specks of scanner noise
    ys, xs = np.nonzero(ink)
    if len(ys) < 50:
        return None
    top, bottom = (int(v) for v in np.percentile(ys, (0.1, 99.9)))
    left, right = (int(v) for v in np.percentile(xs, (0.1, 99.9)))
    margin = max(4, (bottom - top) // 20)
    top, left = max(0, top - margin), max(0, left - margin)
    bottom, right = min(h, bottom + margin + 1), min(w, right + margin + 1)
    if (bottom - top) * (right - left) >= CROP_SHARE * h * w:
        return None
    H, W = image.shape[:2]
    return left * step, top * step, min(W, right * step), min(H, bottom * step)


def _closer(image: np.ndarray, enough: Callable[[list[Row]], bool] | None, reading: Reading) -> Reading:
    """`reading`, or, when it was not `enough`, the page read again from a crop around the document
    (see CROP_SHARE) if that reading is."""
    if enough is None or reading.scale >= 0.9:
        return reading
    box = document_box(image)
    if box is None:
        return reading
    left, top, right, bottom = box
    crop = np.ascontiguousarray(image[top:bottom, left:right])
    if det_scale(crop.shape[1], crop.shape[0]) < 1.2 * reading.scale:
        return reading
    again = _read(crop, enough=enough, flip=None)
    return again if enough(list(again.rows)) else reading


def _read(image: np.ndarray, *, enough: Callable[[list[Row]], bool] | None, flip: bool | None) -> Reading:
    """One reading; `flip` forces the half-turn decision (None: the classifier's vote decides)."""
    import cv2

    ocr = engine()
    h, w = image.shape[:2]
    scale = det_scale(w, h)
    img = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA) if scale < 1 else image
    img = np.ascontiguousarray(img[:, :, ::-1])  # the engine works in BGR
    boxes = _det(img)
    sizes = [_size(b) for b in boxes]
    tall = sum(1 for bw, bh in sizes if bh > 2 * bw)
    wide = sum(1 for bw, bh in sizes if bw > 2 * bh)
    rotation = 0
    if tall > wide:
        img = np.ascontiguousarray(np.rot90(img, k=-1))  # clockwise
        rotation = 90
        boxes = _det(img)
        sizes = [_size(b) for b in boxes]
    crops = ocr.get_crop_img_list(img, boxes) if boxes else []
    by_length = sorted(range(len(crops)), key=lambda i: -sizes[i][0] / max(sizes[i][1], 1))[:8]
    flipped = False
    if flip is not None:
        flipped = flip and bool(crops)
    elif by_length:
        _, votes, _ = ocr.text_cls([crops[i] for i in by_length])
        flipped = sum(1 for label, score in votes if label == "180" and score > 0.8) * 2 > len(votes)
    if flipped:
        img = np.ascontiguousarray(np.rot90(img, k=2))
        rotation = (rotation + 180) % 360
        H, W = img.shape[:2]
        boxes = [np.array([[W - 1 - x, H - 1 - y] for x, y in b[[2, 3, 0, 1]]], dtype=np.float32)
                 for b in boxes]
        crops = ocr.get_crop_img_list(img, boxes)
    # The longest lines first, at most three (a TD1 MRZ has three); the rest only when needed.
    long_idx = sorted((i for i, (bw, bh) in enumerate(sizes) if bw >= LONG * bh),
                      key=lambda i: -sizes[i][0] / max(sizes[i][1], 1))[:3]
    long_set = set(long_idx)
    rest_idx = [i for i in range(len(crops)) if i not in long_set]
    lines: list[Line] = []

    def recognise(indexes: list[int], source: list[np.ndarray], into: list[Line]) -> None:
        if not indexes:
            return
        results, _ = ocr.text_rec([_tighten(source[i]) if i in long_set else source[i] for i in indexes])
        for i, (text, score) in zip(indexes, results, strict=True):
            if text and float(score) >= 0.5:
                corners = tuple((float(x), float(y)) for x, y in boxes[i])
                into.append(Line(text=str(text), score=float(score), box=corners))

    if enough is None:
        long_idx, rest_idx = long_idx + rest_idx, []
        if scale < SHARP_BELOW and crops:
            # Every line cut from the page at full resolution: a bill or statement photographed whole
            # has small print that the reduced copy blurs (a name, a house number, a date misread).
            full = np.ascontiguousarray(np.rot90(np.ascontiguousarray(image[:, :, ::-1]), k=-(rotation // 90)))
            crops = ocr.get_crop_img_list(full, [np.asarray(b, dtype=np.float32) / scale for b in boxes])
    recognise(long_idx, crops, lines)
    complete = not rest_idx
    if enough is not None and long_idx and scale < 0.9 and not enough(_rows(lines)):
        # The long lines again, cut from the page at full resolution (turned as the reduced copy was).
        full = np.ascontiguousarray(np.rot90(np.ascontiguousarray(image[:, :, ::-1]), k=-(rotation // 90)))
        sharp = ocr.get_crop_img_list(full, [np.asarray(boxes[i], dtype=np.float32) / scale for i in long_idx])
        by_index = dict(zip(long_idx, sharp, strict=True))
        hi: list[Line] = []
        recognise(long_idx, [by_index.get(i, c) for i, c in enumerate(crops)], hi)
        if enough(_rows(hi)):
            return Reading(tuple(_rows(hi)), rotation, scale, len(boxes), False)
    if rest_idx and not (enough is not None and enough(_rows(lines))):
        recognise(rest_idx, crops, lines)
        complete = True
    cleaned = _long_lines_cleaned(image, boxes, sizes, rotation, scale, enough) \
        if enough is not None and not enough(_rows(lines)) else None
    if cleaned is not None:
        return Reading(tuple(_rows(cleaned)), rotation, scale, len(boxes), False)
    return Reading(tuple(_rows(lines)), rotation, scale, len(boxes), complete)


# The long lines read again, when the page as read gave nothing `enough`, from their crops at full
# resolution made plainer, in turn: the recogniser drops letters of a narrow monospaced line (an MRZ in
# OCR-B or a mono face: 'I<D<<GR4FHM9<<<' for 'I<D<<GXR4FHJCM9<<<', '730610090<<<<<<<0' for
# '7306066F3107092D<<<<<<<<<<<<<0' on a photographed identity card) and reads it whole once the crop
# is widened (WIDEN) with its grey levels spread to the full range; equalised locally (CLAHE) or
# binarised (Otsu) for print over a guilloche or in uneven light. Each cleaning is one reading of all
# the lines, judged whole (never a line of one cleaning with a line of another, which would be a
# search for check digits that hold), and kept only when it is `enough` (an MRZ: every check digit holds).
LONG_LINES_CLEANED = 8
WIDEN = (1.6, 1.3)


def _cleanings(crop: np.ndarray) -> list[np.ndarray]:
    """A long line's crop (BGR) made plainer, each way in turn (see WIDEN)."""
    import cv2

    gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    spread = cv2.normalize(gray, np.empty_like(gray), 0, 255, cv2.NORM_MINMAX)
    clahe = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(gray)
    _, otsu = cv2.threshold(cv2.GaussianBlur(gray, (3, 3), 0), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    out = [cv2.resize(spread, None, fx=fx, fy=1.0, interpolation=cv2.INTER_CUBIC) for fx in WIDEN]
    out += [cv2.resize(clahe, None, fx=WIDEN[0], fy=1.0, interpolation=cv2.INTER_CUBIC), otsu]
    return [cv2.cvtColor(g, cv2.COLOR_GRAY2BGR) for g in out]


def _long_lines_cleaned(image: np.ndarray, boxes: list[np.ndarray], sizes: list[tuple[float, float]],
                        rotation: int, scale: float, enough: Callable[[list[Row]], bool]) -> list[Line] | None:
    """The long lines (the LONG_LINES_CLEANED longest) of the first cleaning whose reading is
    `enough`, read from crops cut at full resolution; None when none is."""
    long_idx = sorted((i for i, (bw, bh) in enumerate(sizes) if bw >= LONG * bh),
                      key=lambda i: -sizes[i][0])[:LONG_LINES_CLEANED]
    if not long_idx:
        return None
    ocr = engine()
    full = np.ascontiguousarray(np.rot90(np.ascontiguousarray(image[:, :, ::-1]), k=-(rotation // 90)))
    crops = ocr.get_crop_img_list(full, [np.asarray(boxes[i], dtype=np.float32) / scale for i in long_idx])
    cleaned = [_cleanings(_tighten(c)) for c in crops]
    for which in range(len(cleaned[0])):
        results, _ = ocr.text_rec([c[which] for c in cleaned])
        lines = [Line(text=str(text), score=float(score), box=tuple((float(x), float(y)) for x, y in boxes[i]))
                 for i, (text, score) in zip(long_idx, results, strict=True) if text and float(score) >= 0.5]
        if enough(_rows(lines)):
            return lines
    return None
