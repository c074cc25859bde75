"""Reading a support mailbox over IMAP, for brokers whose mail provider has no inbound webhook.

The poller reads a folder by UID, never by flags: it asks for the messages whose UID is above the
mailbox's ``last_uid``, fetches each with BODY.PEEK (nothing is marked read, moved or deleted: the
mailbox stays the broker's record), hands it to ``support.mail_intake.mail_receive`` and only then
moves ``last_uid`` on, one message at a time. So:

- a poll that stops half way (the server drops, the worker dies) has taken every message before the
  one it stopped at, and the next poll starts there; a message taken twice (the worker died between
  taking it and moving ``last_uid``) is one message, by its Message-ID;
- a mailbox that cannot be reached (refused login, unknown host, timeout, a folder that is not there)
  is recorded on the mailbox as ``last_error`` with the time, and nothing moves: the next poll tries
  again from the same UID;
- a message larger than the intake takes (SUPPORT_MAIL_MAX_BYTES) is fetched for its headers only
  (its size asked first with RFC822.SIZE), recorded as too large, never downloaded whole;
- every socket operation has a timeout (SUPPORT_IMAP_TIMEOUT seconds, 30 by default).

TLS: port 993 is IMAP over TLS; any other port must offer STARTTLS, which is used, unless the host
is one of SUPPORT_IMAP_PLAINTEXT_HOSTS (a local test server; empty in production).

Celery beat runs ``support.tasks.mail_poll_due`` every minute; it queues one ``mail_poll`` per active
IMAP mailbox. A poll holds a Redis lock of its mailbox, so two polls of one mailbox never overlap.
"""

from __future__ import annotations

import imaplib
import logging
import re
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from celery import shared_task
from django.conf import settings
from django.utils import timezone
from redis.exceptions import LockError

if TYPE_CHECKING:
    from support.models import InboundMailbox

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 30.0
POLL_BATCH = 200  # messages a poll takes at most; the rest wait for the next minute
LOCK_SECONDS = 600
_FETCH_UID = re.compile(rb"UID (\d+)")
_FETCH_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")


class MailboxUnreachable(Exception):  # noqa: N818 - the mailbox's state, recorded as its last_error
    """The IMAP server could not be reached or refused us; the message says why, for staff."""


@dataclass(frozen=True)
class ImapAccount:
    host: str
    port: int
    username: str
    password: str = ""
    folder: str = "INBOX"
    timeout: float = DEFAULT_TIMEOUT

    @property
    def plaintext_allowed(self) -> bool:
        return self.host in set(getattr(settings, "SUPPORT_IMAP_PLAINTEXT_HOSTS", ()))


@dataclass(frozen=True)
class Fetched:
    uid: int
    raw: bytes
    size: int  # the whole message's, as the server says (raw is its headers alone when headers_only)
    headers_only: bool


def _connect(account: ImapAccount) -> imaplib.IMAP4:
    if account.port == 993:
        return imaplib.IMAP4_SSL(account.host, account.port, ssl_context=ssl.create_default_context(),
                                 timeout=account.timeout)
    client = imaplib.IMAP4(account.host, account.port, timeout=account.timeout)
    if "STARTTLS" in client.capabilities:
        client.starttls(ssl_context=ssl.create_default_context())
    elif not account.plaintext_allowed:
        client.shutdown()
        raise MailboxUnreachable(f"{account.host}:{account.port} offers no TLS (STARTTLS); use port 993")
    return client


def _ok(answer: tuple[str, list[Any]], what: str) -> list[Any]:
    status, data = answer
    if status != "OK":
        text = b" ".join(d for d in data if isinstance(d, bytes)).decode("utf-8", "replace")
        raise MailboxUnreachable(f"{what}: {status} {text}".strip()[:300])
    return data


def _quoted(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _sizes(client: imaplib.IMAP4, uids: list[int]) -> dict[int, int]:
    spec = ",".join(str(u) for u in uids)
    sizes: dict[int, int] = {}
    for item in _ok(client.uid("FETCH", spec, "(RFC822.SIZE)"), "FETCH RFC822.SIZE"):
        line = item[0] if isinstance(item, tuple) else item
        if isinstance(line, bytes):
            uid, size = _FETCH_UID.search(line), _FETCH_SIZE.search(line)
            if uid and size:
                sizes[int(uid.group(1))] = int(size.group(1))
    return sizes


def _fetch(client: imaplib.IMAP4, uid: int, part: str) -> bytes:
    for item in _ok(client.uid("FETCH", str(uid), f"(BODY.PEEK[{part}])"), f"FETCH {uid}"):
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], bytes):
            return item[1]
    raise MailboxUnreachable(f"FETCH {uid}: the server sent no message")


def imap_new_messages(account: ImapAccount, *, after_uid: int, max_bytes: int,
                      limit: int = POLL_BATCH) -> Iterator[Fetched]:
    """The folder's messages with a UID above ``after_uid``, oldest first, at most ``limit``; one over
    ``max_bytes`` as its headers alone. MailboxUnreachable for anything the server or the network
    does wrong (a caller keeps what was yielded before it)."""
    try:
        client = _connect(account)
    except (OSError, imaplib.IMAP4.error) as exc:
        raise MailboxUnreachable(f"cannot connect to {account.host}:{account.port}: {exc}") from exc
    try:
        try:
            _ok(client.login(account.username, account.password), "LOGIN")
        except imaplib.IMAP4.error as exc:
            raise MailboxUnreachable(f"LOGIN refused: {exc}") from exc
        _ok(client.select(_quoted(account.folder), readonly=True), f"the folder {account.folder}")
        found = _ok(client.uid("SEARCH", f"UID {after_uid + 1}:*"), "SEARCH")
        # "n:*" names the last message even when its UID is below n (RFC 3501): filtered here.
        listed = sorted(int(u) for u in b" ".join(d for d in found if isinstance(d, bytes)).split())
        if listed and listed[-1] < after_uid:
            # The folder's newest UID is below the last one taken: its UIDs were renumbered (a new
            # UIDVALIDITY) or its newest messages deleted. Nothing is skipped silently: staff see why.
            raise MailboxUnreachable(f"the folder's newest UID ({listed[-1]}) is below the last one read "
                                     f"({after_uid}): its UIDs were renumbered; read it again from the start "
                                     f"(manage.py support_mailbox ... --imap --reread)")
        uids = [uid for uid in listed if uid > after_uid][:limit]
        sizes = _sizes(client, uids) if uids else {}
        for uid in uids:
            size = sizes.get(uid, 0)
            too_large = size > max_bytes
            raw = _fetch(client, uid, "HEADER" if too_large else "")
            yield Fetched(uid=uid, raw=raw, size=size or len(raw), headers_only=too_large)
        try:
            client.logout()
        except (OSError, imaplib.IMAP4.error):
            pass  # everything was read; a server that hangs up first loses nothing
    except (OSError, imaplib.IMAP4.error, imaplib.IMAP4.abort) as exc:
        raise MailboxUnreachable(f"{account.host}:{account.port}: {type(exc).__name__}: {exc}"[:300]) from exc
    finally:
        try:
            client.shutdown()
        except OSError:
            pass


# -- the poll ---------------------------------------------------------------------------------------------
def _account(mailbox: InboundMailbox) -> ImapAccount:
    return ImapAccount(host=mailbox.imap_host, port=mailbox.imap_port, username=mailbox.imap_username,
                       password=mailbox.imap_password(), folder=mailbox.folder or "INBOX",
                       timeout=float(getattr(settings, "SUPPORT_IMAP_TIMEOUT", DEFAULT_TIMEOUT)))


@dataclass(frozen=True)
class PollResult:
    taken: int
    last_uid: int
    error: str = ""


def mail_poll(*, mailbox_id: int, now: datetime | None = None) -> PollResult:
    """Take the new messages of one IMAP mailbox (see the module's docstring). Returns how many were
    taken and the error, if the poll stopped on one (also kept as the mailbox's ``last_error``)."""
    from crm.lib.redis import get_redis
    from support.mail_intake import mail_receive, max_message_bytes
    from support.models import InboundMailbox, MailboxKind

    mailbox = InboundMailbox.objects.select_related("desk").filter(pk=mailbox_id).first()
    if mailbox is None or not mailbox.active or mailbox.kind != MailboxKind.IMAP:
        return PollResult(taken=0, last_uid=mailbox.last_uid if mailbox else 0)
    lock = get_redis().lock(f"support:mail-poll:{mailbox_id}", timeout=LOCK_SECONDS, blocking=False)
    if not lock.acquire(blocking=False):
        return PollResult(taken=0, last_uid=mailbox.last_uid, error="")
    taken, last_uid, error = 0, mailbox.last_uid, ""
    try:
        try:
            for fetched in imap_new_messages(_account(mailbox), after_uid=last_uid, max_bytes=max_message_bytes()):
                mail_receive(mailbox=mailbox, raw=fetched.raw, size=fetched.size, headers_only=fetched.headers_only)
                InboundMailbox.objects.filter(pk=mailbox_id, last_uid__lt=fetched.uid).update(last_uid=fetched.uid)
                taken, last_uid = taken + 1, fetched.uid
        except MailboxUnreachable as exc:
            error = str(exc)
            logger.warning("support mailbox unreachable", extra={"mailbox": mailbox_id, "error": error})
        when = now or timezone.now()
        InboundMailbox.objects.filter(pk=mailbox_id).update(last_polled_at=when, last_error=error)
    finally:
        try:
            lock.release()
        except LockError:  # the lock expired during a long poll: nothing to release
            logger.info("support mailbox poll lock had expired", extra={"mailbox": mailbox_id})
    return PollResult(taken=taken, last_uid=last_uid, error=error)


def mail_poll_due() -> int:
    """Queue one poll per active IMAP mailbox; returns how many were queued."""
    from support.models import InboundMailbox, MailboxKind

    ids = list(InboundMailbox.objects.filter(active=True, kind=MailboxKind.IMAP).values_list("pk", flat=True))
    for mailbox_id in ids:
        mail_poll_task.apply_async(args=(mailbox_id,))
    return len(ids)


@shared_task(name="support.tasks.mail_poll", ignore_result=True)
def mail_poll_task(mailbox_id: int) -> None:
    """Thin: poll one IMAP mailbox."""
    mail_poll(mailbox_id=mailbox_id)


@shared_task(name="support.tasks.mail_poll_due", ignore_result=True)
def mail_poll_due_task() -> int:
    """Thin, for beat: queue a poll of every active IMAP mailbox."""
    return mail_poll_due()
