"""The IB manager's pages (partners, their tree, links and clients; applications; moves; the
attribution conflict queue; re-attribution), the client profile's Partner tab, and the public
tracking-link redirect.

Views are thin: parse with a form, fetch-and-authorise with an access helper, call one service,
render. `ui_contributions()` gives IbConfig.ready the tab and the timeline labels.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

import qrcode
import qrcode.image.svg
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm.exceptions import DomainError, NotFound
from crm.lib.middleware import client_ip
from crm.models import Client
from crm.permissions import AuthedRequest, page_permission_required, user_can, visible_brands
from crm.views.ui import client_or_404, render_page
from crm.views.ui.forms import apply_domain_errors
from crm.views.ui.listing import form_problems
from ib import postbacks, selectors, services
from ib.commissions import period_before
from ib.filters import PartnerFilter
from ib.forms import MoveForm, PostbackForm, ReasonForm, ReattributeForm, ResolveForm
from ib.models import (
    ApplicationStatus,
    AttributionConflict,
    Partner,
    PartnerStatus,
    PostbackEvent,
    PostbackStatus,
    TrackingLink,
)
from ib.partner_forms import LinkForm
from ib.permissions import (
    application_queryset_for_user,
    conflict_get_for_user,
    partner_get_for_user,
    partner_queryset_for_user,
)
from ib.tables import PartnerTable

VIEW = "ib.view_partner"
MANAGE = services.MANAGE
PARTNERS_PER_PAGE = 50
DELIVERIES_SHOWN = 20
TAB_PERMISSION = "ib.view_clientattribution"


# --- registration: the client tab and the timeline --------------------------------------------------

def _tab_context(request: AuthedRequest, client: Client) -> dict[str, Any]:
    return {"ib_history": list(selectors.attribution_history(client)[:50]),
            "ib_can_manage": user_can(request.user, MANAGE)}


def _d(event: Any) -> Mapping[str, Any]:
    return event.data if isinstance(event.data, Mapping) else {}


def _attributed(event: Any) -> str:
    data = _d(event)
    name = (data.get("partner") or {}).get("name", "")
    previous = (data.get("previous") or {}).get("name")
    text = gettext("%(old)s → %(new)s") % {"old": previous, "new": name} if previous else name
    return f"{text} · {data['reason']}" if data.get("reason") else text


def _conflict(event: Any) -> str:
    return ", ".join(str(p.get("name", "")) for p in _d(event).get("partners") or [])


def _resolved(event: Any) -> str:
    data = _d(event)
    return f"{(data.get('chosen') or {}).get('name', '')} · {data.get('reason', '')}"


def ui_contributions() -> dict[str, Any]:
    from crm.registry import ClientTab, TimelineKind

    return {
        "tabs": [ClientTab(key="partner", label=_("Partner"), template="ib/client_tab.html", order=60,
                           permission=TAB_PERMISSION, context=_tab_context)],
        "timeline": [
            TimelineKind("ib.client_attributed", _("Partner attribution"), "share", _attributed),
            TimelineKind("ib.attribution_conflict", _("Partners claim this client"), "alert", _conflict),
            TimelineKind("ib.attribution_conflict_resolved", _("Partner claim decided"), "tick", _resolved),
        ],
    }


# --- helpers ------------------------------------------------------------------------------------------



def _partner_or_404(request: AuthedRequest, code: Any) -> Partner:
    try:
        return partner_get_for_user(request.user, code)
    except NotFound:
        raise Http404 from None


# --- partners -----------------------------------------------------------------------------------------

@page_permission_required(VIEW)
@require_GET
def partner_list(request: AuthedRequest) -> HttpResponse:
    filters = PartnerFilter(request.GET, queryset=partner_queryset_for_user(request.user).order_by("path"),
                            request=request)
    table = PartnerTable(filters.qs)
    table.paginate_pages(request, per_page=PARTNERS_PER_PAGE)
    return render_page(request, "ib/partner_list.html", {
        "filters": filters, "table": table,
        "applications": partner_queryset_for_user(request.user).filter(status=PartnerStatus.APPLIED).count(),
        "pending_applications": (application_queryset_for_user(request.user)
                                 .filter(status=ApplicationStatus.PENDING).count()),
        "can_manage": user_can(request.user, MANAGE),
    }, partial="partner-rows")


def _postback_form(partner: Partner) -> PostbackForm:
    postback = postbacks.postback_of(partner)
    if postback is None:
        return PostbackForm(initial={"is_active": True, "events": []})
    return PostbackForm(initial={"url": postback.url, "events": list(postback.events),
                                 "is_active": postback.is_active})


def _detail(request: AuthedRequest, partner: Partner, *, move_form: MoveForm | None = None,
            reject_form: ReasonForm | None = None, postback_form: PostbackForm | None = None,
            new_secret: str | None = None, settlement_form: Any = None, period_error: str = "",
            status: int = 200) -> HttpResponse:
    from ib import settlement
    from ib.forms import settlement_form_for

    # Each partner below with its level under this one, for the template.
    subtree = [(node, node.depth - partner.depth) for node in selectors.partner_subtree(partner)]
    can_manage = user_can(request.user, MANAGE)
    postback = postbacks.postback_of(partner)
    last_month = period_before()
    return render_page(request, "ib/partner_detail.html", {
        "partner": partner,
        "ancestors": list(selectors.partner_ancestors(partner)),
        "subtree": subtree,
        # The same figures the partner sees in the partner portal, from the same selectors.
        "figures": selectors.partner_figures(partner, at=timezone.now()),
        "series": asdict(selectors.partner_series(partner, at=timezone.now())),
        "network": selectors.partner_network(partner, at=timezone.now()),
        "links": list(partner.links.all()),
        "link_form": LinkForm(initial={"landing_url": reverse("portal:register", args=[partner.brand.code])}),
        "clients": list(selectors.partner_clients(partner)[:100]),
        "changes": list(selectors.partner_parent_changes(partner)),
        "can_manage": can_manage,
        "move_form": move_form or (MoveForm(partner=partner) if can_manage else None),
        "reject_form": reject_form or ReasonForm(),
        "postback": postback,
        "postback_events": [PostbackEvent(e).label for e in postback.events] if postback else [],
        "postback_form": postback_form or (_postback_form(partner) if can_manage else None),
        "postback_new_secret": new_secret,
        "deliveries": list(postbacks.postback_deliveries(partner)[:DELIVERIES_SHOWN]),
        "retryable": (PostbackStatus.FAILED, PostbackStatus.DEAD),
        "payable": settlement.payable_balances(partner),
        "settlement_form": settlement_form or (settlement_form_for(partner) if can_manage else None),
        "period_error": period_error,
        "period": request.GET.get("period") or f"{last_month:%Y-%m}",
        "assignments": list(partner.plan_assignments.select_related("plan").order_by("-effective_from", "-id")[:20]),
        "disputes": list(partner.disputes.order_by("-state", "-opened_at", "-id")[:20]) if can_manage else [],
        "panels": selectors.partner_panels(request=request, partner=partner),
    }, status=status)


@page_permission_required(VIEW)
@require_GET
def partner_detail(request: AuthedRequest, code: Any) -> HttpResponse:
    return _detail(request, _partner_or_404(request, code))


@page_permission_required(VIEW)
@require_GET
def partner_statement(request: AuthedRequest, code: Any) -> HttpResponse:
    """The partner's commission statement of a month (?period=YYYY-MM), the PDF the partner downloads."""
    from ib import statements

    partner = _partner_or_404(request, code)
    try:
        period = statements.statement_month(request.GET.get("period", ""))
    except DomainError as exc:
        return _detail(request, partner, period_error="; ".join(m for msgs in exc.fields.values() for m in msgs),
                       status=400)
    made = statements.partner_statement(partner, period)
    response = HttpResponse(statements.partner_statement_pdf(made), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{made.filename}"'
    return response


@page_permission_required(MANAGE)
@require_POST
def partner_decide(request: AuthedRequest, code: Any, decision: str) -> HttpResponse:
    partner = _partner_or_404(request, code)
    form = ReasonForm(request.POST)
    if not form.is_valid():
        return _detail(request, partner, reject_form=form, status=400)
    try:
        if decision == "approve":
            services.partner_approve(actor=request.user, partner=partner, reason=form.cleaned_data["reason"])
            messages.success(request, gettext("%(name)s is now an active partner.") % {"name": partner.display_name})
        else:
            services.partner_reject(actor=request.user, partner=partner, reason=form.cleaned_data["reason"])
            messages.success(request, gettext("The application of %(name)s was rejected.")
                             % {"name": partner.display_name})
    except NotFound:
        raise Http404 from None
    except DomainError as error:
        apply_domain_errors(form, error)
        return _detail(request, partner, reject_form=form, status=400)
    return redirect("ib_partner_detail", code=partner.code)


@page_permission_required(MANAGE)
@require_POST
def partner_move(request: AuthedRequest, code: Any) -> HttpResponse:
    partner = _partner_or_404(request, code)
    form = MoveForm(request.POST, partner=partner)
    if form.is_valid():
        try:
            services.partner_move(actor=request.user, partner=partner, new_parent=form.cleaned_data["parent"],
                                  reason=form.cleaned_data["reason"])
        except NotFound:
            raise Http404 from None
        except DomainError as error:
            apply_domain_errors(form, error)
        else:
            messages.success(request, gettext("%(name)s moved.") % {"name": partner.display_name})
            return redirect("ib_partner_detail", code=partner.code)
    return _detail(request, partner, move_form=form, status=400)


@page_permission_required(MANAGE)
@require_POST
def partner_postback(request: AuthedRequest, code: Any) -> HttpResponse:
    """Save the partner's postback settings; a new secret is shown on the page this once."""
    partner = _partner_or_404(request, code)
    form = PostbackForm(request.POST)
    if form.is_valid():
        try:
            saved = postbacks.postback_save(actor=request.user, partner=partner, url=form.cleaned_data["url"],
                                            events=form.cleaned_data["events"],
                                            is_active=form.cleaned_data["is_active"],
                                            new_secret=form.cleaned_data["new_secret"])
        except NotFound:
            raise Http404 from None
        except DomainError as error:
            apply_domain_errors(form, error)
        else:
            messages.success(request, gettext("Postback settings saved."))
            if saved.secret is None:
                return redirect(reverse("ib_partner_detail", args=[partner.code]) + "#postback")
            # The secret in clear, this once: not in a redirect's message, nor ever again.
            response = _detail(request, partner, postback_form=_postback_form(partner), new_secret=saved.secret)
            response["Cache-Control"] = "no-store"
            return response
    return _detail(request, partner, postback_form=form, status=400)


@page_permission_required(MANAGE)
@require_POST
def partner_postback_retry(request: AuthedRequest, code: Any, delivery: Any) -> HttpResponse:
    partner = _partner_or_404(request, code)
    row = postbacks.postback_deliveries(partner).filter(code=delivery).first()
    if row is None:
        raise Http404
    try:
        postbacks.delivery_retry(actor=request.user, delivery=row)
    except NotFound:
        raise Http404 from None
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, gettext("The postback will be sent again in a moment."))
    return redirect(reverse("ib_partner_detail", args=[partner.code]) + "#postback")


def link_qr_image(link: TrackingLink, *, url: str, fmt: str) -> tuple[bytes, str]:
    """The QR code of a tracking link's public URL, as SVG or PNG bytes with the content type."""
    if fmt == "svg":
        image = qrcode.make(url, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=2)
        buffer = io.BytesIO()
        image.save(buffer)
        return buffer.getvalue(), "image/svg+xml"
    buffer = io.BytesIO()
    qrcode.make(url, box_size=8, border=2).save(buffer)
    return buffer.getvalue(), "image/png"


@page_permission_required(VIEW)
@require_GET
def link_qr(request: AuthedRequest, code: str, fmt: str) -> HttpResponse:
    link = (TrackingLink.objects.filter(code=code.lower(), kind="link",
                                        partner__in=partner_queryset_for_user(request.user)).first())
    if link is None or fmt not in ("svg", "png"):
        raise Http404
    body, content_type = link_qr_image(link, url=link.click_url, fmt=fmt)
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'inline; filename="{link.code}.{fmt}"'
    return response


# --- attribution ----------------------------------------------------------------------------------------

def _brand_ids(request: AuthedRequest) -> list[int] | None:
    user = request.user
    return None if user.is_administrator or user.all_brands else list(visible_brands(user).values_list("pk", flat=True))


def _conflict_rows(conflicts: list[AttributionConflict]) -> list[dict[str, Any]]:
    partners = selectors.claim_partners(conflicts)
    rows = []
    for conflict in conflicts:
        claims = [{"partner": partners.get(c.get("partner")), "source": c.get("source"), "at": c.get("at")}
                  for c in conflict.claims]
        ids = {c.get("partner") for c in conflict.claims}
        form = ResolveForm(partners=Partner.objects.filter(pk__in=ids).order_by("display_name"),
                           initial={"partner": conflict.suggested.code if conflict.suggested else None})
        rows.append({"conflict": conflict, "claims": claims, "form": form})
    return rows


@page_permission_required(MANAGE)
@require_GET
def conflict_list(request: AuthedRequest) -> HttpResponse:
    conflicts = list(selectors.open_conflicts(_brand_ids(request))[:100])
    return render_page(request, "ib/conflict_list.html", {"rows": _conflict_rows(conflicts)})


@page_permission_required(MANAGE)
@require_POST
def conflict_resolve(request: AuthedRequest, code: Any) -> HttpResponse:
    try:
        conflict = conflict_get_for_user(request.user, code)
    except NotFound:
        raise Http404 from None
    ids = {c.get("partner") for c in conflict.claims}
    form = ResolveForm(request.POST, partners=Partner.objects.filter(pk__in=ids))
    if form.is_valid():
        try:
            services.attribution_conflict_resolve(actor=request.user, conflict=conflict,
                                                  partner=form.cleaned_data["partner"],
                                                  reason=form.cleaned_data["reason"])
        except NotFound:
            raise Http404 from None
        except DomainError as error:
            apply_domain_errors(form, error)
        else:
            messages.success(request, gettext("The client now belongs to %(name)s.")
                             % {"name": form.cleaned_data["partner"].display_name})
            return redirect("ib_conflict_list")
    messages.error(request, " ".join(form_problems(form)))
    return redirect("ib_conflict_list")


@page_permission_required(MANAGE)
@require_http_methods(["GET", "POST"])
def client_attribute(request: AuthedRequest, code: Any) -> HttpResponse:
    client = client_or_404(request, code)
    form = ReattributeForm(request.POST or None, brand_id=client.brand_id)
    if request.method == "POST" and form.is_valid():
        try:
            services.client_reattribute(actor=request.user, client=client, partner=form.cleaned_data["partner"],
                                        effective_from=form.cleaned_data["effective_from"],
                                        reason=form.cleaned_data["reason"])
        except NotFound:
            raise Http404 from None
        except DomainError as error:
            apply_domain_errors(form, error)
        else:
            messages.success(request, gettext("Attribution changed."))
            return redirect(reverse("client_detail", args=[client.code]) + "?tab=partner")
    return render_page(request, "ib/client_attribute.html", {
        "client": client, "form": form, "current": selectors.current_attribution(client),
        "history": list(selectors.attribution_history(client)[:50]), "now": timezone.now(),
    }, status=400 if form.is_bound and form.errors else 200)


# --- public: the tracking link ----------------------------------------------------------------------

@never_cache
@require_GET
def click_redirect(request: HttpRequest, code: str) -> HttpResponse:
    """/r/<code>/: log the click and send the visitor to the link's landing page (no login)."""
    try:
        result = services.click_log(
            code=code, ip=client_ip(request) or "", user_agent=str(request.META.get("HTTP_USER_AGENT", "")),
            referer=str(request.META.get("HTTP_REFERER", "")),
            country=str(request.META.get("HTTP_CF_IPCOUNTRY", "")))
    except NotFound:
        raise Http404 from None
    response = HttpResponseRedirect(result.target)
    response["Referrer-Policy"] = "no-referrer-when-downgrade"
    response["X-Robots-Tag"] = "noindex"
    return response


# --- banners ------------------------------------------------------------------------------------------

@page_permission_required(VIEW)
@require_http_methods(["GET", "POST"])
def banner_list(request: AuthedRequest) -> HttpResponse:
    """The brands' banners, and (with the manage permission) the upload form."""
    from ib import banners
    from ib.forms import BannerForm
    from ib.models import PartnerBanner

    can_manage = user_can(request.user, MANAGE)
    form = BannerForm(request.POST or None, request.FILES or None, brands=visible_brands(request.user))
    status = 200
    if request.method == "POST":
        status = 400
        if not can_manage:
            raise Http404
        if form.is_valid():
            upload = form.cleaned_data["image"]
            if upload.size > banners.BANNER_MAX_BYTES:
                form.add_error("image", gettext("The image is larger than 2 MB."))
            else:
                try:
                    banners.banner_upload(actor=request.user, brand=form.cleaned_data["brand"],
                                          name=form.cleaned_data["name"], data=upload.read(),
                                          language=form.cleaned_data["language"])
                except DomainError as error:
                    apply_domain_errors(form, error)
                else:
                    messages.success(request, gettext("Banner uploaded: partners see it now."))
                    return redirect("ib_banner_list")
    brand_ids = _brand_ids(request)
    rows = PartnerBanner.objects.select_related("brand", "created_by")
    if brand_ids is not None:
        rows = rows.filter(brand_id__in=brand_ids)
    return render_page(request, "ib/banner_list.html", {"form": form, "banners": list(rows[:200]),
                                                        "can_manage": can_manage}, status=status)


@page_permission_required(MANAGE)
@require_POST
def banner_active(request: AuthedRequest, code: Any) -> HttpResponse:
    from ib import banners
    from ib.models import PartnerBanner

    brand_ids = _brand_ids(request)
    rows = PartnerBanner.objects.filter(code=code)
    if brand_ids is not None:
        rows = rows.filter(brand_id__in=brand_ids)
    banner = rows.first()
    if banner is None:
        raise Http404
    active = request.POST.get("active") == "1"
    banners.banner_set_active(actor=request.user, banner=banner, active=active)
    messages.success(request, gettext("Banner offered to partners again.") if active
                     else gettext("Banner withdrawn: partners no longer see it and its image is no longer served."))
    return redirect("ib_banner_list")
