"""The profile's "Calls" tab and the timeline labels of the sales desk's events."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm.lib.payloads import event_data
from crm.models import Client
from crm.permissions import AuthedRequest
from crm.registry import ClientTab, TimelineKind


def _call(event: Any) -> str:
    from leads.models import CallOutcome

    data = event_data(event)
    parts = []
    try:
        parts.append(str(CallOutcome(data.get("outcome") or "").label))
    except ValueError:
        pass
    seconds = int(data.get("duration") or 0)
    parts.append(gettext("%(m)d:%(s)02d min") % {"m": seconds // 60, "s": seconds % 60})
    if (data.get("agent") or {}).get("name"):
        parts.append(str(data["agent"]["name"]))
    return " · ".join(parts)


def _status(event: Any) -> str:
    data = event_data(event)
    old, new = data.get("from_label") or data.get("from"), data.get("to_label") or data.get("to")
    text = gettext("%(old)s → %(new)s") % {"old": gettext(str(old)), "new": gettext(str(new))} if old else gettext(str(new))
    return f"{text} · {data['reason']}" if data.get("reason") else text


def _calls_context(request: AuthedRequest, client: Client) -> dict[str, Any]:
    from leads.sales_views import calls_tab_context

    return calls_tab_context(request, client)


# Registered by LeadsConfig.ready() (crm.registry.contribute).
SALES_TIMELINE = [
    TimelineKind("call.logged", _("Call"), "phone", _call),
    TimelineKind("lead.status_changed", _("Pipeline status changed"), "flag", _status),
]
SALES_TABS = [
    ClientTab(key="calls", label=_("Calls"), template="leads/sales/calls_tab.html", order=16,
              icon="phone", context=_calls_context),
]
