"""The JSON API under /api/v1/, assembled: the NinjaAPI instance, authentication, the one error shape
and the discovery of every app's router.

Callers authenticate in one of two ways:
- an API key (`Authorization: Bearer crm_...` or `X-API-Key: crm_...`), created by an
  administrator for one brand and a set of scopes; every query is limited to that brand and each
  operation checks its scope;
- a staff session (the browser, the interactive docs): the user's own scope applies, exactly as
  in the pages, and unsafe methods need the CSRF token.

Every 4xx answer has one shape, `{"code", "message", "fields"}` (see ERROR_SCHEMA), whatever
raised it: schema validation, a service's DomainError, authentication, an unknown path or a
disallowed method.

Routers: those of the core's resources live in integrations/core_api/; any other installed app adds its own as `router` in
`<app>/api.py` (crm.api says how). They are built from the kit in crm.api (Caller, caller_of,
requires_scope, ApiError, PageIn, paginate); `requires_scope` takes its authentication from here
(settings.CRM_API_AUTHENTICATION names `caller_auth`). crm.urls mounts `api` and `not_found`.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.urls import URLPattern, URLResolver, re_path
from django.utils.datastructures import MultiValueDict
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from ninja import NinjaAPI, Router
from ninja.errors import AuthenticationError, HttpError, Throttled
from ninja.errors import ValidationError as NinjaValidationError
from ninja.openapi.docs import Swagger
from ninja.parser import Parser
from ninja.security import APIKeyCookie, APIKeyHeader, HttpBearer
from ninja.utils import check_csrf

from crm.api import ApiError, Caller, CallerRateThrottle, error_body
from crm.exceptions import DomainError, ValidationFailed
from crm.lib.pagination import DEFAULT_LIMIT, MAX_LIMIT, InvalidCursor
from crm.lib.validation import InvalidValue
from crm.models import User
from integrations.apikeys import apikey_authenticate
from plumbing import context

# --- errors -----------------------------------------------------------------------------------

# Status -> the error code used when nothing more specific is known.
STATUS_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "throttled",
}

ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "description": (
        "The body of every 4xx answer. `code` is stable and meant for programs; `message` is for "
        "people (in the caller's language); `fields` maps each offending input (a dotted path such "
        "as `phone` or `tags.0`, or `__all__`) to its messages, and is empty when no input is to blame."
    ),
    "required": ["code", "message", "fields"],
    "properties": {
        "code": {"type": "string", "examples": ["invalid", "not_found", "missing_scope"]},
        "message": {"type": "string"},
        "fields": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
    },
}

# Documented on every operation; all of them share ERROR_SCHEMA.
ERROR_RESPONSES: dict[int, str] = {
    400: "Malformed request: the body is not JSON, or a cursor is not valid.",
    401: "No credentials, or an API key that is unknown or revoked.",
    403: "The API key lacks the scope this operation needs, the CSRF token is missing (session), "
         "or the caller may see the object but not do this to it.",
    404: "The object does not exist or is outside the caller's scope (the two look the same).",
    409: "The request conflicts with the current state.",
    422: "The input is not valid; `fields` names each offending input.",
    429: "Too many requests; retry after the number of seconds in the Retry-After header.",
}


# --- authentication ---------------------------------------------------------------------------


def _key_caller(raw: str | None, scope: str | None) -> Caller:
    key = apikey_authenticate(raw or "")
    if key is None:
        raise ApiError(401, "invalid_api_key", _("The API key is not valid or has been revoked."))
    caller = Caller(api_key=key)
    if scope is not None:
        # Checked here, before the input is validated: a key without the scope learns nothing more.
        caller.require(scope)
    return caller


class ApiKeyBearer(HttpBearer):
    """`Authorization: Bearer crm_...`; with `scope`, a key lacking it is refused (403)."""

    def __init__(self, scope: str | None = None) -> None:
        self.scope = scope
        super().__init__()

    def authenticate(self, request: HttpRequest, token: str) -> Caller:
        return _key_caller(token, self.scope)


class ApiKeyInHeader(APIKeyHeader):
    """`X-API-Key: crm_...`; with `scope`, a key lacking it is refused (403)."""

    param_name = "X-API-Key"

    def __init__(self, scope: str | None = None) -> None:
        self.scope = scope
        super().__init__()

    def authenticate(self, request: HttpRequest, key: str | None) -> Caller | None:
        return _key_caller(key, self.scope) if key is not None else None


class StaffSession(APIKeyCookie):
    """The logged-in staff user of the browser session; unsafe methods need the CSRF token.

    Privileged roles must have passed two-factor verification in this session, as for the pages.
    """

    param_name = settings.SESSION_COOKIE_NAME

    def __call__(self, request: HttpRequest) -> Caller | None:
        user = self._user(request)
        if user is None:
            return None
        if check_csrf(request) is not None:
            raise ApiError(403, "csrf_failed", _("The CSRF token is missing or not valid."))
        return Caller(user=user)

    def authenticate(self, request: HttpRequest, key: str | None) -> Caller | None:
        user = self._user(request)
        return Caller(user=user) if user is not None else None

    @staticmethod
    def _user(request: HttpRequest) -> User | None:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or not user.is_active:
            return None
        if user.requires_2fa and not user.is_verified():
            return None
        return user if isinstance(user, User) else None


def caller_auth(scope: str | None = None) -> list[Any]:
    """The API's authentication callbacks, tried in order: key as bearer, key in X-API-Key, session."""
    return [ApiKeyBearer(scope), ApiKeyInHeader(scope), StaffSession()]


# --- the API object ---------------------------------------------------------------------------


class VendoredSwagger(Swagger):
    """Swagger UI from static/vendor/swagger-ui/ (no CDN: installations may be offline)."""

    template = "integrations/api/docs.html"


# How ninja words the HttpError it raises for a request body that is not JSON.
_NINJA_PARSE_ERROR = "Cannot parse request body"


def _field_path(loc: Sequence[Any]) -> str:
    return ".".join(str(part) for part in loc) or "__all__"


def _clean_message(msg: str) -> str:
    # pydantic prefixes messages from custom validators; the prefix means nothing to a caller.
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            return msg[len(prefix):]
    return msg


class OneValueParser(Parser):
    """A parameter given more than once where the schema takes one value reaches validation as the
    list it is (and is refused, naming the parameter), instead of its last value being used."""

    def parse_querydict(self, data: MultiValueDict[str, str], list_fields: list[str],
                        request: HttpRequest) -> dict[str, Any]:
        result = super().parse_querydict(data, list_fields, request)
        for key in data:
            if key not in list_fields and len(data.getlist(key)) > 1:
                result[key] = data.getlist(key)
        return result


class CrmNinjaAPI(NinjaAPI):
    """NinjaAPI with the CRM's error shape everywhere, error responses in the schema and router discovery."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._routers_discovered = False

    # -- errors --
    def set_default_exception_handlers(self) -> None:
        super().set_default_exception_handlers()  # keeps the 500 behaviour for unexpected exceptions
        self._handle(ApiError, self._on_api_error)
        self._handle(DomainError, self._on_domain_error)
        self._handle(NinjaValidationError, self._on_validation_error)
        self._handle(InvalidCursor, self._on_invalid_cursor)
        self._handle(InvalidValue, self._on_invalid_value)
        self._handle(HttpError, self._on_http_error)
        self._handle(Http404, self._on_404)
        self._handle(RequestDataTooBig, self._on_too_big)

    def _handle[E: Exception](self, exc_class: type[E], handler: Callable[[HttpRequest, E], HttpResponse]) -> None:
        # Ninja calls a handler with the exception itself; its ExcHandler type also admits the class.
        self.add_exception_handler(exc_class, handler)  # type: ignore[arg-type]  # ninja's type also admits the class, see above

    def error_response(
        self, request: HttpRequest, status: int, code: str, message: str,
        fields: dict[str, list[str]] | None = None,
    ) -> HttpResponse:
        return self.create_response(request, error_body(code, message, fields), status=status)

    def _on_api_error(self, request: HttpRequest, exc: ApiError) -> HttpResponse:
        response = self.error_response(request, exc.status, exc.code, exc.message, exc.fields)
        if exc.status == 401:
            response["WWW-Authenticate"] = 'Bearer realm="api"'
        return response

    def _on_domain_error(self, request: HttpRequest, exc: DomainError) -> HttpResponse:
        # Bad input is 422 here, like schema validation, whatever status the pages use for it.
        if isinstance(exc, ValidationFailed) or exc.code == "invalid":
            status = 422
        else:
            status = exc.status_code if 400 <= exc.status_code < 500 else 400
        return self.error_response(request, status, exc.code, exc.message, exc.fields)

    def _on_validation_error(self, request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
        fields: dict[str, list[str]] = {}
        for error in exc.errors:
            name = error.get("field") or _field_path(error.get("loc", ())[1:])
            fields.setdefault(name, []).append(_clean_message(str(error.get("msg", ""))))
        return self.error_response(request, 422, "invalid", _("The request is not valid."), fields)

    def _on_too_big(self, request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
        limit = (settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0) / 1_000_000
        return self.error_response(request, 413, "too_large", _(
            "The request body is larger than %(limit)s MB, the most the API accepts at once; "
            "send fewer items per request.") % {"limit": f"{limit:.1f}"})

    def _on_invalid_value(self, request: HttpRequest, exc: InvalidValue) -> HttpResponse:
        # The shared parsers' refusals (crm.lib.money, crm.lib.validation) name the input at fault.
        return self.error_response(request, 422, "invalid", _("The request is not valid."), {exc.field: [exc.message]})

    def _on_invalid_cursor(self, request: HttpRequest, exc: InvalidCursor) -> HttpResponse:
        message = _("The cursor is not valid for this list; start again without one.")
        return self.error_response(request, 400, "invalid_cursor", message, {"cursor": [message]})

    def _on_http_error(self, request: HttpRequest, exc: HttpError) -> HttpResponse:
        status = exc.status_code
        if isinstance(exc, AuthenticationError):
            response = self.error_response(request, 401, "unauthenticated", _(
                "Authentication is required: send an API key (Authorization: Bearer, or X-API-Key) "
                "or use a staff session."))
            response["WWW-Authenticate"] = 'Bearer realm="api"'
            return response
        if isinstance(exc, Throttled):
            response = self.error_response(request, 429, "throttled", _("Too many requests; slow down."))
            retry_after = getattr(request, "_crm_retry_after", None)
            if retry_after is not None:
                response["Retry-After"] = str(max(1, int(retry_after + 0.999)))
            return response
        if status == 400 and str(exc).startswith(_NINJA_PARSE_ERROR):
            return self.error_response(request, 400, "malformed_body", _("The request body is not valid JSON."))
        return self.error_response(request, status, STATUS_CODES.get(status, "error"), str(exc))

    def _on_404(self, request: HttpRequest, exc: Exception) -> HttpResponse:
        return self.error_response(request, 404, "not_found", _("Not found."))

    def validation_error_from_error_contexts(self, error_contexts: list[Any]) -> NinjaValidationError:
        """Ninja's errors plus `field`: the input's path as the caller wrote it (`phone`, `tags.0`)."""
        error = super().validation_error_from_error_contexts(error_contexts)
        index = 0
        for ctx in error_contexts:
            single_body = getattr(ctx.model, "__read_from_single_attr__", None)
            for _e in ctx.pydantic_validation_error.errors(include_url=False):
                item = error.errors[index]
                loc = list(item.get("loc", ()))[1:]  # drop the source: body, query, path, header
                if single_body and loc and loc[0] == single_body:
                    loc = loc[1:]
                item["field"] = _field_path(loc)
                index += 1
        return error

    # -- schema --
    def get_openapi_schema(self, *, path_prefix: str | None = None, path_params: dict[str, Any] | None = None) -> Any:
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        schemas["Error"] = ERROR_SCHEMA
        ref = {"$ref": "#/components/schemas/Error"}
        for operations in schema["paths"].values():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                for status, description in ERROR_RESPONSES.items():
                    if status not in responses and str(status) not in responses:
                        responses[status] = {"description": description,
                                             "content": {"application/json": {"schema": ref}}}
        return schema

    # -- routers and URLs --
    def _get_bound_routers(self) -> Any:
        if not self._routers_discovered:
            self._routers_discovered = True
            _mount_routers(self)
        binding = self._bound_routers_cache is None
        routers = super()._get_bound_routers()
        if binding:
            for router in routers:
                for path_view in router.path_operations.values():
                    for operation in path_view.operations:
                        operation.view_func = _reject_unknown_query(operation.view_func, _query_names(operation))
        return routers

    def _get_urls(self) -> list[URLPattern | URLResolver]:
        urls = super()._get_urls()
        for pattern in urls:
            if isinstance(pattern, URLPattern):
                pattern.callback = _json_error_view(self, pattern.callback)
        urls.append(re_path(r"^.*$", csrf_exempt(functools.partial(_not_found_view, api=self)), name="not-found"))
        return urls


def _query_names(operation: Any) -> frozenset[str]:
    names: set[str] = set()
    for model in operation.models:
        if getattr(model, "__ninja_param_source__", None) == "query":
            names.update(getattr(model, "__ninja_flatten_map__", {}))
    return frozenset(names)


def _reject_unknown_query(view: Callable[..., Any], allowed: frozenset[str]) -> Callable[..., Any]:
    """Refuse query parameters the operation does not take: a misspelt filter must not be ignored."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        unknown = sorted(set(request.GET) - allowed)
        if unknown:
            raise ApiError(422, "invalid", _("The request is not valid."),
                           {name or "__all__": [_("Unknown parameter.")] for name in unknown})
        return view(request, *args, **kwargs)

    return wrapper


def _json_error_view(api: CrmNinjaAPI, view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Turn what ninja answers outside an operation (405, the root's 404) into the error shape."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            response = view(request, *args, **kwargs)
        except Http404:
            return api.error_response(request, 404, "not_found", _("Not found."))
        if isinstance(response, HttpResponseNotAllowed):
            allowed = response["Allow"]
            response = api.error_response(
                request, 405, "method_not_allowed",
                _("Method %(method)s is not allowed here; use %(allowed)s.") % {
                    "method": request.method, "allowed": allowed},
            )
            response["Allow"] = allowed
        return response

    return wrapper


def _not_found_view(request: HttpRequest, api: CrmNinjaAPI, **kwargs: Any) -> HttpResponse:
    return api.error_response(request, 404, "not_found", _("There is no API endpoint at this address."))


@csrf_exempt
def not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """For /api/ paths outside any API version: the error shape instead of an HTML page."""
    return api.error_response(request, 404, "not_found", _("There is no API endpoint at this address."))


# The core's resources and the event feed, then each installed app's `<app>.api.router`.
CORE_ROUTERS: tuple[tuple[str, str], ...] = (
    ("", "integrations.core_api.clients.router"),
    ("", "integrations.core_api.tasks.router"),
    ("", "integrations.event_feed.router"),
)


def _mount_routers(api: NinjaAPI) -> None:
    for prefix, dotted in CORE_ROUTERS:
        api.add_router(prefix, dotted)
    for config in apps.get_app_configs():
        if config.name == "crm":
            continue
        module_name = f"{config.name}.api"
        if importlib.util.find_spec(module_name) is None:
            continue
        module = importlib.import_module(module_name)
        router = getattr(module, "router", None)
        if isinstance(router, Router):
            api.add_router(getattr(module, "API_PREFIX", ""), router)


def _in_acting_context(view: Callable[..., Any]) -> Callable[..., Any]:
    """Run an operation with the API key as the acting party, so audit rows and history name it."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        caller = getattr(request, "auth", None)
        if isinstance(caller, Caller) and caller.api_key is not None:
            ctx = replace(context.current(), user=None, source="api", api_key_id=caller.api_key.pk,
                          api_key_prefix=caller.api_key.prefix)
            with context.acting(ctx):
                return view(request, *args, **kwargs)
        return view(request, *args, **kwargs)

    return wrapper


API_DESCRIPTION = f"""
The brokerage CRM's REST API.

**Authentication.** Send an API key as `Authorization: Bearer crm_...` or `X-API-Key: crm_...`.
Administrators create keys for one brand and a set of scopes; the key sees only that brand's data
and each operation names the scope it needs. In the browser, a logged-in staff session works too
(unsafe methods need the `X-CSRFToken` header); the user's own scope applies.

**Errors.** Every 4xx answer is `{{"code", "message", "fields"}}`. Invalid input is **422** with
`fields` naming each input (`phone`, `tags.0`, `__all__`); a malformed JSON body or a bad cursor
is **400**; no or bad credentials **401**; a missing key scope, a missing CSRF token or an action
on an object the caller can see but not change **403**; anything missing *or* outside the caller's
scope **404** (the two are indistinguishable); conflicts **409**; too many requests **429**.
Unknown body fields and query parameters are refused (422), so that a misspelt name is not ignored.

**Pagination.** Lists take `limit` (1-{MAX_LIMIT}, default {DEFAULT_LIMIT}) and `cursor` and answer
`{{"items": [...], "next_cursor": "..." | null}}`. Pass `next_cursor` back as `cursor` to read the
next page; it is opaque and null on the last page.

**Contact details.** API keys with `clients:read` get clients' email and phone in full.
Staff sessions get them masked; staff reveal them in the client's page, where each reveal is logged.
"""

api = CrmNinjaAPI(
    title="Brokerage CRM API",
    version="1",
    description=API_DESCRIPTION,
    urls_namespace="api",
    docs=VendoredSwagger(settings={"persistAuthorization": False, "displayRequestDuration": True}),
    auth=caller_auth(),
    throttle=[CallerRateThrottle()],
    parser=OneValueParser(),
)
api.add_decorator(_in_acting_context)
