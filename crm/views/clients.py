"""Client pages: the list, the profile with its tabs, contact reveal, notes and tasks on a client,
creating and editing a client, and moving it between stages (crm.models.stages)."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import F
from django.forms import ModelChoiceField
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm import services
from crm.exceptions import NotAllowed, NotFound, ValidationFailed
from crm.exports import EXPORT_PERMISSION, client_export_request
from crm.filters import ClientFilter
from crm.models import Client
from crm.models.stages import OVERRIDE_PERMISSION, stage_label
from crm.permissions import (
    AuthedRequest,
    client_queryset_for_user,
    client_visible_to,
    contact_reveal_remember,
    contact_revealed,
    user_can,
)
from crm.registry import ClientTab
from crm.tables import CLIENT_DEFAULT_SORT, ClientTable
from crm.views.ui import client_or_404, form_submit, raise_for_domain_error, render_page, wants_partial
from crm.views.ui.forms import (
    ClientAssignForm,
    ClientCreateForm,
    ClientEditForm,
    NoteForm,
    StageChangeForm,
    StageOverrideForm,
    TaskForm,
)
from crm.views.ui.tabs import tab_context, tabs_for

CLIENT_PAGE_SIZE = 50
# The list counts its rows up to here; beyond, it says "10,000+" and offers the first 200 pages.
CLIENT_COUNT_CAP = 10_000
REVEALABLE_FIELDS = ("email", "phone")
ASSIGN_PERMISSION = "crm.assign_client"


# The columns ClientTable's cells read (crm.tables): the name, tags, stage, masked contacts, country,
# owner and dates, and the code the links carry; the brand's and the owner's names come along as
# columns of the row (ClientTable.ROW_NAMES), not as a brand and a user instance per row.
CLIENT_ROW_COLUMNS = ("code", "first_name", "last_name", "tags", "stage", "email", "phone", "country", "created_at",
                      "updated_at", "owner_id")


# --- list ----------------------------------------------------------------------------------------

@login_required
@require_GET
def client_list(request: AuthedRequest) -> HttpResponse:
    return render_page(request, "crm/clients/list.html", _list_context(request), partial="client-table")


def _list_context(request: AuthedRequest, *, record: bool = True, **extra: Any) -> dict[str, Any]:
    """The list as the query string filters, sorts and pages it."""
    filters = ClientFilter(request.GET, user=request.user, request=request)
    # What the rows show, and no more: fifty rows of every column (the date of birth decrypted for
    # nothing) and the owners' and brands' whole rows cost more than the page's own SQL.
    found = filters.qs.select_related(None)
    clients = found.only(*CLIENT_ROW_COLUMNS).annotate(**{name: F(path) for name, path in ClientTable.ROW_NAMES.items()})
    # len() reads the brands once; the brand filter's options reuse those rows.
    brand_field = filters.form.fields["brand"]
    show_brand = isinstance(brand_field, ModelChoiceField) and len(brand_field.queryset or ()) > 1
    can_assign = user_can(request.user, ASSIGN_PERMISSION)
    exclude = tuple(name for name, shown in (("brand", show_brand), ("select", can_assign)) if not shown)
    table = ClientTable(clients, exclude=exclude)
    table.sort(request, default=CLIENT_DEFAULT_SORT)
    table.paginate_pages(request, per_page=CLIENT_PAGE_SIZE, count_cap=CLIENT_COUNT_CAP, count_rows=found)
    if record:
        # A search of the list is recorded with the rows it matched (up to the count's cap).
        services.access_search_record(actor=request.user, where="clients", query=filters.values.get("q", ""),
                                      rows=table.paginator.count)
    context = {
        "filters": filters,
        "table": table,
        "active_filters": filters.chips(request, reverse("client_list")),
        "sort": request.GET.get("sort") and table.sort_key,
        "show_brand": show_brand,
        "can_create": user_can(request.user, "crm.add_client"),
        "can_export": user_can(request.user, EXPORT_PERMISSION),
    }
    if can_assign and "assign_form" not in extra:
        context["assign_form"] = ClientAssignForm(user=request.user, prefix="assign")
    context.update(extra)
    return context


@login_required
@require_POST
def client_assign_bulk(request: AuthedRequest) -> HttpResponse:
    """Give the ticked clients of the list to an agent, all or nothing, through client_assign (the
    one rule every assignment follows); each refusal names its client. Answers with the list as it
    was filtered (the form posts the list's query string)."""
    _require_perm(request, ASSIGN_PERMISSION)
    form = ClientAssignForm(request.POST, user=request.user, prefix="assign")
    codes = _uuids(request.POST.getlist("clients"))
    done = ""
    if not codes:
        form.is_valid()
        form.add_error(None, _("Tick the clients to assign."))
    elif form.is_valid():
        clients = list(client_queryset_for_user(request.user).filter(code__in=codes)
                       .select_related("owner", "desk", "brand").order_by("pk"))
        if len(clients) < len(set(codes)):
            form.add_error(None, _("Some of the ticked clients are not within your reach; nothing was assigned."))
        else:
            owner = form.cleaned_data["owner"]
            ok, changed = form_submit(form, lambda: services.client_assign_bulk(
                actor=request.user, clients=clients, owner=owner, reason=form.cleaned_data["reason"]))
            if ok:
                done = ngettext("%(count)d client given to %(owner)s.", "%(count)d clients given to %(owner)s.",
                                changed) % {"count": changed, "owner": owner.full_name}
    if not wants_partial(request):
        if done:
            messages.success(request, done)
        else:
            messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
        query = request.GET.urlencode()
        return redirect(f"{reverse('client_list')}?{query}" if query else reverse("client_list"))
    context = _list_context(request, record=False, assign_form=ClientAssignForm(user=request.user, prefix="assign")
                            if done else form, assign_done=done)
    return render_page(request, "crm/clients/list.html", context, partial="client-table")


def _uuids(values: list[str]) -> list[str]:
    out = []
    for value in values:
        try:
            out.append(str(uuid.UUID(value)))
        except ValueError:
            continue
    return out


@login_required
@require_POST
def client_export(request: AuthedRequest) -> HttpResponse:
    """Export the list as it is filtered and sorted (the query string the list was shown with) to
    CSV or XLSX: a background job, whose page shows its progress and the file."""
    _require_perm(request, EXPORT_PERMISSION)
    fmt = request.POST.get("format", "")
    try:
        job = client_export_request(actor=request.user, query=request.GET, fmt=fmt)
    except ValidationFailed as error:
        messages.error(request, " ".join(m for msgs in error.fields.values() for m in msgs) or error.message)
        query = request.GET.urlencode()
        return redirect(f"{reverse('client_list')}?{query}" if query else reverse("client_list"))
    except (NotAllowed, NotFound) as error:
        raise_for_domain_error(error)
        raise
    return redirect("job_detail", job.code)


# --- profile -------------------------------------------------------------------------------------

def _pick_tab(tabs: list[ClientTab], key: str | None) -> ClientTab:
    for tab in tabs:
        if tab.key == key:
            return tab
    return tabs[0]


def _profile_context(request: AuthedRequest, client: Client, tab: ClientTab, tabs: list[ClientTab],
                     **extra: Any) -> dict[str, Any]:
    context: dict[str, Any] = {
        "client": client,
        "tabs": tabs,
        "active_tab": tab,
        "can_reveal": user_can(request.user, "crm.reveal_contact"),
        "can_edit": user_can(request.user, "crm.change_client"),
        "can_email": user_can(request.user, "crm.email_client"),
        # A reveal lasts for the rest of the visit: later actions on the profile keep it shown.
        "revealed": contact_revealed(session=request.session, user=request.user, client=client),
    }
    context.update(tab_context(tab, request, client))
    context.update(extra)
    return context


@login_required
@require_GET
def client_detail(request: AuthedRequest, code: Any) -> HttpResponse:
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
def client_reveal(request: AuthedRequest, code: Any) -> HttpResponse:
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


def tab_response(request: AuthedRequest, client: Client, key: str, **extra: Any) -> HttpResponse:
    tabs = tabs_for(request.user)
    tab = _pick_tab(tabs, key)
    context = _profile_context(request, client, tab, tabs, **extra)
    return render_page(request, "crm/clients/detail.html", context, partial="client-tabs")


@login_required
@require_POST
def client_note_add(request: AuthedRequest, code: Any) -> HttpResponse:
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
def client_task_add(request: AuthedRequest, code: Any) -> HttpResponse:
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

def _require_perm(request: AuthedRequest, perm: str) -> None:
    if not user_can(request.user, perm):
        raise PermissionDenied


@login_required
@require_http_methods(["GET", "POST"])
def client_create(request: AuthedRequest) -> HttpResponse:
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
def client_edit(request: AuthedRequest, code: Any) -> HttpResponse:
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


# --- owner ---------------------------------------------------------------------------------------

@login_required
@require_POST
def client_assign(request: AuthedRequest, code: Any) -> HttpResponse:
    """Give the client to an agent (the overview's Assign form) through client_assign, the one rule
    every assignment follows. A refusal names itself on the form and changes nothing."""
    client = client_or_404(request, code)
    _require_perm(request, ASSIGN_PERMISSION)
    form = ClientAssignForm(request.POST, user=request.user, brand_id=client.brand_id, prefix="assign")
    if form.is_valid():
        owner = form.cleaned_data["owner"]
        ok, _client = form_submit(form, lambda: services.client_assign(
            actor=request.user, client=client, owner=owner, reason=form.cleaned_data["reason"]))
        if ok:
            message = _("%(name)s now belongs to %(owner)s.") % {"name": client.full_name, "owner": owner.full_name}
            if not wants_partial(request):
                messages.success(request, message)
                return redirect(f"{reverse('client_detail', args=[client.code])}?tab=overview")
            return tab_response(request, client, "overview", assigned=message)
    return tab_response(request, client, "overview", assign_form=form)


# --- stage ---------------------------------------------------------------------------------------

def _stage_response(request: AuthedRequest, client: Client, *, moved: bool, **forms: Any) -> HttpResponse:
    if moved:
        message = _("%(name)s is now %(stage)s.") % {"name": client.full_name, "stage": stage_label(client.stage)}
        if not wants_partial(request):
            messages.success(request, message)
            return redirect(f"{reverse('client_detail', args=[client.code])}?tab=overview")
        return tab_response(request, client, "overview", stage_moved=message)
    return tab_response(request, client, "overview", **forms)


def _stage_post(request: AuthedRequest, code: Any, *, permission: str, form_class: Any, service: Any,
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
def client_stage_change(request: AuthedRequest, code: Any) -> HttpResponse:
    """An ordinary move (crm.models.stages). A refused one is a form error naming the move; nothing changes."""
    return _stage_post(request, code, permission="crm.change_client", form_class=StageChangeForm,
                       service=services.client_stage_change, form_key="stage_form")


@login_required
@require_POST
def client_stage_override(request: AuthedRequest, code: Any) -> HttpResponse:
    """An administrator's override: any stage, with a reason, audited."""
    return _stage_post(request, code, permission=OVERRIDE_PERMISSION, form_class=StageOverrideForm,
                       service=services.client_stage_override, form_key="override_form")
