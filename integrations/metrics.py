"""The outbound webhooks' figures for /metrics (crm/metrics.py): open deliveries by status."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Count

from integrations.models import OPEN_STATUSES, WebhookDelivery


def webhook_backlog() -> Iterable[tuple[dict[str, str], float]]:
    rows = (WebhookDelivery.objects.filter(status__in=OPEN_STATUSES).values("status")
            .annotate(n=Count("pk")).order_by())
    counted = {row["status"]: row["n"] for row in rows}
    for status in OPEN_STATUSES:
        yield {"status": status}, float(counted.get(status, 0))


def register() -> None:
    from crm.metrics import register_gauge

    register_gauge("crm_webhook_deliveries_open", "Outbound webhook deliveries not yet delivered, by status.",
                   webhook_backlog)
