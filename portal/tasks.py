"""Celery tasks of the trader's room: thin, ids in."""

from __future__ import annotations

import smtplib

from celery import shared_task


# The link is made in the task, so that no token travels through the broker.
@shared_task(name="portal.tasks.portal_mail_send", ignore_result=True,
             autoretry_for=(smtplib.SMTPException, OSError), retry_backoff=30, max_retries=3)
def portal_mail_send_task(kind: str, login_id: int) -> bool:
    from portal.emails import portal_mail_send

    return portal_mail_send(kind=kind, login_id=login_id)


@shared_task(name="portal.tasks.first_live_accounts_due", ignore_result=True)
def first_live_accounts_due() -> int:
    """Beat's sweep: verified clients waiting for a live server get their first live account once
    their brand has one (portal.services.first_live_accounts_retry)."""
    from portal.services import first_live_accounts_retry

    return first_live_accounts_retry()
