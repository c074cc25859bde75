"""Inbound support mail taken into tickets: ``mail_receive(mailbox=..., raw=...)`` -> InboundEmail.

Both ways in (the signed inbound webhook, support.mail_views; the IMAP poller, support.imap) end
here. Each message becomes exactly one InboundEmail row (unique Message-ID: a message delivered
twice, by a retried webhook or a repeated poll, is taken once and the first row is returned), with
what became of it (``outcome``) and why (``reason``). In this order:

1. too large (over SUPPORT_MAIL_MAX_BYTES, or an attachment over SUPPORT_MAIL_MAX_ATTACHMENT_BYTES)
   -> ``too_large``; the sender is told once (a message of its own, after commit) unless it was an
   automatic message or a loop;
2. our own mail come back (our loop header, our Message-ID domain, one of our support addresses as
   the sender) -> ``loop_ignored``;
3. an automatic message (out of office, bounce, list, Auto-Submitted...) -> ``auto_reply_ignored``
   (it is tied to its ticket when it threads, for staff to see, but never added to it nor answered);
4. more than SUPPORT_MAIL_SENDER_RATE messages from one sender (a loop with a program we do not
   recognise) -> ``loop_ignored``;
5. a forged sender (Authentication-Results / Received-SPF fail for the From domain): never threaded
   onto anybody's ticket nor linked to a client; a ticket without a client is opened with an internal
   note warning staff -> ``ticket_created`` with the warning as ``reason``;
6. threading: a ticket of the mailbox's brand found by the Message-IDs the mail answers (a message
   we sent or received), else by a reference in our Message-ID or in the subject ("[T001234]"),
   whose requester (or client) has the sender's address. A merged ticket's reply goes to the ticket
   it was merged into. On an active ticket -> ``threaded``; on a resolved or closed one within
   SUPPORT_MAIL_REOPEN_DAYS of its closing -> reopened, ``reopened``; later -> a new ticket whose
   first note names the old one, ``new_after_closed``;
7. otherwise a new ticket on the mailbox's desk: linked to the brand's client with that address when
   there is one, else without a client (staff can link it) -> ``ticket_created``.

Attachments go through the same checks as KYC uploads (support.services stores them); one that
fails is left out and named in an internal note, and the message is still taken.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from html import unescape
from typing import Any

from celery import shared_task
from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from crm.audit import audit_record
from crm.exceptions import NotAllowed, ValidationFailed
from crm.lib.errors import DomainError
from crm.lib.fieldcrypt import keyed_hashes
from crm.lib.ratelimit import rate_hit, rate_key
from crm.lib.validation import storable
from crm.models import Client, User
from crm.permissions import user_can
from support import mail, services
from support.models import (
    InboundEmail,
    InboundMailbox,
    InboundOutcome,
    MailboxKind,
    SupportDesk,
    Ticket,
    TicketCategory,
    TicketChannel,
    TicketMessage,
    TicketStatus,
)
from support.outbound import message_id_domain
from support.permissions import MANAGE_DESK

logger = logging.getLogger(__name__)

MB = 1024 * 1024
HTML_MAX = 200_000  # characters of sanitised HTML kept; the text part is the message's record


def max_message_bytes() -> int:
    return int(getattr(settings, "SUPPORT_MAIL_MAX_BYTES", 25 * MB))


def max_attachment_bytes() -> int:
    return int(getattr(settings, "SUPPORT_MAIL_MAX_ATTACHMENT_BYTES", getattr(settings, "KYC_MAX_UPLOAD_BYTES", 10 * MB)))


def reopen_days() -> int:
    return int(getattr(settings, "SUPPORT_MAIL_REOPEN_DAYS", 14))


def sender_rate() -> str:
    return str(getattr(settings, "SUPPORT_MAIL_SENDER_RATE", "30/h"))


_ADDRESSES_FOR = 60.0  # seconds a process keeps the desks' addresses (a new desk's loops stop within a minute)
_addresses: tuple[float, frozenset[str]] = (0.0, frozenset())


def _support_addresses() -> frozenset[str]:
    """Every desk's support address (mail from one of them is our own come back)."""
    global _addresses
    if time.monotonic() - _addresses[0] > _ADDRESSES_FOR:
        found = SupportDesk.objects.exclude(support_address=None).values_list("support_address", flat=True)
        _addresses = (time.monotonic(), frozenset(a.lower() for a in found if a))
    return _addresses[1]


@dataclass(frozen=True)
class _Verdict:
    outcome: str
    reason: str = ""
    ticket: Ticket | None = None
    message: TicketMessage | None = None


def _existing(message_id: str) -> InboundEmail | None:
    return InboundEmail.objects.filter(message_id=message_id).first()


def mail_receive(*, mailbox: InboundMailbox, raw: bytes, size: int | None = None, headers_only: bool = False,
                 now: datetime | None = None) -> InboundEmail:
    """Take one raw message received by ``mailbox`` (see the module's docstring for the steps).
    ``size``: the whole message's size when ``raw`` is its headers alone (``headers_only``: an IMAP
    server's message too large to download). Idempotent on the Message-ID."""
    size = len(raw) if size is None else size
    too_big = headers_only or size > max_message_bytes()
    parsed = mail.parse_headers(raw) if too_big else mail.parse(raw)
    parsed = _with_size(parsed, size)
    # A message taken before is answered by its row at once: it counts nothing again (the sender's
    # rate), writes no file and opens nothing. Two copies at the same moment: the unique Message-ID
    # refuses the second row, whose transaction is rolled back (below).
    if (found := _existing(parsed.message_id)) is not None:
        return found
    now = now or timezone.now()
    try:
        try:
            # Any error leaves this block, which is rolled back whole: the services need no
            # savepoints of their own inside it.
            with transaction.atomic(), services.within_whole_transaction():
                return _take(mailbox=mailbox, parsed=parsed, now=now)
        except DomainError as error:
            # A service refused what the message says (a text it will not take): nothing of it is
            # kept but the row saying why.
            reason = f"{error.message} {error.fields or ''}".strip()
            with transaction.atomic():
                return _store(mailbox, parsed, now, _Verdict(InboundOutcome.REJECTED, reason))
    except IntegrityError:
        # The same message taken at the same moment by another delivery: that one's row is the answer.
        found = _existing(parsed.message_id)
        if found is None:
            raise
        return found


def _with_size(parsed: mail.ParsedMail, size: int) -> mail.ParsedMail:
    return parsed if parsed.size == size else replace(parsed, size=size)


def _take(*, mailbox: InboundMailbox, parsed: mail.ParsedMail, now: datetime) -> InboundEmail:
    desk = mailbox.desk
    automatic = mail.auto_reply_reason(parsed)
    own = _support_addresses() | {(desk.support_address or "").lower()}
    loop = mail.loop_reason(parsed, own_addresses=own, own_domains=[message_id_domain()])
    too_large = mail.size_reason(size=parsed.size, attachments=parsed.attachments, max_message=max_message_bytes(),
                                 max_attachment=max_attachment_bytes())
    if too_large:
        verdict = _Verdict(InboundOutcome.TOO_LARGE, too_large)
    elif loop:
        verdict = _Verdict(InboundOutcome.LOOP_IGNORED, loop)
    elif automatic:
        verdict = _Verdict(InboundOutcome.AUTO_REPLY_IGNORED, automatic, ticket=_threaded_ticket(desk, parsed))
    elif parsed.sender is None:
        verdict = _Verdict(InboundOutcome.REJECTED, "the message has no readable From address")
    elif rate_hit(rate_key("support-mail-sender", str(desk.brand_id), parsed.sender.email), sender_rate()):
        verdict = _Verdict(InboundOutcome.LOOP_IGNORED,
                           f"more than {sender_rate()} messages from {parsed.sender.email}: a loop or a flood")
    else:
        verdict = _thread_or_open(mailbox=mailbox, parsed=parsed, now=now)
    row = _store(mailbox, parsed, now, verdict)
    if verdict.outcome == InboundOutcome.TOO_LARGE and parsed.sender is not None and not automatic and not loop:
        row_id = row.pk
        transaction.on_commit(lambda: mail_notice_task.delay(row_id), robust=True)
    return row


def _store(mailbox: InboundMailbox, parsed: mail.ParsedMail, now: datetime, verdict: _Verdict) -> InboundEmail:
    return InboundEmail.objects.create(
        mailbox=mailbox, message_id=parsed.message_id[:998], received_at=now,
        from_email=parsed.sender.email[:320] if parsed.sender else "", subject=_clean(parsed.subject, 998),
        size=parsed.size, outcome=verdict.outcome, reason=_clean(verdict.reason, 2000), ticket=verdict.ticket,
        ticket_message=verdict.message)


# -- threading -------------------------------------------------------------------------------------------
def _owned_by(ticket: Ticket, sender: str) -> bool:
    """The sender is the ticket's requester, or its client's address."""
    if ticket.requester_email and ticket.requester_email.lower() == sender:
        return True
    client = ticket.client
    return client is not None and bool(client.email) and client.email.lower() == sender


def _followed(ticket: Ticket) -> Ticket:
    seen = 0
    while ticket.merged_into_id is not None and seen < 10:
        ticket = Ticket.objects.select_related("client", "desk").get(pk=ticket.merged_into_id)
        seen += 1
    return ticket


def _threaded_ticket(desk: SupportDesk, parsed: mail.ParsedMail) -> Ticket | None:
    """The brand's ticket ``parsed`` answers, or None (see the module's step 6)."""
    keys = mail.thread_keys(parsed)
    if not keys or parsed.sender is None:
        return None
    candidates: list[Ticket] = []
    if keys.message_ids:
        by_message = (TicketMessage.objects.filter(email_message_id__in=list(keys.message_ids),
                                                   ticket__brand_id=desk.brand_id)
                      .select_related("ticket__client", "ticket__desk"))
        order = {mid: i for i, mid in enumerate(keys.message_ids)}
        candidates += [m.ticket for m in sorted(by_message, key=lambda m: order.get(m.email_message_id or "", 99))]
    if keys.references:
        by_reference = {t.reference: t for t in Ticket.objects.filter(reference__in=list(keys.references),
                                                                      brand_id=desk.brand_id)
                        .select_related("client", "desk")}
        candidates += [by_reference[r] for r in keys.references if r in by_reference]
    for ticket in candidates:
        if _owned_by(ticket, parsed.sender.email):
            return _followed(ticket)
    return None


# -- what a person's message becomes ---------------------------------------------------------------------
def _known_client(desk: SupportDesk, email: str) -> Client | None:
    """The brand's client with that address (by its keyed hash: addresses are stored encrypted)."""
    hashes = keyed_hashes(email, kind="email")
    if not hashes:
        return None
    return Client.objects.filter(brand_id=desk.brand_id, email_hash__in=hashes).order_by("pk").first()


def _clean(text: str, limit: int) -> str:
    text = storable(text, replacement="\ufffd").strip()
    if len(text) > limit:
        cut = "\n[…]"
        text = text[: limit - len(cut)] + cut
    return text


def _body(parsed: mail.ParsedMail) -> tuple[str, str]:
    """(text, sanitised HTML): the text part, else the HTML's text; never empty, within the
    thread's limits, nothing a column cannot hold."""
    html = _clean(mail.safe_html(parsed.html), HTML_MAX)
    text = parsed.text
    if not text.strip() and html:
        text = unescape(re.sub(r"<[^>]+>", " ", re.sub(r"<br\s*/?>|</p>|</div>|</li>|</tr>", "\n", html)))
        text = "\n".join(" ".join(line.split()) for line in text.splitlines())
    return _clean(text, services.BODY_MAX) or "(no text)", html


def _thread_or_open(*, mailbox: InboundMailbox, parsed: mail.ParsedMail, now: datetime) -> _Verdict:
    """A person's message: onto its ticket, or a new one (the module's steps 5 to 7)."""
    assert parsed.sender is not None
    desk = mailbox.desk
    text, html = _body(parsed)
    forged = mail.forgery_reason(parsed, trusted_authserv=getattr(settings, "SUPPORT_MAIL_TRUSTED_AUTHSERV", ()))
    ticket = None if forged else _threaded_ticket(desk, parsed)
    files = [(a.name, a.content_type, a.data) for a in parsed.attachments]
    if ticket is None:
        client = None if forged else _known_client(desk, parsed.sender.email)
        note = gettext("Warning: the sender's address could not be verified (%(why)s). This message may not come "
                       "from %(email)s: it was not linked to any client or ticket.") % {
                           "why": forged, "email": parsed.sender.email} if forged else ""
        return _new_ticket(mailbox=mailbox, parsed=parsed, text=text, html=html, files=files, client=client,
                           outcome=InboundOutcome.TICKET_CREATED,
                           reason=f"forged sender: {forged}" if forged else "", note=note)
    outcome = InboundOutcome.THREADED
    if ticket.status in (TicketStatus.RESOLVED, TicketStatus.CLOSED):
        done_at = ticket.closed_at or ticket.resolved_at or now
        if now - done_at > timedelta(days=reopen_days()):
            note = gettext("This email answers %(old)s, closed on %(day)s, more than %(days)s days ago: it was "
                           "opened as a new ticket.") % {"old": ticket.reference, "day": f"{done_at:%Y-%m-%d}",
                                                         "days": reopen_days()}
            return _new_ticket(mailbox=mailbox, parsed=parsed, text=text, html=html, files=files,
                               client=ticket.client, outcome=InboundOutcome.NEW_AFTER_CLOSED,
                               reason=f"follows {ticket.reference}, closed more than {reopen_days()} days ago",
                               note=note)
        outcome = InboundOutcome.REOPENED  # the client's reply reopens it (support.services)
    message = services.ticket_reply_client(
        ticket=ticket, body=text, body_html=html, channel=TicketChannel.EMAIL, from_email=parsed.sender.email,
        email_message_id=parsed.message_id, in_reply_to=" ".join(parsed.in_reply_to)[:2000], attachments=files)
    return _Verdict(outcome, "", ticket=ticket, message=message)


def _new_ticket(*, mailbox: InboundMailbox, parsed: mail.ParsedMail, text: str, html: str,
                files: list[tuple[str, str, bytes]], client: Client | None, outcome: str, reason: str,
                note: str) -> _Verdict:
    assert parsed.sender is not None
    desk = mailbox.desk
    subject = " ".join(mail.REFERENCE_IN_SUBJECT.sub("", parsed.subject).split())
    subject = _clean(subject, services.SUBJECT_MAX) or "(no subject)"
    ticket, message = services.ticket_open_with_message(
        brand=desk.brand, desk=desk, category=TicketCategory.OTHER, subject=subject, body=text, body_html=html,
        channel=TicketChannel.EMAIL, client=client, requester_email=parsed.sender.email,
        requester_name=_clean(parsed.sender.name, 200), language=client.language if client is not None else "",
        attachments=files, email_message_id=parsed.message_id, actor=None)
    if note:
        services.ticket_note(ticket=ticket, body=note, actor=None)
    return _Verdict(outcome, reason, ticket=ticket, message=message)


# -- the one notice of a refused message -------------------------------------------------------------------
def mail_notice_send(*, inbound_id: int) -> bool:
    """Tell the sender of a message refused as too large why, once: sent with our loop and
    automatic-reply headers, so that their mail program never answers it."""
    row = InboundEmail.objects.select_related("mailbox__desk__brand").filter(pk=inbound_id).first()
    if row is None or row.outcome != InboundOutcome.TOO_LARGE or not row.from_email:
        return False
    desk = row.mailbox.desk
    sender = desk.support_address or settings.DEFAULT_FROM_EMAIL
    headers = {"Auto-Submitted": "auto-replied", mail.LOOP_HEADER: message_id_domain(),
               "X-Auto-Response-Suppress": "All", "In-Reply-To": f"<{row.message_id}>",
               "References": f"<{row.message_id}>"}
    body = (f"Your message “{row.subject or '(no subject)'}” to {desk.brand.name} support was not received: "
            f"{row.reason}.\n\nPlease send it again with smaller attachments, or upload the documents in "
            f"your account.\n")
    notice = EmailMessage(subject=f"Not delivered: {row.subject}"[:200], body=body, from_email=sender,
                          to=[row.from_email], headers=headers)
    notice.send()
    return True


@shared_task(name="support.tasks.mail_notice", ignore_result=True, autoretry_for=(OSError,), retry_backoff=60,
             max_retries=5)
def mail_notice_task(inbound_id: int) -> None:
    """Thin: tell the sender of a refused message why."""
    mail_notice_send(inbound_id=inbound_id)


def webhook_mailbox(*, code: Any) -> InboundMailbox | None:
    """The active webhook mailbox of ``code`` (the UUID in its URL), or None."""
    return (InboundMailbox.objects.select_related("desk__brand")
            .filter(code=code, kind=MailboxKind.WEBHOOK, active=True).first())


# -- setting a mailbox up ----------------------------------------------------------------------------------------
@transaction.atomic
def mailbox_save(*, actor: User | None, desk: SupportDesk, kind: str, imap_host: str = "", imap_port: int = 993,
                 imap_username: str = "", imap_password: str | None = None, folder: str = "INBOX",
                 webhook_secret: str | None = None, active: bool = True, mailbox: InboundMailbox | None = None,
                 reread: bool = False) -> InboundMailbox:
    """Create or change a desk's mailbox. An IMAP mailbox needs its host, user and (when created)
    password; a webhook mailbox gets a new random secret when created without one. Secrets are
    stored encrypted and never audited. ``reread``: the IMAP folder is read again from its first
    message (after its UIDs were renumbered; what was taken is known by its Message-ID). ``actor`` None: an operator at the command line
    (manage.py support_mailbox); staff need the desks' permission and the desk's brand."""
    if actor is not None:
        if not user_can(actor, MANAGE_DESK):
            raise NotAllowed(gettext("You are not allowed to set up support desks."))
        if not actor.is_administrator and not actor.all_brands and not actor.brands.filter(pk=desk.brand_id).exists():
            raise NotAllowed(gettext("You do not work for this brand."))
    if kind not in MailboxKind.values:
        raise ValidationFailed(fields={"kind": [gettext("Choose webhook or IMAP.")]})
    if mailbox is not None and mailbox.desk_id != desk.pk:
        raise ValidationFailed(fields={"desk": [gettext("A mailbox stays with its desk.")]})
    row = mailbox or InboundMailbox(desk=desk)
    before = None if mailbox is None else {"kind": row.kind, "imap_host": row.imap_host, "imap_port": row.imap_port,
                                           "imap_username": row.imap_username, "folder": row.folder,
                                           "active": row.active}
    row.kind, row.active = kind, bool(active)
    if kind == MailboxKind.IMAP:
        host, user = str(imap_host or "").strip(), str(imap_username or "").strip()
        _imap_check(host=host, port=imap_port, user=user, folder=str(folder or "").strip(),
                    password_known=bool(imap_password or row.imap_password_encrypted))
        row.imap_host, row.imap_port, row.imap_username, row.folder = host, imap_port, user, str(folder).strip()
        if imap_password:
            row.set_secrets(imap_password=str(imap_password))
    elif webhook_secret or not row.webhook_secret_encrypted:
        row.set_secrets(webhook_secret=str(webhook_secret or f"whsec_{secrets.token_urlsafe(32)}"))
    if reread or (before is not None and before["kind"] != kind):
        row.last_uid = 0
    row.save()
    audit_record(action="support.mailbox_saved", obj=row, actor=actor, brand=desk.brand_id, before=before or {},
                 after={"desk": desk.code, "kind": kind, "imap_host": row.imap_host, "imap_port": row.imap_port,
                        "imap_username": row.imap_username, "folder": row.folder, "active": row.active})
    return row


def _imap_check(*, host: str, port: int, user: str, folder: str, password_known: bool) -> None:
    problems: dict[str, list[str]] = {}
    if not host or len(host) > 200 or any(c.isspace() for c in host):
        problems["imap_host"] = [gettext("Give the IMAP server's host name.")]
    if not isinstance(port, int) or not 1 <= port <= 65535:
        problems["imap_port"] = [gettext("Give a port between 1 and 65535 (993 for IMAP over TLS).")]
    if not user or len(user) > 200:
        problems["imap_username"] = [gettext("Give the mailbox's user name.")]
    if not password_known:
        problems["imap_password"] = [gettext("Give the mailbox's password.")]
    if not folder or len(folder) > 200:
        problems["folder"] = [gettext("Give the folder to read, e.g. INBOX.")]
    if problems:
        raise ValidationFailed(fields=problems)
