"""Celery tasks of the partner programme: thin, ids in, a call into ib.commissions.

Beat runs `commissions_daily` once a day: the current month's runs of every brand with plans are
brought up to date incrementally, and the previous month's too during the first days of a month
(late deals of a closed period change that period, never the next one). After it, `settlements_due`
settles closed periods on each partner's schedule and posts them (ib.settlement). Between two daily
runs, `commissions_live` refreshes the current month every few minutes, so the platform's new deals
appear as commission lines in the partner portal soon after the sync stores them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from celery import shared_task

LATE_DAYS = 5  # the previous month is still incremented during this many days of the new one


@shared_task(name="ib.tasks.commissions_daily", ignore_result=True)
def commissions_daily() -> list[dict[str, Any]]:
    from django.utils import timezone

    from crm.models import Brand
    from ib.models import CommissionPlan

    now = timezone.now()
    periods = [now.date().replace(day=1)]
    if now.day <= LATE_DAYS:
        periods.append((periods[0] - dt.timedelta(days=1)).replace(day=1))
    out = []
    for brand_id in Brand.objects.filter(pk__in=CommissionPlan.objects.values("brand_id")).values_list("pk", flat=True):
        for period in periods:
            out.append(commission_increment.run(brand_id, period.isoformat()))
    return out


@shared_task(name="ib.tasks.commissions_live", ignore_result=True)
def commissions_live() -> list[dict[str, Any]]:
    """Beat, every few minutes: the current month's run of every brand with plans, brought up to
    date incrementally (ib.commissions.commission_run_refresh; a settled month is left to the daily run)."""
    from django.utils import timezone

    from crm.models import Brand
    from ib.commissions import commission_run_refresh
    from ib.models import CommissionPlan

    period = timezone.now().date().replace(day=1)
    out = []
    for brand in Brand.objects.filter(pk__in=CommissionPlan.objects.values("brand_id")).order_by("pk"):
        run = commission_run_refresh(brand=brand, period=period)
        if run is not None:
            out.append({"run": run.pk, "number": run.number, "stats": run.stats})
    return out


@shared_task(name="ib.tasks.commission_increment", ignore_result=True)
def commission_increment(brand_id: int, period: str) -> dict[str, Any]:
    from crm.models import Brand
    from ib.commissions import commission_run_increment

    run = commission_run_increment(brand=Brand.objects.get(pk=brand_id), period=dt.date.fromisoformat(period))
    return {"run": run.pk, "number": run.number, "stats": run.stats}


@shared_task(name="ib.tasks.postback_send", ignore_result=True)
def postback_send(delivery_id: int) -> str | None:
    """One attempt of one postback (queued after the commit that wrote or re-armed it)."""
    from ib.postbacks import delivery_send

    delivery = delivery_send(delivery_id=delivery_id)
    return None if delivery is None else delivery.status


@shared_task(name="ib.tasks.postbacks_retry_due", ignore_result=True)
def postbacks_retry_due() -> int:
    """Beat: one send task per pending postback whose time has come (retries, and first tries
    whose kick was lost). A delivery queued twice is sent once: the first task claims it."""
    from ib.postbacks import deliveries_due

    due = deliveries_due()
    for delivery_id in due:
        postback_send.delay(delivery_id)
    return len(due)

@shared_task(name="ib.tasks.settlements_due", ignore_result=True)
def settlements_due() -> dict[str, Any]:
    """Settle closed periods for the partners whose settlement schedule is due, and post every
    settlement not posted yet (ib.settlement)."""
    from ib.settlement import settlements_run_due

    rows = settlements_run_due()
    return {"settled": len(rows)}


@shared_task(name="ib.tasks.partner_reset_mail", ignore_result=True)
def partner_reset_mail(login_id: int) -> bool:
    """A partner's password reset mail: the link is made here, never carried by the broker."""
    from ib.partner_reset import partner_reset_mail_send

    return partner_reset_mail_send(login_id)


@shared_task(name="ib.tasks.partner_welcome_mail", ignore_result=True)
def partner_welcome_mail(login_id: int) -> bool:
    """A new partner's welcome mail: its set-password link is made here, never carried by the broker."""
    from ib.onboarding import partner_welcome_mail_send

    return partner_welcome_mail_send(login_id)


@shared_task(name="ib.tasks.partner_invitation_mail", ignore_result=True)
def partner_invitation_mail(invitation_id: int) -> bool:
    from ib.onboarding import partner_invitation_mail_send

    return partner_invitation_mail_send(invitation_id)


@shared_task(name="ib.tasks.partner_application_rejected_mail", ignore_result=True)
def partner_application_rejected_mail(application_id: int) -> bool:
    from ib.onboarding import partner_application_rejected_mail_send

    return partner_application_rejected_mail_send(application_id)
