"""The partner portal's own session: a cookie of its own (crm.lib.cookie_session), never Django's
auth and never the trader's room's.

`request.user` stays anonymous in a partner session (staff pages send it to the staff login), a
staff or client session opens no partner page (they send it to the partner login). Signing in
starts a new session; signing out deletes it. The session carries a digest of the login's
password hash (a password change ends it) and is dropped when idle longer than
SESSION_IDLE_TIMEOUT, or when the partner is no longer active.

    @partner_login_required
    def dashboard(request: PartnerRequest): ...   # request.partner_login (PartnerLogin), request.partner (Partner)
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.crypto import constant_time_compare

from crm.lib.cookie_session import CookieSession, moment, page_language, password_hash_digest
from ib.models import Partner, PartnerLogin, PartnerStatus

PARTNER_SESSION_COOKIE = "crm_partner"
BRAND_COOKIE = "crm_partner_brand"
LOGIN_KEY = "partner_login"
HASH_KEY = "partner_hash"
SEEN_KEY = "partner_seen"
LANG_KEY = "partner_lang"

SESSION = CookieSession(PARTNER_SESSION_COOKIE, attr="_partner_session", kept=(LANG_KEY,))

View = Callable[..., HttpResponse]


class PartnerPageRequest(HttpRequest):
    """The request a partner portal page gets behind `partner_page`: who is signed in, if anyone.
    Only for annotations: Django passes a plain HttpRequest, which `partner_page` fills in."""

    partner_login: PartnerLogin | None
    partner: Partner | None
    _partner_login: PartnerLogin | None  # current_partner_login's answer, kept for the rest of the request


class PartnerRequest(PartnerPageRequest):
    """The request a page gets behind `partner_login_required`: a partner is signed in, so neither
    their login nor their partner is None."""

    partner_login: PartnerLogin
    partner: Partner


def _auth_hash(login: PartnerLogin) -> str:
    return password_hash_digest("ib.partner-session", login.password)


def partner_session_login(request: HttpRequest, response: HttpResponse, login: PartnerLogin) -> None:
    """Sign `login` in on `response` (a new session; the brand remembered for the login page)."""
    SESSION.start(request, response, {LOGIN_KEY: login.pk, HASH_KEY: _auth_hash(login),
                                      SEEN_KEY: timezone.now().isoformat()})
    response.set_cookie(BRAND_COOKIE, login.brand.code, max_age=365 * 86400, httponly=True, samesite="Lax",
                        secure=settings.SESSION_COOKIE_SECURE)


def partner_session_logout(request: HttpRequest, response: HttpResponse) -> None:
    SESSION.end(request, response)


def current_partner_login(request: PartnerPageRequest) -> PartnerLogin | None:
    """The signed-in partner login of this request, or None (no session, ended, idle too long,
    the password changed since, or the partner or its login no longer active)."""
    if hasattr(request, "_partner_login"):
        return request._partner_login
    login: PartnerLogin | None = None
    store = SESSION.store(request)
    login_id = store.get(LOGIN_KEY)
    if login_id is not None:
        seen = moment(store.get(SEEN_KEY))
        now = timezone.now()
        if seen is None or now - seen > settings.SESSION_IDLE_TIMEOUT:
            store.flush()
        else:
            found = (PartnerLogin.objects.select_related("partner", "partner__brand", "brand")
                     .filter(pk=login_id, is_active=True, partner__status=PartnerStatus.ACTIVE).first())
            if found is not None and constant_time_compare(store.get(HASH_KEY, ""), _auth_hash(found)):
                login = found
                if now - seen >= timedelta(minutes=1):
                    store[SEEN_KEY] = now.isoformat()
                    store.save()
            else:
                store.flush()
    request._partner_login = login
    return login


def partner_page(view: View) -> View:
    """Every partner portal page: its language active (?lang=, remembered in the portal's session
    and Django's language cookie), request.partner_login and request.partner set (or None)."""

    @functools.wraps(view)
    def wrapper(request: PartnerPageRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        login = current_partner_login(request)
        request.partner_login = login
        request.partner = login.partner if login is not None else None
        language, changed = page_language(request, SESSION.store(request), key=LANG_KEY)
        with translation.override(language):
            response = view(request, *args, **kwargs)
            if hasattr(response, "render") and not getattr(response, "is_rendered", True):
                response.render()
        if changed:
            SESSION.save_if_new_key(request, response)
            # Remembered beyond the portal's session too, as the room does (portal.auth.language_keep):
            # Django's language cookie, read by the public pages and after signing out.
            response.set_cookie(settings.LANGUAGE_COOKIE_NAME, language, max_age=365 * 24 * 3600, path="/",
                                secure=request.is_secure(), httponly=True, samesite="Lax")
        response.headers.setdefault("Content-Language", language)
        return response

    return wrapper


def partner_login_redirect(request: HttpRequest) -> HttpResponseRedirect:
    target = reverse("partners:login")
    if request.method == "GET":
        target += "?" + urlencode({"next": request.get_full_path()})
    return HttpResponseRedirect(target)


def partner_login_required(view: View) -> View:
    """A page for signed-in partners: anyone else (a visitor, staff, a client) goes to the partner
    login."""

    @partner_page
    @functools.wraps(view)
    def wrapper(request: PartnerPageRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.partner_login is None:
            return partner_login_redirect(request)
        return view(request, *args, **kwargs)

    return wrapper
