"""Client pages: the list, the profile with its tabs, contact reveal, notes and tasks on a client,
creating and editing a client, and moving it between stages (crm.stages)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypedDict

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.humanize.templatetags.humanize import naturaltime
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.timezone import localtime
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm import selectors, services
from crm.composer import COMPOSE_PERMISSION
from crm.exceptions import NotAllowed, NotFound
from crm.forms import (
    ClientCreateForm,
    ClientEditForm,
    ClientFilterForm,
    NoteForm,
    StageChangeForm,
    StageOverrideForm,
    TaskForm,
    next_sort,
)
from crm.lib.paginator import CappedPaginator
from crm.models import Client, Stage
from crm.permissions import client_visible_to, contact_reveal_remember, contact_revealed, user_can
from crm.stages import OVERRIDE_PERMISSION, stage_label
from crm.tabs import ClientTab, tab_context, tabs_for
from crm.templatetags.crm_ui import flag
from crm.views.ui import client_or_404, form_submit, raise_for_domain_error, render_page, wants_partial

CLIENT_PAGE_SIZE = 50
# The list counts its rows up to here; beyond, it says "10,000+" and offers the first 200 pages.
CLIENT_COUNT_CAP = 10_000
SORTABLE_COLUMNS = ("name", "stage", "country", "created", "updated")
REVEALABLE_FIELDS = ("email", "phone")
ROW_TAGS_SHOWN = 3


# --- list ----------------------------------------------------------------------------------------

class ClientRow(TypedDict):
    """One line of the client list, formatted once in Python so the template only prints it
    (a filter or tag per cell costs more than the database does, fifty rows at a time)."""

    client: Client
    url: str
    name: str
    tags: list[str]
    stage: str
    stage_label: str
    email: str  # masked
    phone: str  # masked
    country: str
    flag: str
    brand: str
    owner: str  # "" when unassigned
    created: str
    created_title: str
    updated: str  # "3 hours ago"
    updated_title: str


def client_rows(clients: Iterable[Client]) -> list[ClientRow]:
    """The list's rows: contact details masked, dates in the user's time zone and language."""
    stage_labels = {value: str(label) for value, label in Stage.choices}
    rows: list[ClientRow] = []
    for c in clients:
        created, updated = localtime(c.created_at), localtime(c.updated_at)
        rows.append(ClientRow(
            client=c,
            url=reverse("client_detail", args=[c.code]),
            name=c.full_name,
            tags=list(c.tags[:ROW_TAGS_SHOWN]),
            stage=c.stage,
            stage_label=stage_labels.get(c.stage, c.stage),
            email=selectors.mask_email(c.email),
            phone=selectors.mask_phone(c.phone),
            country=c.country,
            flag=flag(c.country),
            brand=c.brand.name,
            owner=(c.owner.full_name or c.owner.email) if c.owner_id else "",
            created=date_format(created, "SHORT_DATE_FORMAT"),
            created_title=date_format(created, "DATETIME_FORMAT"),
            updated=str(naturaltime(c.updated_at)),
            updated_title=date_format(updated, "DATETIME_FORMAT"),
        ))
    return rows


def _filter_chips(request: HttpRequest, form: ClientFilterForm) -> list[dict[str, str]]:
    """Each filter in use, with the list URL that drops it (and the page number)."""
    chips = []
    base = reverse("client_list")
    for name, label, value in form.active_filters():
        params = request.GET.copy()
        params.pop(name, None)
        params.pop("page", None)
        query = params.urlencode()
        chips.append({"name": name, "label": label, "value": value,
                      "remove_url": f"{base}?{query}" if query else base})
    return chips


@login_required
@require_GET
def client_list(request: HttpRequest) -> HttpResponse:
    form = ClientFilterForm(request.GET or None, user=request.user)
    sort = form.sort_option
    clients = selectors.client_list(user=request.user, order=sort.order, **form.values())
    clients = clients.select_related(None).select_related("brand", "owner")  # what the rows show
    if sort.reverse:
        clients = clients.reverse()
    page = CappedPaginator(clients, CLIENT_PAGE_SIZE, cap=CLIENT_COUNT_CAP).get_page(request.GET.get("page"))
    # A search of the list is recorded with the rows it matched (up to the count's cap).
    services.access_search_record(actor=request.user, where="clients", query=form.values().get("q") or "",
                                  rows=page.paginator.count)
    columns = {
        col: {
            "sort": next_sort(col, form.sort_key),
            "state": "asc" if form.sort_key == col else "desc" if form.sort_key == f"-{col}" else "",
        }
        for col in SORTABLE_COLUMNS
    }
    context = {
        "form": form,
        "page_obj": page,
        "clients": page.object_list,
        "rows": client_rows(page.object_list),
        "count_capped": page.paginator.capped,
        "page_range": page.paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1),
        "columns": columns,
        "sort": form.sort_key,
        "active_filters": _filter_chips(request, form),
        # len() reads the brands once; the brand filter's options reuse those rows.
        "show_brand": len(form.fields["brand"].queryset) > 1,
        "can_create": user_can(request.user, "crm.add_client"),
    }
    return render_page(request, "crm/clients/list.html", context, partial="client-table")


# --- profile -------------------------------------------------------------------------------------

def _pick_tab(tabs: list[ClientTab], key: str | None) -> ClientTab:
    for tab in tabs:
        if tab.key == key:
            return tab
    return tabs[0]


def _profile_context(request: HttpRequest, client: Client, tab: ClientTab, tabs: list[ClientTab],
                     **extra: Any) -> dict[str, Any]:
    context: dict[str, Any] = {
        "client": client,
        "tabs": tabs,
        "active_tab": tab,
        "can_reveal": user_can(request.user, "crm.reveal_contact"),
        "can_edit": user_can(request.user, "crm.change_client"),
        "can_email": user_can(request.user, COMPOSE_PERMISSION),
        # A reveal lasts for the rest of the visit: later actions on the profile keep it shown.
        "revealed": contact_revealed(session=request.session, user=request.user, client=client),
    }
    context.update(tab_context(tab, request, client))
    context.update(extra)
    return context


@login_required
@require_GET
def client_detail(request: HttpRequest, code: Any) -> HttpResponse:
    client = client_or_404(request, code)
    tabs = tabs_for(request.user)
    tab = _pick_tab(tabs, request.GET.get("tab"))
    context = _profile_context(request, client, tab, tabs)
    if wants_partial(request):
        if tab.key == "timeline" and request.GET.get("before"):
            # "Load more": only the next page of events, appended where the button was.
            return render_page(request, "crm/clients/tabs/timeline.html", context, partial="timeline-items")
        return render_page(request, "crm/clients/detail.html", context, partial="client-tabs")
    # A full page view is a look at the client's data: agent monitoring counts these.
    services.client_view_record(actor=request.user, client=client)
    return render_page(request, "crm/clients/detail.html", context)


@login_required
@require_POST
def client_reveal(request: HttpRequest, code: Any) -> HttpResponse:
    client = client_or_404(request, code)
    field = request.POST.get("field", "")
    if field not in REVEALABLE_FIELDS:
        return HttpResponseBadRequest("field must be email or phone")
    try:
        value = services.client_contact_reveal(actor=request.user, client=client, field=field)
    except (NotAllowed, NotFound) as error:
        raise_for_domain_error(error)
        raise
    contact_reveal_remember(session=request.session, client=client, field=field)
    if wants_partial(request):
        return render(request, "crm/clients/_contact.html",
                      {"client": client, "field": field, "value": value, "revealed_now": True})
    tabs = tabs_for(request.user)
    tab = _pick_tab(tabs, request.POST.get("tab"))
    context = _profile_context(request, client, tab, tabs)
    return render_page(request, "crm/clients/detail.html", context)


def tab_response(request: HttpRequest, client: Client, key: str, **extra: Any) -> HttpResponse:
    tabs = tabs_for(request.user)
    tab = _pick_tab(tabs, key)
    context = _profile_context(request, client, tab, tabs, **extra)
    return render_page(request, "crm/clients/detail.html", context, partial="client-tabs")


@login_required
@require_POST
def client_note_add(request: HttpRequest, code: Any) -> HttpResponse:
    client = client_or_404(request, code)
    form = NoteForm(request.POST)
    if form.is_valid():
        ok, _note = form_submit(form, lambda: services.note_add(actor=request.user, client=client,
                                                               body=form.cleaned_data["body"]))
        if ok:
            if not wants_partial(request):
                return redirect(f"{reverse('client_detail', args=[client.code])}?tab=notes")
            return tab_response(request, client, "notes")
    return tab_response(request, client, "notes", note_form=form)


@login_required
@require_POST
def client_task_add(request: HttpRequest, code: Any) -> HttpResponse:
    client = client_or_404(request, code)
    form = TaskForm(request.POST, user=request.user, client=client)
    if form.is_valid():
        data = form.cleaned_data
        ok, _task = form_submit(form, lambda: services.task_create(
            actor=request.user, title=data["title"], assignee=data["assignee"], client=client,
            due_at=data["due_at"], remind_at=data["remind_at"],
        ), aliases={"remind_at": "remind"})
        if ok:
            if not wants_partial(request):
                return redirect(f"{reverse('client_detail', args=[client.code])}?tab=tasks")
            return tab_response(request, client, "tasks")
    return tab_response(request, client, "tasks", task_form=form)


# --- create and edit -----------------------------------------------------------------------------

def _require_perm(request: HttpRequest, perm: str) -> None:
    if not user_can(request.user, perm):
        raise PermissionDenied


@login_required
@require_http_methods(["GET", "POST"])
def client_create(request: HttpRequest) -> HttpResponse:
    """A new client, through the same service (and so the same rules) as POST /api/v1/clients."""
    _require_perm(request, "crm.add_client")
    form = ClientCreateForm(request.POST if request.method == "POST" else None, user=request.user)
    if form.is_valid():
        data = dict(form.cleaned_data)
        ok, created = form_submit(form, lambda: services.client_create(actor=request.user, **data))
        if ok:
            client = created
            messages.success(request, _("%(name)s was created.") % {"name": client.full_name})
            if client_visible_to(request.user, client):
                return redirect("client_detail", code=client.code)
            # Given to an owner whose book this user does not see: the client is not theirs to open.
            return redirect("client_list")
    return render(request, "crm/clients/form.html", {"form": form, "client": None})


@login_required
@require_http_methods(["GET", "POST"])
def client_edit(request: HttpRequest, code: Any) -> HttpResponse:
    """The client's details, through client_update (the API's PATCH rules). Out of scope: 404."""
    client = client_or_404(request, code)
    _require_perm(request, "crm.change_client")
    revealed = contact_revealed(session=request.session, user=request.user, client=client)
    form = ClientEditForm(request.POST if request.method == "POST" else None, client=client, revealed=revealed)
    if form.is_valid():
        ok, _client = form_submit(form, lambda: services.client_update(actor=request.user, client=client,
                                                                       **form.changes()))
        if ok:
            messages.success(request, _("Saved %(name)s.") % {"name": client.full_name})
            return redirect("client_detail", code=client.code)
    return render(request, "crm/clients/form.html", {"form": form, "client": client})


# --- stage ---------------------------------------------------------------------------------------

def _stage_response(request: HttpRequest, client: Client, *, moved: bool, **forms: Any) -> HttpResponse:
    if moved:
        message = _("%(name)s is now %(stage)s.") % {"name": client.full_name, "stage": stage_label(client.stage)}
        if not wants_partial(request):
            messages.success(request, message)
            return redirect(f"{reverse('client_detail', args=[client.code])}?tab=overview")
        return tab_response(request, client, "overview", stage_moved=message)
    return tab_response(request, client, "overview", **forms)


def _stage_post(request: HttpRequest, code: Any, *, permission: str, form_class: Any, service: Any,
                form_key: str) -> HttpResponse:
    client = client_or_404(request, code)
    _require_perm(request, permission)
    form = form_class(request.POST, client=client)
    if form.is_valid():
        ok, _client = form_submit(form, lambda: service(actor=request.user, client=client,
                                                        stage=form.cleaned_data["stage"],
                                                        reason=form.cleaned_data["reason"]))
        if ok:
            return _stage_response(request, client, moved=True)
    return _stage_response(request, client, moved=False, **{form_key: form})


@login_required
@require_POST
def client_stage_change(request: HttpRequest, code: Any) -> HttpResponse:
    """An ordinary move (crm.stages). A refused one is a form error naming the move; nothing changes."""
    return _stage_post(request, code, permission="crm.change_client", form_class=StageChangeForm,
                       service=services.client_stage_change, form_key="stage_form")


@login_required
@require_POST
def client_stage_override(request: HttpRequest, code: Any) -> HttpResponse:
    """An administrator's override: any stage, with a reason, audited."""
    return _stage_post(request, code, permission=OVERRIDE_PERMISSION, form_class=StageOverrideForm,
                       service=services.client_stage_override, form_key="override_form")
