"""Staff pages of the support desk: the queue (filters, soonest SLA due first), a ticket (its thread,
answer with a canned answer, internal note, assign, status, priority, merge, link a client), an
attachment, and the setup pages (desks with their hours, holidays, SLA policies and assignment rules;
canned answers) for who manages desks. A ticket the user does not see is a 404, as a missing one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms as django_forms
from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.translation import gettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm.exceptions import DomainError, NotAllowed, NotFound
from crm.permissions import (
    AuthedRequest,
    client_queryset_for_user,
    page_permission_required,
    user_can,
    visible_brands,
)
from crm.views.ui import raise_for_domain_error, render_page
from crm.views.ui.forms import apply_domain_errors
from support import desk_forms as forms
from support import desk_selectors as selectors
from support import permissions, services
from support.attachments import attachment_read
from support.models import Ticket, TicketStatus


def _ticket_or_404(request: AuthedRequest, reference: str) -> Ticket:
    try:
        return permissions.ticket_get_for_user(request.user, reference)
    except NotFound:
        raise Http404 from None


# --- the queue ----------------------------------------------------------------------------------------

@page_permission_required(permissions.VIEW_TICKET)
@require_GET
def queue(request: AuthedRequest) -> HttpResponse:
    """The tickets the user sees, the soonest due first; filters by desk, category, status, priority,
    assignee (mine, nobody's, or for a manager any agent's) and missed SLA."""
    desks = selectors.desks_for(request.user)
    form = forms.QueueFilterForm(request.GET or None, desks=desks, agents=selectors.queue_agents(request.user))
    values: dict[str, Any] = {"status": "active"}
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        values = {"desk": next((d for d in desks if d.pk == data["desk"]), None), "category": data["category"],
                  "status": data["status"] or "active", "priority": data["priority"],
                  "assignee": data["assignee"], "breached": data["breached"]}
    now = timezone.now()
    try:
        number = max(int(request.GET.get("page") or 1), 1)
    except ValueError:
        number = 1
    rows, has_next = selectors.queue_page(selectors.ticket_queue(user=request.user, now=now, **values), number)
    query = request.GET.copy()
    query.pop("page", None)
    return render_page(request, "support/desk/queue.html", {
        "rows": selectors.queue_rows(rows), "page_number": number, "has_next": has_next, "filter_form": form, "query": query.urlencode(),
        "now": now}, partial="ticket-rows")


# --- a ticket -----------------------------------------------------------------------------------------

def _context(request: AuthedRequest, ticket: Ticket, **given: Any) -> dict[str, Any]:
    user = request.user
    can_work = user_can(user, permissions.WORK_TICKET)
    workers = selectors.ticket_workers(ticket) if can_work else []
    canned = services.canned_answers_for(ticket) if can_work else []
    return {
        "ticket": ticket, "thread": selectors.ticket_thread(ticket=ticket, user=user), "now": timezone.now(),
        "can_work": can_work and ticket.status != TicketStatus.MERGED, "canned_answers": canned,
        "can_mark_sensitive": can_work and user_can(user, permissions.COMPLIANCE_REASONS),
        "reply_form": given.get("reply_form") or forms.ReplyForm(),
        "note_form": given.get("note_form") or forms.NoteForm(),
        "assign_form": given.get("assign_form") or forms.AssignForm(
            workers=workers, initial={"assignee": str(ticket.assignee.code) if ticket.assignee else ""}),
        "status_form": given.get("status_form") or forms.StatusForm(initial={"status": ticket.status}),
        "priority_form": given.get("priority_form") or forms.PriorityForm(initial={"priority": ticket.priority}),
        "merge_form": given.get("merge_form") or forms.MergeForm(),
        "link_form": given.get("link_form") or forms.LinkClientForm(),
        "client_visible": ticket.client is not None and client_queryset_for_user(user).filter(
            pk=ticket.client.pk).exists(),
    }


@page_permission_required(permissions.VIEW_TICKET)
@require_GET
def ticket_detail(request: AuthedRequest, reference: str) -> HttpResponse:
    ticket = _ticket_or_404(request, reference)
    return render_page(request, "support/desk/ticket.html", _context(request, ticket))


class _Refused(Exception):
    def __init__(self, key: str, form: django_forms.Form) -> None:
        self.key, self.form = key, form


def _valid(request: AuthedRequest, key: str, form: django_forms.Form) -> dict[str, Any]:
    if not form.is_valid():
        raise _Refused(key, form)
    return form.cleaned_data


def _call(key: str, form: django_forms.Form, run: Callable[[], Any]) -> None:
    try:
        run()
    except (NotAllowed, NotFound):
        raise
    except DomainError as error:
        if error.fields:
            apply_domain_errors(form, error)
            raise _Refused(key, form) from None
        raise


def _reply(request: AuthedRequest, ticket: Ticket) -> None:
    form = forms.ReplyForm(request.POST)
    data = _valid(request, "reply_form", form)
    canned = None
    if data.get("canned"):
        canned = next((a for a in services.canned_answers_for(ticket) if a.pk == data["canned"]), None)
    _call("reply_form", form, lambda: services.ticket_reply_staff(
        ticket=ticket, actor=request.user, body=data["body"], status=data["status"], canned=canned,
        attachments=request.FILES.getlist("attachments")))


def _note(request: AuthedRequest, ticket: Ticket) -> None:
    form = forms.NoteForm(request.POST)
    data = _valid(request, "note_form", form)
    _call("note_form", form, lambda: services.ticket_note(ticket=ticket, actor=request.user, body=data["body"]))


def _assign(request: AuthedRequest, ticket: Ticket) -> None:
    form = forms.AssignForm(request.POST, workers=selectors.ticket_workers(ticket))
    data = _valid(request, "assign_form", form)
    _call("assign_form", form, lambda: services.ticket_assign(ticket=ticket, assignee=data["assignee"],
                                                              actor=request.user))


def _status(request: AuthedRequest, ticket: Ticket) -> None:
    form = forms.StatusForm(request.POST)
    data = _valid(request, "status_form", form)
    _call("status_form", form, lambda: services.ticket_set_status(ticket=ticket, status=data["status"],
                                                                  actor=request.user, reason=data["reason"]))


def _priority(request: AuthedRequest, ticket: Ticket) -> None:
    form = forms.PriorityForm(request.POST)
    data = _valid(request, "priority_form", form)
    _call("priority_form", form, lambda: services.ticket_set_priority(ticket=ticket, priority=data["priority"],
                                                                      actor=request.user))


def _merge(request: AuthedRequest, ticket: Ticket) -> None:
    form = forms.MergeForm(request.POST)
    data = _valid(request, "merge_form", form)
    try:
        into = permissions.ticket_get_for_user(request.user, data["into"])
    except NotFound:
        form.add_error("into", gettext("No such ticket."))
        raise _Refused("merge_form", form) from None
    _call("merge_form", form, lambda: services.ticket_merge(ticket=ticket, into=into, actor=request.user))


def _link(request: AuthedRequest, ticket: Ticket) -> None:
    form = forms.LinkClientForm(request.POST)
    data = _valid(request, "link_form", form)
    client = client_queryset_for_user(request.user).filter(code=data["client"]).first()
    if client is None:
        form.add_error("client", gettext("No such client."))
        raise _Refused("link_form", form)
    _call("link_form", form, lambda: services.ticket_link_client(ticket=ticket, client=client, actor=request.user))


def _reopen(request: AuthedRequest, ticket: Ticket) -> None:
    services.ticket_reopen(ticket=ticket, actor=request.user, reason=request.POST.get("reason", ""))


def _sensitive(request: AuthedRequest, ticket: Ticket) -> None:
    services.ticket_mark_sensitive(ticket=ticket, sensitive=request.POST.get("sensitive") == "1", actor=request.user)


_ACTIONS: dict[str, Callable[[AuthedRequest, Ticket], None]] = {
    "reply": _reply, "note": _note, "assign": _assign, "status": _status, "priority": _priority, "merge": _merge,
    "link": _link, "reopen": _reopen, "sensitive": _sensitive,
}


@page_permission_required(permissions.WORK_TICKET)
@require_POST
def ticket_action(request: AuthedRequest, reference: str, action: str) -> HttpResponse:
    run = _ACTIONS.get(action)
    if run is None:
        raise Http404
    ticket = _ticket_or_404(request, reference)
    try:
        run(request, ticket)
    except _Refused as refused:
        return render_page(request, "support/desk/ticket.html",
                           _context(request, _ticket_or_404(request, reference), **{refused.key: refused.form}),
                           status=400)
    except (NotAllowed, NotFound) as error:
        raise_for_domain_error(error)
        raise
    except DomainError as error:
        messages.error(request, error.message)
        return render_page(request, "support/desk/ticket.html",
                           _context(request, _ticket_or_404(request, reference)), status=409)
    messages.success(request, gettext("Done."))
    return redirect("support_ticket", reference=ticket.reference)


@page_permission_required(permissions.WORK_TICKET)
@require_GET
def canned_fill(request: AuthedRequest, reference: str) -> HttpResponse:
    """The reply box filled with the chosen canned answer for this ticket (an htmx swap)."""
    ticket = _ticket_or_404(request, reference)
    try:
        pk = int(request.GET.get("canned") or 0)
    except ValueError:
        pk = 0
    answer = next((a for a in services.canned_answers_for(ticket) if a.pk == pk), None)
    body = services.canned_answer_render(answer=answer, ticket=ticket, agent=request.user) if answer else ""
    form = forms.ReplyForm(initial={"body": body, "canned": answer.pk if answer else None})
    return render_page(request, "support/desk/ticket.html", {**_context(request, ticket, reply_form=form)},
                       partial="reply-box")


@page_permission_required(permissions.VIEW_TICKET)
@require_GET
def attachment(request: AuthedRequest, reference: str, code: Any) -> HttpResponse:
    try:
        row = selectors.ticket_attachment_for_user(user=request.user, reference=reference, code=code)
    except NotFound:
        raise Http404 from None
    if row is None:
        raise Http404
    response = HttpResponse(attachment_read(row.storage_name), content_type=row.content_type)
    response["Content-Disposition"] = f'attachment; filename="{row.code}.{row.storage_name.rsplit(".", 1)[-1]}"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "no-store"
    return response


# --- setup: desks, canned answers ----------------------------------------------------------------------

def _brands(request: AuthedRequest) -> list[Any]:
    return list(visible_brands(request.user).order_by("name"))


def _desk_initial(desk: Any) -> dict[str, Any]:
    import json

    return {"brand": desk.brand_id, "name": desk.name, "code": desk.code, "time_zone": desk.time_zone,
            "business_hours": json.dumps(desk.business_hours), "support_address": desk.support_address or "",
            "active": desk.active}


@page_permission_required(permissions.MANAGE_DESK)
@require_http_methods(["GET", "POST"])
def desks(request: AuthedRequest) -> HttpResponse:
    """The desks of the user's brands, and a new one."""
    import json

    from support.models import default_business_hours

    form = forms.DeskForm(request.POST or None, brands=_brands(request),
                          initial={"business_hours": json.dumps(default_business_hours()), "time_zone": "UTC"})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            desk = services.desk_save(actor=request.user, **data)
        except (NotAllowed, NotFound) as error:
            raise_for_domain_error(error)
            raise
        except DomainError as error:
            apply_domain_errors(form, error)
        else:
            messages.success(request, gettext("Desk saved."))
            return redirect("support_desk", pk=desk.pk)
    return render_page(request, "support/desk/desks.html", {"desks": selectors.desks_for(request.user), "form": form},
                       status=400 if form.is_bound and form.errors else 200)


def _desk_or_404(request: AuthedRequest, pk: int) -> Any:
    desk = selectors.desk_for_user(request.user, pk)
    if desk is None:
        raise Http404
    return desk


def _workers_of(desk: Any) -> list[Any]:
    from crm.permissions import staff_of_brand

    return sorted(staff_of_brand(desk.brand_id, permission=permissions.WORK_TICKET),
                  key=lambda u: (u.full_name or u.email).lower())


def _desk_post(request: AuthedRequest, desk: Any, brands: list[Any]) -> tuple[Any, dict[str, Any]]:
    """Apply one of the desk page's forms (named by "form"); the bound form, with any errors."""
    what = request.POST.get("form", "")
    bound: django_forms.Form
    try:
        if what == "desk":
            bound = forms.DeskForm(request.POST, brands=brands)
            if bound.is_valid():
                services.desk_save(actor=request.user, desk=desk, manager=desk.manager, **bound.cleaned_data)
            return bound, {"desk_form": bound}
        if what == "holiday":
            bound = forms.HolidayForm(request.POST)
            if bound.is_valid():
                services.desk_holiday_add(actor=request.user, desk=desk, **bound.cleaned_data)
            return bound, {"holiday_form": bound}
        if what == "holiday_remove":
            bound = forms.HolidayForm()
            services.desk_holiday_remove(actor=request.user, desk=desk,
                                         day=django_forms.DateField().clean(request.POST.get("day")))
            return bound, {}
        if what == "policy":
            bound = forms.PolicyForm(request.POST)
            if bound.is_valid():
                services.sla_policy_save(actor=request.user, desk=desk, **bound.cleaned_data)
            return bound, {"policy_form": bound}
        if what == "rule":
            bound = forms.RuleForm(request.POST, workers=_workers_of(desk))
            if bound.is_valid():
                services.assignment_rule_save(actor=request.user, desk=desk, **bound.cleaned_data)
            return bound, {"rule_form": bound}
        if what == "rule_delete":
            bound = forms.RuleForm(workers=[])
            rule = selectors.rule_for(desk, int(request.POST.get("rule") or 0))
            if rule is None:
                raise Http404
            services.assignment_rule_delete(actor=request.user, rule=rule)
            return bound, {}
    except (NotAllowed, NotFound) as error:
        raise_for_domain_error(error)
        raise
    except DomainError as error:
        apply_domain_errors(bound, error)
        return bound, {}
    except (django_forms.ValidationError, ValueError):
        raise Http404 from None
    raise Http404


@page_permission_required(permissions.MANAGE_DESK)
@require_http_methods(["GET", "POST"])
def desk_detail(request: AuthedRequest, pk: int) -> HttpResponse:
    """A desk: its settings and calendar, holidays, SLA policies and assignment rules (one form each)."""
    desk = _desk_or_404(request, pk)
    brands = _brands(request)
    desk_form = forms.DeskForm(initial=_desk_initial(desk), brands=brands)
    holiday_form, policy_form = forms.HolidayForm(), forms.PolicyForm()
    rule_form = forms.RuleForm(workers=_workers_of(desk))
    if request.method == "POST":
        bound, forms_now = _desk_post(request, desk, brands)
        desk_form = forms_now.get("desk_form", desk_form)
        holiday_form = forms_now.get("holiday_form", holiday_form)
        policy_form = forms_now.get("policy_form", policy_form)
        rule_form = forms_now.get("rule_form", rule_form)
        if not bound.errors:
            messages.success(request, gettext("Saved."))
            return redirect("support_desk", pk=desk.pk)
    return render_page(request, "support/desk/desk.html", {
        "desk": desk, "setup": selectors.desk_setup(desk), "desk_form": desk_form, "holiday_form": holiday_form,
        "policy_form": policy_form, "rule_form": rule_form},
        status=400 if request.method == "POST" else 200)


@page_permission_required(permissions.MANAGE_DESK)
@require_http_methods(["GET", "POST"])
def canned_answers(request: AuthedRequest) -> HttpResponse:
    """The canned answers of the user's brands, per language; a new one, or one changed (?edit=<id>)."""
    brands = _brands(request)
    answer = None
    if request.GET.get("edit") or request.POST.get("answer"):
        try:
            answer = selectors.canned_answer_for(request.user, int(request.GET.get("edit") or request.POST["answer"]))
        except ValueError:
            answer = None
        if answer is None:
            raise Http404
    initial = ({"brand": answer.brand_id, "language": answer.language, "title": answer.title, "body": answer.body,
                "category": answer.category or "", "active": answer.active} if answer else {})
    form = forms.CannedForm(request.POST or None, brands=brands, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.canned_answer_save(actor=request.user, answer=answer, **form.cleaned_data)
        except (NotAllowed, NotFound) as error:
            raise_for_domain_error(error)
            raise
        except DomainError as error:
            apply_domain_errors(form, error)
        else:
            messages.success(request, gettext("Saved."))
            return redirect("support_canned")
    return render_page(request, "support/desk/canned.html", {
        "answers": selectors.canned_answers_of(request.user), "form": form, "answer": answer},
        status=400 if form.is_bound and form.errors else 200)


# --- the client's profile -----------------------------------------------------------------------------

def client_tab_context(request: AuthedRequest, client: Any) -> dict[str, Any]:
    """The client profile's Tickets tab: the client's tickets the user sees, newest first."""
    return {"support_tickets": selectors.client_tickets(client=client, user=request.user), "now": timezone.now()}
