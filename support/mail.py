"""Inbound support mail read without a database: what a raw message says, and what kind it is.

Pure functions over the bytes a mailbox received (the standard library's ``email`` package with
``policy.default``); support.mail_intake decides what to do with the answers. Every question a
hostile or automatic message raises is answered here, by name:

- ``parse``: the message record (ids, addresses, subject, date, text and HTML bodies, attachments).
  A message larger than the limit is read for its headers only (``parse_headers``): it is recorded,
  never decoded.
- ``thread_keys``: what ties a reply to a ticket: the message ids it answers (In-Reply-To first,
  then References from the newest), the ticket references inside our own Message-IDs
  (``outbound_message_id``) and a ``[T001234]`` in the subject.
- ``auto_reply_reason``: an automatic message (RFC 3834 Auto-Submitted, the vendors' X-Autoreply /
  X-Autorespond / X-Auto-Response-Suppress, Precedence bulk/junk/list/auto_reply, a mailing list's
  List-Id, a bounce's empty Return-Path, an out-of-office subject in several languages): recorded,
  never answered.
- ``loop_reason``: mail we sent coming back (our loop header, a Message-ID of our domain, a sender
  that is one of our support addresses). The rate of one sender is the intake's (it counts rows).
- ``size_reason``: a message or an attachment over the limit, with a reason a person can read.
- ``forgery_reason``: the receiving server's Authentication-Results or Received-SPF say the From
  domain failed (SPF, DKIM or DMARC): the message is kept but never threaded as the client's.
- ``safe_html``: the HTML body through an allow-list sanitiser (nh3, Ammonia): no scripts, styles,
  event handlers, javascript: or data: links, forms, frames or images (a remote image is a tracking
  beacon; an inline one is an attachment already).
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser, BytesParser
from email.policy import EmailPolicy
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any

import nh3

# The header the CRM puts on every support message it sends; one coming back in is our own mail.
LOOP_HEADER = "X-CRM-Loop"
TICKET_HEADER = "X-CRM-Ticket"
# "[T001234]" in a subject: a ticket's reference (support.models.Ticket.reference) in brackets.
REFERENCE_IN_SUBJECT = re.compile(r"\[\s*(T\d{6,})\s*\]")
# Our own Message-IDs carry the ticket's reference first: <T001234.<random>@<domain>>.
REFERENCE_IN_MESSAGE_ID = re.compile(r"^(T\d{6,})\.[A-Za-z0-9]+@", re.ASCII)
MESSAGE_ID_LENGTH = 250
SUBJECT_LENGTH = 250
ADDRESS_LENGTH = 254

# Subjects of out-of-office and other automatic answers, in the languages the brokerages serve
# (compared folded to lower case, at the start of the subject or after a "Re:").
_AUTO_SUBJECTS = re.compile(
    r"^\s*(?:(?:re|aw|ant|sv|vs|r|rif)\s*:\s*)*(?:"
    r"auto(?:matic)?[ -]?(?:reply|response|answer)|out of (?:the )?office|away from (?:the |my )?office|"
    r"on vacation|on holiday|on leave|undeliver(?:ed|able)|delivery status notification|"
    r"mail delivery (?:failed|failure|system)|returned mail|"
    r"abwesenheitsnotiz|automatische antwort|außer haus|ausser haus|nicht im büro|"
    r"réponse automatique|absence du bureau|absent du bureau|"
    r"respuesta automática|respuesta automatica|fuera de la oficina|"
    r"risposta automatica|fuori sede|fuori ufficio|"
    r"resposta automática|ausente do escritório|fora do escritório|"
    r"automatisch antwoord|afwezig|niet aanwezig|"
    r"automatyczna odpowiedź|poza biurem|"
    r"автоответ|автоматический ответ|нет на месте|в отпуске|"
    r"αυτόματη απάντηση|εκτός γραφείου|"
    r"رد تلقائي|خارج المكتب|"
    r"自动回复|自動回覆|自動返信|不在"
    r")",
    re.IGNORECASE,
)
_AUTO_PRECEDENCE = frozenset({"bulk", "junk", "list", "auto_reply", "auto-reply"})
_AUTH_FAIL = frozenset({"fail", "softfail", "permerror"})  # "none"/"neutral"/"temperror" prove nothing

# What staff may see of a message's HTML: text structure and links, nothing that runs or fetches.
SAFE_TAGS = frozenset({
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "del", "div", "dl", "dt", "em", "h1", "h2",
    "h3", "h4", "h5", "h6", "hr", "i", "ins", "kbd", "li", "ol", "p", "pre", "q", "s", "small", "span", "strike",
    "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
})
SAFE_ATTRIBUTES = {"a": {"href", "title"}, "td": {"colspan", "rowspan"}, "th": {"colspan", "rowspan"},
                   "*": {"dir", "lang"}}
SAFE_URL_SCHEMES = frozenset({"http", "https", "mailto"})
# Whose content goes with them (nh3 keeps the text of any other tag it drops).
DROPPED_WITH_CONTENT = frozenset({"script", "style", "head", "title", "template", "noscript", "iframe", "object",
                                  "embed", "svg", "math", "select", "textarea", "button"})


@dataclass(frozen=True)
class Attachment:
    name: str
    content_type: str
    size: int
    data: bytes


@dataclass(frozen=True)
class Address:
    email: str  # lower case
    name: str = ""

    @property
    def domain(self) -> str:
        return self.email.rpartition("@")[2]


@dataclass(frozen=True)
class ParsedMail:
    """One message as support needs it. ``message_id`` has no angle brackets; a message without one
    gets ``sha256-<digest of the raw bytes>@missing`` (``message_id_given`` False), so that the
    same bytes delivered twice are still one message."""

    message_id: str
    message_id_given: bool
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    sender: Address | None
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    subject: str
    date: datetime | None
    text: str
    html: str  # as sent: show only ``safe_html(html)``
    attachments: tuple[Attachment, ...]
    size: int
    headers: EmailMessage | Message = field(repr=False, compare=False)
    headers_only: bool = False  # too large to be decoded: bodies and attachments are empty
    # Every header as it came (unfolded, not decoded), by lower-case name: the checks read these
    # (parsing each through policy.default again would cost more than the rest of the reading).
    raw_headers: Mapping[str, tuple[str, ...]] = field(default_factory=dict, repr=False, compare=False)

    def header(self, name: str) -> str:
        """One header's text as it came, unfolded; "" when absent."""
        values = self.raw_headers.get(name.lower())
        return values[0] if values else ""

    def header_all(self, name: str) -> list[str]:
        return list(self.raw_headers.get(name.lower(), ()))


def _raw_headers(message: EmailMessage | Message) -> dict[str, tuple[str, ...]]:
    found: dict[str, list[str]] = {}
    for name, value in message.raw_items():
        text = value if isinstance(value, str) else str(value)
        found.setdefault(name.lower(), []).append(" ".join(text.split()))
    return {name: tuple(values) for name, values in found.items()}


def header_text(message: EmailMessage | Message, name: str) -> str:
    """One header's text, decoded and unfolded; "" when absent. A header policy.default cannot
    build (a hostile one) is read as it came."""
    try:
        value = message.get(name)
    except (ValueError, IndexError, TypeError, AttributeError):
        value = next((v for k, v in message.raw_items() if k.lower() == name.lower()), None)
    return " ".join(str(value).split()) if value is not None else ""


def _ids(value: str) -> tuple[str, ...]:
    """Message ids in a header, without angle brackets, in order, each once."""
    found = re.findall(r"<([^<>\s\x00]+)>", value) or value.replace("\x00", " ").split()
    seen: dict[str, None] = {}
    for one in found:
        one = one.strip().strip("<>")[:MESSAGE_ID_LENGTH]
        if one:
            seen.setdefault(one, None)
    return tuple(seen)


def _address(email: str, name: str) -> Address | None:
    email = email.strip().lower()
    if "@" not in email or len(email) > ADDRESS_LENGTH or any(c.isspace() or ord(c) < 32 or c in "<>\"" for c in email):
        return None
    return Address(email=email, name=" ".join(name.split())[:200])


def _addresses(message: EmailMessage | Message, name: str) -> tuple[Address, ...]:
    found: list[Address] = []
    try:
        headers = message.get_all(name) or []
        pairs = [(str(a.addr_spec), str(a.display_name)) for h in headers for a in getattr(h, "addresses", ())]
    except (ValueError, IndexError, TypeError, AttributeError):
        pairs = []
    if not pairs:  # no header of that name, or one the structured parser could not read
        pairs = [(email, display) for display, email in getaddresses([header_text(message, name)])]
    for email, display in pairs:
        address = _address(email, display)
        if address is not None:
            found.append(address)
    return tuple(found)


def _date(text: str) -> datetime | None:
    if not text:
        return None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def _decoded_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:  # a charset Python does not know
        return payload.decode("utf-8", errors="replace")


def _attachment_name(part: Message, index: int) -> str:
    name = part.get_filename() or ""
    name = re.sub(r"[\x00-\x1f\x7f/\\]", "_", str(name)).strip(" .")[:200]
    return name or f"attachment-{index}"


def _walk(message: Message) -> tuple[str, str, tuple[Attachment, ...]]:
    """(text, html, attachments): the first plain and HTML parts that are not attachments form the
    body; every part with a file name or an attachment disposition, and every non-text leaf, is an
    attachment."""
    text, html = "", ""
    attachments: list[Attachment] = []
    for part in message.walk():
        if part.is_multipart():
            continue
        content_type = part.get_content_type()
        disposition = (part.get_content_disposition() or "").lower()
        is_file = disposition == "attachment" or bool(part.get_filename()) or not content_type.startswith("text/")
        if not is_file and content_type == "text/plain" and not text:
            text = _decoded_text(part)
            continue
        if not is_file and content_type == "text/html" and not html:
            html = _decoded_text(part)
            continue
        if is_file:
            data = part.get_payload(decode=True)
            data = data if isinstance(data, bytes) else b""
            attachments.append(Attachment(name=_attachment_name(part, len(attachments) + 1),
                                          content_type=content_type[:100], size=len(data), data=data))
    return text, html, tuple(attachments)


def _record(message: EmailMessage | Message, raw: bytes, *, headers_only: bool) -> ParsedMail:
    plain = _raw_headers(message)

    def first(name: str) -> str:
        return plain.get(name, ("",))[0]

    given = _ids(first("message-id"))
    message_id = given[0] if given else f"sha256-{hashlib.sha256(raw).hexdigest()}@missing"
    senders = _addresses(message, "From")
    text, html, attachments = ("", "", ()) if headers_only else _walk(message)
    return ParsedMail(
        message_id=message_id, message_id_given=bool(given),
        in_reply_to=_ids(first("in-reply-to")), references=_ids(first("references")),
        sender=senders[0] if senders else None, to=_addresses(message, "To"), cc=_addresses(message, "Cc"),
        subject=header_text(message, "Subject")[:SUBJECT_LENGTH], date=_date(first("date")), text=text, html=html,
        attachments=attachments, size=len(raw), headers=message, headers_only=headers_only, raw_headers=plain)


# policy.default builds a header object each time a header is read, and the parser and the walk
# over the parts read each part's Content-Type a dozen times: the objects built are kept for the
# same (name, value), most of them the same from one message to the next. Header objects are
# never changed in place; a header that cannot be built raises each time, as before; a long one
# (hostile, or a long References) is built each time rather than kept.
_KEPT_HEADER = 998


@functools.lru_cache(maxsize=512)
def _header_object(name: str, value: str) -> Any:
    return policy.default.header_fetch_parse(name, value)


class _ReadPolicy(EmailPolicy):
    """policy.default, with the header objects it builds kept (above)."""

    def header_fetch_parse(self, name: str, value: str) -> Any:
        if type(value) is str and len(value) <= _KEPT_HEADER:
            return _header_object(name, value)
        return policy.default.header_fetch_parse(name, value)


_READ = _ReadPolicy()


def parse(raw: bytes) -> ParsedMail:
    """The whole message: headers, bodies and attachments decoded."""
    return _record(BytesParser(policy=_READ).parsebytes(raw), raw, headers_only=False)


def parse_headers(raw: bytes) -> ParsedMail:
    """The headers alone (a message too large to be decoded); bodies and attachments empty."""
    return _record(BytesHeaderParser(policy=_READ).parsebytes(raw), raw, headers_only=True)


# -- threading -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ThreadKeys:
    message_ids: tuple[str, ...]  # what the message answers, the closest first
    references: tuple[str, ...]  # ticket references, the surest first (our Message-IDs, then the subject)

    def __bool__(self) -> bool:
        return bool(self.message_ids or self.references)


def reference_in_subject(subject: str) -> str | None:
    found = REFERENCE_IN_SUBJECT.search(subject or "")
    return found.group(1) if found else None


def thread_keys(mail: ParsedMail) -> ThreadKeys:
    """What ties ``mail`` to a ticket. Message ids: In-Reply-To, then References from the newest
    back (the last one is what the sender replied to). Ticket references: those inside our own
    Message-IDs among them, then a "[T001234]" in the subject."""
    ids: dict[str, None] = {}
    for one in (*mail.in_reply_to, *reversed(mail.references)):
        ids.setdefault(one, None)
    refs: dict[str, None] = {}
    for one in ids:
        found = REFERENCE_IN_MESSAGE_ID.match(one)
        if found:
            refs.setdefault(found.group(1), None)
    subject_ref = reference_in_subject(mail.subject)
    if subject_ref:
        refs.setdefault(subject_ref, None)
    return ThreadKeys(message_ids=tuple(ids), references=tuple(refs))


def outbound_message_id(*, reference: str, domain: str, token: str) -> str:
    """The Message-ID (without brackets) a staff reply on ticket ``reference`` is sent with: the
    client's mail program quotes it in In-Reply-To, so the answer threads even when the subject
    lost its "[T001234]". ``token``: unique per message (a uuid's hex)."""
    return f"{reference}.{re.sub(r'[^A-Za-z0-9]', '', token)[:40]}@{domain}"


def subject_with_reference(subject: str, reference: str) -> str:
    """A reply's subject carrying "[T001234]" once."""
    if reference_in_subject(subject) == reference:
        return subject
    return f"[{reference}] {subject}".strip()


def outbound_headers(*, reference: str, domain: str, token: str, in_reply_to: str = "") -> dict[str, str]:
    """The headers every support message the CRM sends carries: our Message-ID (its ticket inside),
    the ticket, our loop marker and an auto-submitted mark only when it is automatic (the caller's);
    In-Reply-To/References when it answers a client's mail."""
    headers = {"Message-ID": f"<{outbound_message_id(reference=reference, domain=domain, token=token)}>",
               TICKET_HEADER: reference, LOOP_HEADER: domain}
    if in_reply_to:
        headers["In-Reply-To"] = f"<{in_reply_to}>"
        headers["References"] = f"<{in_reply_to}>"
    return headers


# -- automatic mail and loops --------------------------------------------------------------------------
def auto_reply_reason(mail: ParsedMail) -> str | None:
    """Why ``mail`` is an automatic message that must never be answered, or None."""
    auto_submitted = mail.header("Auto-Submitted").lower()
    if auto_submitted and auto_submitted.split(";")[0].strip() != "no":
        return f"Auto-Submitted: {auto_submitted[:60]}"
    for name in ("X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress", "X-Autogenerated"):
        value = mail.header(name)
        if value and (name == "X-Auto-Response-Suppress" or value.lower() not in {"no", "false", "0"}):
            return f"{name}: {value[:60]}"
    precedence = mail.header("Precedence").lower()
    if precedence in _AUTO_PRECEDENCE:
        return f"Precedence: {precedence}"
    if mail.header("List-Id") or mail.header("List-Unsubscribe"):
        return "a mailing list's message (List-Id)"
    return_path = [value.strip() for value in mail.header_all("Return-Path")]
    if "<>" in return_path:
        return "a bounce (empty Return-Path)"
    if mail.sender is not None and mail.sender.email.split("@")[0] in {"mailer-daemon", "postmaster"}:
        return f"a bounce (from {mail.sender.email})"
    if _AUTO_SUBJECTS.search(mail.subject):
        return f"an automatic answer's subject: {mail.subject[:60]}"
    return None


def loop_reason(mail: ParsedMail, *, own_addresses: Iterable[str], own_domains: Iterable[str]) -> str | None:
    """Why ``mail`` is our own mail come back (a loop), or None: our loop header, a Message-ID of one
    of ``own_domains``, or a sender that is one of ``own_addresses`` (our support addresses)."""
    domains = {d.lower().strip() for d in own_domains if d}
    loop = mail.header(LOOP_HEADER).lower()
    if loop:
        return f"our own loop header ({LOOP_HEADER}: {loop[:60]})"
    if mail.message_id_given and mail.message_id.rpartition("@")[2].lower() in domains:
        return f"a Message-ID of our own domain ({mail.message_id[:80]})"
    addresses = {a.lower().strip() for a in own_addresses if a}
    if mail.sender is not None and mail.sender.email in addresses:
        return f"sent from our own support address {mail.sender.email}"
    return None


# -- size ------------------------------------------------------------------------------------------------
def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def size_reason(*, size: int, attachments: Iterable[Attachment] = (), max_message: int,
                max_attachment: int) -> str | None:
    """Why a message is too large to take, naming the part and the limit, or None."""
    if size > max_message:
        return f"the message is {_megabytes(size)}; at most {_megabytes(max_message)} is taken"
    for one in attachments:
        if one.size > max_attachment:
            return (f"the attachment “{one.name}” is {_megabytes(one.size)}; at most "
                    f"{_megabytes(max_attachment)} an attachment is taken")
    return None


# -- forged senders --------------------------------------------------------------------------------------
_RESULT = re.compile(r"\b(spf|dkim|dmarc)\s*=\s*([a-z]+)", re.IGNORECASE)
_PROP = re.compile(r"\b(?:smtp\.mailfrom|header\.from|header\.d|header\.i|smtp\.from)\s*=\s*\"?([^\s;\"]+)",
                   re.IGNORECASE)


def _domain_of(value: str) -> str:
    return value.rpartition("@")[2].strip().strip(">").lower().rstrip(".")


def _same_org(a: str, b: str) -> bool:
    return bool(a and b) and (a == b or a.endswith("." + b) or b.endswith("." + a))


def forgery_reason(mail: ParsedMail, *, trusted_authserv: Iterable[str] = ()) -> str | None:
    """Why the From address cannot be believed, or None: an Authentication-Results header (from
    ``trusted_authserv`` when given: the receiving servers we trust; any otherwise) with spf, dkim or
    dmarc failing for the From domain, or a Received-SPF failing for it. Results for another domain
    (a mailing list's envelope) say nothing of the From address."""
    if mail.sender is None:
        return "the message has no readable From address"
    domain = mail.sender.domain
    trusted = {t.lower() for t in trusted_authserv if t}
    for value in mail.header_all("Authentication-Results"):
        authserv = value.split(";", 1)[0].strip().split()[0].lower() if value.strip() else ""
        if trusted and authserv not in trusted:
            continue
        for clause in value.split(";")[1:]:
            found = _RESULT.search(clause)
            if not found or found.group(2).lower() not in _AUTH_FAIL:
                continue
            named = [_domain_of(p) for p in _PROP.findall(clause)]
            if not named or any(_same_org(n, domain) for n in named):
                return f"{found.group(1).upper()} {found.group(2).lower()} for {domain} ({authserv or 'unnamed server'})"
    for value in mail.header_all("Received-SPF"):
        verdict = value.split(None, 1)[0].lower() if value.strip() else ""
        if verdict in _AUTH_FAIL:
            envelope = re.search(r"envelope-from=\"?([^\s;\"]+)", value, re.IGNORECASE)
            if envelope is None or _same_org(_domain_of(envelope.group(1)), domain):
                return f"SPF {verdict} for {domain} (Received-SPF)"
    return None


# -- HTML ------------------------------------------------------------------------------------------------
def safe_html(html: str) -> str:
    """``html`` with only ``SAFE_TAGS`` and ``SAFE_ATTRIBUTES`` left; links only to http(s) and
    mailto, opened without a referrer. Scripts, styles, frames, forms, images (remote beacons),
    event handlers and javascript:/data: URLs are gone."""
    if not html:
        return ""
    return nh3.clean(html, tags=set(SAFE_TAGS), clean_content_tags=set(DROPPED_WITH_CONTENT),
                     attributes={k: set(v) for k, v in SAFE_ATTRIBUTES.items()}, url_schemes=set(SAFE_URL_SCHEMES),
                     link_rel="noopener noreferrer nofollow", strip_comments=True)
