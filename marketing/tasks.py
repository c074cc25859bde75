"""Celery tasks of marketing (thin: call a service)."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="marketing.tasks.campaigns_start_due", ignore_result=True)
def campaigns_start_due() -> int:
    """Beat, every minute: start the scheduled campaigns whose time has come (marketing.campaigns),
    then the sequences' work (sequences_due: the same minute's beat, no schedule entry of its own)."""
    from marketing.campaigns import campaigns_start_due as start

    started = start()
    sequences_due()
    return started


@shared_task(name="marketing.tasks.sequences_due", ignore_result=True)
def sequences_due() -> int:
    """Every minute (from campaigns_start_due): enrol the idle clients of idle-trigger sequences (once a
    day per sequence), then send the sequences' steps that are due (marketing.sequences)."""
    from marketing.sequences import sequences_enroll_inactive, sequences_send_due

    sequences_enroll_inactive()
    return sequences_send_due()
