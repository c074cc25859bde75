"""Inbound support mail taken into tickets: messages per second through support.mail_intake.mail_receive.

Each message is parsed (MIME, HTML sanitised), checked (size, loop, automatic answer, sender rate,
forgery), threaded or opened as a ticket (desk, SLA dues, audit, event) and recorded as an
InboundEmail, in its own transaction, as the webhook and the IMAP poller do one message at a time.
The mix: four of five messages are new requests from senders the brand does not know (a ticket
each, without a client); one in five answers an earlier ticket by its "[T001234]" and threads onto it;
every twentieth is an out-of-office answer (recorded, not answered). Each message has a text part
and an HTML part with a script to strip.

Figures:
- support_mail.intake_per_s: messages/s by --workers (4) processes (forked, as web or Celery
  workers are), each taking its own share of the messages one at a time. Goal >= 100 messages/s (issue 62). limit: the same number of
  transactions done with plain SQL (psycopg) by as many threads, each writing what a message
  writes at least (one ticket, one message, one inbound row in tables of the same shape), without
  parsing, checks, audit or events; ratio = value / limit.
- support_mail.intake_sequential_per_s: the same work by one process; informational.

Afterwards every message must be recorded once, with the outcome it was sent for.
Run: python benchmarks/support_mail.py [--quick] [--tiny] [--keep] [--messages N] [--workers N]
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (  # noqa: E402
    BenchEnv,
    argument_parser,
    finish,
    log,
    prepare,
    raw_connection,
    record,
    sized,
)

GOAL = 100.0
SHAPE_TABLES = """
DROP TABLE IF EXISTS bench_mail_ticket, bench_mail_message, bench_mail_inbound;
CREATE TABLE bench_mail_ticket (LIKE support_ticket INCLUDING DEFAULTS INCLUDING INDEXES);
CREATE TABLE bench_mail_message (LIKE support_ticketmessage INCLUDING DEFAULTS INCLUDING INDEXES);
CREATE TABLE bench_mail_inbound (LIKE support_inboundemail INCLUDING DEFAULTS INCLUDING INDEXES);
CREATE SEQUENCE IF NOT EXISTS bench_mail_ids;
"""
RAW_TICKET = """
INSERT INTO bench_mail_ticket (id, reference, brand_id, desk_id, category, subject, status, priority, channel,
    requester_email, requester_name, language, created_at, reopen_count, is_compliance_matter, paused_minutes,
    rating_comment)
VALUES (%(id)s, %(reference)s, %(brand)s, %(desk)s, 'other', %(subject)s, 'new', 'normal', 'email', %(email)s,
    %(name)s, 'en', now(), 0, false, 0, '')
"""
RAW_MESSAGE = """
INSERT INTO bench_mail_message (id, ticket_id, kind, from_email, body_text, body_html, channel, email_message_id,
    in_reply_to, created_at)
VALUES (%(id)s, %(id)s, 'client_reply', %(email)s, %(text)s, %(html)s, 'email', %(message_id)s, '', now())
"""
RAW_INBOUND = """
INSERT INTO bench_mail_inbound (id, mailbox_id, message_id, received_at, from_email, subject, size, outcome, reason,
    ticket_id, ticket_message_id)
VALUES (%(id)s, %(mailbox)s, %(message_id)s, now(), %(email)s, %(subject)s, %(size)s, 'ticket_created', '', %(id)s,
    %(id)s)
"""


def message(n: int, *, run: str, reply_to: str | None = None, sender: int | None = None,
            out_of_office: bool = False) -> bytes:
    who = n if sender is None else sender
    subject = f"Re: [{reply_to}] My withdrawal" if reply_to else f"Withdrawal question {n}"
    if out_of_office:
        subject = f"Out of office: {subject}"
    boundary = f"b{n}"
    return (
        f"Message-ID: <{run}.{n}@client{who % 50}.example>\r\n"
        f"From: Client {who} <client{who}@client{who % 50}.example>\r\n"
        f"To: support@bench.example\r\nSubject: {subject}\r\nDate: Mon, 2 Mar 2026 10:00:00 +0000\r\n"
        f"MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary={boundary}\r\n\r\n"
        f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"Hello, my withdrawal number {n} has been pending for three days. Could you check it?\r\n"
        f"--{boundary}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        f"<p>Hello, my withdrawal <b>number {n}</b> has been pending.</p><script>alert({n})</script>"
        f"<img src=\"https://tracker.example/{n}.gif\">\r\n--{boundary}--\r\n"
    ).encode()


def build(count: int) -> dict[str, Any]:
    """A brand, its desk with a policy, a webhook mailbox; ``count`` messages to take (not measured:
    the first tickets that later messages answer are opened here)."""
    from support.mail_intake import mail_receive
    from support.models import InboundMailbox, MailboxKind, SLAPolicy, SupportDesk, TicketPriority
    from tests.factories import make_brand

    brand = make_brand(code="bench", name="Bench Markets")
    desk = SupportDesk.objects.create(brand=brand, code="support", name="Support", time_zone="Asia/Nicosia",
                                      support_address="support@bench.example")
    SLAPolicy.objects.create(desk=desk, priority=TicketPriority.NORMAL, first_response_minutes=60,
                             resolution_minutes=8 * 60)
    mailbox = InboundMailbox.objects.create(desk=desk, kind=MailboxKind.WEBHOOK)
    openers = max(1, count // 10)
    references = []
    for n in range(openers):
        row = mail_receive(mailbox=mailbox, raw=message(n, run="seed", sender=1_000_000 + n))
        references.append(row.ticket.reference if row.ticket is not None else "")
    return {"brand": brand, "desk": desk, "mailbox": mailbox, "references": references}


def messages_for(run: str, count: int, references: list[str]) -> list[tuple[bytes, str]]:
    """(raw, the outcome it must get)."""
    out = []
    for n in range(count):
        if n % 20 == 19:
            out.append((message(n, run=run, out_of_office=True), "auto_reply_ignored"))
        elif n % 5 == 4:
            k = n % len(references)
            out.append((message(n, run=run, reply_to=references[k], sender=1_000_000 + k), "threaded"))
        else:
            out.append((message(n, run=run), "ticket_created"))
    return out


def _intake(mailbox: Any, batch: list[tuple[bytes, str]], workers: int) -> float:
    """Seconds for ``workers`` processes (forked: as many web or Celery workers) to take the batch,
    each its own share one message at a time."""
    import multiprocessing

    from django.db import connections

    from support.mail_intake import mail_receive

    if workers == 1:
        started = time.perf_counter()
        for raw, _expected in batch:
            mail_receive(mailbox=mailbox, raw=raw)
        return time.perf_counter() - started

    def work(share: list[tuple[bytes, str]]) -> None:
        code = 0
        try:
            for raw, _expected in share:
                mail_receive(mailbox=mailbox, raw=raw)
        except BaseException as exc:  # reported through the exit status
            log(f"intake failed in a worker: {exc!r}")
            code = 1
        finally:
            connections.close_all()
            os._exit(code)  # never the parent's clean-up (it drops the database)

    connections.close_all()
    context = multiprocessing.get_context("fork")
    processes = [context.Process(target=work, args=(batch[i::workers],)) for i in range(workers)]
    started = time.perf_counter()
    for p in processes:
        p.start()
    for p in processes:
        p.join()
    seconds = time.perf_counter() - started
    if any(p.exitcode != 0 for p in processes):
        raise SystemExit("intake failed in a worker process")
    return seconds


def _check(batch: list[tuple[bytes, str]]) -> None:
    from support import mail
    from support.models import InboundEmail

    wanted = {mail.parse(raw).message_id: expected for raw, expected in batch}
    got = dict(InboundEmail.objects.filter(message_id__in=list(wanted)).values_list("message_id", "outcome"))
    wrong = {k: (v, got.get(k)) for k, v in wanted.items() if got.get(k) != v}
    if wrong:
        raise SystemExit(f"{len(wrong)} messages not taken as expected, e.g. {next(iter(wrong.items()))}")


def _raw(env: BenchEnv, world: dict[str, Any], batch: list[tuple[bytes, str]], workers: int) -> float:
    shares = [batch[i::workers] for i in range(workers)]
    brand, desk, mailbox = world["brand"].pk, world["desk"].pk, world["mailbox"].pk

    def work(share: list[tuple[bytes, str]]) -> None:
        with raw_connection(env) as conn:
            for raw, _expected in share:
                n = int(conn.execute("SELECT nextval('bench_mail_ids')").fetchone()[0])
                values = {"id": n, "reference": f"B{n:08d}", "brand": brand, "desk": desk, "mailbox": mailbox,
                          "subject": "Withdrawal question", "email": f"client{n}@bench.example", "name": "Client",
                          "text": raw[-400:].decode(errors="replace"), "html": "<p>Hello</p>",
                          "message_id": f"raw.{n}@bench.example", "size": len(raw)}
                with conn.transaction():
                    conn.execute(RAW_TICKET, values)
                    conn.execute(RAW_MESSAGE, values)
                    conn.execute(RAW_INBOUND, values)

    threads = [threading.Thread(target=work, args=(share,)) for share in shares]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started


def main() -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--messages", type=int, default=0, help="messages per phase (default 3000)")
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    count = args.messages or sized(args, 3000, 600, 20)
    workers = 2 if args.tiny else args.workers
    env = prepare(args)
    with raw_connection(env) as conn:
        conn.execute(SHAPE_TABLES)
    world = build(count)
    log(f"built a desk, a mailbox and {len(world['references'])} tickets to answer")
    warm = messages_for("warm", min(40, count), world["references"])
    _intake(world["mailbox"], warm, 1)
    _raw(env, world, warm, 1)

    results: dict[str, float] = {}
    for name, threads in (("sequential", 1), ("parallel", workers)):
        batch = messages_for(name, count, world["references"])
        results[f"raw_{name}"] = count / _raw(env, world, batch, threads)
        seconds = _intake(world["mailbox"], batch, threads)
        _check(batch)
        results[name] = count / seconds
        log(f"{name}: {count} messages in {seconds:.2f} s by {threads} worker(s)")

    size = f"{count} messages a phase (4/5 new tickets, 1/5 threaded replies, 1/20 out-of-office)"
    record("support_mail.intake_per_s", value=results["parallel"], unit="messages/s", limit=results["raw_parallel"],
           goal=f">= {GOAL:.0f}", size=f"{size}, {workers} processes")
    record("support_mail.intake_sequential_per_s", value=results["sequential"], unit="messages/s",
           limit=results["raw_sequential"], goal="", size=f"{size}, 1 process")
    finish(env)


if __name__ == "__main__":
    main()
