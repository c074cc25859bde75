"""The trader's room's own session: a cookie and session store of its own, never Django's auth.

A portal session lives under the PORTAL_SESSION_COOKIE cookie, in the same session backend as the
staff's but as a separate session, so that staff and client sessions cannot mix: `request.user`
stays anonymous in a portal session (staff pages send it to the staff login), and a staff session
opens no portal page (they send it to the portal login). Signing in starts a new session (the old
key is dropped); signing out deletes it. The session carries a hash of the login's password hash,
so a password change ends the other sessions.

For other apps' pages:

    from portal.auth import PortalRequest, client_login_required, verified_email_required

    @verified_email_required
    def deposit(request: PortalRequest): ...   # request.portal_login (ClientLogin), request.portal_client (crm Client)
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.crypto import constant_time_compare
from django.utils.translation import gettext
from django_htmx.middleware import HtmxDetails

from crm.lib.cookie_session import moment, page_language, password_hash_digest
from crm.models import Client
from portal.cookies import LANG_KEY, SESSION
from portal.models import ClientLogin

BRAND_COOKIE = "crm_portal_brand"
LOGIN_KEY = "portal_login"
PENDING_KEY = "portal_pending"  # a login past its password, waiting for the two-factor code
HASH_KEY = "portal_hash"
SEEN_KEY = "portal_seen"
PENDING_MAX_AGE = timedelta(minutes=5)

View = Callable[..., HttpResponse]


class PortalPageRequest(HttpRequest):
    """The request a portal page gets behind `portal_page`: who is signed in, if anyone, and the
    page's language. Only for annotations: Django passes a plain HttpRequest, which `portal_page`
    (and the middleware, for `htmx`) fills in."""

    portal_login: ClientLogin | None
    portal_client: Client | None
    portal_unread: Callable[[], int]  # the header's unread count, counted when first called
    portal_language: str
    htmx: HtmxDetails
    _portal_login: ClientLogin | None  # current_login's answer, kept for the rest of the request
    _portal_lang_changed: bool  # the page's language was chosen on this request: save the session


class PortalRequest(PortalPageRequest):
    """The request a page gets behind `client_login_required` (or `verified_email_required`): a
    client is signed in, so neither their login nor their client is None."""

    portal_login: ClientLogin
    portal_client: Client




def portal_session(request: HttpRequest) -> SessionBase:
    return SESSION.store(request)


def _auth_hash(login: ClientLogin) -> str:
    return password_hash_digest("portal.session", login.password)


def _new_session(request: HttpRequest, response: HttpResponse, values: dict[str, Any]) -> SessionBase:
    """Drop the old portal session and start a new one with `values` (a new key: no fixation)."""
    return SESSION.start(request, response, values)


def portal_session_login(request: HttpRequest, response: HttpResponse, login: ClientLogin) -> None:
    """Sign `login` in on `response` (a new session, listed among the login's sessions; the brand
    remembered for the login page)."""
    from crm.lib.middleware import client_ip
    from portal.services import portal_session_record

    replaced = portal_session(request).session_key
    store = _new_session(request, response, {LOGIN_KEY: login.pk, HASH_KEY: _auth_hash(login),
                                             SEEN_KEY: timezone.now().isoformat()})
    portal_session_record(login=login, session_key=str(store.session_key), replaced=replaced, ip=client_ip(request),
                          user_agent=request.META.get("HTTP_USER_AGENT", ""))
    response.set_cookie(BRAND_COOKIE, login.brand.code, max_age=365 * 86400, httponly=True, samesite="Lax",
                        secure=settings.SESSION_COOKIE_SECURE)


def portal_session_pending(request: HttpRequest, response: HttpResponse, login: ClientLogin) -> None:
    """Remember a login that gave its password and now owes its two-factor code."""
    _new_session(request, response, {PENDING_KEY: login.pk, SEEN_KEY: timezone.now().isoformat()})


def pending_login(request: HttpRequest) -> ClientLogin | None:
    store = portal_session(request)
    login_id, seen = store.get(PENDING_KEY), _moment(store.get(SEEN_KEY))
    if login_id is None or seen is None or timezone.now() - seen > PENDING_MAX_AGE:
        return None
    return ClientLogin.objects.select_related("client", "brand").filter(pk=login_id).first()


def portal_session_refresh(request: HttpRequest, login: ClientLogin) -> None:
    """After the client changed their own password: keep this session, end the others."""
    from portal.models import PortalSession

    store = portal_session(request)
    store[HASH_KEY] = _auth_hash(login)
    store.save()
    PortalSession.objects.filter(login=login).exclude(session_key=store.session_key or "").delete()


def portal_session_logout(request: HttpRequest, response: HttpResponse) -> None:
    from portal.services import portal_session_forget

    portal_session_forget(session_key=portal_session(request).session_key)
    SESSION.end(request, response)


_moment = moment


def current_login(request: PortalPageRequest) -> ClientLogin | None:
    """The signed-in client login of this request, or None (no session, ended, idle too long, or
    the password changed since)."""
    if hasattr(request, "_portal_login"):
        return request._portal_login
    login: ClientLogin | None = None
    store = portal_session(request)
    login_id = store.get(LOGIN_KEY)
    if login_id is not None:
        seen = _moment(store.get(SEEN_KEY))
        now = timezone.now()
        if seen is None or now - seen > settings.SESSION_IDLE_TIMEOUT:
            _forget(store.session_key)
            store.flush()
        else:
            found = ClientLogin.objects.select_related("client", "client__brand", "brand").filter(pk=login_id).first()
            if found is not None and constant_time_compare(store.get(HASH_KEY, ""), _auth_hash(found)):
                login = found
                if now - seen >= timedelta(minutes=1):
                    store[SEEN_KEY] = now.isoformat()
                    store.save()
                    from crm.lib.middleware import client_ip
                    from portal.services import portal_session_seen

                    portal_session_seen(login=found, session_key=str(store.session_key), at=now, ip=client_ip(request),
                                        user_agent=request.META.get("HTTP_USER_AGENT", ""))
            else:
                _forget(store.session_key)
                store.flush()
    request._portal_login = login
    return login


def _forget(session_key: str | None) -> None:
    from portal.services import portal_session_forget

    portal_session_forget(session_key=session_key)


def portal_unread_count(login: ClientLogin) -> int:
    from portal.models import Notification

    return Notification.objects.filter(client_id=login.client_id, read_at__isnull=True).count()


def portal_language(request: PortalPageRequest, login: ClientLogin | None = None) -> str:
    """The page's language: ?lang= (remembered), then what was chosen before, the client's own,
    then Accept-Language and the language cookie (LocaleMiddleware's pick)."""
    language, changed = page_language(request, portal_session(request), key=LANG_KEY,
                                      preferred=login.client.language if login is not None else "")
    if changed:
        request._portal_lang_changed = True
    return language


def language_keep(request: HttpRequest, response: HttpResponse, language: str, login: ClientLogin | None) -> None:
    """A language picked in the switch is remembered beyond the room's session: in Django's language
    cookie (a year; the pages outside the room and the room after signing out read it) and, for a
    signed-in client, as the client's own language."""
    from portal.services import portal_language_remember

    response.set_cookie(settings.LANGUAGE_COOKIE_NAME, language, max_age=365 * 24 * 3600, path="/",
                        secure=request.is_secure(), httponly=True, samesite="Lax")
    if login is not None:
        portal_language_remember(login=login, language=language)


def portal_page(view: View) -> View:
    """Every portal page: the portal's language active, request.portal_login set (or None)."""

    @functools.wraps(view)
    def wrapper(request: PortalPageRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        login = current_login(request)
        request.portal_login = login
        request.portal_client = login.client if login is not None else None
        # The header's unread count, counted only by a page that shows the header.
        # A cached callable, not a lazy object: templates call it and get a real int (Arabic's plural
        # rule computes n % 100, which a lazy proxy does not support).
        request.portal_unread = functools.cache(
            lambda: portal_unread_count(login) if login is not None else 0)
        language = portal_language(request, login)
        request.portal_language = language
        with translation.override(language):
            response = view(request, *args, **kwargs)
            if hasattr(response, "render") and not getattr(response, "is_rendered", True):
                response.render()
        if getattr(request, "_portal_lang_changed", False):
            SESSION.save_if_new_key(request, response)
            language_keep(request, response, language, login)
        response.headers.setdefault("Content-Language", language)
        return response

    return wrapper


def login_redirect(request: HttpRequest) -> HttpResponseRedirect:
    target = reverse("portal:login")
    if request.method == "GET":
        target += "?" + urlencode({"next": request.get_full_path()})
    return HttpResponseRedirect(target)


def client_login_required(view: View) -> View:
    """A page for signed-in clients: others go to the portal login. Sets request.portal_login and
    request.portal_client."""

    @portal_page
    @functools.wraps(view)
    def wrapper(request: PortalPageRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.portal_login is None:
            return login_redirect(request)
        return view(request, *args, **kwargs)

    return wrapper


def verified_email_required(view: View) -> View:
    """client_login_required, and the email address verified: otherwise back to the dashboard,
    which says why."""

    @client_login_required
    @functools.wraps(view)
    def wrapper(request: PortalRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.portal_login.email_verified:
            from django.contrib import messages

            messages.warning(request, gettext("Verify your email address to open this page."))
            return HttpResponseRedirect(reverse("portal:home"))
        return view(request, *args, **kwargs)

    return wrapper
