"""Pages of the trader's room. Thin: parse a form, call a service, render."""

from __future__ import annotations

from typing import Any

import qrcode
import qrcode.image.svg
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext
from django.views.decorators.http import require_POST

from crm.exceptions import DomainError, ValidationFailed
from crm.lib.middleware import client_ip
from crm.models import Brand
from portal import selectors, services, totp
from portal.account_views import accounts_panel_context
from portal.auth import (
    BRAND_COOKIE,
    PortalPageRequest,
    PortalRequest,
    client_login_required,
    pending_login,
    portal_page,
    portal_session_login,
    portal_session_logout,
    portal_session_pending,
    portal_session_refresh,
)
from portal.forms import (
    ATTRIBUTION_PARAMS,
    CodeForm,
    ConsentsForm,
    EmailForm,
    LoginForm,
    NewPasswordForm,
    PasswordChangeForm,
    ProfileForm,
    RegisterForm,
    TwoFactorDisableForm,
)
from portal.models import ConsentDocument, ConsentKind


def _brand(code: str) -> Brand:
    brand = Brand.objects.filter(code=code, is_active=True).first()
    if brand is None:
        raise Http404
    return brand


def _ua(request: HttpRequest) -> str:
    return str(request.META.get("HTTP_USER_AGENT", ""))[:300]


def _ctx(request: HttpRequest, brand: Brand | None = None, **more: Any) -> dict[str, Any]:
    login = getattr(request, "portal_login", None)
    return {"brand": brand or (login.brand if login is not None else None), "portal_login": login,
            "portal_client": getattr(request, "portal_client", None), **more}


# --- entry, registration, login --------------------------------------------------------------------


@portal_page
def login_entry(request: PortalPageRequest) -> HttpResponse:
    """/portal/login/: the brand's own login page (the one used last), or a choice of brands."""
    brands = list(Brand.objects.filter(is_active=True).order_by("name"))
    remembered = request.COOKIES.get(BRAND_COOKIE)
    known = [b for b in brands if b.code == remembered] or (brands if len(brands) == 1 else [])
    if known:
        target = reverse("portal:login_brand", args=[known[0].code])
        if request.GET.get("next"):
            target += "?" + request.GET.urlencode()
        return HttpResponseRedirect(target)
    return render(request, "portal/choose_brand.html", _ctx(request, brands=brands))


@portal_page
def register(request: PortalPageRequest, brand_code: str) -> HttpResponse:
    brand = _brand(brand_code)
    language = request.portal_language
    if request.method == "POST":
        form = RegisterForm(request.POST, language=language)
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.portal_register(
                    brand=brand, language=language, first_name=data["first_name"], last_name=data["last_name"],
                    email=data["email"], phone=data["phone"], country=data["country"],
                    date_of_birth=data["date_of_birth"], password=data["password"],
                    accept_terms=data["accept_terms"], accept_privacy=data["accept_privacy"],
                    accept_marketing=data["accept_marketing"], attribution=form.attribution(),
                    ip=client_ip(request), user_agent=_ua(request))
            except DomainError as exc:
                form.add_service_errors(exc)
                status = exc.status_code
            else:
                # The same answer for a new address and a known one (no account enumeration).
                return redirect("portal:register_done", brand_code=brand.code)
        return render(request, "portal/register.html", _ctx(request, brand, form=form, documents=selectors
                      .documents_current(brand=brand, language=language)), status=status)
    initial = {param: request.GET.get(param, "")[:255] for param in ATTRIBUTION_PARAMS if request.GET.get(param)}
    form = RegisterForm(initial=initial, language=language)
    return render(request, "portal/register.html", _ctx(
        request, brand, form=form, documents=selectors.documents_current(brand=brand, language=language)))


@portal_page
def register_done(request: PortalPageRequest, brand_code: str) -> HttpResponse:
    return render(request, "portal/register_done.html", _ctx(request, _brand(brand_code)))


def _safe_next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target.startswith("/portal/") and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return reverse("portal:home")


@portal_page
def login(request: PortalPageRequest, brand_code: str) -> HttpResponse:
    brand = _brand(brand_code)
    form = LoginForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            step = services.portal_login_check(brand=brand, email=form.cleaned_data["email"],
                                               password=form.cleaned_data["password"], ip=client_ip(request))
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            if step.needs_code:
                response = HttpResponseRedirect(reverse("portal:login_code") + "?next=" + _safe_next(request))
                portal_session_pending(request, response, step.login)
                return response
            response = HttpResponseRedirect(_safe_next(request))
            portal_session_login(request, response, step.login)
            return response
    return render(request, "portal/login.html", _ctx(request, brand, form=form, next=_safe_next(request)),
                  status=400 if form.errors else 200)


@portal_page
def login_code(request: PortalPageRequest) -> HttpResponse:
    login = pending_login(request)
    if login is None:
        return redirect("portal:login")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            login = services.portal_login_code_check(login=login, code=form.cleaned_data["code"])
        except DomainError as exc:
            form.add_error("code", exc.message)
        else:
            response = HttpResponseRedirect(_safe_next(request))
            portal_session_login(request, response, login)
            return response
    return render(request, "portal/login_code.html", _ctx(request, login.brand, form=form, next=_safe_next(request)),
                  status=400 if form.errors else 200)


@require_POST
@portal_page
def logout(request: PortalPageRequest) -> HttpResponse:
    login = request.portal_login
    target = reverse("portal:login_brand", args=[login.brand.code]) if login is not None else reverse("portal:login")
    response = HttpResponseRedirect(target)
    portal_session_logout(request, response)
    return response


# --- email verification, password reset -------------------------------------------------------------


@portal_page
def verify_email(request: PortalPageRequest, token: str) -> HttpResponse:
    try:
        login = services.portal_email_verify(token=token)
    except DomainError as exc:
        return render(request, "portal/message.html", _ctx(request, title=gettext("Email not verified"),
                      text=exc.message, expired=exc.code == "link_expired"), status=404)
    return render(request, "portal/message.html", _ctx(
        request, login.brand, title=gettext("Email address verified"),
        text=gettext("Thank you: your email address is verified."),
        action_url=reverse("portal:home") if request.portal_login else
        reverse("portal:login_brand", args=[login.brand.code]),
        action_label=gettext("Continue") if request.portal_login else gettext("Sign in")))


@require_POST
@client_login_required
def verify_resend(request: PortalRequest) -> HttpResponse:
    try:
        services.portal_verification_resend(login=request.portal_login, ip=client_ip(request))
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, gettext("We have sent you a new link. Check your inbox."))
    return redirect("portal:home")


@portal_page
def password_reset(request: PortalPageRequest, brand_code: str) -> HttpResponse:
    brand = _brand(brand_code)
    form = EmailForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.portal_password_reset_request(brand=brand, email=form.cleaned_data["email"], ip=client_ip(request))
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            return render(request, "portal/message.html", _ctx(
                request, brand, title=gettext("Check your email"),
                text=gettext("If an account exists for that address, we have sent a link to it.")))
    return render(request, "portal/password_reset.html", _ctx(request, brand, form=form),
                  status=400 if form.errors else 200)


@portal_page
def password_reset_confirm(request: PortalPageRequest, code: str, token: str) -> HttpResponse:
    try:
        login = services.reset_link_login(code=code, token=token)
    except DomainError as exc:
        return render(request, "portal/message.html", _ctx(request, title=gettext("Link not valid"), text=exc.message),
                      status=404)
    form = NewPasswordForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            login = services.portal_password_reset_complete(code=code, token=token,
                                                            password=form.cleaned_data["password"])
        except DomainError as exc:
            form.add_service_errors(exc)
        else:
            return render(request, "portal/message.html", _ctx(
                request, login.brand, title=gettext("Password changed"),
                text=gettext("Your new password is set. Sign in with it."),
                action_url=reverse("portal:login_brand", args=[login.brand.code]), action_label=gettext("Sign in")))
    return render(request, "portal/password_reset_confirm.html", _ctx(request, login.brand, form=form),
                  status=400 if form.errors else 200)


# --- signed-in pages ----------------------------------------------------------------------------------


@client_login_required
def home(request: PortalRequest) -> HttpResponse:
    login = request.portal_login
    client = request.portal_client
    due = selectors.consents_due(client=client, language=request.portal_language)
    return render(request, "portal/home.html", _ctx(
        request, consents_due=due, **accounts_panel_context(request),
        consents_form=ConsentsForm(documents=due) if due else None, email_verified=login.email_verified,
        journey=selectors.kyc_journey(client=client)))


@require_POST
@client_login_required
def consents_accept(request: PortalRequest) -> HttpResponse:
    client = request.portal_client
    due = selectors.consents_due(client=client, language=request.portal_language)
    form = ConsentsForm(request.POST, documents=due)
    if form.is_valid():
        for doc in due:
            services.portal_consent_set(login=request.portal_login, document=doc, accepted=True,
                                        ip=client_ip(request), user_agent=_ua(request))
        messages.success(request, gettext("Thank you. Your acceptance is recorded."))
        return redirect("portal:home")
    return render(request, "portal/home.html", _ctx(
        request, consents_due=due, consents_form=form, **accounts_panel_context(request),
        email_verified=request.portal_login.email_verified,
        journey=selectors.kyc_journey(client=client)), status=400)


@portal_page
def document(request: PortalPageRequest, code: str) -> HttpResponse:
    doc = ConsentDocument.objects.select_related("brand").filter(code=code).first() if services._uuid(code) else None
    if doc is None:
        raise Http404
    return render(request, "portal/document.html", _ctx(request, doc.brand, document=doc))


@client_login_required
def profile(request: PortalRequest) -> HttpResponse:
    login = request.portal_login
    client = request.portal_client
    profile_form = ProfileForm(initial={"phone": client.phone, "language": client.language or request.portal_language})
    password_form = PasswordChangeForm()
    status = 200
    action = request.POST.get("action") if request.method == "POST" else None
    if action == "profile":
        profile_form = ProfileForm(request.POST)
        if profile_form.is_valid():
            try:
                services.portal_profile_update(login=login, **profile_form.cleaned_data)
            except DomainError as exc:
                profile_form.add_service_errors(exc)
            else:
                messages.success(request, gettext("Your details are saved."))
                return HttpResponseRedirect(reverse("portal:profile") + "?lang=" + profile_form.cleaned_data["language"])
        status = 400
    elif action == "password":
        password_form = PasswordChangeForm(request.POST)
        if password_form.is_valid():
            try:
                login = services.portal_password_change(login=login, current=password_form.cleaned_data["current_password"],
                                                        new=password_form.cleaned_data["new_password"])
            except DomainError as exc:
                password_form.add_service_errors(exc)
            else:
                portal_session_refresh(request, login)
                messages.success(request, gettext("Your password is changed."))
                return redirect("portal:profile")
        status = 400
    elif action == "marketing":
        docs = selectors.documents_current(brand=client.brand, language=request.portal_language)
        doc = docs.get(ConsentKind.MARKETING)
        if doc is None:
            raise Http404
        accepted = request.POST.get("accepted") == "1"
        services.portal_consent_set(login=login, document=doc, accepted=accepted, ip=client_ip(request),
                                    user_agent=_ua(request))
        messages.success(request, gettext("You will receive news and offers.") if accepted
                         else gettext("You will no longer receive news and offers."))
        return redirect("portal:profile")
    return render(request, "portal/profile.html", _ctx(
        request, profile_form=profile_form, password_form=password_form,
        marketing=selectors.marketing_accepted(client=client),
        documents=selectors.documents_current(brand=client.brand, language=request.portal_language)),
        status=status)


def _qr_svg(data: str) -> SafeString:
    image = qrcode.make(data, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    # The markup comes from the qrcode library and our own otpauth URL, not from user input.
    return mark_safe(str(image.to_string(encoding="unicode")))  # noqa: S308


@client_login_required
def two_factor(request: PortalRequest) -> HttpResponse:
    """Turn two-factor on (secret, QR code, confirm with a code; recovery codes shown once) or off."""
    login = request.portal_login
    codes = None
    action = request.POST.get("action") if request.method == "POST" else None
    form: Any = CodeForm()
    disable_form = TwoFactorDisableForm()
    status = 200
    if action == "start":
        services.portal_totp_start(login=login)
        return redirect("portal:two_factor")
    if action == "confirm":
        form = CodeForm(request.POST)
        if form.is_valid():
            try:
                codes = services.portal_totp_confirm(login=login, code=form.cleaned_data["code"])
            except DomainError as exc:
                form.add_service_errors(exc)
                status = 400
            else:
                # Shown once, on this answer; never stored in the clear.
                return render(request, "portal/recovery_codes.html", _ctx(request, codes=codes))
        else:
            status = 400
    if action == "disable":
        disable_form = TwoFactorDisableForm(request.POST)
        if disable_form.is_valid():
            try:
                services.portal_totp_disable(login=login, **disable_form.cleaned_data)
            except ValidationFailed as exc:
                disable_form.add_service_errors(exc)
                status = 400
            else:
                messages.success(request, gettext("Two-factor sign-in is off."))
                return redirect("portal:profile")
        else:
            status = 400
    login.refresh_from_db()
    key = services.totp_pending_key(login)
    setup = None
    if key is not None:
        uri = totp.otpauth_uri(key=key, account=login.email, issuer=login.brand.name)
        secret = totp.secret_base32(key)
        setup = {"qr": _qr_svg(uri), "secret": " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))}
    return render(request, "portal/two_factor.html", _ctx(
        request, setup=setup, form=form, disable_form=disable_form, codes=codes), status=status)
