"""Login, logout, two-factor setup and verification, password change and reset, and the lockout page."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import urlencode

import qrcode
import qrcode.image.svg
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.contrib.auth import logout as auth_logout
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.db.models import Max
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp import login as otp_login

from crm.auth_forms import (
    LoginForm,
    OtpTokenForm,
    PasswordChangeForm,
    PasswordResetForm,
    PasswordResetRequestForm,
)
from crm.exceptions import DomainError, NotFound, ValidationFailed
from crm.lib.middleware import LAST_ACTIVITY_SESSION_KEY, OTP_REQUIRED_SESSION_KEY, client_ip
from crm.password_reset import (
    password_reset_complete,
    password_reset_link_check,
    password_reset_minutes,
    password_reset_request,
)
from crm.permissions import AuthedRequest
from crm.staff_services import (
    auth_login_failure_record,
    auth_login_record,
    auth_logout_record,
    otp_backup_codes_left,
    otp_backup_codes_regenerate,
    otp_check,
    otp_device_start,
    otp_disable,
    otp_enabled,
    otp_setup_confirm,
    otp_verified,
    password_rules,
    user_password_change,
)
from crm.views.ui.forms import apply_domain_errors

BACKUP_CODES_SESSION_KEY = "crm_otp_backup_codes"
# The reset link's token moves from the URL into the session, and the form lives at a URL without
# it: the token then appears in no Referer header, page address or browser history entry.
RESET_SESSION_KEY = "crm_password_reset"
RESET_URL_TOKEN = "set-password"  # noqa: S105 - a path segment, not a secret
NEXT_FIELD = "next"


def safe_next(request: HttpRequest) -> str:
    """The "next" URL from the form or query string, or "" when it points anywhere but this site."""
    target = request.POST.get(NEXT_FIELD) or request.GET.get(NEXT_FIELD) or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return ""


def _with_next(url_name: str, next_url: str) -> str:
    url = reverse(url_name)
    return f"{url}?{urlencode({NEXT_FIELD: next_url})}" if next_url else url


def _after_login_url(next_url: str) -> str:
    return next_url or resolve_url(settings.LOGIN_REDIRECT_URL)


# --- login / logout -----------------------------------------------------------------------------


@sensitive_post_parameters("password")
@csrf_protect
@never_cache
def login_view(request: HttpRequest) -> HttpResponse:
    next_url = safe_next(request)
    if request.method != "POST" and request.user.is_authenticated:
        return redirect(_after_login_url(next_url))
    form = LoginForm(request, data=request.POST if request.method == "POST" else None)
    if form.is_valid():
        user = form.get_user()
        assert user is not None
        # A second factor proven earlier in this browser belongs to the old login, not to this one.
        request.session.pop(DEVICE_ID_SESSION_KEY, None)
        auth_login(request, user)
        needs_otp = user.requires_2fa or otp_enabled(user)
        request.session[OTP_REQUIRED_SESSION_KEY] = needs_otp
        request.session[LAST_ACTIVITY_SESSION_KEY] = timezone.now().isoformat()
        auth_login_record(user=user)
        if needs_otp:
            return redirect(_with_next("otp_verify" if otp_enabled(user) else "otp_setup", next_url))
        return redirect(_after_login_url(next_url))
    if request.method == "POST":
        auth_login_failure_record(
            email=request.POST.get("username", ""), locked_out=bool(getattr(request, "axes_locked_out", False))
        )
    return render(request, "crm/auth/login.html", {
        "form": form,
        "next": next_url,
        "idle": request.GET.get("idle") == "1",
        "idle_minutes": int(settings.SESSION_IDLE_TIMEOUT.total_seconds() // 60),
    })


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        auth_logout_record(user=request.user)
    auth_logout(request)
    messages.info(request, _("You have logged out."))
    return redirect(settings.LOGOUT_REDIRECT_URL)


# django-axes keeps the username of each failed attempt in a 255-character column and does not bound
# it: a longer one (Django's admin sign-in form lets any length through to authenticate) failed the
# attempt's write with a 500, and the attempt went uncounted.
AXES_USERNAME_MAX_LENGTH = 255


def axes_username(request: HttpRequest, credentials: Any = None) -> str | None:
    """The username django-axes counts failed attempts under (AXES_USERNAME_CALLABLE): the one
    sent, cut to what axes can store."""
    field = settings.AXES_USERNAME_FORM_FIELD
    username = credentials.get(field) if credentials else getattr(request, "data", request.POST).get(field)
    return None if username is None else str(username)[:AXES_USERNAME_MAX_LENGTH]


def lockout_response(request: HttpRequest, original_response: Any = None, credentials: Any = None) -> HttpResponse:
    """django-axes' lockout page (AXES_LOCKOUT_CALLABLE): says when the next attempt will be let through."""
    from axes.helpers import get_client_username
    from axes.models import AccessAttempt

    username = get_client_username(request, credentials) or ""
    ip = getattr(request, "axes_ip_address", None)
    last = AccessAttempt.objects.filter(username=username, ip_address=ip).aggregate(at=Max("attempt_time"))["at"]
    retry_at = (last or timezone.now()) + settings.AXES_COOLOFF_TIME
    return render(request, "crm/auth/locked_out.html", {
        "retry_at": retry_at,
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "lockout_minutes": int(settings.AXES_COOLOFF_TIME.total_seconds() // 60),
    }, status=429)


# --- two-factor ---------------------------------------------------------------------------------


def _qr_svg(data: str) -> SafeString:
    image = qrcode.make(data, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    svg = image.to_string(encoding="unicode")
    # The markup comes from the qrcode library and our own otpauth URL, not from user input.
    return mark_safe(str(svg))  # noqa: S308


def _secret_for_humans(hex_key: str) -> str:
    secret = base64.b32encode(bytes.fromhex(hex_key)).decode().rstrip("=")
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


@login_required
@never_cache
def otp_setup(request: AuthedRequest) -> HttpResponse:
    """Turn on two-factor: scan the QR code, confirm with a code, receive backup codes.
    When it is already on, the same page shows its status and the way to turn it off."""
    user = request.user
    next_url = safe_next(request)
    if otp_enabled(user):
        if not otp_verified(user):
            return redirect(_with_next("otp_verify", next_url))
        return render(request, "crm/auth/otp_status.html", {
            "codes_left": otp_backup_codes_left(user),
            "can_disable": not user.requires_2fa,
            "disable_form": OtpTokenForm(auto_id="disable_%s"),
        })
    device = otp_device_start(user=user)
    form = OtpTokenForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        try:
            codes = otp_setup_confirm(user=user, device=device, token=form.cleaned_data["token"])
        except DomainError as exc:
            apply_domain_errors(form, exc)
        else:
            device.refresh_from_db()
            otp_login(request, device)
            request.session[OTP_REQUIRED_SESSION_KEY] = True
            request.session[BACKUP_CODES_SESSION_KEY] = codes
            return redirect(_with_next("otp_backup_codes", next_url))
    return render(request, "crm/auth/otp_setup.html", {
        "form": form,
        "qr_svg": _qr_svg(device.config_url),
        "secret": _secret_for_humans(device.key),
        "issuer": settings.OTP_TOTP_ISSUER,
        "forced": user.requires_2fa,
        "next": next_url,
    })


@login_required
@never_cache
def otp_backup_codes(request: AuthedRequest) -> HttpResponse:
    """Shows freshly made backup codes once (GET), or makes a new set (POST, verified sessions)."""
    user = request.user
    if request.method == "POST":
        if not otp_verified(user):
            return redirect("otp_verify")
        request.session[BACKUP_CODES_SESSION_KEY] = otp_backup_codes_regenerate(user=user)
        return redirect("otp_backup_codes")
    codes = request.session.pop(BACKUP_CODES_SESSION_KEY, None)
    if not codes or not otp_verified(user):
        return redirect("otp_setup")
    return render(request, "crm/auth/otp_backup_codes.html", {
        "codes": codes,
        "continue_url": _after_login_url(safe_next(request)),
    })


@login_required
@never_cache
def otp_verify(request: AuthedRequest) -> HttpResponse:
    """The second step of login: a code from the authenticator app, or one backup code."""
    user = request.user
    next_url = safe_next(request)
    if otp_verified(user):
        return redirect(_after_login_url(next_url))
    if not otp_enabled(user):
        if user.requires_2fa:
            return redirect(_with_next("otp_setup", next_url))
        request.session[OTP_REQUIRED_SESSION_KEY] = False
        return redirect(_after_login_url(next_url))
    form = OtpTokenForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        result = otp_check(user=user, token=form.cleaned_data["token"])
        if result.ok:
            otp_login(request, result.device)
            if result.method == "backup":
                left = otp_backup_codes_left(user)
                messages.warning(request, _("You used a backup code; %(left)d left. Make new ones in "
                                            "two-factor settings if you are running out.") % {"left": left})
            return redirect(_after_login_url(next_url))
        if result.locked_until is not None:
            form.add_error("token", _("Too many wrong codes. Wait until %(time)s, then try again.") % {
                "time": timezone.localtime(result.locked_until).strftime("%H:%M:%S"),
            })
        else:
            form.add_error("token", _("That code is not right."))
    return render(request, "crm/auth/otp_verify.html", {"form": form, "next": next_url})


@login_required
@require_POST
def otp_disable_view(request: AuthedRequest) -> HttpResponse:
    user = request.user
    if not otp_verified(user) or user.requires_2fa:
        return redirect("otp_setup")
    form = OtpTokenForm(request.POST, auto_id="disable_%s")
    if form.is_valid():
        try:
            otp_disable(user=user, token=form.cleaned_data["token"])
        except DomainError as exc:
            apply_domain_errors(form, exc)
        else:
            request.session[OTP_REQUIRED_SESSION_KEY] = False
            messages.success(request, _("Two-factor authentication is off."))
            return redirect("otp_setup")
    return render(request, "crm/auth/otp_status.html", {
        "codes_left": otp_backup_codes_left(user),
        "can_disable": True,
        "disable_form": form,
    }, status=400)


# --- password -----------------------------------------------------------------------------------


@sensitive_post_parameters("old_password", "new_password1", "new_password2")
@login_required
def password_change(request: AuthedRequest) -> HttpResponse:
    form = PasswordChangeForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        try:
            user = user_password_change(
                user=request.user, old_password=form.cleaned_data["old_password"],
                new_password=form.cleaned_data["new_password1"],
            )
        except DomainError as exc:
            apply_domain_errors(form, exc)
        else:
            # Keep this session logged in (other sessions of the user end: their hash no longer matches).
            update_session_auth_hash(request, user)
            messages.success(request, _("Your password has been changed."))
            return HttpResponseRedirect(reverse("password_change"))
    return render(request, "crm/auth/password_change.html", {"form": form, "password_rules": password_rules()})


# --- forgotten password ---------------------------------------------------------------------------


@csrf_protect
@never_cache
def password_reset_request_view(request: HttpRequest) -> HttpResponse:
    """Ask for a reset link. Every address gets the same answer (the next page), also one that is
    unknown, deactivated or over its request budget: only the audit log tells them apart."""
    form = PasswordResetRequestForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        password_reset_request(email=form.cleaned_data["email"], ip=client_ip(request))
        return redirect("password_reset_sent")
    return render(request, "crm/auth/password_reset_request.html", {"form": form})


@never_cache
def password_reset_sent(request: HttpRequest) -> HttpResponse:
    return render(request, "crm/auth/password_reset_sent.html", {"minutes": password_reset_minutes()})


def _reset_link_refused(request: HttpRequest) -> HttpResponse:
    request.session.pop(RESET_SESSION_KEY, None)
    return render(request, "crm/auth/password_reset_invalid.html", {"minutes": password_reset_minutes()}, status=404)


@sensitive_post_parameters("new_password1", "new_password2")
@csrf_protect
@never_cache
def password_reset_confirm(request: HttpRequest, code: str, token: str) -> HttpResponse:
    """The link from the email: checked, its token kept in the session, then the form for the new
    password at the same address without the token. After the new password is set, nobody is
    logged in: the login page follows, with the second factor for those who have one."""
    if token != RESET_URL_TOKEN:
        try:
            password_reset_link_check(code=code, token=token)
        except NotFound:
            return _reset_link_refused(request)
        request.session[RESET_SESSION_KEY] = {"code": code, "token": token}
        return redirect("password_reset_confirm", code=code, token=RESET_URL_TOKEN)
    saved = request.session.get(RESET_SESSION_KEY) or {}
    token = saved.get("token", "") if saved.get("code") == code else ""
    form = PasswordResetForm(request.POST if request.method == "POST" else None)
    try:
        user = password_reset_link_check(code=code, token=token)
        if form.is_valid():
            password_reset_complete(code=code, token=token, new_password=form.cleaned_data["new_password1"])
    except NotFound:
        return _reset_link_refused(request)
    except ValidationFailed as exc:
        apply_domain_errors(form, exc)
    else:
        if form.is_bound and form.is_valid():
            # Whoever was logged in in this browser is not any more; the next login is a full one.
            auth_logout(request)
            messages.success(request, _("Your password has been set. Log in with it."))
            return redirect("login")
    return render(request, "crm/auth/password_reset.html", {
        "form": form, "user_email": user.email, "password_rules": password_rules(),
    })
