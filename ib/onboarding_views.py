"""The IB manager's onboarding pages: the application queue and its decisions, adding or inviting
a partner, and a partner's new tracking link or referral code. Thin: parse, fetch-and-authorise,
call one service of ib.onboarding (or ib.services), render."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import get_language, gettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm.exceptions import DomainError, NotFound
from crm.lib.fieldcrypt import keyed_hashes
from crm.permissions import AuthedRequest, page_permission_required, visible_brands
from crm.views.ui import render_page
from crm.views.ui.forms import apply_domain_errors
from ib import onboarding, services
from ib.forms import ApplicationApproveForm, ApplicationRejectForm, PartnerNewForm
from ib.models import ApplicationStatus, MarketingMethod, PartnerApplication
from ib.partner_forms import LinkForm
from ib.permissions import application_get_for_user, application_queryset_for_user, partner_get_for_user

MANAGE = services.MANAGE
APPLICATIONS_SHOWN = 100


def _application_or_404(request: AuthedRequest, code: Any) -> PartnerApplication:
    try:
        return application_get_for_user(request.user, code)
    except NotFound:
        raise Http404 from None


def _rows(applications: list[PartnerApplication]) -> list[dict[str, Any]]:
    language = get_language() or "en"
    labels = dict(MarketingMethod.choices)
    return [{"application": a, "countries": onboarding.countries_label(a.countries, language),
             "methods": ", ".join(str(labels.get(m, m)) for m in a.marketing_methods)} for a in applications]


@page_permission_required(MANAGE)
@require_GET
def application_list(request: AuthedRequest) -> HttpResponse:
    """The queue: applications waiting (or, with ?status=, those decided), oldest first."""
    status = request.GET.get("status") or ApplicationStatus.PENDING
    if status not in ApplicationStatus.values:
        status = ApplicationStatus.PENDING
    qs = application_queryset_for_user(request.user).filter(status=status)
    qs = qs.order_by("created_at", "id") if status == ApplicationStatus.PENDING else qs.order_by("-decided_at", "-id")
    return render_page(request, "ib/application_list.html", {
        "rows": _rows(list(qs[:APPLICATIONS_SHOWN])), "status": status, "statuses": ApplicationStatus.choices,
    }, partial="application-rows")


def _detail(request: AuthedRequest, application: PartnerApplication, *,
            approve_form: ApplicationApproveForm | None = None, reject_form: ApplicationRejectForm | None = None,
            status: int = 200) -> HttpResponse:
    [row] = _rows([application])
    return render_page(request, "ib/application_detail.html", {
        **row,
        "approve_form": approve_form or ApplicationApproveForm(brand_id=application.brand_id),
        "reject_form": reject_form or ApplicationRejectForm(),
        "earlier": list(application_queryset_for_user(request.user)
                        .filter(contact_email_hash__in=keyed_hashes(application.contact_email, kind="email"))
                        .exclude(pk=application.pk)
                        .order_by("-created_at")[:10]),
    }, status=status)


@page_permission_required(MANAGE)
@require_GET
def application_detail(request: AuthedRequest, code: Any) -> HttpResponse:
    return _detail(request, _application_or_404(request, code))


@page_permission_required(MANAGE)
@require_POST
def application_approve(request: AuthedRequest, code: Any) -> HttpResponse:
    application = _application_or_404(request, code)
    form = ApplicationApproveForm(request.POST, brand_id=application.brand_id)
    if form.is_valid():
        try:
            partner = onboarding.application_approve(
                actor=request.user, application=application, plan=form.cleaned_data["plan"],
                parent=form.cleaned_data["parent"], reason=form.cleaned_data["reason"])
        except NotFound:
            raise Http404 from None
        except DomainError as error:
            apply_domain_errors(form, error)
        else:
            messages.success(request, gettext("%(name)s is now a partner; the set-password link is on its way.")
                             % {"name": partner.display_name})
            return redirect("ib_partner_detail", code=partner.code)
    return _detail(request, application, approve_form=form, status=400)


@page_permission_required(MANAGE)
@require_POST
def application_reject(request: AuthedRequest, code: Any) -> HttpResponse:
    application = _application_or_404(request, code)
    form = ApplicationRejectForm(request.POST)
    if form.is_valid():
        try:
            onboarding.application_reject(actor=request.user, application=application,
                                          reason=form.cleaned_data["reason"])
        except NotFound:
            raise Http404 from None
        except DomainError as error:
            apply_domain_errors(form, error)
        else:
            messages.success(request, gettext("The application of %(name)s was rejected.")
                             % {"name": application.company})
            return redirect("ib_application_list")
    return _detail(request, application, reject_form=form, status=400)


@page_permission_required(MANAGE)
@require_http_methods(["GET", "POST"])
def partner_new(request: AuthedRequest) -> HttpResponse:
    """Add a partner (active at once, optionally with a portal login mailed) or invite one by email:
    the button pressed decides."""
    brands = visible_brands(request.user).filter(is_active=True).order_by("name")
    form = PartnerNewForm(request.POST or None, brands=brands, language=get_language() or "en")
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            try:
                if request.POST.get("action") == "invite":
                    invitation = onboarding.partner_invite_send(
                        actor=request.user, brand=data["brand"], email=data["email"], kind=data["kind"],
                        parent=data["parent"], plan=data["plan"])
                    messages.success(request, gettext("The invitation was sent to %(email)s.")
                                     % {"email": invitation.email})
                    return redirect("ib_partner_list")
                partner = onboarding.partner_onboard(
                    actor=request.user, brand=data["brand"], display_name=data["display_name"], email=data["email"],
                    kind=data["kind"], country=data["country"], parent=data["parent"], plan=data["plan"],
                    send_login=data["send_login"])
            except NotFound:
                raise Http404 from None
            except DomainError as error:
                apply_domain_errors(form, error)
            else:
                messages.success(request, gettext("%(name)s is now a partner.") % {"name": partner.display_name})
                return redirect("ib_partner_detail", code=partner.code)
    return render_page(request, "ib/partner_new.html", {"form": form}, status=status)


@page_permission_required(MANAGE)
@require_POST
def partner_link_new(request: AuthedRequest, code: Any) -> HttpResponse:
    """A new tracking link or referral code for a partner in the manager's brands."""
    try:
        partner = partner_get_for_user(request.user, code)
    except NotFound:
        raise Http404 from None
    form = LinkForm(request.POST)
    if form.is_valid():
        try:
            link = services.tracking_link_create(partner=partner, actor=request.user, **form.cleaned_data)
        except NotFound:
            raise Http404 from None
        except DomainError as error:
            apply_domain_errors(form, error)
        else:
            messages.success(request, gettext("The link %(code)s was created.") % {"code": link.code})
            return redirect(reverse("ib_partner_detail", args=[partner.code]) + "#links")
    for field, errors in form.errors.items():
        label = form.fields[field].label if field in form.fields else ""
        for message in errors:
            messages.error(request, f"{label}: {message}" if label else str(message))
    return redirect(reverse("ib_partner_detail", args=[partner.code]) + "#links")


@page_permission_required(MANAGE)
@require_POST
def plan_sub_partners(request: AuthedRequest, code: Any) -> HttpResponse:
    """How many sub-partners a partner on the plan may invite from the portal."""
    from ib.permissions import plan_queryset_for_user

    plan = plan_queryset_for_user(request.user).filter(code=code).first()
    if plan is None:
        raise Http404
    raw = (request.POST.get("max_sub_partners") or "").strip()
    try:
        limit = None if raw == "" else int(raw)
        onboarding.plan_sub_partners_set(actor=request.user, plan=plan, max_sub_partners=limit)
    except ValueError:
        messages.error(request, gettext("Enter a whole number, or leave it empty for no limit."))
    except NotFound:
        raise Http404 from None
    except DomainError as error:
        messages.error(request, " ".join(str(m) for ms in error.fields.values() for m in ms) or error.message)
    else:
        messages.success(request, gettext("Sub-partners per partner saved."))
    return redirect(reverse("ib_plan_detail", args=[plan.code]) + "#sub-partners")
