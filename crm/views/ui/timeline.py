"""How domain events appear on a client's timeline: a label, an icon and a one-line summary.

The timeline is read from Event rows (crm.selectors.client_timeline). Each app registers how the
events it emits look, from its AppConfig.ready() (crm.registry):

    contribute("kyc", timeline=[TimelineKind("kyc.approved", _("KYC approved"), "shield",
                                             summary=lambda event: event.data.get("level", ""))])

A summary renderer gets the Event and returns plain text (the template escapes it). Events
nobody registered still show, labelled with their name, so nothing disappears from the record.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils.formats import date_format, get_format
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.timezone import localtime
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm.lib.dates import date_formatter
from crm.lib.payloads import event_data
from crm.registry import TIMELINE, TimelineKind


@dataclass(frozen=True)
class TimelineEntry:
    event: Any
    label: str
    icon: str
    summary: str

    @property
    def id(self) -> int:
        return int(self.event.pk)

    @property
    def occurred_at(self) -> datetime:
        occurred: datetime = self.event.occurred_at
        return occurred

    @property
    def actor(self) -> Any:
        return self.event.actor


def kind_for(name: str) -> TimelineKind:
    kind: TimelineKind | None = TIMELINE.get(name)
    if kind is not None:
        return kind
    return TimelineKind(name=name, label=name, icon="dot")


def describe(event: Any) -> TimelineEntry:
    kind = kind_for(event.name)
    summary = ""
    if kind.summary is not None:
        # A summary renderer must not take the page down because an old event lacks a key.
        try:
            summary = str(kind.summary(event) or "")
        except (KeyError, TypeError, ValueError, AttributeError):
            summary = ""
    return TimelineEntry(event=event, label=str(kind.label), icon=kind.icon, summary=summary)


def entries(events: Iterable[Any]) -> list[TimelineEntry]:
    return [describe(e) for e in events]


def entries_html(items: Iterable[TimelineEntry]) -> SafeString:
    """The timeline's items (<li>), written in Python: the markup the tab's template had per entry,
    without a template loop of a dozen nodes and three date filters per event on the profile's
    time budget. Every value is escaped; times are in the active time zone and language."""
    from crm.templatetags.crm_ui import icon

    system = conditional_escape(gettext("System"))
    full, short = date_formatter(get_format("DATETIME_FORMAT")), date_formatter(get_format("SHORT_DATETIME_FORMAT"))
    parts = []
    for entry in items:
        actor = entry.actor
        who = conditional_escape(actor.full_name or actor.email) if actor else system
        at = localtime(entry.occurred_at)
        summary = (f'\n        <div class="t-summary" dir="auto">{conditional_escape(entry.summary)}</div>'
                   if entry.summary else "")
        parts.append(
            f'\n    <li>\n      <span class="t-icon">{icon(entry.icon, 14)}</span>\n      <div>\n'
            f'        <div class="t-head">\n          <span class="t-label">{conditional_escape(entry.label)}</span>\n'
            f'          <span class="t-meta">{who} · <time datetime="{conditional_escape(at.isoformat())}" '
            f'title="{conditional_escape(full(at))}">'
            f'{conditional_escape(short(at))}</time></span>\n        </div>{summary}\n'
            f'      </div>\n    </li>')
    return mark_safe("".join(parts))  # noqa: S308 - every value above is escaped


# --- summaries of the core's own events ------------------------------------------------------

def _stage_name(value: Any) -> str:
    from crm.models import Stage

    try:
        return str(Stage(value).label)
    except ValueError:
        return str(value or "")


def _ref_name(value: Any) -> str:
    """A user or desk reference in event data ({"code", "name"}) as its name."""
    if isinstance(value, Mapping):
        return str(value.get("name") or value.get("email") or "")
    return str(value or "")


def _created(event: Any) -> str:
    data = event_data(event)
    parts = [_stage_name(data.get("stage"))] if data.get("stage") else []
    if data.get("source"):
        parts.append(gettext("source: %(source)s") % {"source": data["source"]})
    owner = _ref_name(data.get("owner"))
    if owner:
        parts.append(gettext("Owner: %(owner)s") % {"owner": owner})
    return " · ".join(parts)


def _changed_fields(data: Mapping[str, Any]) -> list[str]:
    changes = data.get("changes") or data.get("fields") or data.get("changed")
    if isinstance(changes, Mapping):
        return [str(k) for k in changes]
    if isinstance(changes, list | tuple):
        return [str(k) for k in changes]
    return []


def _updated(event: Any) -> str:
    fields = _changed_fields(event_data(event))
    if not fields:
        return ""
    return gettext("Changed: %(fields)s") % {"fields": ", ".join(fields)}


def _stage_changed(event: Any) -> str:
    data = event_data(event)
    old, new = data.get("from"), data.get("to")
    if old and new:
        # The arrow is part of the message so that right-to-left languages can turn it round.
        text = gettext("%(old)s → %(new)s") % {"old": _stage_name(old), "new": _stage_name(new)}
    else:
        text = _stage_name(new) if new else ""
    if data.get("reason"):
        text = f"{text} · {data['reason']}" if text else str(data["reason"])
    if data.get("via") == "override":
        text = " · ".join(t for t in (text, gettext("administrator's override")) if t)
    return text


def _assigned(event: Any) -> str:
    data = event_data(event)
    owner = data.get("owner")
    new_owner = _ref_name(owner.get("to")) if isinstance(owner, Mapping) else _ref_name(owner)
    desk = data.get("desk")
    new_desk = _ref_name(desk.get("to")) if isinstance(desk, Mapping) else _ref_name(desk)
    parts = [gettext("Owner: %(owner)s") % {"owner": new_owner or gettext("nobody")}]
    if new_desk:
        parts.append(gettext("Desk: %(desk)s") % {"desk": new_desk})
    if data.get("reason"):
        parts.append(str(data["reason"]))
    return " · ".join(parts)


def _note_added(event: Any) -> str:
    data = event_data(event)
    text = str(data.get("excerpt") or data.get("body") or data.get("preview") or "")
    return text if len(text) <= 160 else text[:157] + "…"


def _task(event: Any) -> str:
    data = event_data(event)
    title = str(data.get("title") or "")
    due = data.get("due_at")
    if title and due:
        try:
            when = date_format(localtime(datetime.fromisoformat(str(due))), "SHORT_DATETIME_FORMAT")
        except ValueError:
            return title
        return gettext("%(title)s (due %(when)s)") % {"title": title, "when": when}
    return title


def _shared(event: Any) -> str:
    who = _ref_name(event_data(event).get("user"))
    return gettext("With %(user)s") % {"user": who} if who else ""


# Registered by CrmConfig.ready() with the other apps' (crm.registry.contribute).
CORE_TIMELINE = [
    TimelineKind("client.created", _("Client created"), "user", _created),
    TimelineKind("client.updated", _("Details updated"), "edit", _updated),
    TimelineKind("client.stage_changed", _("Stage changed"), "flag", _stage_changed),
    TimelineKind("client.assigned", _("Owner assigned"), "swap", _assigned),
    TimelineKind("client.shared", _("Client shared"), "share", _shared),
    TimelineKind("client.unshared", _("Sharing removed"), "share", _shared),
    TimelineKind("note.added", _("Note added"), "note", _note_added),
    TimelineKind("task.created", _("Task created"), "check", _task),
    TimelineKind("task.completed", _("Task completed"), "tick", _task),
    TimelineKind("task.reopened", _("Task reopened"), "check", _task),
    TimelineKind("task.rescheduled", _("Task rescheduled"), "check", _task),
]
