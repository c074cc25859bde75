"""Request plumbing: request ids, the acting user for audit/history, language and time zone,
idle timeout, and the two-factor requirement for privileged roles."""

from __future__ import annotations

import ipaddress
import re
import zoneinfo
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import resolve_url
from django.utils import timezone, translation
from django.utils.translation import gettext

from crm.lib.validation import storable
from plumbing import context

Handler = Callable[[HttpRequest], HttpResponse]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
# Requests the browser makes by itself; they must not keep an idle session alive.
BACKGROUND_HEADER = "HTTP_X_BACKGROUND"
LAST_ACTIVITY_SESSION_KEY = "crm_last_activity"
# Set at login for users who turned two-factor on themselves (privileged roles need it anyway).
OTP_REQUIRED_SESSION_KEY = "crm_otp_required"


_trusted_seen: tuple[Any, tuple[IPNetwork, ...]] = (object(), ())  # the setting last seen, parsed


def _trusted_proxies() -> tuple[IPNetwork, ...]:
    # CRM_TRUSTED_PROXIES, parsed once per value of the setting (settings checked the entries).
    global _trusted_seen  # noqa: PLW0603 - a one-entry cache
    raw = getattr(settings, "CRM_TRUSTED_PROXIES", None) or []
    if raw is not _trusted_seen[0]:
        _trusted_seen = (raw, tuple(ipaddress.ip_network(str(entry), strict=False) for entry in raw))
    return _trusted_seen[1]


def _address(text: str) -> IPAddress | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:10.0.0.5 is 10.0.0.5
    return mapped or address


def client_ip(request: HttpRequest) -> str | None:
    """The address of whoever sent `request`: the connection's peer (REMOTE_ADDR), or, when that peer is one
    of the configured proxies (CRM_TRUSTED_PROXIES), the hop X-Forwarded-For names before the trusted proxies,
    read from the right: every hop left of that could have been written by the client itself. Without the
    setting the header is ignored, so nobody picks their own address for the per-address limits (logins, the
    lead form, partner applications). Axes reads the login's address here too (AXES_CLIENT_IP_CALLABLE)."""
    peer: str | None = request.META.get("REMOTE_ADDR") or None
    trusted = _trusted_proxies()
    if not trusted or peer is None:
        return peer
    hop = _address(peer)
    if hop is None or not any(hop in network for network in trusted):
        return peer
    client = str(hop)
    for text in reversed(str(request.META.get("HTTP_X_FORWARDED_FOR", "")).split(",")):
        hop = _address(text)
        if hop is None:  # a hop no proxy of ours wrote: stop at the last one we can believe
            break
        client = str(hop)
        if not any(hop in network for network in trusted):
            break
    return client


class Middleware:
    """The base of the CRM's middleware: keeps the next handler; on its own it passes the request on
    (a middleware that only looks at the view, in `process_view`, needs nothing more)."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)


class RequestIdMiddleware(Middleware):
    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        request_id = incoming if _REQUEST_ID_RE.match(incoming) else context.new_request_id()
        request.request_id = request_id  # type: ignore[attr-defined]  # ours, for the views and logs
        ctx = context.ActorContext(
            ip=client_ip(request),
            user_agent=request.META.get("HTTP_USER_AGENT", "")[:500],
            request_id=request_id,
            source="api" if request.path.startswith("/api/") else "web",
        )
        with context.acting(ctx):
            response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


class ActorContextMiddleware(Middleware):
    """Put the logged-in user into the acting context (API keys set it in the API's auth)."""

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            from dataclasses import replace

            with context.acting(replace(context.current(), user=user)):
                return self.get_response(request)
        return self.get_response(request)


class UserLanguageMiddleware(Middleware):
    """Staff choose their language in settings; it is kept in the session for LocaleMiddleware."""

    def __call__(self, request: HttpRequest) -> HttpResponse:
        lang = request.session.get("crm_language") if hasattr(request, "session") else None
        if lang:
            request.COOKIES[settings.LANGUAGE_COOKIE_NAME] = lang
        return self.get_response(request)


class UserTimezoneMiddleware(Middleware):
    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        tzname = getattr(user, "timezone", None) if user is not None and user.is_authenticated else None
        if tzname:
            try:
                timezone.activate(zoneinfo.ZoneInfo(tzname))
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                timezone.deactivate()
        else:
            timezone.deactivate()
        return self.get_response(request)


ACTIVITY_GRANULARITY = timedelta(minutes=1)


class IdleTimeoutMiddleware(Middleware):
    """Log out a session after SESSION_IDLE_TIMEOUT without a user action.

    Requests the browser makes by itself (polls marked with the X-Background header) are let
    through but do not count as activity, so a tab left open does not keep a session alive.
    """

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            now = timezone.now()
            last = _parse_moment(request.session.get(LAST_ACTIVITY_SESSION_KEY))
            if last is not None and now - last > settings.SESSION_IDLE_TIMEOUT:
                logout(request)
                if request.path.startswith("/api/"):
                    return self.get_response(request)  # answered as anonymous: 401
                login_url = resolve_url(settings.LOGIN_URL)
                if request.headers.get("HX-Request"):
                    response = HttpResponse(status=204)
                    response["HX-Redirect"] = f"{login_url}?{urlencode({'idle': '1'})}"
                    return response
                query = {"idle": "1"}
                if request.method == "GET" and not request.META.get(BACKGROUND_HEADER):
                    query = {"next": request.get_full_path(), "idle": "1"}
                return HttpResponseRedirect(f"{login_url}?{urlencode(query)}")
            # Written at most once a minute: the timeout is counted in minutes, and a session
            # saved on every click would be a database write per page.
            if not request.META.get(BACKGROUND_HEADER) and (last is None or now - last >= ACTIVITY_GRANULARITY):
                request.session[LAST_ACTIVITY_SESSION_KEY] = now.isoformat()
        return self.get_response(request)


def _parse_moment(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if timezone.is_aware(moment) else None


class TwoFactorRequiredMiddleware(Middleware):
    """Until the second factor is proven in this session, a user who needs it reaches only login,
    logout and the two-factor pages; everything else redirects there (or answers 401 on the API).

    A user needs it when their role is privileged (`user.requires_2fa`) or when they turned
    two-factor on themselves (the login view records that in the session). A privileged user
    without a device yet is sent to set one up.
    """

    ALLOWED_URL_NAMES = frozenset({
        "login", "logout", "otp_setup", "otp_verify", "otp_backup_codes", "healthz", "set_language",
        # Public pages: a half-logged-in browser reaches them like any other.
        "password_reset_request", "password_reset_sent", "password_reset_confirm",
    })

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., HttpResponse], view_args: Any, view_kwargs: Any
    ) -> HttpResponse | None:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        needs = getattr(user, "requires_2fa", False) or bool(request.session.get(OTP_REQUIRED_SESSION_KEY))
        if not needs or user.is_verified():
            return None
        match = request.resolver_match
        if match is not None and match.view_name in self.ALLOWED_URL_NAMES:  # namespaced names never match
            return None
        if request.path.startswith("/api/"):
            return JsonResponse({
                "code": "two_factor_required",
                "message": gettext("Enter your two-factor code in the browser first."),
                "fields": {},
            }, status=401)
        from django.urls import reverse
        from django_otp.plugins.otp_totp.models import TOTPDevice

        has_device = TOTPDevice.objects.devices_for_user(user, confirmed=True).exists()
        if not has_device and not getattr(user, "requires_2fa", False):
            # Turned on voluntarily, then removed (an administrator's reset): nothing left to ask for.
            request.session[OTP_REQUIRED_SESSION_KEY] = False
            return None
        target = reverse("otp_verify" if has_device else "otp_setup")
        if request.headers.get("HX-Request"):
            response = HttpResponse(status=204)
            response["HX-Redirect"] = target
            return response
        if request.method == "GET":
            target = f"{target}?{urlencode({'next': request.get_full_path()})}"
        return HttpResponseRedirect(target)


def activate_user_language(request: HttpRequest, language: str) -> None:
    request.session["crm_language"] = language
    translation.activate(language)


def language_on_login(sender: object, request: HttpRequest | None, user: object, **kwargs: object) -> None:
    """`user_logged_in` receiver: the language saved in the user's settings applies from the first
    page after signing in, whatever the browser asks for (a new session starts without it)."""
    language = getattr(user, "language", "")
    if request is not None and language and hasattr(request, "session"):
        activate_user_language(request, language)


# --- text PostgreSQL cannot store ------------------------------------------------------------------


class HeaderScrubMiddleware(Middleware):
    """First in the chain: request headers lose what the CRM will not store (NUL and control characters,
    crm.lib.validation.unstorable_problem) before anything reads them. Headers are kept as evidence (the user
    agent in the audit log and on lead touches, the session and CSRF cookies looked up in the database), never
    as something a user asked to save, so they are cleaned rather than refused."""

    def __call__(self, request: HttpRequest) -> HttpResponse:
        meta = request.META
        for key, value in meta.items():
            if key.startswith("HTTP_") and isinstance(value, str):
                cleaned = storable(value, replacement="")
                if cleaned != value:
                    meta[key] = cleaned
        return self.get_response(request)
