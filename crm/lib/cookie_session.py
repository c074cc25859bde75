"""A session of its own, under a cookie of its own, beside the staff's: the trader's room
(portal.auth) and the partner portal (ib.partner_auth) each keep their signed-in person here, so
that neither can open the other's pages nor a staff page (request.user stays anonymous).

The store is the project's session backend (SESSION_ENGINE); only the cookie differs. Signing in
starts a new store (a new key: no session fixation), signing out deletes it. What the session
carries is up to the caller; `password_hash_digest` gives the usual guard against a password
change (a keyed digest of the stored password hash: a changed password ends the other sessions).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.http import HttpRequest, HttpResponse
from django.utils import translation
from django.utils.crypto import salted_hmac


def _store_class() -> type[SessionBase]:
    store: type[SessionBase] = import_module(settings.SESSION_ENGINE).SessionStore
    return store


def moment(value: object) -> datetime | None:
    """An ISO timestamp kept in a session, back as a datetime (None for anything else)."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def password_hash_digest(salt: str, password_hash: str) -> str:
    return salted_hmac(salt, password_hash, algorithm="sha256").hexdigest()


class CookieSession:
    """The session stored under `cookie`, cached on the request as `attr`. `kept` names the keys a
    new session takes over from the old one (the language picked before signing in)."""

    def __init__(self, cookie: str, *, attr: str, kept: Iterable[str] = ()) -> None:
        self.cookie = cookie
        self.attr = attr
        self.kept = tuple(kept)

    def store(self, request: HttpRequest) -> SessionBase:
        store = getattr(request, self.attr, None)
        if store is None:
            store = _store_class()(request.COOKIES.get(self.cookie))
            setattr(request, self.attr, store)
        return store

    def set_cookie(self, response: HttpResponse, key: str | None) -> None:
        response.set_cookie(self.cookie, key or "", max_age=settings.SESSION_COOKIE_AGE, path="/",
                            secure=settings.SESSION_COOKIE_SECURE, httponly=True, samesite="Lax")

    def start(self, request: HttpRequest, response: HttpResponse, values: Mapping[str, Any]) -> SessionBase:
        """Drop the old session and start a new one holding `values` (and the kept keys)."""
        old = self.store(request)
        carried = {key: old[key] for key in self.kept if old.get(key) is not None}
        if old.session_key:
            old.delete()
        store = _store_class()()
        for key, value in {**carried, **values}.items():
            store[key] = value
        store.save()
        setattr(request, self.attr, store)
        self.set_cookie(response, store.session_key)
        return store

    def end(self, request: HttpRequest, response: HttpResponse) -> None:
        store = self.store(request)
        if store.session_key:
            store.delete()
        response.delete_cookie(self.cookie, path="/", samesite="Lax")

    def discard(self, session_key: str) -> None:
        """End another session of this kind by its key (signing out a session from another one's
        list): its store is deleted, so its cookie opens nothing any more."""
        if session_key:
            _store_class()(session_key).delete()

    def save_if_new_key(self, request: HttpRequest, response: HttpResponse) -> None:
        """Save the store and, when that gave it a key the browser does not have yet, send it."""
        store = self.store(request)
        store.save()
        if request.COOKIES.get(self.cookie) != store.session_key:
            self.set_cookie(response, store.session_key)


def page_language(request: HttpRequest, store: SessionBase, *, key: str, preferred: str = "") -> tuple[str, bool]:
    """The language of a page outside the staff's pages: ?lang= (remembered in `store` under
    `key`), then what was chosen before, then `preferred` (the person's own), then
    Accept-Language and the language cookie (LocaleMiddleware's pick). Also says whether the
    choice changed (the store then needs saving)."""
    available = dict(settings.LANGUAGES)
    asked = request.GET.get("lang", "")
    if asked in available:
        changed = store.get(key) != asked
        if changed:
            store[key] = asked
        return asked, changed
    chosen = store.get(key)
    if chosen in available:
        return str(chosen), False
    if preferred in available:
        return preferred, False
    current = (translation.get_language() or settings.LANGUAGE_CODE).split("-")[0]
    return (current if current in available else settings.LANGUAGE_CODE), False
