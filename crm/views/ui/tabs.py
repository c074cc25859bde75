"""The tabs of the client profile. Each app adds its own from its AppConfig.ready() (crm.registry):

    contribute("kyc", tabs=[ClientTab(key="kyc", label=_("KYC"), template="kyc/client_tab.html",
                                      permission="kyc.view_verification", order=50, context=kyc_tab_context)])

`context(request, client)` returns the extra template context the tab needs; it runs only when
the tab is shown. The profile view loads each tab as an htmx partial (?tab=<key>), and a direct
link to ?tab=<key> renders the whole page with that tab open.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from crm.models import Client
from crm.permissions import AuthedRequest
from crm.registry import PROFILE_TABS, ClientTab

TIMELINE_PAGE_SIZE = 30
NOTES_SHOWN = 100
TASKS_SHOWN = 100


def tabs_for(user: Any) -> list[ClientTab]:
    from crm.permissions import user_can

    return [t for t in PROFILE_TABS if t.permission is None or user_can(user, t.permission)]


def tab_context(tab: ClientTab, request: AuthedRequest, client: Client) -> dict[str, Any]:
    return tab.context(request, client) if tab.context is not None else {}


# --- the core's tabs -----------------------------------------------------------------------------

def _timeline_context(request: AuthedRequest, client: Client) -> dict[str, Any]:
    from crm.selectors import client_timeline
    from crm.views.ui.timeline import entries, entries_html

    before = request.GET.get("before", "")
    before_id = int(before) if before.isdigit() else None
    # One extra row tells whether a "load more" button is needed.
    events = client_timeline(client=client, before_id=before_id, limit=TIMELINE_PAGE_SIZE + 1)
    has_more = len(events) > TIMELINE_PAGE_SIZE
    events = events[:TIMELINE_PAGE_SIZE]
    shown = entries(events)
    return {
        "timeline_entries": shown,
        "timeline_items_html": entries_html(shown),
        "timeline_next_before": events[-1].pk if has_more and events else None,
    }


def _notes_context(request: AuthedRequest, client: Client) -> dict[str, Any]:
    from crm.selectors import note_list
    from crm.views.ui.forms import NoteForm

    return {"notes": list(note_list(client=client)[:NOTES_SHOWN]), "note_form": NoteForm()}


def _tasks_context(request: AuthedRequest, client: Client) -> dict[str, Any]:
    from crm.selectors import task_list_for_client
    from crm.views.ui.forms import TaskForm

    return {
        "client_tasks": list(task_list_for_client(client=client, status="all")[:TASKS_SHOWN]),
        "task_form": TaskForm(user=request.user, client=client),
    }


def _overview_context(request: AuthedRequest, client: Client) -> dict[str, Any]:
    """The forms the user may use: giving the client to an agent (those who may assign), the
    ordinary stage moves, and the override for administrators."""
    from crm.models.stages import OVERRIDE_PERMISSION
    from crm.permissions import user_can
    from crm.views.ui.forms import ClientAssignForm, StageChangeForm, StageOverrideForm

    out: dict[str, Any] = {}
    if user_can(request.user, "crm.assign_client"):
        out["assign_form"] = ClientAssignForm(user=request.user, brand_id=client.brand_id, prefix="assign")
    if user_can(request.user, "crm.change_client"):
        out["stage_form"] = StageChangeForm(client=client)
    if user_can(request.user, OVERRIDE_PERMISSION):
        out["override_form"] = StageOverrideForm(client=client)
    return out


# Registered by CrmConfig.ready() with the other apps' (crm.registry.contribute).
CORE_TABS = [
    ClientTab(key="overview", label=_("Overview"), template="crm/clients/tabs/overview.html", order=10,
              context=_overview_context),
    ClientTab(key="timeline", label=_("Timeline"), template="crm/clients/tabs/timeline.html", order=20,
              context=_timeline_context),
    ClientTab(key="notes", label=_("Notes"), template="crm/clients/tabs/notes.html", order=30,
              permission="crm.view_note", context=_notes_context),
    ClientTab(key="tasks", label=_("Tasks"), template="crm/clients/tabs/tasks.html", order=40,
              permission="crm.view_task", context=_tasks_context),
]
