"""Who may manage the CRM's API clients: their API keys and their webhook subscriptions.

The permissions are Django model permissions held through the staff role's group (crm.permissions.user_can):

- The pages (API keys, webhook subscribers, the delivery log) are administrators' only
  (`api_clients_page`); anyone else is answered a plain 404, as for a page that does not exist.
- An API key: APIKEY_CREATE to create one, APIKEY_REVOKE to revoke one. A scope that carries another
  team's matters (a registered scope with a `permission`, such as compliance's events) is given to a
  key only by who holds that permission (`scopes_withheld`).
- Moving in from another CRM (integrations.moving_in: the import page, its dry runs and runs) is
  administrators' only (`moving_in_page`), as the command is the server's administrator's: it creates
  staff and posts money. Anyone else is answered a plain 404.
- Webhook subscribers belong to an API key, so managing them is administering API clients
  (WEBHOOKS_MANAGE, the permission that revokes keys); an API client acting with its own key manages
  only its own subscribers (`subscriber_manage_refused`).

`actor=None` is the system, as in every service: no permission check.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse

from crm.exceptions import NotAllowed
from crm.permissions import user_can
from crm.registry import API_SCOPES

if TYPE_CHECKING:
    from crm.models import ApiKey, User

APIKEY_CREATE = "crm.add_apikey"
APIKEY_REVOKE = "crm.change_apikey"
WEBHOOKS_MANAGE = APIKEY_REVOKE  # subscribers are part of administering API clients


def may_manage_api_clients(user: Any) -> bool:
    """Whether `user` sees the pages of API keys, webhook subscribers and deliveries: administrators."""
    return bool(getattr(user, "is_authenticated", False) and getattr(user, "is_administrator", False))


def api_clients_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A page of API clients: log in first; then a plain 404 for whoever may not manage them."""

    @functools.wraps(view)
    @login_required
    def wrapper(request: Any, *args: Any, **kwargs: Any) -> HttpResponse:
        if not may_manage_api_clients(request.user):
            raise Http404
        return view(request, *args, **kwargs)

    return wrapper


def may_move_in(user: Any) -> bool:
    """Whether `user` may import another CRM's export (the page, its dry runs and runs): administrators."""
    return may_manage_api_clients(user)


def moving_in_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A page of the move-in: log in first; then a plain 404 for whoever is not an administrator."""

    @functools.wraps(view)
    @login_required
    def wrapper(request: Any, *args: Any, **kwargs: Any) -> HttpResponse:
        if not may_move_in(request.user):
            raise Http404
        return view(request, *args, **kwargs)

    return wrapper


def require(actor: User | None, perm: str) -> None:
    """NotAllowed unless `actor` (staff) holds `perm`; the system (None) may."""
    if actor is not None and not user_can(actor, perm):
        raise NotAllowed()


def scopes_withheld(actor: User, requested: Iterable[str]) -> list[str]:
    """The requested scopes that `actor` may not give a key: those whose registered permission they
    lack (a scope no app registered is not judged here: the service refuses it as unknown)."""
    return [str(code) for code in requested if (scope := API_SCOPES.get(code)) is not None
            and scope.permission is not None and not user_can(actor, scope.permission)]


def subscriber_manage_refused(actor: User | None, caller_key: ApiKey | None, subscriber_key_id: int) -> bool:
    """Whether a subscriber of the key `subscriber_key_id` is out of reach: staff need WEBHOOKS_MANAGE;
    without staff, only the key itself (`caller_key`) may act on its subscribers."""
    if actor is not None:
        return not user_can(actor, WEBHOOKS_MANAGE)
    return caller_key is None or caller_key.pk != subscriber_key_id
