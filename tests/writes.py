"""What a refused request must leave untouched. A permission test takes `written()` before the
request and asserts it is unchanged afterwards: no row, no event, no audit entry, no history."""

from __future__ import annotations

from typing import Any


def written(*extra: Any) -> dict[str, int]:
    """Row counts of everything a write leaves behind in the core, plus the `extra` models'."""
    from crm.models import (
        AccessEvent,
        AuditLog,
        Client,
        Event,
        Note,
        Notification,
        Task,
    )
    from emails.models import OutboundEmail

    models = (Client, Client.history.model, Note, Task, Task.history.model, Event, AuditLog, AccessEvent,
              Notification, OutboundEmail, *extra)
    return {model._meta.label: model.objects.count() for model in models}
