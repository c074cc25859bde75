"""Request plumbing: request ids, the acting user for audit/history, language and time zone,
idle timeout, and the two-factor requirement for privileged roles."""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Callable
from datetime import datetime

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import resolve_url
from django.utils import timezone, translation

from crm.lib import context

Handler = Callable[[HttpRequest], HttpResponse]
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
# Requests the browser makes by itself; they must not keep an idle session alive.
BACKGROUND_HEADER = "HTTP_X_BACKGROUND"


def client_ip(request: HttpRequest) -> str | None:
    # Behind the production proxy, the first X-Forwarded-For hop is the client; the proxy must set it.
    if getattr(settings, "USE_X_FORWARDED_FOR", False):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[0].strip() or None
    return request.META.get("REMOTE_ADDR") or None


class RequestIdMiddleware:
    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        request_id = incoming if _REQUEST_ID_RE.match(incoming) else context.new_request_id()
        request.request_id = request_id  # type: ignore[attr-defined]
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


class ActorContextMiddleware:
    """Put the logged-in user into the acting context (API keys set it in the API's auth)."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            from dataclasses import replace

            with context.acting(replace(context.current(), user=user)):
                return self.get_response(request)
        return self.get_response(request)


class UserLanguageMiddleware:
    """Staff choose their language in settings; it is kept in the session for LocaleMiddleware."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        lang = request.session.get("crm_language") if hasattr(request, "session") else None
        if lang:
            request.COOKIES[settings.LANGUAGE_COOKIE_NAME] = lang
        return self.get_response(request)


class UserTimezoneMiddleware:
    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

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


class IdleTimeoutMiddleware:
    """Log out a session after SESSION_IDLE_TIMEOUT without a user action (background polls excluded)."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            now = timezone.now()
            last = request.session.get("crm_last_activity")
            if last is not None and now - datetime.fromisoformat(last) > settings.SESSION_IDLE_TIMEOUT:
                logout(request)
                if request.headers.get("HX-Request"):
                    response = HttpResponse(status=204)
                    response["HX-Redirect"] = resolve_url(settings.LOGIN_URL)
                    return response
                if request.path.startswith("/api/"):
                    return self.get_response(request)
                return HttpResponseRedirect(f"{resolve_url(settings.LOGIN_URL)}?next={request.path}&idle=1")
            if not request.META.get(BACKGROUND_HEADER):
                request.session["crm_last_activity"] = now.isoformat()
        return self.get_response(request)


class TwoFactorRequiredMiddleware:
    """Users whose role is privileged must have passed TOTP this session before doing anything else."""

    ALLOWED_PREFIXES = ("/login", "/logout", "/2fa/", "/static/", "/healthz", "/i18n/", "/api/")

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and getattr(user, "requires_2fa", False)
            and not user.is_verified()
            and not request.path.startswith(self.ALLOWED_PREFIXES)
        ):
            from django.urls import reverse

            target = reverse("otp_verify")
            if request.headers.get("HX-Request"):
                response = HttpResponse(status=204)
                response["HX-Redirect"] = target
                return response
            return HttpResponseRedirect(f"{target}?next={request.path}")
        return self.get_response(request)


def activate_user_language(request: HttpRequest, language: str) -> None:
    request.session["crm_language"] = language
    translation.activate(language)
