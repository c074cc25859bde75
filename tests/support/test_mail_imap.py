"""support.imap's reader against a real IMAP server on a socket (tests/support/imap_server.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support.imap import ImapAccount, MailboxUnreachable, imap_new_messages
from tests.support.imap_server import ImapServer, ServerState


def message(n: int, body: str = "Hello", extra: str = "") -> bytes:
    return (f"Message-ID: <imap{n}@client.example>\r\nFrom: Anna <anna{n}@client.example>\r\n"
            f"To: support@broker.example\r\nSubject: Question {n}\r\n{extra}"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n").encode()


@pytest.fixture
def server(settings: object) -> Iterator[ImapServer]:
    settings.SUPPORT_IMAP_PLAINTEXT_HOSTS = ["127.0.0.1"]  # type: ignore[attr-defined]
    with ImapServer(ServerState()) as running:
        yield running


def account(server: ImapServer, **changes: object) -> ImapAccount:
    given: dict[str, object] = {"host": "127.0.0.1", "port": server.port, "username": server.state.username,
                                "password": server.state.password, "timeout": 5.0, **changes}
    return ImapAccount(**given)  # type: ignore[arg-type]


def test_it_reads_the_messages_above_the_last_uid_in_order_without_marking_them(server: ImapServer) -> None:
    inbox = server.state.folders["INBOX"]
    for n in range(1, 5):
        inbox.add(message(n))
    got = list(imap_new_messages(account(server), after_uid=2, max_bytes=10**6))
    assert [(f.uid, f.headers_only) for f in got] == [(3, False), (4, False)]
    assert got[0].raw == message(3) and got[0].size == len(message(3))
    assert "EXAMINE" in server.state.commands  # read-only: nothing flagged, moved or deleted
    assert "STORE" not in server.state.commands and "EXPUNGE" not in server.state.commands


def test_nothing_new_is_nothing_even_though_n_star_names_the_last_message(server: ImapServer) -> None:
    server.state.folders["INBOX"].add(message(1))
    assert list(imap_new_messages(account(server), after_uid=1, max_bytes=10**6)) == []


def test_a_message_over_the_limit_is_fetched_for_its_headers_only(server: ImapServer) -> None:
    big = message(1, body="x" * 50_000)
    server.state.folders["INBOX"].add(big)
    [got] = list(imap_new_messages(account(server), after_uid=0, max_bytes=10_000))
    assert got.headers_only and got.size == len(big)
    assert got.raw.startswith(b"Message-ID: <imap1@client.example>") and b"xxxx" not in got.raw


def test_a_refused_login_is_a_reason_staff_can_read(server: ImapServer) -> None:
    with pytest.raises(MailboxUnreachable, match="LOGIN refused"):
        list(imap_new_messages(account(server, password="wrong"), after_uid=0, max_bytes=10**6))


def test_a_missing_folder_is_named(server: ImapServer) -> None:
    with pytest.raises(MailboxUnreachable, match="the folder Support"):
        list(imap_new_messages(account(server, folder="Support"), after_uid=0, max_bytes=10**6))


def test_a_server_that_never_answers_times_out(server: ImapServer) -> None:
    server.state.stall = True
    with pytest.raises(MailboxUnreachable, match="cannot connect"):
        list(imap_new_messages(account(server, timeout=0.5), after_uid=0, max_bytes=10**6))


def test_a_closed_port_is_unreachable() -> None:
    with ImapServer() as gone:
        port = gone.port
    with pytest.raises(MailboxUnreachable, match="cannot connect"):
        list(imap_new_messages(ImapAccount(host="127.0.0.1", port=port, username="u", timeout=2.0), after_uid=0,
                               max_bytes=10**6))


def test_a_plaintext_server_is_refused_unless_allowed(server: ImapServer, settings: object) -> None:
    settings.SUPPORT_IMAP_PLAINTEXT_HOSTS = []  # type: ignore[attr-defined]
    with pytest.raises(MailboxUnreachable, match="offers no TLS"):
        list(imap_new_messages(account(server), after_uid=0, max_bytes=10**6))


def test_a_connection_dropped_halfway_keeps_what_came_before(server: ImapServer) -> None:
    inbox = server.state.folders["INBOX"]
    for n in range(1, 4):
        inbox.add(message(n))
    server.state.drop_after_fetches = 1
    got = []
    with pytest.raises(MailboxUnreachable):
        for fetched in imap_new_messages(account(server), after_uid=0, max_bytes=10**6):
            got.append(fetched.uid)
    assert got == [1]


# -- the poll: the IMAP mailbox into tickets ------------------------------------------------------------------
@pytest.fixture
def imap_mailbox(db: object, settings: object, server: ImapServer, tmp_path: object) -> object:
    from support.models import InboundMailbox, MailboxKind, SupportDesk
    from tests.factories import make_brand

    settings.SUPPORT_MAIL_SENDER_RATE = "1000/h"  # type: ignore[attr-defined]
    brand = make_brand()
    desk = SupportDesk.objects.create(brand=brand, code="support", name="Support", time_zone="UTC")
    mailbox = InboundMailbox(desk=desk, kind=MailboxKind.IMAP, imap_host="127.0.0.1", imap_port=server.port,
                             imap_username=server.state.username)
    mailbox.set_secrets(imap_password=server.state.password)
    mailbox.save()
    return mailbox


def test_a_poll_takes_the_new_messages_and_moves_last_uid(imap_mailbox: object, server: ImapServer) -> None:
    from support.imap import mail_poll
    from support.models import InboundEmail, InboundMailbox

    inbox = server.state.folders["INBOX"]
    for n in range(1, 4):
        inbox.add(message(n))
    result = mail_poll(mailbox_id=imap_mailbox.pk)  # type: ignore[attr-defined]
    assert (result.taken, result.last_uid, result.error) == (3, 3, "")
    assert sorted(InboundEmail.objects.values_list("message_id", flat=True)) == [
        "imap1@client.example", "imap2@client.example", "imap3@client.example"]
    stored = InboundMailbox.objects.get(pk=imap_mailbox.pk)  # type: ignore[attr-defined]
    assert stored.last_uid == 3 and stored.last_error == "" and stored.last_polled_at is not None
    inbox.add(message(4))
    assert mail_poll(mailbox_id=imap_mailbox.pk).taken == 1  # type: ignore[attr-defined]
    assert InboundEmail.objects.count() == 4


def test_a_mailbox_down_is_recorded_and_nothing_is_lost(imap_mailbox: object, server: ImapServer) -> None:
    from support.imap import mail_poll
    from support.models import InboundEmail, InboundMailbox

    inbox = server.state.folders["INBOX"]
    for n in range(1, 4):
        inbox.add(message(n))
    server.state.drop_after_fetches = 1
    first = mail_poll(mailbox_id=imap_mailbox.pk)  # type: ignore[attr-defined]
    stored = InboundMailbox.objects.get(pk=imap_mailbox.pk)  # type: ignore[attr-defined]
    assert first.taken == 1 and stored.last_uid == 1 and stored.last_error
    server.state.refuse_login = True
    refused = mail_poll(mailbox_id=imap_mailbox.pk)  # type: ignore[attr-defined]
    stored.refresh_from_db()
    assert refused.taken == 0 and "LOGIN refused" in stored.last_error and stored.last_uid == 1
    server.state.refuse_login, server.state.drop_after_fetches = False, None
    again = mail_poll(mailbox_id=imap_mailbox.pk)  # type: ignore[attr-defined]
    stored.refresh_from_db()
    assert again.taken == 2 and stored.last_uid == 3 and stored.last_error == ""
    assert InboundEmail.objects.count() == 3


def test_a_message_taken_before_a_crash_is_not_taken_twice(imap_mailbox: object, server: ImapServer) -> None:
    from support.imap import mail_poll
    from support.models import InboundEmail, InboundMailbox

    server.state.folders["INBOX"].add(message(1))
    mail_poll(mailbox_id=imap_mailbox.pk)  # type: ignore[attr-defined]
    InboundMailbox.objects.filter(pk=imap_mailbox.pk).update(last_uid=0)  # type: ignore[attr-defined]
    assert mail_poll(mailbox_id=imap_mailbox.pk).taken == 1  # type: ignore[attr-defined]
    assert InboundEmail.objects.count() == 1


def test_a_large_message_is_recorded_from_its_headers(imap_mailbox: object, server: ImapServer,
                                                     settings: object) -> None:
    from support.imap import mail_poll
    from support.models import InboundEmail, InboundOutcome

    settings.SUPPORT_MAIL_MAX_BYTES = 10_000  # type: ignore[attr-defined]
    big = message(1, body="x" * 30_000)
    server.state.folders["INBOX"].add(big)
    mail_poll(mailbox_id=imap_mailbox.pk)  # type: ignore[attr-defined]
    row = InboundEmail.objects.get()
    assert row.outcome == InboundOutcome.TOO_LARGE and row.size == len(big)


def test_beat_queues_one_poll_per_active_imap_mailbox(imap_mailbox: object, monkeypatch: pytest.MonkeyPatch) -> None:
    from support import imap
    from support.models import InboundMailbox, MailboxKind

    InboundMailbox.objects.create(desk=imap_mailbox.desk, kind=MailboxKind.IMAP, active=False)  # type: ignore[attr-defined]
    InboundMailbox.objects.create(desk=imap_mailbox.desk, kind=MailboxKind.WEBHOOK)  # type: ignore[attr-defined]
    queued: list[int] = []
    monkeypatch.setattr(imap.mail_poll_task, "apply_async", lambda args: queued.append(args[0]))
    assert imap.mail_poll_due() == 1 and queued == [imap_mailbox.pk]  # type: ignore[attr-defined]


def test_a_folder_whose_uids_were_renumbered_is_reported_not_skipped(imap_mailbox: object,
                                                                     server: ImapServer) -> None:
    from support.imap import mail_poll
    from support.mail_intake import mailbox_save
    from support.models import InboundEmail, InboundMailbox

    inbox = server.state.folders["INBOX"]
    inbox.add(message(1))
    InboundMailbox.objects.filter(pk=imap_mailbox.pk).update(last_uid=50)  # type: ignore[attr-defined]
    result = mail_poll(mailbox_id=imap_mailbox.pk)  # type: ignore[attr-defined]
    assert result.taken == 0 and "renumbered" in result.error
    stored = InboundMailbox.objects.get(pk=imap_mailbox.pk)  # type: ignore[attr-defined]
    mailbox_save(actor=None, desk=stored.desk, kind=stored.kind, imap_host=stored.imap_host,
                 imap_port=stored.imap_port, imap_username=stored.imap_username, mailbox=stored, reread=True)
    assert mail_poll(mailbox_id=imap_mailbox.pk).taken == 1  # type: ignore[attr-defined]
    assert InboundEmail.objects.count() == 1
