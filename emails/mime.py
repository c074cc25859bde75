"""A queued email's bytes for SMTP, written directly instead of through the email package's objects.

Django builds every message as an `email.message.EmailMessage` under the modern policy, which parses
each header into a tree and folds it again when the message is written: for a campaign's email (a
dozen headers, two of them long unsubscribe links) that is some three milliseconds, most of what
sending it costs. The pipeline's emails all have one shape, multipart/alternative of a text and an
HTML part in UTF-8, so `smtp_bytes` writes that shape itself:

- headers: Subject, From, To, Date, Message-ID (as Django makes them), the extra headers in their
  order, MIME-Version and the Content-Type; a value of ASCII text is folded at its spaces (lines of at
  most 78 characters where the spaces allow, never more than 998), other text as RFC 2047 encoded words
  in UTF-8 (email.header, as the older email API writes them);
- each part in 7bit when it is ASCII with short lines, else quoted-printable or base64, whichever is
  shorter (as the email package chooses); the boundary is one that neither part contains;
- CRLF line endings throughout, as SMTP wants them (smtplib escapes leading dots itself).

What has another shape (attachments, Cc, Bcc, Reply-To, no HTML part, an extra header that would stand
in for one written here, an address that is not plain ASCII) is left to Django: `smtp_bytes` returns
None and the message is sent as any other. tests/emails/test_email_mime.py holds the two to the same
reading: a parser sees the same headers and the same texts in both.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from datetime import UTC, datetime
from email.header import Header
from email.utils import format_datetime, make_msgid

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.core.mail.utils import DNS_NAME
from django.utils.timezone import get_current_timezone

CRLF = "\r\n"
FOLD_AT = 78
LINE_MAX = 998
# Extra headers that name something written here (or that Django would treat specially): a message
# that carries one goes through Django.
_WRITTEN_HERE = frozenset(
    {
        "subject",
        "from",
        "to",
        "cc",
        "bcc",
        "reply-to",
        "date",
        "message-id",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "content-disposition",
    }
)


def _fold(name: str, value: str) -> str | None:
    """`name: value` folded at the spaces of `value` (ASCII text), or None when it cannot be written so."""
    if not value.isascii() or "\r" in value or "\n" in value:
        return None
    line = f"{name}:"
    out: list[str] = []
    for word in value.split(" "):
        if len(line) + 1 + len(word) > FOLD_AT and line.strip() and line != f"{name}:":
            out.append(line)
            line = ""
        line = f"{line} {word}"
    out.append(line)
    if any(len(part) > LINE_MAX for part in out):
        return None
    return CRLF.join(out)


def _header(name: str, value: str) -> str | None:
    """One header line (folded), plain where ASCII allows, else encoded words; None if neither fits."""
    value = str(value)
    if "\r" in value or "\n" in value:
        return None
    if value.isascii():
        return _fold(name, value)
    encoded = Header(value, "utf-8", header_name=name).encode(linesep=CRLF)
    return f"{name}: {encoded}"


def _part(content: str, subtype: str) -> tuple[str, bytes]:
    """The headers and the encoded body of one text part."""
    text = content.replace("\r\n", "\n").replace("\r", "\n")
    if not text.endswith("\n"):
        text += "\n"
    data = text.encode("utf-8")
    if data.isascii() and all(len(line) <= FOLD_AT for line in text.split("\n")):
        cte, body = "7bit", data.replace(b"\n", b"\r\n")
    else:
        qp = binascii.b2a_qp(data, quotetabs=False, istext=True, header=False).replace(b"\n", b"\r\n")
        # Text is encoded in its canonical form, CRLF line breaks (RFC 2045).
        b64 = base64.encodebytes(data.replace(b"\n", b"\r\n")).replace(b"\n", b"\r\n")
        cte, body = ("quoted-printable", qp) if len(qp) <= len(b64) else ("base64", b64)
    head = f'Content-Type: text/{subtype}; charset="utf-8"{CRLF}Content-Transfer-Encoding: {cte}{CRLF}'
    # The line break before a boundary belongs to the boundary: one more keeps the text's last one.
    return head, body + b"\r\n"


def smtp_bytes(message: EmailMultiAlternatives) -> bytes | None:
    """`message` as the bytes to hand to SMTP, or None when its shape is not the pipeline's (see the
    module docstring): the caller then lets Django build it."""
    html = [content for content, mimetype in message.alternatives if mimetype == "text/html"]
    extra = {str(k): str(v) for k, v in message.extra_headers.items()}
    if (
        message.attachments
        or message.cc
        or message.bcc
        or message.reply_to
        or len(message.to) != 1
        or len(message.alternatives) != 1
        or len(html) != 1
        or not isinstance(html[0], str)
        or not message.body
        or (message.encoding or settings.DEFAULT_CHARSET).lower() not in ("utf-8", "utf8")
        or any(name.lower() in _WRITTEN_HERE for name in extra)
        or not str(message.from_email).isascii()
        or not str(message.to[0]).isascii()
    ):
        return None
    when = datetime.now(get_current_timezone() if settings.EMAIL_USE_LOCALTIME else UTC)
    lines = [
        _header("Subject", str(message.subject)),
        _header("From", str(message.from_email)),
        _header("To", str(message.to[0])),
        f"Date: {format_datetime(when)}",
        f"Message-ID: {make_msgid(domain=DNS_NAME)}",
        *(_header(name, value) for name, value in extra.items()),
    ]
    if any(line is None for line in lines):
        return None
    parts = [_part(str(message.body), "plain"), _part(html[0], "html")]
    boundary = f"==============={secrets.token_hex(10)}=="
    while any(boundary.encode() in body for _head, body in parts):
        boundary = f"==============={secrets.token_hex(10)}=="
    lines += ["MIME-Version: 1.0", f'Content-Type: multipart/alternative; boundary="{boundary}"']
    out = [CRLF.join(line for line in lines if line is not None).encode("ascii"), b"\r\n\r\n"]
    for head, body in parts:
        out += [f"--{boundary}{CRLF}{head}{CRLF}".encode("ascii"), body]
    out.append(f"--{boundary}--{CRLF}".encode("ascii"))
    return b"".join(out)
