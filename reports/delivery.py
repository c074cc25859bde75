"""Scheduled delivery of reports by email to staff (beat runs `schedules_send_due` hourly).

A daily schedule sends yesterday, a weekly one (on Mondays) last week, a monthly one (on the 1st)
last month, each built with its owner's scope at the time of sending. Each sending is a
ReportDelivery row: sent once per schedule and period (a partial unique constraint), or failed
with the reason, and the next pass tries a failed one again."""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from crm.exceptions import DomainError
from reports.catalogue import REPORTS, Params, report_build, result_file
from reports.models import DeliveryStatus, Frequency, ReportDelivery, ReportSchedule
from reports.selectors import Period, dashboard_scope

logger = logging.getLogger(__name__)


def schedule_period(frequency: str, today: dt.date) -> Period | None:
    """The period a schedule sends on `today`, or None when it sends nothing that day."""
    if frequency == Frequency.DAILY:
        day = today - dt.timedelta(days=1)
        return Period(day, day)
    if frequency == Frequency.WEEKLY:
        if today.weekday() != 0:
            return None
        return Period(today - dt.timedelta(days=7), today - dt.timedelta(days=1))
    if today.day != 1:
        return None
    end = today - dt.timedelta(days=1)
    return Period(end.replace(day=1), end)


def schedule_send(*, schedule: ReportSchedule, period: Period) -> ReportDelivery:
    """Build and email `schedule`'s report for `period`; the delivery row says how it went."""
    existing = ReportDelivery.objects.filter(schedule=schedule, period_start=period.start, period_end=period.end,
                                             status=DeliveryStatus.SENT).first()
    if existing is not None:
        return existing
    params = Params.from_dict({**schedule.params, "start": period.start.isoformat(), "end": period.end.isoformat()})
    filename = ""
    try:
        result = report_build(name=schedule.report, user=schedule.owner, scope=dashboard_scope(schedule.owner),
                              params=params)
        filename, content, mime = result_file(result, params, schedule.export_format)
        subject = gettext("%(report)s, %(start)s to %(end)s") % {
            "report": REPORTS[schedule.report].title, "start": period.start, "end": period.end}
        message = EmailMessage(subject=subject, body=gettext("The report is attached (%(rows)d rows).") % {
            "rows": len(result.rows)}, from_email=settings.DEFAULT_FROM_EMAIL, to=schedule.recipients)
        message.attach(filename, content, mime)
        message.send()
    except (DomainError, OSError) as error:
        logger.warning("report delivery failed", extra={"schedule": schedule.pk, "error": str(error)})
        return ReportDelivery.objects.create(schedule=schedule, period_start=period.start, period_end=period.end,
                                             status=DeliveryStatus.FAILED, recipients=schedule.recipients,
                                             filename=filename, error=str(error)[:2000])
    try:
        with transaction.atomic():
            delivery = ReportDelivery.objects.create(
                schedule=schedule, period_start=period.start, period_end=period.end, status=DeliveryStatus.SENT,
                recipients=schedule.recipients, filename=filename)
    except IntegrityError:  # another pass sent it meanwhile
        return ReportDelivery.objects.get(schedule=schedule, period_start=period.start, period_end=period.end,
                                          status=DeliveryStatus.SENT)
    ReportSchedule.objects.filter(pk=schedule.pk).update(last_sent_on=timezone.now().date())
    return delivery


def schedules_send_due(*, today: dt.date | None = None) -> int:
    """Send every active schedule whose period ends yesterday and was not sent yet; returns how many sent."""
    today = today or timezone.now().astimezone(dt.UTC).date()
    sent = 0
    for schedule in ReportSchedule.objects.filter(is_active=True, owner__is_active=True).select_related("owner"):
        period = schedule_period(schedule.frequency, today)
        if period is None or ReportDelivery.objects.filter(
                schedule=schedule, period_start=period.start, period_end=period.end,
                status=DeliveryStatus.SENT).exists():
            continue  # nothing due, or sent already: not counted again
        delivery = schedule_send(schedule=schedule, period=period)
        sent += delivery.status == DeliveryStatus.SENT
    return sent
