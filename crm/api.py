"""The kit every app's API router uses: who is calling, scopes, errors, throttling, pagination, the
checked input types and the client within the caller's scope.

The JSON API under /api/v1/ is assembled above the domain apps (integrations.assembly: the NinjaAPI
instance, authentication by API key or staff session, the one error shape, router discovery);
apps only write routers. Any installed app adds its own by defining `router = Router(...)` in
`<app>/api.py` (optionally `API_PREFIX = "/leads"`); it is mounted when the URLs are first built.
Routers use `Caller`, `caller_of`, `requires_scope`, `ApiError`, `PageIn` and `paginate` from here,
the input types (`InputSchema`, `Text80`, `Code`, `IsoDatetime`...) and `client_for`.

Every 4xx answer has one shape, `{"code", "message", "fields"}` (`error_body`), whatever raised it.
"""

from __future__ import annotations

import functools
import inspect
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

from django.conf import settings
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.utils.functional import Promise
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from ninja import Schema
from ninja.throttling import BaseThrottle
from ninja.utils import contribute_operation_callback
from pydantic import AfterValidator, AwareDatetime, BeforeValidator, ConfigDict, Field, StringConstraints

from crm.exceptions import NotFound, ValidationFailed
from crm.lib.pagination import CREATED_DESC, DEFAULT_LIMIT, MAX_LIMIT, Key, Page
from crm.lib.pagination import paginate as _paginate
from crm.lib.ratelimit import rate_hit, rate_key
from crm.lib.validation import unstorable_problem
from crm.models import Client
from crm.permissions import client_get_for_user
from crm.registry import API_SCOPES

if TYPE_CHECKING:
    from ninja.operation import Operation

    from crm.models import ApiKey, User

logger = logging.getLogger(__name__)

# --- scopes -----------------------------------------------------------------------------------

# The API-key scopes are registered by the apps (crm.registry.API_SCOPES; those of the core's
# resources by integrations, with their routers: integrations.core_api.CORE_API_SCOPES).


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


def one_of(value: str | None, choices: Sequence[str], field: str) -> str | None:
    """A filter's value when it is one of `choices` (None stays None); 422 naming `field` otherwise."""
    if value is not None and value not in choices:
        raise ValidationFailed(fields={field: [_("Choose one of: %(choices)s.") % {"choices": ", ".join(choices)}]})
    return value


def utc_text(value: datetime | None) -> str | None:
    """A time as the API writes it: ISO 8601 in UTC; None stays None."""
    return value.astimezone(UTC).isoformat() if value is not None else None


# --- input types ------------------------------------------------------------------------------
# Input schemas check shape and size only (types, lengths, no NUL characters, which PostgreSQL
# cannot store); the services validate meaning (E.164 phones, ISO country codes, brand rules) and
# their ValidationFailed becomes a 422 naming the field. Unknown input fields are rejected, so a
# typo is an error rather than a silently ignored change.


def _storable(value: str) -> str:
    """Text that PostgreSQL can store (no NUL), refused in words rather than by a pattern."""
    problem = unstorable_problem(value)
    if problem:
        raise ValueError(problem)
    return value


Storable = AfterValidator(_storable)


def _text(max_length: int, *, min_length: int = 0) -> StringConstraints:
    return StringConstraints(max_length=max_length, min_length=min_length)


Text2 = Annotated[str, _text(2), Storable]
Text16 = Annotated[str, _text(16), Storable]
Text40 = Annotated[str, _text(40), Storable]
Text50 = Annotated[str, _text(50), Storable]
Text64 = Annotated[str, _text(64), Storable]
Text80 = Annotated[str, _text(80), Storable]
Text100 = Annotated[str, _text(100), Storable]
Text254 = Annotated[str, _text(254), Storable]
Text500 = Annotated[str, _text(500), Storable]
Text10k = Annotated[str, _text(10_000), Storable]
Name100 = Annotated[str, _text(100, min_length=1), Storable]
Title200 = Annotated[str, _text(200, min_length=1), Storable]
Body20k = Annotated[str, _text(20_000, min_length=1), Storable]
Tag = Annotated[str, _text(50, min_length=1), Storable]

# Pydantic's lax mode would also take Unix timestamps for times and dates, and UUIDs without
# dashes; the schema promises ISO 8601 and canonical UUIDs, so only those are accepted.
_ISO_DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
_ISO_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def _format_check(pattern: re.Pattern[str], message: str) -> BeforeValidator:
    def check(value: Any) -> Any:
        if isinstance(value, str) and pattern.match(value):
            return value
        if isinstance(value, str) or isinstance(value, int | float):
            raise ValueError(message)
        return value  # already a date/datetime/UUID (defaults), or a type error pydantic reports

    return BeforeValidator(check)


def _to_utc(value: datetime) -> datetime:
    # PostgreSQL takes offsets up to ±15:59 only; ISO 8601 allows more. UTC is what is stored anyway.
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("This date and time is out of range.") from None


IsoDatetime = Annotated[AwareDatetime, _format_check(
    _ISO_DATETIME_RE, "Give an ISO 8601 date and time with a time zone, e.g. 2025-01-31T09:30:00Z."),
    AfterValidator(_to_utc)]
IsoDate = Annotated[date, _format_check(_ISO_DATE_RE, "Give a date as YYYY-MM-DD.")]
Code = Annotated[UUID, _format_check(_UUID_RE, "Give a code such as 8c4f7ef6-0a43-4f5a-9d40-2f7b1d7f6a10.")]


class InputSchema(Schema):
    model_config = ConfigDict(extra="forbid")


# --- the client in the caller's scope -------------------------------------------------------------
# An API key sees every client of its brand and nothing else; a staff session sees what the user sees
# in the pages (crm.permissions). A client outside the caller's scope is 404, exactly like one that
# does not exist. The apps' routers that nest under a client (trading, wallet, KYC, risk) find it here.


def key_clients(caller: Caller) -> QuerySet[Client]:
    """The clients of the caller's API key's brand."""
    assert caller.api_key is not None
    return Client.objects.filter(brand_id=caller.api_key.brand_id).select_related("brand", "owner", "desk")


def client_for(caller: Caller, code: UUID | str) -> Client:
    """The client with `code` within the caller's scope, else NotFound (missing == forbidden)."""
    if caller.api_key is None:
        return client_get_for_user(caller.user, code)
    client = key_clients(caller).filter(code=code).first()
    if client is None:
        raise NotFound()
    return client


__all__ = [
    "ApiError", "Body20k", "Caller", "CallerRateThrottle", "Code", "InputSchema", "IsoDate", "IsoDatetime", "Name100",
    "PageIn", "Storable", "Tag", "Text2", "Text10k", "Text16", "Text40", "Text50", "Text64", "Text80", "Text100",
    "Text254", "Text500", "Title200", "caller_auth", "caller_of", "client_for", "error_body", "key_clients",
    "one_of", "paginate", "requires_scope", "scopes", "utc_text",
]
