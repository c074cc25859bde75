"""Celery tasks of the core: thin, ids in, call a service."""

from __future__ import annotations

import logging
import smtplib
import socket

from celery import shared_task

from crm import events
from crm.lib.heartbeat import beat as heartbeat_beat

logger = logging.getLogger(__name__)


# A dispatcher task takes at most this many batches, then queues itself again behind whatever was
# queued meanwhile: with one worker serving every queue, a long backlog must not keep both its
# processes dispatching while the webhook sender (or anything else) waits its turn.
DISPATCH_BATCHES_PER_TASK = 4
DISPATCH_BATCH_SIZE = 500


@shared_task(name="crm.tasks.events_dispatch_pending", ignore_result=True)
def events_dispatch_pending() -> int:
    done = events.dispatch_pending(batch_size=DISPATCH_BATCH_SIZE, max_batches=DISPATCH_BATCHES_PER_TASK)
    if done >= DISPATCH_BATCH_SIZE * DISPATCH_BATCHES_PER_TASK:
        # More is waiting: come back, unless a kick already queued a dispatcher meanwhile.
        events.kick_dispatcher(countdown=0)
    return done


@shared_task(name="crm.tasks.partitions_ahead", ignore_result=True)
def partitions_ahead() -> dict[str, int]:
    """Daily: every monthly partitioned table (crm.lib.partitions) has its partitions months ahead."""
    from crm.lib.partitions import partitions_ensure_ahead

    return partitions_ensure_ahead()


@shared_task(name="crm.tasks.partitions_archive", ignore_result=True)
def partitions_archive() -> list[str]:
    """Monthly: the months past their table's retention written to verified files, then dropped
    (crm.lib.partitions.retention_pass; a month whose file does not verify stays in the database)."""
    from crm.lib.partitions import ArchiveResult, retention_pass

    done = [r for r in retention_pass(apply=True) if isinstance(r, ArchiveResult)]
    return [f"{r.candidate.partition}: {r.rows} rows to {r.data_file.name}" for r in done]


@shared_task(name="crm.tasks.events_retry_due", ignore_result=True)
def events_retry_due() -> int:
    return events.retry_due()


@shared_task(name="crm.tasks.task_reminders_send", ignore_result=True)
def task_reminders_send() -> int:
    from crm.services import task_reminders_send as send

    return send()


@shared_task(name="crm.tasks.beat_heartbeat", ignore_result=True)
def beat_heartbeat() -> None:
    # Beat sends this every 30 s; the worker that runs it proves both beat and a worker are alive.
    heartbeat_beat("celery-beat", socket.gethostname())


@shared_task(name="crm.tasks.audit_verify_chain", ignore_result=True)
def audit_verify_chain() -> bool:
    from crm.audit import verify_chain

    report = verify_chain()
    if not report.ok:
        logger.error("audit chain broken", extra={"first_bad_id": report.first_bad_id, "problem": report.describe()})
    return report.ok


@shared_task(name="crm.tasks.audit_seal", ignore_result=True)
def audit_seal() -> int:
    """Chain the audit rows committed since the last seal (crm.audit: writers take no lock)."""
    from crm.audit import audit_seal as seal

    return seal()


@shared_task(name="crm.tasks.audit_checkpoint", ignore_result=True)
def audit_checkpoint() -> None:
    from crm.audit import audit_checkpoint_write

    audit_checkpoint_write()


# SMTP trouble is retried a few times (a new link each time); the person can always ask again.
@shared_task(name="crm.tasks.password_reset_mail_send", ignore_result=True,
             autoretry_for=(smtplib.SMTPException, OSError), retry_backoff=30, max_retries=3)
def password_reset_mail_send_task(email: str) -> bool:
    """Thin: send the reset link to the active user with this address, if there is one."""
    from crm.password_reset import password_reset_mail_send

    return password_reset_mail_send(email=email)


@shared_task(name="crm.tasks.jobs_sweep", ignore_result=True)
def jobs_sweep() -> int:
    """Background jobs whose RQ worker died are marked failed, so the person waiting sees why."""
    from crm.jobs import jobs_sweep as sweep

    return sweep()
