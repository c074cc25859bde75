"""Alert review reacts to monitoring's own event: the reviewer an alert is routed to is told."""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext_noop

from crm.events import subscribe
from crm.models import Event, RoleCode, User
from crm.permissions import staff_of_brand
from crm.services import notify_users


@subscribe("monitoring.alert_raised")
def notify_reviewer(event: Event) -> None:
    """The reviewer the alert is routed to gets a notification linking to the alert (administrators
    of the brand when it is routed to nobody). The agent it is about is never notified, even as an
    administrator."""
    data = event.data or {}
    code = data.get("alert")
    if not code:
        return
    about = (data.get("agent") or {}).get("code")
    routed = (data.get("routed_to") or {}).get("code")
    reviewers = list(User.objects.filter(code=routed, is_active=True)) if routed else []
    if not reviewers:
        reviewers = staff_of_brand(event.brand_id, roles=[RoleCode.ADMIN])
    reviewers = [u for u in reviewers if str(u.code) != about]
    notify_users(reviewers, kind="monitoring_alert",
                 title=gettext_noop("Monitoring alert to review: %(detector)s on %(day)s"),
                 params={"detector": data.get("detector", ""), "day": data.get("day", "")},
                 url=reverse("monitoring_alert", args=[code]))
