"""Staff pages of compliance cases: the queue (filters, SLA age, assignment) and a case with the
client's whole history beside it, its operations (review, assign, narrative, decide, approve, send
back, reopen, notes, attachments, the report's PDF and its filing). Officers only: for everyone else
the pages do not exist (404), so nothing of a case reaches the sales floor."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.translation import gettext
from django.views.decorators.http import require_GET, require_POST

from compliance import case_selectors as selectors
from compliance import case_storage
from compliance import cases as services
from compliance import cases_forms as forms
from compliance.cases import VIEW_PERMISSION, WORK_PERMISSION
from compliance.models import Case, CaseAttachment, CaseDecision, CaseStatus
from compliance.offboarding import case_balance_return
from compliance.permissions import case_officers_for
from crm.exceptions import DomainError, NotAllowed, NotFound
from crm.permissions import AuthedRequest, page_permission_required, user_can
from crm.views.ui import raise_for_domain_error, render_page
from crm.views.ui.forms import apply_domain_errors


def _case_or_404(request: AuthedRequest, code: Any) -> Case:
    try:
        return selectors.case_get_for_user(request.user, code)
    except NotFound:
        raise Http404 from None


@page_permission_required(VIEW_PERMISSION)
@require_GET
def case_queue(request: AuthedRequest) -> HttpResponse:
    """Cases by due date (the SLA), with their age, priority and officer; filters."""
    form = forms.CaseQueueFilterForm(request.GET or None)
    status, assignee, priority, overdue = "unclosed", "", "", False
    if form.is_bound and form.is_valid():
        status = form.cleaned_data["status"] or "unclosed"
        assignee, priority = form.cleaned_data["assignee"], form.cleaned_data["priority"]
        overdue = form.cleaned_data["overdue"]
    now = timezone.now()
    rows = selectors.case_queue(user=request.user, status="" if status == "all" else status, assignee=assignee,
                                priority=priority, overdue=overdue, now=now)
    page = Paginator(rows, selectors.CASE_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render_page(request, "compliance/cases/queue.html", {
        "page": page, "filter_form": form, "query": query.urlencode(), "now": now,
    }, partial="case-rows")


def _case_context(request: AuthedRequest, case: Case, **given: Any) -> dict[str, Any]:
    user = request.user
    can_work = user_can(user, WORK_PERMISSION)
    pending = case.status == CaseStatus.PENDING_APPROVAL
    return {
        "case": case, "client": case.client, "now": timezone.now(),
        "items": list(case.items.all()), "steps": list(case.steps.select_related("actor")),
        "notes": list(case.notes.select_related("author")), "attachments": list(case.attachments.all()),
        "history": selectors.client_history(client=case.client, user=user),
        "can_work": can_work and not case.is_closed,
        "can_review": can_work and case.status == CaseStatus.OPEN,
        "can_decide": can_work and case.status == CaseStatus.IN_REVIEW,
        "can_approve": can_work and pending and case.proposed_by_id != user.pk,
        "waiting_for_other": pending and case.proposed_by_id == user.pk,
        "can_reopen": can_work and case.is_closed,
        "can_file": can_work and "report" in (case.decision, case.proposed_decision),
        "can_return_balance": can_work and case.is_closed and case.decision == CaseDecision.OFFBOARD,
        "assign_form": given.get("assign_form") or forms.AssignForm(
            officers=case_officers_for(case), initial={"assignee": str(case.assignee.code) if case.assignee else ""}),
        "narrative_form": given.get("narrative_form") or forms.NarrativeForm(initial={"narrative": case.narrative}),
        "decision_form": given.get("decision_form") or forms.DecisionForm(),
        "reason_form": given.get("reason_form") or forms.ReasonForm(),
        "note_form": given.get("note_form") or forms.NoteForm(),
        "attachment_form": given.get("attachment_form") or forms.AttachmentForm(),
        "balance_return_form": given.get("balance_return_form") or (
            forms.BalanceReturnForm(options=balance_return_options(case))
            if case.is_closed and case.decision == CaseDecision.OFFBOARD else None),
        "filing_form": given.get("filing_form") or forms.FilingForm(initial={
            "filed_on": case.sar_filed_on or timezone.localdate(), "reference": case.sar_reference}),
    }


@page_permission_required(VIEW_PERMISSION)
@require_GET
def case_detail(request: AuthedRequest, code: Any) -> HttpResponse:
    case = _case_or_404(request, code)
    return render_page(request, "compliance/cases/detail.html", _case_context(request, case))


def _form_action(form_class: Any, key: str, call: Any) -> Any:
    """An action with a form: (key, form) when it is not valid, else the service is called with
    the cleaned data (a domain error lands on the form)."""
    def run(request: AuthedRequest, case: Case) -> tuple[str, Any]:
        form = form_class(request.POST, request.FILES) if form_class is forms.AttachmentForm \
            else form_class(request.POST)
        if not form.is_valid():
            return key, form
        _apply(form, key, lambda: call(request, case, form))
        return "", None
    return run


def _no_form(call: Any) -> Any:
    def run(request: AuthedRequest, case: Case) -> tuple[str, Any]:
        call(case=case, actor=request.user)
        return "", None
    return run


def _assign(request: AuthedRequest, case: Case) -> tuple[str, Any]:
    officers = case_officers_for(case)
    form = forms.AssignForm(request.POST, officers=officers)
    if not form.is_valid():
        return "assign_form", form
    code = form.cleaned_data["assignee"]
    assignee = next((u for u in officers if str(u.code) == code), None) if code else None
    _apply(form, "assign_form", lambda: services.case_assign(case=case, assignee=assignee, actor=request.user))
    return "", None


def _attach(request: AuthedRequest, case: Case, form: Any) -> Any:
    upload = form.cleaned_data["file"]
    # At most one byte over the limit is read: the service refuses it with the size in its words.
    data = upload.read(case_storage.max_bytes() + 1)
    return services.case_attachment_add(case=case, actor=request.user, filename=upload.name or "", data=data)


def balance_return_options(case: Case) -> list[tuple[str, str]]:
    """("USD|<method code>", "USD 1,234.00 · Bank wire") for each currency with money left in the client's
    wallet and each withdrawal method of it (the wallet's selectors)."""
    from crm.lib.money import money_format
    from wallet.selectors import wallet_balances_for_client, withdrawal_methods_for

    out: list[tuple[str, str]] = []
    for row in wallet_balances_for_client(case.client):
        if row.available.amount > 0:
            out.extend((f"{row.available.currency}|{o.method_code}", f"{money_format(row.available)} · {o.label}")
                       for o in withdrawal_methods_for(client=case.client, currency=row.available.currency))
    return out


def _balance_return(request: AuthedRequest, case: Case) -> tuple[str, Any]:
    form = forms.BalanceReturnForm(request.POST, options=balance_return_options(case))
    if not form.is_valid():
        return "balance_return_form", form
    currency, _sep, method = form.cleaned_data["method"].partition("|")
    _apply(form, "balance_return_form", lambda: case_balance_return(
        case=case, actor=request.user, currency=currency, method_code=method,
        destination=form.cleaned_data["destination"], reason=form.cleaned_data["reason"]))
    return "", None


_ACTIONS: dict[str, Any] = {
    "return-balance": _balance_return,
    "review": _no_form(services.case_review_start),
    "approve": _no_form(services.case_approve),
    "assign": _assign,
    "narrative": _form_action(forms.NarrativeForm, "narrative_form", lambda r, c, f: services.case_narrative_set(
        case=c, actor=r.user, narrative=f.cleaned_data["narrative"])),
    "decide": _form_action(forms.DecisionForm, "decision_form", lambda r, c, f: services.case_decide(
        case=c, actor=r.user, decision=f.cleaned_data["decision"], reason=f.cleaned_data["reason"],
        restrict_kinds=f.cleaned_data["restrict"] or None)),
    "send-back": _form_action(forms.ReasonForm, "reason_form", lambda r, c, f: services.case_send_back(
        case=c, actor=r.user, reason=f.cleaned_data["reason"])),
    "reopen": _form_action(forms.ReasonForm, "reason_form", lambda r, c, f: services.case_reopen(
        case=c, actor=r.user, reason=f.cleaned_data["reason"])),
    "note": _form_action(forms.NoteForm, "note_form", lambda r, c, f: services.case_note_add(
        case=c, actor=r.user, body=f.cleaned_data["body"])),
    "attach": _form_action(forms.AttachmentForm, "attachment_form", _attach),
    "filing": _form_action(forms.FilingForm, "filing_form", lambda r, c, f: services.case_sar_filing_record(
        case=c, actor=r.user, filed_on=f.cleaned_data["filed_on"], reference=f.cleaned_data["reference"])),
}


class _FormRefused(Exception):
    def __init__(self, key: str, form: Any) -> None:
        self.key, self.form = key, form


def _apply(form: Any, key: str, call: Any) -> None:
    try:
        call()
    except (NotAllowed, NotFound):
        raise
    except DomainError as error:
        apply_domain_errors(form, error)
        raise _FormRefused(key, form) from None


@page_permission_required(WORK_PERMISSION)
@require_POST
def case_action(request: AuthedRequest, code: Any, action: str) -> HttpResponse:
    run = _ACTIONS.get(action)
    if run is None:
        raise Http404
    case = _case_or_404(request, code)
    try:
        key, form = run(request, case)
    except _FormRefused as refused:
        key, form = refused.key, refused.form
    except (NotAllowed, NotFound) as error:
        raise_for_domain_error(error)
        raise
    except DomainError as error:
        messages.error(request, error.message)
        return render_page(request, "compliance/cases/detail.html",
                           _case_context(request, _case_or_404(request, code)), status=409)
    if form is not None:
        return render_page(request, "compliance/cases/detail.html",
                           _case_context(request, _case_or_404(request, code), **{key: form}), status=400)
    messages.success(request, gettext("Done."))
    return redirect("compliance_case_detail", code=case.code)


@page_permission_required(WORK_PERMISSION)
@require_GET
def case_sar(request: AuthedRequest, code: Any) -> HttpResponse:
    """The suspicious-activity report's draft, as a PDF to download (recorded on the case)."""
    case = _case_or_404(request, code)
    try:
        pdf = services.case_sar_pdf(case=case, actor=request.user, context=selectors.case_sar_context(case=case))
    except DomainError as error:
        messages.error(request, error.message)
        return redirect("compliance_case_detail", code=case.code)
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="sar-draft-{str(case.code)[:8]}.pdf"'
    response["Cache-Control"] = "no-store"
    return response


@page_permission_required(VIEW_PERMISSION)
@require_GET
def case_attachment(request: AuthedRequest, code: Any, file_code: Any) -> HttpResponse:
    case = _case_or_404(request, code)
    row = CaseAttachment.objects.filter(case=case, code=file_code).first()
    if row is None:
        raise Http404
    response = HttpResponse(case_storage.file_read(row.storage_name), content_type=row.content_type)
    response["Content-Disposition"] = f'attachment; filename="case-file-{str(row.code)[:8]}.{row.storage_name.rsplit(".", 1)[-1]}"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "no-store"
    return response


def cases_tab_context(request: AuthedRequest, client: Any) -> dict[str, Any]:
    """The cases section of the client's Compliance tab: for officers only (None hides it)."""
    if not user_can(request.user, VIEW_PERMISSION):
        return {"compliance_cases": None}
    return {"compliance_cases": list(selectors.cases_for_client(user=request.user, client=client)[:20])}
