"""How lead events look on the client's timeline, and the profile's "Lead" tab."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm.lib.payloads import event_data
from crm.models import Client
from crm.registry import ClientTab, TimelineKind


def _channel(value: Any) -> str:
    from leads.models import Channel

    try:
        return str(Channel(value).label)
    except ValueError:
        return str(value or "")


def _touched(event: Any) -> str:
    data = event_data(event)
    parts = [_channel(data.get("channel"))]
    if data.get("source"):
        parts.append(gettext("source: %(source)s") % {"source": data["source"]})
    if data.get("campaign"):
        parts.append(gettext("campaign: %(campaign)s") % {"campaign": data["campaign"]})
    if data.get("score") is not None:
        parts.append(gettext("score %(score)s") % {"score": data["score"]})
    return " · ".join(p for p in parts if p)


def _routed(event: Any) -> str:
    data = event_data(event)
    rule = data.get("rule") or {}
    owner = (data.get("owner") or {}).get("name")
    desk = (data.get("desk") or {}).get("name")
    if owner:
        head = gettext("To %(owner)s") % {"owner": owner}
    elif desk:
        head = gettext("Waiting in the %(desk)s queue") % {"desk": desk}
    else:
        head = gettext("Not assigned")
    parts = [head]
    if rule.get("name"):
        parts.append(gettext("rule “%(rule)s”") % {"rule": rule["name"]})
    if data.get("why"):
        parts.append(", ".join(str(w) for w in data["why"]))
    return " · ".join(parts)


def _contacted(event: Any) -> str:
    data = event_data(event)
    text = gettext("by %(via)s after %(minutes)s min") % {"via": data.get("via", ""), "minutes": data.get("minutes", "?")}
    if data.get("within_sla") is False:
        text += " · " + gettext("SLA missed")
    return text


def _breached(event: Any) -> str:
    data = event_data(event)
    who = (data.get("escalated_to") or {}).get("name")
    text = gettext("Escalated to %(who)s") % {"who": who} if who else gettext("Nobody to escalate to")
    if data.get("auto_reassign"):
        text += " · " + gettext("reassigned automatically")
    return text


def _merged(event: Any) -> str:
    other = event_data(event).get("merged") or event_data(event).get("kept") or {}
    return str(other.get("name") or other.get("code") or "")


def _lead_tab_context(request: HttpRequest, client: Client) -> dict[str, Any]:
    from crm.permissions import user_can
    from leads.selectors import lead_profile

    return {"lead": lead_profile(client=client), "can_merge": user_can(request.user, "crm.assign_client")}


# Registered by LeadsConfig.ready() (crm.registry.contribute).
LEAD_TIMELINE = [
    TimelineKind("lead.touched", _("Registered again"), "user", _touched),
    TimelineKind("lead.routed", _("Lead routed"), "swap", _routed),
    TimelineKind("lead.contacted", _("First contact"), "check", _contacted),
    TimelineKind("lead.sla_breached", _("First-contact SLA missed"), "alert", _breached),
    TimelineKind("client.merged", _("Duplicate merged in"), "users", _merged),
    TimelineKind("client.merged_into", _("Merged into another client"), "users", _merged),
]
LEAD_TABS = [
    ClientTab(key="lead", label=_("Lead"), template="leads/client_tab.html", order=15,
              context=_lead_tab_context),
]
