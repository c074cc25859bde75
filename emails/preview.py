"""The HTML version of an email preview: a document of its own, shown in a sandboxed frame.

The page that previews keeps the HTML a few minutes under a random token for the person who asked
(`preview_keep`); the frame's view gives it back to that person only (`preview_html`), under the
policy `preview_frame_policy` declares. Used by the template editor and the profile's composer.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.cache import cache
from django.http import HttpRequest

from crm.lib.csp import NONE, SELF, csp_exception

V = TypeVar("V", bound=Callable[..., Any])

PREVIEW_SECONDS = 600
_PREVIEW_KEY = "email-preview:{token}"

preview_frame_policy: Callable[[V], V] = csp_exception(
    "A rendered email as mail clients get it: mail HTML carries inline styles and remote images. "
    "Shown only inside the preview's sandboxed frame (no script runs there), framed only by this site.",
    default_src=[NONE], script_src=[NONE], style_src=["'unsafe-inline'"], img_src=["https:", "data:"],
    font_src=[NONE], connect_src=[NONE], frame_src=[NONE], form_action=[NONE], frame_ancestors=[SELF],
)


def preview_keep(request: HttpRequest, html: str, *, scope: str = "") -> str:
    """Keep `html` for the requesting user for a few minutes; returns its token. `scope` (a
    client's code) must match when it is read back."""
    token = secrets.token_urlsafe(18)
    cache.set(_PREVIEW_KEY.format(token=token), {"user": request.user.pk, "scope": scope, "html": html},
              PREVIEW_SECONDS)
    return token


def preview_html(request: HttpRequest, token: str, *, scope: str = "") -> str | None:
    """The HTML kept under `token` for this user (and `scope`), or None."""
    kept = cache.get(_PREVIEW_KEY.format(token=token))
    if not kept or kept.get("user") != request.user.pk or kept.get("scope", "") != scope:
        return None
    html: str = kept["html"]
    return html
