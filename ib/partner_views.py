"""The partner portal's pages (/partners/): the dashboard, the network, referred clients, earnings
down to the deal, links and their QR codes. Thin: the figures come from ib.selectors, the very
functions the IB manager's partner page reads, so both show the same numbers.

Every page but the login is for a signed-in partner (ib.partner_auth); what a page shows is the
signed-in partner's own: a line or a link of another partner is a 404, like a missing one.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import get_language, gettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm.exceptions import DomainError, NotFound
from crm.lib.middleware import client_ip
from crm.lib.paginator import CappedPaginator
from crm.lib.public_url import public_url
from crm.models import Brand
from crm.views.ui.forms import apply_domain_errors
from ib import disputes, onboarding, partner_reset, postbacks, selectors, services, settlement
from ib.commissions import period_before
from ib.models import DisputeState, LinkKind, PayoutState
from ib.partner_auth import (
    BRAND_COOKIE,
    PartnerPageRequest,
    PartnerRequest,
    partner_login_required,
    partner_page,
    partner_session_login,
    partner_session_logout,
)
from ib.partner_forms import (
    DisputeForm,
    JoinForm,
    LinkForm,
    PartnerApplicationForm,
    PartnerLoginForm,
    PartnerNewPasswordForm,
    PartnerResetForm,
    PayoutRequestForm,
    SubPartnerInviteForm,
)
from ib.views import link_qr_image

LINES_PER_PAGE = 50
CLIENTS_PER_PAGE = 50
DELIVERIES_PER_PAGE = 50
DISPUTES_PER_PAGE = 50


def _ctx(request: HttpRequest, brand: Brand | None = None, **more: Any) -> dict[str, Any]:
    login = getattr(request, "partner_login", None)
    return {"brand": brand or (login.brand if login is not None else None), "partner_login": login,
            "partner": getattr(request, "partner", None), **more}


def _brand(code: str) -> Brand:
    brand = Brand.objects.filter(code=code, is_active=True).first()
    if brand is None:
        raise Http404
    return brand


def _safe_next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if (target.startswith("/partners/") and not target.startswith("/partners/login")
            and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()})):
        return target
    return reverse("partners:dashboard")


# --- signing in and out -------------------------------------------------------------------------------

@require_GET
@partner_page
def login_entry(request: PartnerPageRequest) -> HttpResponse:
    """/partners/login/: the brand's own login page (the one used last, or the only brand), or a
    choice of brands."""
    brands = list(Brand.objects.filter(is_active=True).order_by("name"))
    remembered = request.COOKIES.get(BRAND_COOKIE)
    known = [b for b in brands if b.code == remembered] or (brands if len(brands) == 1 else [])
    if known:
        target = reverse("partners:login_brand", args=[known[0].code])
        if request.GET.get("next"):
            target += "?" + request.GET.urlencode()
        return HttpResponseRedirect(target)
    return render(request, "ib/partner_portal/choose_brand.html", _ctx(request, brands=brands))


@require_http_methods(["GET", "POST"])
@partner_page
def login(request: PartnerPageRequest, brand_code: str) -> HttpResponse:
    brand = _brand(brand_code)
    form = PartnerLoginForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                login = services.partner_login_check(brand=brand, email=form.cleaned_data["email"],
                                                     password=form.cleaned_data["password"], ip=client_ip(request))
            except DomainError as error:
                form.add_error(None, error.message)
                status = error.status_code
            else:
                response = HttpResponseRedirect(_safe_next(request))
                partner_session_login(request, response, login)
                return response
    return render(request, "ib/partner_portal/login.html", _ctx(request, brand, form=form, next=_safe_next(request)),
                  status=status)


@require_http_methods(["GET", "POST"])
@partner_page
def password_reset(request: PartnerPageRequest, brand_code: str) -> HttpResponse:
    """Forgot password: the same answer whether or not the address is a partner's."""
    brand = _brand(brand_code)
    form = PartnerResetForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                partner_reset.partner_password_reset_request(brand=brand, email=form.cleaned_data["email"],
                                                             ip=client_ip(request))
            except DomainError as error:
                form.add_error(None, error.message)
                status = error.status_code
            else:
                return render(request, "ib/partner_portal/message.html", _ctx(
                    request, brand, title=gettext("Check your email"),
                    text=gettext("If a partner account exists for that address, we have sent a link to it.")))
    return render(request, "ib/partner_portal/password_reset.html", _ctx(request, brand, form=form), status=status)


@require_http_methods(["GET", "POST"])
@partner_page
def password_reset_confirm(request: PartnerPageRequest, uid: str, token: str) -> HttpResponse:
    try:
        login = partner_reset.reset_link_login(uid=uid, token=token)
    except DomainError as error:
        return render(request, "ib/partner_portal/message.html", _ctx(
            request, title=gettext("Link not valid"), text=error.message), status=404)
    # A partner made by the IB manager or approved from an application comes here from the welcome
    # mail to choose a first password: the page says so rather than "a new password".
    first = login.password_changed_at is None
    form = PartnerNewPasswordForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                login = partner_reset.partner_password_reset_complete(uid=uid, token=token,
                                                                      password=form.cleaned_data["password"])
            except DomainError as error:
                fields = getattr(error, "fields", None) or {}
                for field, messages in fields.items():
                    form.add_error(field if field in form.fields else None, messages)
                if not fields:
                    form.add_error(None, error.message)
                    status = error.status_code
            else:
                return render(request, "ib/partner_portal/message.html", _ctx(
                    request, login.brand, title=gettext("Password set") if first else gettext("Password changed"),
                    text=gettext("Your password is set. Sign in with it.") if first
                    else gettext("Your new password is set. Sign in with it."),
                    action_url=reverse("partners:login_brand", args=[login.brand.code]),
                    action_label=gettext("Sign in")))
    return render(request, "ib/partner_portal/password_reset_confirm.html",
                  _ctx(request, login.brand, form=form, first=first, partner=login.partner), status=status)


@require_POST
@partner_page
def logout(request: PartnerPageRequest) -> HttpResponse:
    login = request.partner_login
    target = (reverse("partners:login_brand", args=[login.brand.code]) if login is not None
              else reverse("partners:login"))
    response = HttpResponseRedirect(target)
    partner_session_logout(request, response)
    return response


# --- the partner's pages --------------------------------------------------------------------------------

@require_GET
@partner_login_required
def dashboard(request: PartnerRequest) -> HttpResponse:
    partner = request.partner
    return render(request, "ib/partner_portal/dashboard.html", _ctx(
        request, figures=selectors.partner_figures(partner, at=timezone.now()),
        series=asdict(selectors.partner_series(partner, at=timezone.now())),
        links=list(selectors.partner_links(partner)), link_kind=LinkKind))


@require_GET
@partner_login_required
def network(request: PartnerRequest) -> HttpResponse:
    return _network_page(request)


@require_GET
@partner_login_required
def clients(request: PartnerRequest) -> HttpResponse:
    partner = request.partner
    page = CappedPaginator(selectors.partner_client_attributions(partner), CLIENTS_PER_PAGE).get_page(
        request.GET.get("page"))
    return render(request, "ib/partner_portal/clients.html", _ctx(
        request, page=page, rows=selectors.partner_client_rows(partner, page.object_list),
        min_hold=selectors.partner_min_hold_seconds(partner)))


def _earnings(request: PartnerRequest, *, period_error: str = "", status: int = 200) -> HttpResponse:
    partner = request.partner
    page = CappedPaginator(selectors.PartnerLineList(partner), LINES_PER_PAGE).get_page(request.GET.get("page"))
    last_month = period_before()
    return render(request, "ib/partner_portal/earnings.html", _ctx(
        request, page=page, totals=selectors.partner_earnings(partner), period_error=period_error,
        min_hold=selectors.partner_min_hold_seconds(partner),
        period=request.GET.get("period") or f"{last_month:%Y-%m}"), status=status)


@require_GET
@partner_login_required
def earnings(request: PartnerRequest) -> HttpResponse:
    return _earnings(request)


@require_GET
@partner_login_required
def statement(request: PartnerRequest) -> HttpResponse:
    """The signed-in partner's commission statement of a month (?period=YYYY-MM), as a PDF."""
    from ib.statements import partner_statement, partner_statement_pdf, statement_month

    try:
        period = statement_month(request.GET.get("period", ""))
    except DomainError as exc:
        return _earnings(request, period_error="; ".join(m for msgs in exc.fields.values() for m in msgs), status=400)
    made = partner_statement(request.partner, period)
    response = HttpResponse(partner_statement_pdf(made), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{made.filename}"'
    return response


@require_GET
@partner_login_required
def postback_log(request: PartnerRequest) -> HttpResponse:
    """The partner's postback deliveries, read-only (the IB manager changes the settings)."""
    partner = request.partner
    page = CappedPaginator(postbacks.postback_deliveries(partner), DELIVERIES_PER_PAGE).get_page(
        request.GET.get("page"))
    return render(request, "ib/partner_portal/postbacks.html", _ctx(
        request, page=page, postback=postbacks.postback_of(partner)))


@require_GET
@partner_login_required
def line_detail(request: PartnerRequest, line_key: str) -> HttpResponse:
    return _line(request, line_key)


def _line(request: PartnerRequest, line_key: str, *, form: DisputeForm | None = None, status: int = 200) -> HttpResponse:
    partner = request.partner
    explained = selectors.partner_line_explanation(partner, line_key)
    if explained is None:
        raise Http404
    line = explained.line
    asked = list(disputes.line_disputes(partner, line))
    can_ask = not any(d.state == DisputeState.OPEN for d in asked)
    return render(request, "ib/partner_portal/line.html", _ctx(
        request, x=explained, line=line, disputes=asked, form=(form or DisputeForm()) if can_ask else None),
        status=status)


@require_POST
@partner_login_required
def line_dispute(request: PartnerRequest, line_key: str) -> HttpResponse:
    """The partner questions the line: the IB manager answers on its disputes page."""
    form = DisputeForm(request.POST)
    if form.is_valid():
        try:
            disputes.dispute_open(partner=request.partner, line_key=line_key,
                                  message=form.cleaned_data["message"])
        except NotFound:
            raise Http404 from None
        except DomainError as error:
            apply_domain_errors(form, error)
        else:
            messages.success(request, gettext("Sent. The IB manager will answer here."))
            return HttpResponseRedirect(reverse("partners:line", args=[line_key]))
    return _line(request, line_key, form=form, status=400)


@require_GET
@partner_login_required
def dispute_list(request: PartnerRequest) -> HttpResponse:
    """The partner's questions about its commission lines and the answers."""
    partner = request.partner
    page = CappedPaginator(disputes.partner_disputes(partner), DISPUTES_PER_PAGE).get_page(request.GET.get("page"))
    rows = disputes.dispute_rows(page.object_list)
    return render(request, "ib/partner_portal/disputes.html", _ctx(request, page=page, rows=rows))


@require_GET
@partner_login_required
def link_qr(request: PartnerRequest, code: str, fmt: str) -> HttpResponse:
    """The QR code of one of the partner's own tracking links (SVG or PNG)."""
    link = request.partner.links.filter(code=code.lower(), kind=LinkKind.LINK).first()
    if link is None or fmt not in ("svg", "png"):
        raise Http404
    body, content_type = link_qr_image(link, url=link.click_url, fmt=fmt)
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'inline; filename="{link.code}.{fmt}"'
    return response


@require_GET
@partner_login_required
def banners(request: PartnerRequest) -> HttpResponse:
    """The brand's banners, each with a snippet per tracking link of the partner's own."""
    from ib.banners import banner_snippet, banners_for_partner

    partner = request.partner
    links = list(partner.links.filter(kind=LinkKind.LINK, is_active=True).order_by("created_at", "id"))
    rows = []
    for banner in banners_for_partner(partner, language=getattr(request, "LANGUAGE_CODE", "")):
        image_url = public_url(reverse("partners:banner_image", args=[banner.code, banner.extension]))
        rows.append({"banner": banner, "image_url": image_url, "placements": [
            {"link": link, "snippet": banner_snippet(
                banner=banner, image_url=image_url,
                link_url=link.click_url)}
            for link in links]})
    return render(request, "ib/partner_portal/banners.html", _ctx(request, rows=rows, has_links=bool(links)))


@require_GET
def banner_image(request: HttpRequest, code: Any, ext: str) -> HttpResponse:
    """An active banner's image, for any site (no login, no cookies read)."""
    from ib.banners import banner_image as image

    found = image(code, ext)
    if found is None:
        raise Http404
    body, content_type = found
    response = HttpResponse(body, content_type=content_type)
    response["Cache-Control"] = "public, max-age=3600"
    response["Cross-Origin-Resource-Policy"] = "cross-origin"
    response["X-Content-Type-Options"] = "nosniff"
    return response


# --- onboarding: the public application, joining by invitation, links, sub-partners -----------------

@require_GET
@partner_page
def agreement(request: HttpRequest, brand_code: str) -> HttpResponse:
    """The partner agreement an applicant accepts, linked from the application form."""
    return render(request, "ib/partner_portal/agreement.html", _ctx(request, _brand(brand_code)))


@require_http_methods(["GET", "POST"])
@partner_page
def apply(request: HttpRequest, brand_code: str) -> HttpResponse:
    """The public application to become one of the brand's partners (rate-limited per IP)."""
    brand = _brand(brand_code)
    language = get_language() or "en"
    form = PartnerApplicationForm(request.POST or None, language=language)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_bot:
            return render(request, "ib/partner_portal/message.html", _ctx(
                request, brand, title=gettext("Thank you"), text=gettext("We will review your application.")))
        if form.is_valid():
            data = form.cleaned_data
            try:
                onboarding.partner_application_submit(
                    brand=brand, company=data["company"], website=data["website"], kind=data["kind"],
                    expected_clients=data["expected_clients"], countries=data["countries"],
                    marketing_methods=data["marketing_methods"], marketing_note=data["marketing_note"],
                    contact_name=data["contact_name"], contact_email=data["contact_email"],
                    contact_phone=data["contact_phone"], agree=data["agree"], language=language,
                    ip=client_ip(request))
            except DomainError as error:
                if error.fields:
                    apply_domain_errors(form, error)
                else:
                    form.add_error(None, error.message)
                    status = error.status_code
            else:
                return render(request, "ib/partner_portal/message.html", _ctx(
                    request, brand, title=gettext("Thank you for applying"),
                    text=gettext("We review every application and will email you the answer. Once approved, you "
                                 "get a link to set your partner portal password.")))
    return render(request, "ib/partner_portal/apply.html", _ctx(request, brand, form=form), status=status)


@require_http_methods(["GET", "POST"])
@partner_page
def join(request: HttpRequest, token: str) -> HttpResponse:
    """An invitation's link: the invited partner names itself and chooses its password."""
    try:
        invitation = services.invitation_for_token(token)
    except DomainError as error:
        return render(request, "ib/partner_portal/message.html", _ctx(
            request, title=gettext("Invitation not valid"), text=error.message), status=404)
    form = JoinForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                onboarding.invitation_accept(token=token, display_name=form.cleaned_data["display_name"],
                                             password=form.cleaned_data["password"])
            except DomainError as error:
                if error.fields:
                    apply_domain_errors(form, error)
                else:
                    form.add_error(None, error.message)
                    status = error.status_code
            else:
                return render(request, "ib/partner_portal/message.html", _ctx(
                    request, invitation.brand, title=gettext("Welcome"),
                    text=gettext("Your partner account is ready. Sign in with your email address and the password "
                                 "you chose."),
                    action_url=reverse("partners:login_brand", args=[invitation.brand.code]),
                    action_label=gettext("Sign in")))
    return render(request, "ib/partner_portal/join.html", _ctx(request, invitation.brand, form=form,
                                                                 invitation=invitation), status=status)


def _links_page(request: PartnerRequest, form: LinkForm, *, status: int = 200) -> HttpResponse:
    partner = request.partner
    return render(request, "ib/partner_portal/links.html", _ctx(
        request, form=form, links=list(selectors.partner_links(partner)), link_kind=LinkKind), status=status)


@require_http_methods(["GET", "POST"])
@partner_login_required
def links(request: PartnerRequest) -> HttpResponse:
    """The partner's links and referral codes, and a new one per campaign."""
    partner = request.partner
    if request.method == "GET":
        return _links_page(request, LinkForm(initial={
            "landing_url": reverse("portal:register", args=[partner.brand.code])}))
    form = LinkForm(request.POST)
    if form.is_valid():
        try:
            link = services.tracking_link_create(partner=partner, by_partner=True, **form.cleaned_data)
        except DomainError as error:
            apply_domain_errors(form, error)
        else:
            messages.success(request, gettext("Your link %(code)s is ready.") % {"code": link.code})
            return HttpResponseRedirect(reverse("partners:links") + f"#link-{link.code}")
    return _links_page(request, form, status=400)


def _network_page(request: PartnerRequest, form: SubPartnerInviteForm | None = None, status: int = 200) -> HttpResponse:
    partner = request.partner
    limit, used = onboarding.sub_partner_allowance(partner)
    return render(request, "ib/partner_portal/network.html", _ctx(
        request, rows=selectors.partner_network(partner, at=timezone.now()), invite_form=form or SubPartnerInviteForm(),
        limit=limit, used=used, may_invite=limit is None or used < limit), status=status)


@require_POST
@partner_login_required
def sub_partner_invite(request: PartnerRequest) -> HttpResponse:
    partner = request.partner
    form = SubPartnerInviteForm(request.POST)
    if form.is_valid():
        try:
            invitation = onboarding.sub_partner_invite(partner=partner, email=form.cleaned_data["email"])
        except DomainError as error:
            if error.fields:
                apply_domain_errors(form, error)
            else:
                form.add_error(None, error.message)
        else:
            messages.success(request, gettext("The invitation was sent to %(email)s.") % {"email": invitation.email})
            return HttpResponseRedirect(reverse("partners:network"))
    return _network_page(request, form, status=400)


@require_http_methods(["GET", "POST"])
@partner_login_required
def payouts(request: PartnerRequest) -> HttpResponse:
    """The partner's settled balances and its payout requests; a new request."""
    partner = request.partner
    balances = settlement.payable_balances(partner)
    form = PayoutRequestForm(request.POST or None, currencies=[b.currency for b in balances])
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                payout = settlement.payout_request(partner=partner, amount=form.cleaned_data["amount"],
                                                   currency=form.cleaned_data["currency"])
            except DomainError as error:
                apply_domain_errors(form, error)
            else:
                messages.success(request, gettext("Paid to your wallet.") if payout.state == PayoutState.PAID
                                 else gettext("Requested; finance will pay it."))
                return HttpResponseRedirect(reverse("partners:payouts"))
    return render(request, "ib/partner_portal/payouts.html", _ctx(
        request, form=form, balances=balances, payouts=list(partner.payouts.order_by("-requested_at", "-id")[:50])),
        status=status)
