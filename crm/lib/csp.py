"""The Content-Security-Policy of every page, and the few pages that need another one.

Every response carries ``settings.SECURE_CSP`` (Django's ``ContentSecurityPolicyMiddleware``): scripts,
styles, images, fonts and connections only from this origin, no inline script or style, no eval, no
plugins, forms post only here, and no site may frame the CRM. htmx and Chart.js are vendored in
``static/``; page behaviour hangs off ``data-`` attributes in ``static/js/``.

A view that needs something else says so with :func:`csp_exception`, naming why. The exception is a
whole policy (the default with some directives replaced), so it can only differ where it says, and
:data:`EXCEPTIONS` lists every one of them for the tests and for a reviewer: a page whose header is not
the default policy and whose view is not in this list fails ``tests/crm/test_csp.py``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from django.utils.csp import CSP
from django.views.decorators.csp import csp_override

SELF, NONE = str(CSP.SELF), str(CSP.NONE)

DEFAULT: dict[str, list[str]] = {
    "default-src": [SELF],
    "script-src": [SELF],
    "style-src": [SELF],
    "img-src": [SELF, "data:"],
    "font-src": [SELF],
    "connect-src": [SELF],
    "frame-src": [SELF],
    "object-src": [NONE],
    "base-uri": [NONE],
    "form-action": [SELF],
    "frame-ancestors": [NONE],
}


def policy(**directives: Sequence[str]) -> dict[str, list[str]]:
    """The default policy with some directives replaced (``frame_ancestors=["*"]`` for
    ``frame-ancestors``); an empty sequence drops the directive."""
    out = {name: list(values) for name, values in DEFAULT.items()}
    for key, values in directives.items():
        name = key.replace("_", "-")
        if name not in DEFAULT:
            raise ValueError(f"unknown CSP directive {name!r}")
        if values:
            out[name] = list(values)
        else:
            out.pop(name)
    return out


@dataclass(frozen=True)
class PolicyException:
    view: str  # module.qualname of the view
    reason: str
    policy: dict[str, list[str]]


EXCEPTIONS: dict[str, PolicyException] = {}

V = TypeVar("V", bound=Callable[..., Any])


def view_name(view: Callable[..., Any]) -> str:
    """module.qualname of the function under a view's decorators (those that keep __wrapped__) and
    partials, so that a decorated view and its URL pattern's callback have one name."""
    while True:
        if isinstance(view, functools.partial):
            view = view.func
        elif (inner := getattr(view, "__wrapped__", None)) is not None:
            view = inner
        else:
            break
    owner = getattr(view, "view_class", None) or view
    return f"{owner.__module__}.{getattr(owner, '__qualname__', type(owner).__qualname__)}"


def csp_exception(reason: str, **directives: Sequence[str]) -> Callable[[V], V]:
    """Serve this view under the default policy with ``directives`` replaced, for ``reason``."""
    if not reason.strip():
        raise ValueError("a CSP exception must say why")
    config = policy(**directives)

    def decorator(view: V) -> V:
        EXCEPTIONS[view_name(view)] = PolicyException(view=view_name(view), reason=reason.strip(), policy=config)
        return csp_override(config)(view)

    return decorator


def header_value(config: dict[str, list[str]]) -> str:
    """The header a policy becomes (no nonce is used anywhere)."""
    from django.utils.csp import build_policy

    return build_policy(config)
