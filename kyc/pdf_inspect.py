"""What a PDF would cost and do when opened, read from its bytes before PDFium parses a page.

PDFium inflates a page's whole content stream and parses every operator in it when the page is
loaded, so a small file can cost gigabytes (a 250 KB file whose content stream inflates to 100 MB
took 1.4 GB and 5 s just to be accepted). This module walks the file's streams itself and inflates
each one in bounded chunks, counting, and stops as soon as the total passes the limit: memory stays
at a chunk, time at the limit's worth of inflating. Images are measured by their declared pixels
(PDFium decodes them at render time, line by line).

It also looks for active content: JavaScript, launch, form-submission and import actions, embedded
files, rich media, XFA forms, additional actions (/AA) and an /OpenAction that does anything but go
to a page. An identity document or a bill needs none of them, so such a PDF is refused (not
stripped: what the client sends is what the officer sees, byte for byte).

An encrypted PDF (a bank statement "protected" with an owner password opens without one) is
inspected through a decrypted copy that PDFium writes without parsing any page.
"""

from __future__ import annotations

import base64
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

CHUNK = 64 * 1024

# Names whose mere presence in an object means active content (matched after #xx escapes are undone).
ACTIVE_NAMES = frozenset({
    b"JavaScript", b"JS", b"Launch", b"EmbeddedFile", b"EmbeddedFiles", b"RichMedia", b"XFA", b"SubmitForm",
    b"ImportData", b"GoToE", b"AA",
})

_OBJ = re.compile(rb"(\d+)\s+(\d+)\s+obj\b")
_STREAM = re.compile(rb"(?<![A-Za-z])stream(?:\r\n|\n|\r)")
_ENDSTREAM = re.compile(rb"\s*endstream")
_NAME = re.compile(rb"/([^\s/\[\]()<>{}%]*)")
_HEX = re.compile(rb"#([0-9A-Fa-f]{2})")
_HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")
_INT = rb"\s*(\d+)\b(?!\s+\d+\s+R)"
_REF = rb"\s*(\d+)\s+\d+\s+R"


class PdfTooLarge(Exception):
    """The streams expand past the limit."""


@dataclass
class Inspection:
    """What `inspect` found: the bytes the streams expand to (up to the limit), the largest image
    (pixels, width, height) and the active content by name."""

    expanded: int = 0
    largest_image: tuple[int, int, int] = (0, 0, 0)
    active: set[str] = field(default_factory=set)
    encrypted: bool = False


def _names(text: bytes) -> Iterator[bytes]:
    for match in _NAME.finditer(text):
        yield _HEX.sub(lambda m: bytes([int(m.group(1), 16)]), match.group(1))


def _normalise(text: bytes) -> bytes:
    """Undo #xx escapes inside names, so that /J#61vaScript reads /JavaScript."""
    return _NAME.sub(lambda m: b"/" + _HEX.sub(lambda h: bytes([int(h.group(1), 16)]), m.group(1)), text)


def _int(text: bytes, key: bytes) -> int | None:
    match = re.search(rb"/" + key + _INT, text)
    return int(match.group(1)) if match else None


def _filters(text: bytes) -> list[bytes]:
    match = re.search(rb"/Filter\s*(\[[^\]]*\]|/[^\s/\[\]<>()]+)", text)
    if not match:
        return []
    return list(_names(match.group(1)))


# --- bounded decoders: each takes chunks and yields chunks ----------------------------------------

def _flate(chunks: Iterable[bytes]) -> Iterator[bytes]:
    inflater = zlib.decompressobj()
    try:
        for chunk in chunks:
            data = chunk
            while data:
                out = inflater.decompress(data, CHUNK)
                if out:
                    yield out
                data = inflater.unconsumed_tail
                if inflater.eof:
                    return
        tail = inflater.flush()
        if tail:
            yield tail
    except zlib.error:
        return  # PDFium stops at the damage too: what was inflated so far is what counts


def _ascii_hex(chunks: Iterable[bytes]) -> Iterator[bytes]:
    odd = b""
    for chunk in chunks:
        end = chunk.find(b">")
        digits = odd + bytes(b for b in (chunk if end < 0 else chunk[:end]) if b in _HEX_DIGITS)
        odd = digits[-1:] if len(digits) % 2 else b""
        if len(digits) > 1:
            yield bytes.fromhex(digits[:len(digits) - len(odd)].decode())
        if end >= 0:
            break
    if odd:
        yield bytes.fromhex((odd + b"0").decode())


def _ascii85(chunks: Iterable[bytes]) -> Iterator[bytes]:
    # The raw stream is at most the upload's size; its decoding at most four times that ("z").
    text = b"".join(chunks)
    text = text.split(b"~>", 1)[0]
    text = bytes(b for b in text if 33 <= b <= 117 or b == ord("z"))
    try:
        yield base64.a85decode(text)
    except ValueError:
        return


def _run_length(chunks: Iterable[bytes]) -> Iterator[bytes]:
    pending = b""
    for chunk in chunks:
        data = pending + chunk
        out = bytearray()
        i = 0
        while i < len(data):
            n = data[i]
            if n == 128:
                yield bytes(out)
                return
            if n < 128:
                if i + n + 2 > len(data):
                    break
                out += data[i + 1:i + n + 2]
                i += n + 2
            else:
                if i + 2 > len(data):
                    break
                out += data[i + 1:i + 2] * (257 - n)
                i += 2
        pending = data[i:]
        if out:
            yield bytes(out)


def _lzw(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """LZW as PDF writes it (early change 1, codes of 9 to 12 bits)."""
    table: list[bytes] = [bytes([i]) for i in range(256)] + [b"", b""]
    bits = 9
    buffer = 0
    held = 0
    previous: bytes | None = None
    for chunk in chunks:
        out = bytearray()
        for byte in chunk:
            buffer = (buffer << 8) | byte
            held += 8
            while held >= bits:
                held -= bits
                code = (buffer >> held) & ((1 << bits) - 1)
                buffer &= (1 << held) - 1
                if code == 256:
                    del table[258:]
                    bits = 9
                    previous = None
                    continue
                if code == 257:
                    yield bytes(out)
                    return
                if code < len(table):
                    entry = table[code]
                    if previous is not None:
                        table.append(previous + entry[:1])
                elif previous is not None and code == len(table):
                    entry = previous + previous[:1]
                    table.append(entry)
                else:
                    yield bytes(out)
                    return
                out += entry
                previous = entry
                if len(table) + 1 >= (1 << bits) and bits < 12:
                    bits += 1
        if out:
            yield bytes(out)


_DECODERS = {
    b"FlateDecode": _flate, b"Fl": _flate, b"ASCIIHexDecode": _ascii_hex, b"AHx": _ascii_hex,
    b"ASCII85Decode": _ascii85, b"A85": _ascii85, b"RunLengthDecode": _run_length, b"RL": _run_length,
    b"LZWDecode": _lzw, b"LZW": _lzw,
}


def _chunks(data: bytes) -> Iterator[bytes]:
    for start in range(0, len(data), CHUNK):
        yield data[start:start + CHUNK]


def _decoded(raw: bytes, filters: list[bytes], budget: int, *, keep: bool) -> tuple[int, bytes]:
    """The size the raw stream decodes to through its filters (and the bytes when `keep`, for an
    object stream); PdfTooLarge as soon as any stage passes the budget."""
    stream: Iterable[bytes] = _chunks(raw)
    for name in filters:
        decoder = _DECODERS.get(name)
        if decoder is None:
            break  # an image codec or a filter PDFium does not know: it is not expanded here
        stream = _bounded(decoder(stream), budget)
    kept: list[bytes] = []
    total = 0
    for chunk in _bounded(stream, budget):
        total += len(chunk)
        if keep:
            kept.append(chunk)
    return total, b"".join(kept)


def _bounded(chunks: Iterable[bytes], budget: int) -> Iterator[bytes]:
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if total > budget:
            raise PdfTooLarge
        yield chunk


# --- the walk ------------------------------------------------------------------------------------

def _streams(data: bytes) -> Iterator[tuple[int, int, bytes, bytes]]:
    """(object number, end of the object, its dictionary, its raw stream data) for every stream, and
    (number, end, text, b"") for every other object, in file order."""
    pos = 0
    while True:
        obj = _OBJ.search(data, pos)
        if obj is None:
            return
        number = int(obj.group(1))
        end = data.find(b"endobj", obj.end())
        if end < 0:
            following = _OBJ.search(data, obj.end())
            end = following.start() if following else len(data)
        stream = _STREAM.search(data, obj.end(), end)
        if stream is None:
            stop = end
            yield number, stop, data[obj.end():stop], b""
            pos = max(stop, obj.end())
            continue
        head = data[obj.end():stream.start()]
        start = stream.end()
        length = _int(head, b"Length")
        stop = -1
        if length is not None and _ENDSTREAM.match(data, start + length):
            stop = start + length
        else:
            found = data.find(b"endstream", start)
            stop = found if found >= 0 else len(data)
        yield number, stop, head, data[start:stop]
        pos = stop


def _object_stream(text: bytes, head: bytes) -> Iterator[tuple[int, bytes]]:
    """The objects inside a decoded object stream (/Type /ObjStm), by number."""
    count = _int(head, b"N") or 0
    first = _int(head, b"First") or 0
    numbers = [int(n) for n in re.findall(rb"\d+", text[:first])][:count * 2]
    pairs = list(zip(numbers[0::2], numbers[1::2], strict=False))
    for index, (number, offset) in enumerate(pairs):
        stop = first + pairs[index + 1][1] if index + 1 < len(pairs) else len(text)
        yield number, text[first + offset:stop]


def _open_action_is_active(objects: dict[int, bytes], text: bytes) -> bool:
    """An /OpenAction that shows a page (a destination array or a GoTo action) is harmless; anything
    else it does (or a target that cannot be found) counts as active."""
    match = re.search(rb"/OpenAction\s*(\[|<<|(\d+)\s+\d+\s+R)", text)
    if match is None:
        return False
    if match.group(1) == b"[":
        return False
    target = text[match.end():match.end() + 2000] if match.group(1) == b"<<" else objects.get(int(match.group(2) or 0))
    if target is None:
        return True
    if target.lstrip().startswith(b"["):
        return False
    action = re.search(rb"/S\s*/(\w+)", target)
    return action is None or action.group(1) != b"GoTo"


def _resolved_int(head: bytes, key: bytes, objects: dict[int, bytes]) -> int:
    direct = _int(head, key)
    if direct is not None:
        return direct
    ref = re.search(rb"/" + key + _REF, head)
    if ref is None:
        return 0
    value = re.match(rb"\s*(\d+)", objects.get(int(ref.group(1)), b""))
    return int(value.group(1)) if value else 0


def inspect(data: bytes, *, max_expanded: int) -> Inspection:
    """Walk every object and stream of the PDF. PdfTooLarge when its streams (images aside) expand
    past `max_expanded` bytes in all, found while they inflate, never after."""
    found = Inspection(encrypted=b"/Encrypt" in data)
    objects: dict[int, bytes] = {}
    image_heads: list[bytes] = []
    for number, _, head, raw in _streams(data):
        head = _normalise(head)
        objects[number] = head
        if not raw:
            continue
        if re.search(rb"/Subtype\s*/Image\b", head):
            # PDFium decodes an image at render time, line by line, to its declared size: it is
            # bounded by its pixels (below), not by what its stream would inflate to.
            image_heads.append(head)
            continue
        object_stream = re.search(rb"/Type\s*/ObjStm\b", head) is not None
        size, text = _decoded(raw, _filters(head), max_expanded - found.expanded, keep=object_stream)
        found.expanded += size
        if object_stream:
            for inner, body in _object_stream(_normalise(text), head):
                objects.setdefault(inner, body)
    for head in image_heads:
        width, height = _resolved_int(head, b"Width", objects), _resolved_int(head, b"Height", objects)
        if width * height > found.largest_image[0]:
            found.largest_image = (width * height, width, height)
    for text in objects.values():
        for name in _names(text):
            if name in ACTIVE_NAMES:
                found.active.add(name.decode())
        if b"/OpenAction" in text and _open_action_is_active(objects, text):
            found.active.add("OpenAction")
    return found
