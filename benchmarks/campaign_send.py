"""Marketing's email campaign, end to end: a campaign to N clients delivered into a local SMTP sink
(issue 63). Goal: >= 20,000 emails per minute on 2 cores, and >= 0.5 of plain smtplib sending the
same rendered messages in the same run.

Setup (not measured, but timed): a fresh benchmark database filled by demo.scale.scale_seed (two
brands, clients with addresses and time zones; no deals or events), then every client but each
twentieth given email consent through marketing's service (marketing.consent.consent_record, in
batches of one transaction each whose audit and event rows are written together); a marketer and a
segment of every stage per brand (marketing.services.segment_save); a campaign per brand
(marketing.campaigns.campaign_save: variants A and B, no hold-out). The sending window is opened to
the whole day and the brand's budget (MARKETING_CAMPAIGN_RATE) raised past the run's size, as an
operator would for a run this large: the budget is still counted in Redis for every email.

Measured:

- (a) queueing: campaign_send, then the send job run in this process as the django-rq worker runs it
  (crm.jobs.job_execute): snapshot, split, the consent check per batch (allowed_recipients), each
  member's email rendered, the batch's emails written in one INSERT and their audit rows in another
  (emails.services.email_queue_many, which hands them to Celery in batch tasks through Redis after
  the batch commits; no Celery worker runs, so those tasks only wait in the benchmark's Redis
  database), the budget taken for the batch at once;
- (b) delivery: every queued email sent by emails.services.email_deliver_batch (the body of the
  batch tasks the send job queued, EMAIL_BATCH emails each: lock the batch with SKIP LOCKED in one
  query, ask marketing once whether consent still holds for them (emails.services.delivery_checks),
  write each message's bytes (emails.mime) and send them over the process's SMTP connection
  (emails.mailer, opened once and reused), mark the sent ones in one UPDATE and write their
  "email.sent" events in one INSERT) by --workers processes (2, forked, as a Celery prefork pool of 2), taking the batches in
  turn, into a threaded SMTP sink started by this script on 127.0.0.1 (it accepts every message and
  discards it; it counts the connections, logged).

Figures:

- campaign_send.emails_per_min: emails sent / (queueing + delivery) seconds, per minute. limit: plain
  smtplib sending the same messages (subject, text, HTML and headers read back from the
  OutboundEmail rows; each built as a MIME message and sent) over one connection to the same sink,
  by one thread; ratio = value / limit. Goal >= 20,000.
- campaign_send.emails_vs_smtplib: the same value and limit, judged on the ratio (goal >= 0.5).
- campaign_send.queue_per_min: emails queued per minute by the send job (a); informational.
- campaign_send.deliver_per_min: emails delivered per minute by email_deliver (b), against the same
  limit; informational.

Afterwards every consenting member must have exactly one email, sent, and the sink must have
received every one of them.

Run: python benchmarks/campaign_send.py [--quick | --tiny] [--keep] [--clients N] [--workers N]
Full size 1,000,000 clients (consent for each through the service takes most of an hour), --quick
2,000, --tiny 40. `python -m benchmarks` (make bench) runs it only with CRM_BENCH_SCALE=1, as
segment_count.py; `python -m benchmarks --only campaign_send --quick` runs it alone.
"""

from __future__ import annotations

import os
import smtplib
import socketserver
import sys
import time
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (  # noqa: E402
    argument_parser,
    finish,
    log,
    prepare,
    record,
    sized,
    timed,
)

GOAL_PER_MIN = 20_000
GOAL_RATIO = 0.5
CONSENT_BATCH = 1000
EVERY_STAGE = {
    "conditions": [
        {"fact": "stage", "op": "in",
         "value": ["lead", "registered", "verified", "funded", "active", "dormant", "closed"]}
    ]
}


# --- the SMTP sink ----------------------------------------------------------------------------------


class _SinkHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP for smtplib and Django's backend: EHLO/HELO, MAIL, RCPT, DATA (read to the
    lone dot, then discarded), RSET, NOOP, QUIT."""

    def handle(self) -> None:
        server: _Sink = self.server  # type: ignore[assignment]
        out = self.wfile
        with server.connections.get_lock():
            server.connections.value += 1
        out.write(b"220 sink ESMTP\r\n")
        while True:
            line = self.rfile.readline(65536)
            if not line:
                return
            verb = line[:4].upper()
            if verb == b"EHLO":
                out.write(b"250-sink\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
            elif verb == b"DATA":
                out.write(b"354 go on\r\n")
                out.flush()
                while True:
                    chunk = self.rfile.readline(1 << 20)
                    if not chunk or chunk == b".\r\n":
                        break
                if not chunk:
                    return
                with server.received.get_lock():
                    server.received.value += 1
                out.write(b"250 2.0.0 taken\r\n")
            elif verb == b"QUIT":
                out.write(b"221 bye\r\n")
                return
            else:  # HELO, MAIL, RCPT, RSET, NOOP
                out.write(b"250 ok\r\n")
            out.flush()


class _Sink(socketserver.ThreadingMixIn, socketserver.TCPServer):
    """The sink, served by a process of its own (forked: it never touches the database), so that it
    shares no interpreter lock with the senders it is measured against; `received` is shared."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self) -> None:
        import multiprocessing

        super().__init__(("127.0.0.1", 0), _SinkHandler)
        context = multiprocessing.get_context("fork")
        self.received = context.Value("q", 0)
        self.connections = context.Value("q", 0)
        self.process = context.Process(target=self._serve, name="smtp-sink", daemon=True)

    def _serve(self) -> None:
        code = 0
        try:
            self.serve_forever()
        except BaseException:  # noqa: BLE001 - ended by the parent's terminate()
            code = 1
        finally:
            os._exit(code)  # never the parent's clean-up (it drops the database)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def count(self) -> int:
        return int(self.received.value)

    def start(self) -> None:
        self.process.start()

    def stop(self) -> None:
        self.process.terminate()
        self.process.join(10)
        self.server_close()


# --- setup --------------------------------------------------------------------------------------------


def seed(clients: int) -> None:
    from demo.scale import scale_seed

    scale_seed(clients=clients, deals=0, events=0, access=0, progress=log)


def consent_all() -> int:
    """Email consent for every client with an address but each twentieth, through the service."""
    from django.db import transaction

    from crm.lib.bulk import rows_gathered
    from crm.models import Client
    from marketing.consent import consent_record

    ids = list(Client.objects.exclude(email_hash="").order_by("pk").values_list("pk", flat=True))
    given = 0
    for start in range(0, len(ids), CONSENT_BATCH):
        chunk = ids[start:start + CONSENT_BATCH]
        with transaction.atomic(), rows_gathered():
            for client in Client.objects.filter(pk__in=chunk).select_related("brand"):
                if client.pk % 20 == 0:
                    continue
                consent_record(client=client, channel="email", given=True, source="portal")
                given += 1
        if (start // CONSENT_BATCH) % 50 == 49:
            log(f"consent: {start + len(chunk):,} of {len(ids):,} clients")
    return given


def campaigns_made() -> list[tuple[Any, Any]]:
    """(marketer, draft campaign) per scale brand."""
    from crm.models import Brand, RoleCode
    from marketing.campaigns import VariantText, campaign_save
    from marketing.services import segment_save
    from tests.factories import make_user

    out = []
    for brand in Brand.objects.filter(code__startswith="scale-").order_by("code"):
        marketer = make_user(role_code=RoleCode.MARKETING, brand=brand)
        segment = segment_save(actor=marketer, brand=brand, name="Everyone", definition=EVERY_STAGE)
        campaign = campaign_save(
            actor=marketer, brand=brand, name="Gold week", segment=segment, holdout_percent=0,
            variants=[
                VariantText("A", "Hello {{ client.first_name }}, gold is moving",
                            "Dear {{ client.first_name }},\n\nGold moved 2% today. Trade it: "
                            "https://broker.example/gold\n\nYour team", 50),
                VariantText("B", "News for {{ client.first_name }}",
                            "Hi {{ client.first_name }},\n\nSee this week's markets: "
                            "https://broker.example/news\n\nYour team", 50),
            ],
        )
        out.append((marketer, campaign))
    return out


# --- measured ------------------------------------------------------------------------------------------


def queue(made: list[tuple[Any, Any]]) -> float:
    """Seconds to send every campaign's job, run in this process as the RQ worker runs it."""
    from crm.jobs import job_execute
    from crm.models import Job, JobStatus
    from marketing.campaigns import campaign_send

    started = time.perf_counter()
    for marketer, campaign in made:
        sent = campaign_send(actor=marketer, campaign=campaign)
        assert sent.job_id is not None  # noqa: S101 - campaign_send starts the job
        job_execute(sent.job_id)
    seconds = time.perf_counter() - started
    for _marketer, campaign in made:
        campaign.refresh_from_db()
        job = Job.objects.get(pk=campaign.job_id)
        if job.status != JobStatus.DONE or campaign.status != "sent":
            raise SystemExit(f"the send job ended {job.status}, the campaign {campaign.status}")
    return seconds


def deliver(ids: list[int], workers: int) -> float:
    """Seconds for `workers` forked processes to deliver `ids` as the Celery workers would: in the batch
    tasks the send job queued (EMAIL_BATCH ids each, in order), the processes taking batches in turn."""
    import multiprocessing

    from django.db import connections

    from emails.mailer import mailer_close
    from emails.services import EMAIL_BATCH, email_deliver_batch

    batches = [ids[start:start + EMAIL_BATCH] for start in range(0, len(ids), EMAIL_BATCH)]

    def work(share: list[list[int]]) -> None:
        code = 0
        try:
            for batch in share:
                outcomes = email_deliver_batch(email_ids=batch)
                unsent = [email_id for email_id, status in outcomes.items() if status != "sent"]
                if unsent:
                    raise RuntimeError(f"emails {unsent[:5]} were not sent")
        except BaseException as exc:  # reported through the exit status
            log(f"delivery failed in a worker: {exc!r}")
            code = 1
        finally:
            mailer_close()
            connections.close_all()
            os._exit(code)  # never the parent's clean-up (it drops the database)

    connections.close_all()
    context = multiprocessing.get_context("fork")
    processes = [context.Process(target=work, args=(batches[i::workers],)) for i in range(workers)]
    started = time.perf_counter()
    for p in processes:
        p.start()
    for p in processes:
        p.join()
    seconds = time.perf_counter() - started
    if any(p.exitcode != 0 for p in processes):
        raise SystemExit("delivery failed in a worker process")
    return seconds


def plain_smtplib(rows: list[tuple[str, str, str, str, dict[str, str]]], port: int, sender: str) -> float:
    """Seconds for smtplib to send the same messages (each built as MIME from its rendered parts, as
    any sender must) over one connection. The MIME building is most of it: the same bytes sent again,
    built already, are logged for comparison."""
    built: list[tuple[str, bytes]] = []
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        for to, subject, text, body_html, headers in rows:
            message = EmailMessage()
            message["Subject"] = subject
            message["From"] = sender
            message["To"] = to
            message["Date"] = formatdate(localtime=True)
            message["Message-ID"] = make_msgid(domain="bench.example")
            for name, value in headers.items():
                message[name] = value
            message.set_content(text)
            message.add_alternative(body_html, subtype="html")
            raw = message.as_bytes()
            smtp.sendmail(sender, [to], raw)
            built.append((to, raw))
    seconds = time.perf_counter() - started
    again = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        for to, raw in built:
            smtp.sendmail(sender, [to], raw)
    log(f"smtplib: {len(rows) / seconds * 60:,.0f}/min building and sending, "
        f"{len(rows) / (time.perf_counter() - again) * 60:,.0f}/min sending the bytes built already")
    return seconds


def main() -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--clients", type=int, default=None, help="clients (default 1,000,000; quick 2,000)")
    parser.add_argument("--workers", type=int, default=2, help="delivering processes (2)")
    args = parser.parse_args()
    clients = args.clients or sized(args, 1_000_000, 2_000, 40)
    env = prepare(args)
    sink = _Sink()
    sink.start()
    try:
        from django.conf import settings
        from django.test import override_settings

        from emails.models import EmailStatus, OutboundEmail

        with timed("scale_seed"):
            seed(clients)
        with timed("consent"):
            consenting = consent_all()
        made = campaigns_made()
        mailers = {"default": {"BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                               "OPTIONS": {"host": "127.0.0.1", "port": sink.port, "timeout": 10}}}
        with override_settings(MARKETING_CAMPAIGN_WINDOW=(0, 24), MARKETING_CAMPAIGN_RATE=f"{clients * 10}/m",
                               MAILERS=mailers):
            queue_seconds = queue(made)
            emails = OutboundEmail.objects.filter(template_key="marketing_campaign")
            ids = list(emails.order_by("pk").values_list("pk", flat=True))
            log(f"queued {len(ids):,} emails for {consenting:,} consenting clients in {queue_seconds:.1f} s")
            if len(ids) != consenting:
                raise SystemExit(f"{len(ids)} emails queued for {consenting} consenting clients")
            before, opened = sink.count(), int(sink.connections.value)
            deliver_seconds = deliver(ids, args.workers)
            delivered = sink.count() - before
            log(f"delivered {delivered:,} emails in {deliver_seconds:.1f} s by {args.workers} processes "
                f"over {int(sink.connections.value) - opened} SMTP connections")
            unsent = emails.exclude(status=EmailStatus.SENT).count()
            if unsent or delivered != len(ids):
                raise SystemExit(f"{unsent} emails not sent; the sink received {delivered} of {len(ids)}")
            rows = [(e.to_email, e.subject, e.body_text, e.body_html, {**(e.headers or {}), "X-CRM-Email": str(e.code)})
                    for e in emails.order_by("pk").only("to_email", "subject", "body_text", "body_html",
                                                         "headers", "code")]
            before = sink.count()
            plain_seconds = plain_smtplib(rows, sink.port, settings.DEFAULT_FROM_EMAIL)
            if sink.count() - before != 2 * len(rows):
                raise SystemExit(f"smtplib: the sink received {sink.count() - before} of {2 * len(rows)}")
            log(f"smtplib sent the same {len(rows):,} in {plain_seconds:.1f} s over one connection")
        sent = len(ids)
        per_min = sent / (queue_seconds + deliver_seconds) * 60
        limit = sent / plain_seconds * 60
        size = (f"{clients} clients in 2 brands, {sent} consenting mailed (1 in 20 without consent), "
                f"delivery by {args.workers} processes into a local SMTP sink")
        record("campaign_send.emails_per_min", value=per_min, unit="emails/min", limit=limit,
               goal=f">= {GOAL_PER_MIN}", size=size)
        record("campaign_send.emails_vs_smtplib", value=per_min, unit="emails/min", limit=limit,
               goal=f"ratio >= {GOAL_RATIO}", size=size)
        record("campaign_send.queue_per_min", value=sent / queue_seconds * 60, unit="emails/min", limit=None,
               goal="info", size=f"{size}; the send job alone, in one process")
        record("campaign_send.deliver_per_min", value=sent / deliver_seconds * 60, unit="emails/min", limit=limit,
               goal="info", size=f"{size}; delivery alone")
    finally:
        sink.stop()
        finish(env)


if __name__ == "__main__":
    main()
