"""Mail of a local run written to files under var/mail/ (crm.settings.dev), readable.

Django's file backend writes each message as it would be sent: non-ASCII text is quoted-printable,
whose soft line breaks cut every long link with "=" and turn "=" into "=3D", so a verification
or password link cannot be copied from the file. This backend writes each message first as a
person reads it (the headers decoded, each text part decoded), then as it would be sent."""

from __future__ import annotations

from email.message import Message
from typing import Any

from django.core.mail.backends.filebased import EmailBackend

SEPARATOR = b"-" * 79 + b"\n"


def readable(message: Message) -> str:
    """The message's addresses, subject and date, then its plain-text part (or its HTML part when it
    has none), decoded."""
    lines = [f"{name}: {message[name]}" for name in ("From", "To", "Cc", "Reply-To", "Subject", "Date")
             if message[name]]
    texts = [part for part in message.walk() if part.get_content_type() == "text/plain"]
    texts = texts or [part for part in message.walk() if part.get_content_type() == "text/html"]
    for part in texts:
        payload = part.get_payload(decode=True)
        charset = part.get_content_charset() or "utf-8"
        body = payload.decode(charset, errors="replace") if isinstance(payload, bytes) else str(payload or "")
        lines += ["", body.rstrip("\n")]
    return "\n".join(lines) + "\n"


class ReadableFileBackend(EmailBackend):
    """django's file backend, with each message readable before its raw form (see the module)."""

    def write_message(self, message: Any) -> None:
        sent = message.message()
        stream: Any = self.stream  # the file backend opens it in binary mode
        stream.write(b"=== readable copy (links whole) ===\n" + readable(sent).encode("utf-8"))
        stream.write(b"=== as sent ===\n" + sent.as_bytes() + b"\n")
        stream.write(SEPARATOR)
