"""The reporting hub's subscribers: each money event adds to the dashboards' daily figures once
(reports.readmodel.event_apply)."""

from __future__ import annotations

from crm.events import subscribe
from crm.models import Event
from reports.readmodel import EVENT_FIGURES, event_apply


@subscribe(*EVENT_FIGURES)
def daily_figures_add(event: Event) -> None:
    event_apply(event)
