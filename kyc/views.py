"""Staff pages of KYC: the compliance review queue (by SLA, with its figures), a submission's review
page (documents beside the registration data, failed checks highlighted, the decisions), the
permission-checked document view, the brands' KYC policies, the client's address, and the KYC tab
of the client profile. `ui_contributions()` gives KycConfig.ready the tab and the timeline labels.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm.exceptions import DomainError, NotAllowed, NotFound
from crm.lib.csp import SELF, csp_exception
from crm.lib.webhooks import webhook_answer, webhook_request
from crm.models import Client
from crm.permissions import AuthedRequest, page_permission_required, user_can, visible_brands
from crm.views.ui import client_or_404, render_page
from crm.views.ui.forms import apply_domain_errors
from kyc import forms, selectors, services
from kyc.checks.report import Report
from kyc.models import KycStatus, SubmissionStatus
from kyc.permissions import (
    CHANGE_PROFILE,
    MANAGE_POLICY,
    REVIEW,
    VIEW_DOCUMENTS,
    VIEW_PROFILE,
    document_get_for_user,
    submission_get_for_user,
    submission_queryset_for_user,
)

# --- helpers -------------------------------------------------------------------------------------




def _submission_or_404(request: HttpRequest, code: Any, *, perm: str = REVIEW) -> Any:
    try:
        return submission_get_for_user(request.user, code, perm=perm)
    except NotFound:
        raise Http404 from None


def _period(request: HttpRequest) -> int:
    value = request.GET.get("days", "")
    return int(value) if value.isdigit() and int(value) in selectors.FIGURE_PERIODS else 30


# --- the queue -----------------------------------------------------------------------------------

@page_permission_required(REVIEW)
@require_GET
def queue(request: AuthedRequest) -> HttpResponse:
    """What waits for review, due soonest first, with the queue's figures over a chosen period."""
    claimed = request.GET.get("claimed", "")
    claimed = claimed if claimed in ("mine", "unclaimed") else ""
    scoped = submission_queryset_for_user(request.user, perm=REVIEW)
    rows = selectors.queue(submissions=scoped, claimed=claimed, user=request.user)
    # One read of the queue's index gives the figures' waiting/overdue and the paginator's count.
    counts = selectors.queue_counts(submissions=scoped, claimed=claimed, user=request.user)
    paginator = Paginator(rows, selectors.QUEUE_PAGE_SIZE)
    paginator.count = counts.shown  # cached_property: no COUNT(*) of its own
    page = paginator.get_page(request.GET.get("page"))
    days = _period(request)
    return render_page(request, "kyc/queue.html", {
        "page": page, "claimed": claimed, "days": days, "periods": selectors.FIGURE_PERIODS,
        "figures": selectors.queue_figures(submissions=scoped, days=days, counts=counts, cached=True),
        "can_manage_policy": user_can(request.user, MANAGE_POLICY), "now": timezone.now(),
    }, partial="queue-rows")


# --- a submission ----------------------------------------------------------------------------------

def _review_context(request: AuthedRequest, submission: Any, **forms_given: Any) -> dict[str, Any]:
    client: Client = submission.client
    user = request.user
    report = Report.from_dict(submission.report) if submission.report else None
    problems = set(submission.problems)
    can_review = user_can(user, REVIEW) and submission.status == SubmissionStatus.REVIEW
    claimed_by_other = submission.claimed_by_id is not None and submission.claimed_by_id != user.pk
    return {
        "submission": submission, "client": client,
        "profile": selectors.kyc_profile_for(client=client),
        "documents": list(submission.documents.all()),
        "checks": list(report.checks) if report else [], "facts": report.facts if report else {},
        "problems": problems, "decision": str(report.decision) if report else "",
        "decisions": list(submission.decisions.select_related("officer")),
        "can_view_documents": user_can(user, VIEW_DOCUMENTS),
        "can_review": can_review, "claimed_by_other": claimed_by_other,
        "first_approver_is_me": submission.first_approval_by_id == user.pk,
        "approve_form": forms_given.get("approve_form") or forms.ApproveForm(),
        "reject_form": forms_given.get("reject_form") or forms.RejectForm(),
        "info_form": forms_given.get("info_form") or forms.RequestInfoForm(),
        "assign_form": forms_given.get("assign_form") or forms.AssignForm(
            reviewers=services.staff_reviewers(submission=submission) if can_review else []),
    }


@page_permission_required(REVIEW)
@require_GET
def submission_detail(request: AuthedRequest, code: Any) -> HttpResponse:
    submission = _submission_or_404(request, code)
    return render_page(request, "kyc/submission.html", _review_context(request, submission))


_ACTIONS = {"claim", "assign", "approve", "reject", "request-info"}


@page_permission_required(REVIEW)
@require_POST
def submission_action(request: AuthedRequest, code: Any, action: str) -> HttpResponse:
    """Claim, assign or release, approve, reject (retryable or final), ask for more information."""
    if action not in _ACTIONS:
        raise Http404
    submission = _submission_or_404(request, code)
    user = request.user
    form: Any = None
    form_key = ""
    try:
        if action == "claim":
            services.submission_claim(submission=submission, actor=user)
            messages.success(request, gettext("You are reviewing this submission."))
        elif action == "assign":
            form, form_key = forms.AssignForm(request.POST, reviewers=services.staff_reviewers(submission=submission)), \
                "assign_form"
            if form.is_valid():
                services.submission_assign(submission=submission, actor=user, assignee=form.cleaned_data["assignee"])
                messages.success(request, gettext("The submission was assigned."))
        elif action == "approve":
            form, form_key = forms.ApproveForm(request.POST), "approve_form"
            if form.is_valid():
                result = services.submission_approve(submission=submission, actor=user,
                                                     note=form.cleaned_data["note"])
                messages.success(request, gettext("Approved.") if result.status == SubmissionStatus.APPROVED else
                                 gettext("First approval recorded: a second officer must approve."))
        elif action == "reject":
            form, form_key = forms.RejectForm(request.POST), "reject_form"
            if form.is_valid():
                services.submission_reject(submission=submission, actor=user, reason=form.cleaned_data["reason"],
                                           can_resubmit=not form.cleaned_data["final"])
                messages.success(request, gettext("Rejected; the client was told."))
        else:
            form, form_key = forms.RequestInfoForm(request.POST), "info_form"
            if form.is_valid():
                services.submission_request_info(submission=submission, actor=user,
                                                 message=form.cleaned_data["message"])
                messages.success(request, gettext("The client was asked for more information."))
    except NotFound:
        raise Http404 from None
    except NotAllowed as error:
        raise PermissionDenied(error.message) from None
    except DomainError as error:
        if form is None:
            messages.error(request, error.message)
            return redirect("kyc_submission", submission.code)
        apply_domain_errors(form, error)
    if form is not None and form.errors:
        submission = _submission_or_404(request, code)
        return render_page(request, "kyc/submission.html", _review_context(request, submission, **{form_key: form}),
                           status=400)
    return redirect("kyc_submission", submission.code)


# --- the vendors' webhooks ------------------------------------------------------------------------

@csrf_exempt  # a vendor's server has no CSRF token nor session: the HMAC signature authenticates it
@require_POST
def vendor_webhook(request: HttpRequest, vendor_code: str) -> HttpResponse:
    from kyc.webhooks import vendor_webhook_receive

    return webhook_answer(vendor_webhook_receive(vendor_code=vendor_code, **webhook_request(request)))


# --- documents -------------------------------------------------------------------------------------

@login_required
@require_GET
@xframe_options_sameorigin
@csp_exception("A PDF document is shown in a frame of the review page of this same site.", frame_ancestors=[SELF])
def document_view(request: AuthedRequest, code: Any) -> HttpResponse:
    """The file, to staff holding "kyc.view_documents" who see its client; every view is recorded."""
    try:
        document = document_get_for_user(request.user, code)
    except NotFound:
        raise Http404 from None
    data = services.document_view_record(actor=request.user, document=document)
    response = HttpResponse(data, content_type=document.content_type)
    extension = document.storage_name.rsplit(".", 1)[-1]
    response["Content-Disposition"] = f'inline; filename="{document.code}.{extension}"'
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


# --- policies --------------------------------------------------------------------------------------

@page_permission_required(MANAGE_POLICY)
@require_GET
def policy_list(request: AuthedRequest) -> HttpResponse:
    brands = list(visible_brands(request.user).order_by("name"))
    return render_page(request, "kyc/policy_list.html", {
        "rows": [{"brand": b, "policy": selectors.kyc_policy_for(brand=b)} for b in brands]})


@page_permission_required(MANAGE_POLICY)
@require_http_methods(["GET", "POST"])
def policy_edit(request: AuthedRequest, brand_code: str) -> HttpResponse:
    brand = visible_brands(request.user).filter(code=brand_code).first()
    if brand is None:
        raise Http404
    policy = selectors.kyc_policy_for(brand=brand)
    initial = {"allowed_issuing_countries": ", ".join(policy.allowed_issuing_countries),
               "poa_max_age_days": policy.poa_max_age_days, "expiry_warning_days": policy.expiry_warning_days,
               "review_sla_hours": policy.review_sla_hours, "high_risk_countries": ", ".join(policy.high_risk_countries),
               "expiry_holds": list(policy.expiry_holds), "vendor": policy.vendor}
    form = forms.PolicyForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.kyc_policy_save(actor=request.user, brand=brand, **form.cleaned_data)
        except DomainError as error:
            apply_domain_errors(form, error)
        else:
            messages.success(request, gettext("The KYC policy of %(brand)s was saved.") % {"brand": brand.name})
            return redirect("kyc_policy_list")
    return render_page(request, "kyc/policy_form.html", {"brand": brand, "form": form},
                       status=400 if form.errors else 200)


# --- the client's address ------------------------------------------------------------------------------

@page_permission_required(CHANGE_PROFILE)
@require_http_methods(["GET", "POST"])
def address_edit(request: AuthedRequest, code: Any) -> HttpResponse:
    client = client_or_404(request, code)
    profile = selectors.kyc_profile_for(client=client)
    form = forms.AddressForm(request.POST or None, initial={
        "address_line1": profile.address_line1, "address_line2": profile.address_line2, "city": profile.city,
        "postcode": profile.postcode, "country": profile.country or client.country})
    if request.method == "POST" and form.is_valid():
        try:
            services.kyc_profile_save(client=client, actor=request.user, **form.cleaned_data)
        except DomainError as error:
            apply_domain_errors(form, error)
        else:
            messages.success(request, gettext("The address was saved."))
            return redirect(f"{reverse('client_detail', args=[client.code])}?tab=kyc")
    return render_page(request, "kyc/address_form.html", {"client": client, "form": form},
                       status=400 if form.errors else 200)


# --- the client tab and the timeline ---------------------------------------------------------------

def _tab_context(request: AuthedRequest, client: Client) -> dict[str, Any]:
    user = request.user
    submissions = list(selectors.submissions_for_client(client=client)[:20])
    documents: dict[int, list[Any]] = {}
    decisions: dict[int, list[Any]] = {}
    if submissions:
        from kyc.models import Document, KycDecision

        ids = [s.pk for s in submissions]
        for doc in Document.objects.filter(submission_id__in=ids).order_by("id"):
            documents.setdefault(doc.submission_id, []).append(doc)
        for step in KycDecision.objects.filter(submission_id__in=ids).select_related("officer").order_by("at", "id"):
            decisions.setdefault(step.submission_id, []).append(step)
    rows = [{"submission": s, "documents": documents.get(s.pk, []), "decisions": decisions.get(s.pk, []),
             "checks": list(Report.from_dict(s.report).checks) if s.report else []} for s in submissions]
    profile = selectors.kyc_profile_for(client=client)
    history = list(profile.status_changes.select_related("actor")[:50]) if profile.pk else []
    return {
        "kyc_profile": profile, "kyc_rows": rows, "kyc_history": history,
        "kyc_can_view_documents": user_can(user, VIEW_DOCUMENTS),
        "kyc_can_review": user_can(user, REVIEW), "kyc_can_change_profile": user_can(user, CHANGE_PROFILE),
        "kyc_withdrawal_block": selectors.withdrawal_block(client=client),
    }


def _d(event: Any) -> Mapping[str, Any]:
    return event.data if isinstance(event.data, Mapping) else {}


def _who(value: Any) -> str:
    return str(value.get("name", "")) if isinstance(value, Mapping) else ""


def _submitted(event: Any) -> str:
    n = int(_d(event).get("documents") or 0)
    return gettext("%(n)s documents") % {"n": n}


def _approved(event: Any) -> str:
    reviewer = _who(_d(event).get("reviewer"))
    return gettext("By %(who)s") % {"who": reviewer} if reviewer else gettext("By the automatic checks")


def _rejected(event: Any) -> str:
    data = _d(event)
    kind = gettext("may send again") if data.get("can_resubmit") else gettext("final")
    return " · ".join(p for p in (str(data.get("reason") or ""), kind) if p)


def _expired(event: Any) -> str:
    return str(_d(event).get("reason") or "")


def _info(event: Any) -> str:
    return str(_d(event).get("message") or "")[:160]


def _reopened(event: Any) -> str:
    data = _d(event)
    return " · ".join(p for p in (str(data.get("vendor") or ""), str(data.get("reason") or "")) if p)[:200]


def _warned(event: Any) -> str:
    data = _d(event)
    return gettext("%(document)s expires on %(day)s") % {"document": data.get("document", ""),
                                                         "day": data.get("expires_on", "")}


def ui_contributions() -> dict[str, Any]:
    """The KYC tab of the client profile and the timeline labels of kyc's events."""
    from crm.registry import ClientTab, TimelineKind

    return {
        "tabs": [ClientTab(key="kyc", label=_("KYC"), template="kyc/client_tab.html", order=22,
                           permission=VIEW_PROFILE, context=_tab_context)],
        "timeline": [TimelineKind(name, label, icon, summary) for name, label, icon, summary in (
            ("kyc.submitted", _("KYC documents sent"), "shield", _submitted),
            ("kyc.approved", _("KYC approved"), "shield", _approved),
            ("kyc.rejected", _("KYC rejected"), "shield", _rejected),
            ("kyc.expired", _("KYC expired"), "alert", _expired),
            ("kyc.info_requested", _("KYC: more information requested"), "shield", _info),
            ("kyc.expiry_warned", _("KYC: document expiry warning"), "alert", _warned),
            ("kyc.reopened", _("KYC reopened: the verification vendor changed its result"), "alert", _reopened),
        )],
    }


__all__ = ["KycStatus", "address_edit", "document_view", "policy_edit", "policy_list", "queue",
           "submission_action", "submission_detail", "ui_contributions", "vendor_webhook"]
