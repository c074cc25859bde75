"""The trader's room's session cookie and its store (portal.auth describes the session), apart from
portal.auth so that the services that end a login's sessions (portal.services) read the store
without importing the pages' sign-in, which records sessions through them."""

from __future__ import annotations

from crm.lib.cookie_session import CookieSession

PORTAL_SESSION_COOKIE = "crm_portal"
LANG_KEY = "portal_lang"

SESSION = CookieSession(PORTAL_SESSION_COOKIE, attr="_portal_session", kept=(LANG_KEY,))
