"""Delivering many emails at once: emails queued together go in batch tasks, each email's outcome
its own; one SMTP connection per process, reused; two workers never send the same email."""

from __future__ import annotations

import smtplib
import socketserver
import threading
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend
from django.db import connections, transaction
from django.test import override_settings

from crm.models import Event
from emails.mailer import mailer_close, mailer_connections_opened
from emails.models import EmailStatus, OutboundEmail
from emails.services import (
    EMAIL_BATCH,
    email_deliver,
    email_deliver_batch,
    email_deliver_batch_task,
    email_deliver_task,
    email_send_templated,
    email_template_save,
)
from tests.factories import make_brand, make_client

T0 = datetime(2030, 5, 6, 10, 0, tzinfo=UTC)


def _shop(count: int) -> SimpleNamespace:
    brand = make_brand(name="Alpha Markets")
    email_template_save(actor=None, brand=brand, key="news", language="en", subject="News for {{ client.first_name }}",
                        body="Hello {{ client.first_name }},\n\nMarkets moved.")
    clients = [make_client(brand=brand, first_name=f"Client{i}", email=f"client{i}@example.com", language="en")
               for i in range(count)]
    return SimpleNamespace(brand=brand, clients=clients)


def _queue(client: Any) -> int:
    email = email_send_templated(template_key="news", client=client, context={}, actor=None).email
    assert email is not None
    return email.pk


def _queue_all(clients: list[Any]) -> list[int]:
    with transaction.atomic():
        return [_queue(c) for c in clients]


@pytest.fixture
def tasks(monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """What was handed to Celery: single tasks (id, countdown) and batch tasks (ids)."""
    seen = SimpleNamespace(single=[], batches=[])
    monkeypatch.setattr(email_deliver_task, "apply_async",
                        lambda args, countdown=None: seen.single.append((args[0], countdown)))
    monkeypatch.setattr(email_deliver_batch_task, "apply_async", lambda args: seen.batches.append(list(args[0])))
    return seen


def test_emails_queued_in_one_transaction_go_in_batch_tasks_and_a_lone_one_at_once(
        db: Any, tasks: SimpleNamespace, django_capture_on_commit_callbacks: Any) -> None:
    shop = _shop(EMAIL_BATCH + 3)
    with django_capture_on_commit_callbacks(execute=True):
        ids = _queue_all(shop.clients)
    assert tasks.batches == [ids[:EMAIL_BATCH], ids[EMAIL_BATCH:]]
    assert tasks.single == []

    with django_capture_on_commit_callbacks(execute=True):
        lone = _queue_all(shop.clients[:1])
    assert tasks.single == [(lone[0], None)]  # a transactional email goes by itself, as always
    assert len(tasks.batches) == 2


def test_a_rolled_back_savepoint_does_not_lose_the_emails_queued_after_it(
        db: Any, tasks: SimpleNamespace, django_capture_on_commit_callbacks: Any) -> None:
    shop = _shop(3)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        try:
            with transaction.atomic():
                _queue(shop.clients[0])
                raise RuntimeError("undone")
        except RuntimeError:
            pass
        kept = [_queue(c) for c in shop.clients[1:]]
    assert tasks.batches == [kept]


def test_a_batch_with_one_failing_address_sends_the_others_and_retries_that_one_later(
        db: Any, time_machine: Any, tasks: SimpleNamespace, monkeypatch: pytest.MonkeyPatch,
        django_capture_on_commit_callbacks: Any) -> None:
    time_machine.move_to(T0, tick=False)
    shop = _shop(4)
    ids = _queue_all(shop.clients)
    real_send = EmailBackend.send_messages

    def busy_for_client2(self: EmailBackend, messages: list[Any]) -> int:
        if messages[0].to == ["client2@example.com"]:
            raise smtplib.SMTPResponseException(451, b"mailbox busy, try later")
        return real_send(self, messages)

    monkeypatch.setattr(EmailBackend, "send_messages", busy_for_client2)
    with django_capture_on_commit_callbacks(execute=True):
        outcomes = email_deliver_batch(email_ids=ids)
    assert outcomes == {ids[0]: "sent", ids[1]: "sent", ids[2]: "retry", ids[3]: "sent"}
    assert sorted(m.to[0] for m in mail.outbox) == ["client0@example.com", "client1@example.com",
                                                   "client3@example.com"]
    busy = OutboundEmail.objects.get(pk=ids[2])
    assert (busy.status, busy.attempts, busy.next_attempt_at) == (EmailStatus.QUEUED, 1, T0 + timedelta(minutes=1))
    assert busy.last_error == "SMTPResponseException: (451, b'mailbox busy, try later')"
    assert tasks.single == [(ids[2], 60)]  # retried by itself, after its backoff
    assert Event.objects.filter(name="email.sent").count() == 3

    monkeypatch.setattr(EmailBackend, "send_messages", real_send)
    time_machine.move_to(T0 + timedelta(minutes=1), tick=False)
    assert email_deliver(email_id=ids[2]) == EmailStatus.SENT
    assert OutboundEmail.objects.get(pk=ids[2]).attempts == 2
    assert email_deliver_batch(email_ids=ids) == dict.fromkeys(ids, "skipped")  # nothing is sent twice
    assert len(mail.outbox) == 4


# --- one connection, reused ---------------------------------------------------------------------------


class _Sink(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SinkHandler)
        self.connections = 0
        self.messages: list[bytes] = []
        self.hang_up_after_next = False


class _SinkHandler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        sink: _Sink = self.server  # type: ignore[assignment]
        sink.connections += 1
        self.wfile.write(b"220 sink ESMTP\r\n")
        while line := self.rfile.readline(65536):
            verb = line[:4].upper()
            if verb == b"EHLO":
                self.wfile.write(b"250-sink\r\n250 8BITMIME\r\n")
            elif verb == b"DATA":
                self.wfile.write(b"354 go on\r\n")
                data = b""
                while (chunk := self.rfile.readline(1 << 20)) not in (b".\r\n", b""):
                    data += chunk
                sink.messages.append(data)
                self.wfile.write(b"250 taken\r\n")
                if sink.hang_up_after_next:
                    sink.hang_up_after_next = False
                    return  # as a server dropping an idle session would
            elif verb == b"QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 ok\r\n")


@pytest.fixture
def sink() -> Any:
    server = _Sink()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    mailers = {"default": {"BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                           "OPTIONS": {"host": "127.0.0.1", "port": server.server_address[1], "timeout": 5}}}
    with override_settings(MAILERS=mailers):
        yield server
        mailer_close()
    server.shutdown()
    server.server_close()


def test_the_sink_sees_one_connection_for_many_emails(db: Any, sink: _Sink) -> None:
    shop = _shop(12)
    ids = _queue_all(shop.clients)
    opened = mailer_connections_opened()
    assert set(email_deliver_batch(email_ids=ids[:8]).values()) == {"sent"}
    for email_id in ids[8:]:  # single tasks reuse the same connection too
        assert email_deliver(email_id=email_id) == EmailStatus.SENT
    assert (sink.connections, len(sink.messages)) == (1, 12)
    assert mailer_connections_opened() == opened + 1


def test_a_connection_the_server_dropped_is_opened_again_and_the_email_still_sent(db: Any, sink: _Sink) -> None:
    shop = _shop(3)
    ids = _queue_all(shop.clients)
    sink.hang_up_after_next = True
    assert email_deliver(email_id=ids[0]) == EmailStatus.SENT
    assert email_deliver_batch(email_ids=ids[1:]) == {ids[1]: "sent", ids[2]: "sent"}
    assert (sink.connections, len(sink.messages)) == (2, 3)
    assert OutboundEmail.objects.get(pk=ids[1]).attempts == 1


# --- two workers ------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_workers_given_the_same_emails_never_send_one_twice(monkeypatch: pytest.MonkeyPatch,
                                                                tasks: SimpleNamespace) -> None:
    shop = _shop(5)
    ids = _queue_all(shop.clients)
    real_send = EmailBackend.send_messages
    second: dict[str, dict[int, str]] = {}

    def other_worker() -> None:
        try:
            second["outcomes"] = email_deliver_batch(email_ids=ids)
        finally:
            connections.close_all()

    def send_while_another_worker_runs(self: EmailBackend, messages: list[Any]) -> int:
        if "outcomes" not in second:
            # The first worker holds the batch's rows: the second, on its own connection, takes the
            # same ids while the first is sending.
            worker = threading.Thread(target=other_worker)
            worker.start()
            worker.join(30)
        return real_send(self, messages)

    monkeypatch.setattr(EmailBackend, "send_messages", send_while_another_worker_runs)
    first = email_deliver_batch(email_ids=ids)
    assert first == dict.fromkeys(ids, "sent")
    assert second["outcomes"] == dict.fromkeys(ids, "skipped")  # locked: skipped, not waited for, not sent
    assert sorted(m.to[0] for m in mail.outbox) == sorted(c.email for c in shop.clients)
    assert OutboundEmail.objects.filter(status=EmailStatus.SENT).count() == 5
    assert Event.objects.filter(name="email.sent").count() == 5
