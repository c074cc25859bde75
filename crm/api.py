"""The kit every app's API router uses: who is calling, scopes, errors, throttling and pagination.

The JSON API under /api/v1/ is assembled above the domain apps (integrations.assembly: the NinjaAPI
instance, authentication by API key or staff session, the one error shape, router discovery);
apps only write routers. Any installed app adds its own by defining `router = Router(...)` in
`<app>/api.py` (optionally `API_PREFIX = "/leads"`); it is mounted when the URLs are first built.
Routers use `Caller`, `caller_of`, `requires_scope`, `ApiError`, `PageIn` and `paginate` from here.

Every 4xx answer has one shape, `{"code", "message", "fields"}` (`error_body`), whatever raised it.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.utils.functional import Promise
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from ninja import Schema
from ninja.throttling import BaseThrottle
from ninja.utils import contribute_operation_callback
from pydantic import Field

from crm.lib.pagination import CREATED_DESC, DEFAULT_LIMIT, MAX_LIMIT, Key, Page
from crm.lib.pagination import paginate as _paginate
from crm.lib.ratelimit import rate_hit, rate_key
from crm.registry import API_SCOPES

if TYPE_CHECKING:
    from ninja.operation import Operation

    from crm.models import ApiKey, User

logger = logging.getLogger(__name__)

# --- scopes -----------------------------------------------------------------------------------

# The API-key scopes are registered by the apps (crm.registry.API_SCOPES; the core's are in
# crm.api_routers.CORE_API_SCOPES).


def scopes() -> dict[str, Promise]:
    """Every API-key scope with what it allows, in the order the key form shows them."""
    return {scope.code: scope.description for scope in API_SCOPES}


# --- errors -----------------------------------------------------------------------------------

class ApiError(Exception):
    """An error answer raised by the API layer itself (auth, scopes, throttling, routing)."""

    def __init__(self, status: int, code: str, message: str, fields: dict[str, list[str]] | None = None) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields or {}
        super().__init__(message)


def error_body(code: str, message: str, fields: dict[str, list[str]] | None = None) -> dict[str, Any]:
    return {"code": code, "message": str(message), "fields": fields or {}}


# --- who is calling ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    """The authenticated caller of one request: an API key or a staff user, never both."""

    user: User | None = None
    api_key: ApiKey | None = None

    def has_scope(self, scope: str) -> bool:
        # Staff sessions are governed by the user's role and scope (crm.permissions), not by key scopes.
        return self.api_key is None or scope in self.api_key.scopes

    def require(self, scope: str) -> None:
        if not self.has_scope(scope):
            raise ApiError(403, "missing_scope", _("This API key does not have the %(scope)s scope.") % {"scope": scope})

    @property
    def ident(self) -> str:
        """Stable, unique and not guessable from a database id (rate-limit counters outlive test databases)."""
        if self.api_key is not None:
            return f"key:{self.api_key.prefix}"
        return f"user:{self.user.code if self.user is not None else '-'}"

    def __str__(self) -> str:
        return self.ident


def caller_of(request: HttpRequest) -> Caller:
    caller = getattr(request, "auth", None)
    if not isinstance(caller, Caller):
        raise ApiError(401, "unauthenticated", _("Authentication is required."))
    return caller


def requires_scope(scope: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark an operation as needing API-key `scope`.

    The operation authenticates with `caller_auth(scope)`, which refuses a key without the scope
    before the input is validated; the view checks again, and the schema documents the scope.
    """
    if scope not in API_SCOPES:
        raise ValueError(f"unknown API scope {scope!r}")

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            caller_of(request).require(scope)
            return view(request, *args, **kwargs)

        def configure(operation: Operation) -> None:
            auth = caller_auth(scope)
            operation.auth_param = auth
            operation._set_auth(auth)
            note = _scope_note(scope)
            operation.description = f"{operation.description}\n\n{note}" if operation.description else note
            operation.openapi_extra = {**(operation.openapi_extra or {}), "x-required-scope": scope}

        # Ninja reads the signature through the wrapper but resolves string annotations (from
        # `from __future__ import annotations`) in the wrapper's module: resolve them here instead.
        wrapper.__signature__ = inspect.signature(view, eval_str=True)  # type: ignore[attr-defined]  # read by inspect
        # functools.wraps shares the view's callback list; give the wrapper its own.
        wrapper._ninja_contribute_to_operation = list(getattr(view, "_ninja_contribute_to_operation", []))  # type: ignore[attr-defined]  # ninja's own hook
        contribute_operation_callback(wrapper, configure)
        return wrapper

    return decorate


def caller_auth(scope: str | None = None) -> list[Any]:
    """The API's authentication callbacks for an operation needing `scope` (an API key as bearer or
    in X-API-Key, then the staff session), from the assembly settings.CRM_API_AUTHENTICATION names
    (integrations.assembly.caller_auth): the core names no app above it."""
    factory: Callable[[str | None], list[Any]] = import_string(settings.CRM_API_AUTHENTICATION)
    return factory(scope)


def _scope_note(scope: str) -> str:
    return f"API keys need the `{scope}` scope. Staff sessions act within the user's own scope."


# --- throttling -------------------------------------------------------------------------------


class CallerRateThrottle(BaseThrottle):
    """A fixed-window request budget per API key or staff user, counted in Redis.

    The rate is the setting named by `setting` (CRM_API_RATE_LIMIT, "1200/m" by default); routers
    with a budget of their own (the lead API) pass theirs. Redis being unreachable does not stop
    the API: the request is let through and the failure logged.
    """

    def __init__(self, setting: str = "CRM_API_RATE_LIMIT", key_prefix: str = "crm:api:rate") -> None:
        self.setting, self.key_prefix = setting, key_prefix

    def allow_request(self, request: HttpRequest) -> bool:
        caller = getattr(request, "auth", None)
        if not isinstance(caller, Caller):
            return True
        wait = rate_hit(rate_key(self.key_prefix, caller.ident), getattr(settings, self.setting))
        request._crm_retry_after = wait  # type: ignore[attr-defined]  # for the 429's Retry-After
        return wait == 0


# --- pagination -------------------------------------------------------------------------------


class PageIn(Schema):
    cursor: str | None = Field(None, description="`next_cursor` of the previous page; omit for the first page.")
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description=f"Items per page, 1-{MAX_LIMIT}.")


def paginate[M: Model](queryset: QuerySet[M], page: PageIn, *, keys: Sequence[Key] = CREATED_DESC) -> Page[M]:
    """One page of `queryset`; a bad cursor becomes a 400 in the error shape."""
    return _paginate(queryset, cursor=page.cursor, limit=page.limit, keys=keys)


__all__ = [
    "ApiError", "Caller", "CallerRateThrottle", "PageIn", "caller_auth", "caller_of", "error_body", "paginate",
    "requires_scope", "scopes",
]
