"""Access helpers: who may see which clients, and fetch-and-authorise in one call.

Scope rules (applied in SQL, never by filtering rows in Python):
- administrators (superusers and the admin role) see every client;
- everyone else sees only clients of their brands unless `all_brands` is set;
- within those brands, a user with "crm.view_all_clients" (compliance, finance, IB managers,
  dealers) sees every client; a desk manager sees the clients of their own desk and of the desks
  they manage; everyone sees their own book (owner) and clients shared with them through a
  guardian grant ("crm.view_client" on ClientUserObjectPermission).

A client outside a user's scope is "not found" for them: missing and forbidden look the same.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import uuid
from collections.abc import Callable
from typing import Any

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import Exists, F, Lookup, Q, QuerySet, Subquery
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext
from django_htmx.middleware import HtmxDetails
from psycopg import sql

from crm.exceptions import NotFound
from crm.models import (
    AuditLog,
    Brand,
    Client,
    ClientUserObjectPermission,
    Desk,
    Note,
    Role,
    RoleCode,
    Task,
    User,
)
from plumbing.sqlfiles import sql_text

SHARE_PERMISSION = "view_client"


class AuthedRequest(HttpRequest):
    """The request a staff page gets behind `login_required` (or a decorator that applies it): its
    user is signed in, so it is a `User`, never an AnonymousUser. Only for annotations: Django passes
    a plain HttpRequest, which the middleware (authentication, django-htmx) has filled in."""

    user: User
    htmx: HtmxDetails


def _active(user: Any) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False) and user.is_active)


@functools.cache
def _held_permissions_sql() -> str:
    """The permissions a user holds: through their role's group (member or not), their other groups, or
    granted to them directly; as "app_label", "codename" rows (crm/sql/held_permissions.sql). Written once, as
    SQL: the same query built through the ORM cost about 2 ms of Python on every staff request."""
    def table(model: Any) -> sql.Identifier:
        return sql.Identifier(model._meta.db_table)

    return sql_text("crm", "held_permissions", permission=table(Permission), content_type=table(ContentType),
                    group_permissions=table(Group.permissions.through), user_groups=table(User.groups.through),
                    role=table(Role), user=table(User), user_permissions=table(User.user_permissions.through))


def _perms(user: User) -> frozenset[str]:
    """Every "app_label.codename" permission the user holds (see `_held_permissions_sql`), read in
    one query and cached on the instance."""
    cached = getattr(user, "_crm_perm_cache", None)
    if cached is None:
        with connection.cursor() as cursor:
            cursor.execute(_held_permissions_sql(), {"user": user.pk})
            cached = frozenset(f"{app}.{codename}" for app, codename in cursor.fetchall())
        user._crm_perm_cache = cached  # type: ignore[attr-defined]  # a cache on the instance
    return cached


def staff_restricted(user: Any) -> bool:
    """Whether `user` is under a staff restriction (crm.services.restrictions): no reveals, no
    exports, read-only. Read from the user's own row, which every request loads afresh, so a
    restriction takes effect on the user's next request, and a background job started before it
    is refused when it runs (it loads its starter again)."""
    return bool(_active(user) and getattr(user, "restricted_since", None) is not None)


def restriction_message() -> str:
    """What a restricted user is told when something is refused."""
    return gettext("Your access is restricted: you can read, but not reveal contact details, export or "
                   "change anything until a manager lifts the restriction.")


def _restricted_allows(perm: str) -> bool:
    # Read-only: of everything a role grants, a restricted user keeps only the permissions to look
    # ("view_..."); revealing and exporting are not looking, whatever their names.
    codename = perm.split(".", 1)[-1]
    return codename.startswith("view_") and "export" not in codename and "reveal" not in codename


def user_can(user: Any, perm: str) -> bool:
    """Whether `user` holds the model-level permission `perm` ("crm.reveal_contact").

    Role permissions come from the role's group, even when the user was not added to it;
    permissions granted to the user directly or through other groups count too (what Django's
    ModelBackend would add, read in the same single query). A restricted user (staff_restricted)
    holds only the permissions to view, superuser or not.
    """
    if not _active(user):
        return False
    if staff_restricted(user) and not _restricted_allows(perm):
        return False
    if user.is_superuser:
        return True
    return perm in _perms(user)


class _EqualsAnyOf(Lookup):
    """`field = ANY(ARRAY(subquery))`: unlike `IN (subquery)`, an indexable condition."""

    lookup_name = "equals_any_of"
    prepare_rhs = False

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, tuple[Any, ...]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = compiler.compile(self.rhs)
        return f"{lhs} = ANY(ARRAY{rhs})", (*lhs_params, *rhs_params)


def _page_permission(perm: str, refusal: type[Exception]) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        @login_required
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not user_can(request.user, perm):
                raise refusal
            return view(request, *args, **kwargs)

        return wrapper

    return decorate


def page_permission_required(perm: str) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """A staff page: log in first; then a plain 404 for users without `perm` (the page does not exist
    for them)."""
    return _page_permission(perm, Http404)


def page_permission_or_403(perm: str) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """A staff page of the user's own menu's kind that their role does not open: log in first; then 403
    for users without `perm` (not an object that could exist or not)."""
    return _page_permission(perm, PermissionDenied)


def _any(field: str, subquery: QuerySet[Any]) -> _EqualsAnyOf:
    return _EqualsAnyOf(F(field), Subquery(subquery))


def _brand_ids(user: User) -> QuerySet[Any]:
    return User.brands.through.objects.filter(user_id=user.pk).order_by().values("brand_id")


def client_queryset_for_user(user: Any, *, shares_read: bool = False) -> QuerySet[Client]:
    """Every client `user` may see, as one SQL-scoped queryset (see the module docstring).

    `shares_read`: the clients shared with the user are read now (one indexed query) and named in
    the filter by id, and left out of it when there are none, which is the usual case; the list
    pages ask for it. An agent's book is then read as "owner = me" from the owner's index alone,
    in its order; the subquery form, whatever its result, makes PostgreSQL OR two bitmaps and fetch
    and sort every client of the book (10,000 of them for an agent at a million clients). The
    queryset is then as of the moment it was built, which a page's is anyway."""
    qs = Client.objects.all()
    if not _active(user):
        return qs.none()
    if user.is_administrator:
        return qs
    if not user.all_brands:
        qs = qs.filter(brand_id__in=_brand_ids(user))
    if user_can(user, "crm.view_all_clients"):
        return qs
    visible = Q(owner_id=user.pk)
    if shares_read:
        shared = list(_granted_clients(user.pk).values_list("content_object_id", flat=True))
        if shared:
            visible |= Q(pk__in=shared)
    else:
        # `= ANY(ARRAY(subquery))` rather than `IN (subquery)`: PostgreSQL can combine it with the
        # owner index in a bitmap OR, so a small book is found by index and a large one by the date
        # index.
        visible |= Q(_any("pk", _granted_clients(user.pk)))
    desks = _desks_managed(user)
    if desks is not None:
        visible |= Q(_any("desk_id", desks))
    return qs.filter(visible)


def _granted_clients(user_id: int) -> QuerySet[Any]:
    """The ids of the clients shared with the user (object permissions)."""
    return ClientUserObjectPermission.objects.filter(
        user_id=user_id,
        permission__codename=SHARE_PERMISSION,
        permission__content_type__app_label="crm",
    ).order_by().values("content_object_id")


def _desks_managed(user: User) -> QuerySet[Any] | None:
    """The ids of the desks whose clients a desk manager sees (theirs and those they run); None for
    any other role."""
    if user.role_code != RoleCode.DESK_MANAGER:
        return None
    desk_filter = Q(manager_id=user.pk)
    if user.desk_id:
        desk_filter |= Q(pk=user.desk_id)
    return Desk.objects.filter(desk_filter).order_by().values("pk")


@dataclasses.dataclass(frozen=True)
class BookScope:
    """A scope that is a book, not whole brands: the clients of `desk_ids` (a desk manager's desks)
    and the user's own and shared clients, within `brand_ids` (None: every brand)."""

    user_id: int
    brand_ids: list[int] | None
    desk_ids: list[int]

    def q(self, *, client: str = "client_id", desk: str = "desk_id", brand: str = "brand_id") -> Q:
        """The scope as a filter of rows that carry a client's id, desk and brand (a read model
        keyed by client and kept with its desk): the desks' rows found by the desk's index, the
        own and shared clients' by the client's."""
        owned = Client.objects.filter(Q(owner_id=self.user_id) | Q(_any("pk", _granted_clients(self.user_id))))
        found = Q(_any(client, owned.order_by().values("pk")))
        if self.desk_ids:
            found |= Q(**{f"{desk}__in": self.desk_ids})
        if self.brand_ids is not None:
            found &= Q(**{f"{brand}__in": self.brand_ids})
        return found


def client_scope_book(user: Any) -> BookScope | None:
    """`user`'s client scope when it is a book (the same rule as client_queryset_for_user), None
    when it is whole brands (client_scope_brand_wide) or the user sees nothing."""
    if not _active(user) or client_scope_brand_wide(user) is not None:
        return None
    desks = _desks_managed(user)
    return BookScope(user_id=user.pk,
                     brand_ids=None if user.all_brands else sorted(_brand_ids(user).values_list("brand_id", flat=True)),
                     desk_ids=sorted(desks.values_list("pk", flat=True)) if desks is not None else [])


@dataclasses.dataclass(frozen=True)
class BrandWideScope:
    """A scope that is whole brands: every client (`brand_ids` None) or every client of `brand_ids`."""

    brand_ids: list[int] | None


def client_scope_brand_wide(user: Any) -> BrandWideScope | None:
    """`user`'s client scope when it is whole brands (the same rule as client_queryset_for_user),
    else None (a book: own, shared, a desk's). For read models keyed by brand, which then need not
    name every visible client."""
    if not _active(user):
        return None
    if user.is_administrator:
        return BrandWideScope(brand_ids=None)
    if not user_can(user, "crm.view_all_clients"):
        return None
    if user.all_brands:
        return BrandWideScope(brand_ids=None)
    return BrandWideScope(brand_ids=sorted(_brand_ids(user).values_list("brand_id", flat=True)))


def audit_queryset_for_user(user: Any) -> QuerySet[AuditLog]:
    """The audit rows `user` may read, in SQL: none without "crm.view_auditlog"; every row for
    administrators and all-brand users; a brand-limited user only the rows of their brands (a row of
    no brand, system-wide or global, is for all-brand readers only)."""
    qs = AuditLog.objects.all()
    if not _active(user) or not (user.is_administrator or user_can(user, "crm.view_auditlog")):
        return qs.none()
    if user.is_administrator or user.all_brands:
        return qs
    return qs.filter(brand_id__in=_brand_ids(user))


def code_or_404(code: Any) -> uuid.UUID:
    """`code` as a UUID; anything that is not one is a 404, like a code nobody has."""
    if isinstance(code, uuid.UUID):
        return code
    try:
        return uuid.UUID(str(code))
    except (TypeError, ValueError, AttributeError):
        raise NotFound() from None


def client_get_for_user(user: Any, code: Any, *, for_update: bool = False) -> Client:
    """The client with `code` if `user` may see it; NotFound if it is missing or out of scope.

    With `for_update`, the row is locked until the end of the caller's transaction.
    """
    qs = client_queryset_for_user(user).select_related("brand", "owner", "desk")
    if for_update:  # the client's lock (crm.models.locks): its row alone, not blocking inserts that refer to it
        qs = qs.select_for_update(of=("self",), no_key=True)
    try:
        return qs.get(code=code_or_404(code))
    except Client.DoesNotExist:
        raise NotFound() from None


def client_visible_to(user: Any, client: Client) -> bool:
    """Whether `client` is within `user`'s scope (one indexed query)."""
    return client_queryset_for_user(user).filter(pk=client.pk).exists()


def _holders_of(app_label: str, codename: str) -> Q:
    """Users holding a permission the way user_can counts it (role group, other groups, direct)."""
    perm = Permission.objects.filter(codename=codename, content_type__app_label=app_label).order_by().values("pk")
    groups = Group.permissions.through.objects.filter(permission_id__in=perm).order_by().values("group_id")
    return (
        Q(role__group_id__in=groups)
        | Q(pk__in=User.groups.through.objects.filter(group_id__in=groups).order_by().values("user_id"))
        | Q(pk__in=User.user_permissions.through.objects.filter(permission_id__in=perm).order_by().values("user_id"))
    )


def staff_of_brand(brand_id: int | QuerySet[Any] | None, *, roles: list[str] | None = None,
                   permission: str | None = None) -> list[User]:
    """The active staff who work for brand `brand_id` (all-brand users included; any brand when None; any of
    the brands a queryset of brand ids names, nobody when it names none, in the same query) with one of
    `roles`, or holding `permission` ("app_label.codename"): the people an alert of that brand is for."""
    qs = User.objects.filter(is_active=True)
    if roles is not None:
        qs = qs.filter(role__code__in=roles)
    if permission is not None:
        app_label, codename = permission.split(".", 1)
        qs = qs.filter(_holders_of(app_label, codename) | Q(is_superuser=True))
    if isinstance(brand_id, QuerySet):
        qs = qs.filter(Exists(brand_id), Q(all_brands=True) | Q(brands__id__in=brand_id))
    elif brand_id is not None:
        qs = qs.filter(Q(all_brands=True) | Q(brands__id=brand_id))
    return list(qs.distinct())


def users_who_can_see(client: Client) -> QuerySet[User]:
    """The active staff whose scope includes `client`, as one SQL query: the mirror image of
    client_queryset_for_user (same rules, asked the other way round), so that
    `u in users_who_can_see(c)` exactly when `client_visible_to(u, c)`."""
    admin = Q(is_superuser=True) | Q(role__code=RoleCode.ADMIN)
    in_brand = Q(all_brands=True) | Q(
        pk__in=User.brands.through.objects.filter(brand_id=client.brand_id).order_by().values("user_id"))
    sees = _holders_of("crm", "view_all_clients") | Q(pk__in=ClientUserObjectPermission.objects.filter(
        content_object_id=client.pk, permission__codename=SHARE_PERMISSION,
        permission__content_type__app_label="crm",
    ).order_by().values("user_id"))
    if client.owner_id is not None:
        sees |= Q(pk=client.owner_id)
    if client.desk_id is not None:
        # A desk manager sees the clients of their own desk and of the desks they manage.
        sees |= Q(role__code=RoleCode.DESK_MANAGER) & (
            Q(desk_id=client.desk_id)
            | Q(pk__in=Desk.objects.filter(pk=client.desk_id, manager__isnull=False).order_by().values("manager_id"))
        )
    return User.objects.filter(Q(is_active=True) & (admin | (in_brand & sees)))


def task_queryset_for_user(user: Any) -> QuerySet[Task]:
    """Tasks `user` may open: assigned to or created by them, or about a client they can see."""
    if not _active(user):
        return Task.objects.none()
    if user.is_administrator:
        return Task.objects.all()
    return Task.objects.filter(
        Q(assignee_id=user.pk)
        | Q(created_by_id=user.pk)
        | Q(client_id__in=client_queryset_for_user(user).values("pk"))
    )


def task_get_for_user(user: Any, code: Any, *, for_update: bool = False) -> Task:
    """The task with `code` if `user` may open it, else NotFound."""
    qs = task_queryset_for_user(user).select_related("client", "assignee", "created_by")
    if for_update:
        qs = qs.select_for_update(of=("self",))
    try:
        return qs.get(code=code_or_404(code))
    except Task.DoesNotExist:
        raise NotFound() from None


def note_get_for_user(user: Any, code: Any) -> Note:
    """The note with `code` if `user` can see its client, else NotFound: note access follows the client."""
    try:
        return (
            Note.objects.select_related("client", "author")
            .filter(client_id__in=client_queryset_for_user(user).values("pk"))
            .get(code=code_or_404(code))
        )
    except Note.DoesNotExist:
        raise NotFound() from None


# --- contact reveals that last for the visit -----------------------------------------------------

REVEAL_SESSION_KEY = "crm_revealed"
REVEALABLE = ("email", "phone")
# The session remembers reveals of at most this many clients (the oldest are forgotten first), so a
# long visit cannot grow it without bound.
REVEALS_REMEMBERED = 200


def _fingerprint(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:16]


def contact_reveal_remember(*, session: Any, client: Client, field: str) -> None:
    """Remember in the visit's session that `field` of `client` was revealed (the reveal itself was
    logged by crm.services.client_contact_reveal). Only a fingerprint of the value is kept: the
    session never holds the personal data, and a value changed since is masked again."""
    if field not in REVEALABLE:
        return
    seen: dict[str, dict[str, str]] = dict(session.get(REVEAL_SESSION_KEY) or {})
    entry = dict(seen.pop(str(client.code), {}))
    entry[field] = _fingerprint(getattr(client, field) or "")
    seen[str(client.code)] = entry  # re-inserted: the newest last
    while len(seen) > REVEALS_REMEMBERED:
        seen.pop(next(iter(seen)))
    session[REVEAL_SESSION_KEY] = seen


def contact_revealed(*, session: Any, user: Any, client: Client) -> dict[str, str]:
    """The contact fields of `client` revealed earlier in this visit, in clear ({"phone": "+44..."}),
    for a user who may still reveal them. Showing them again is not a new reveal and logs nothing."""
    if not user_can(user, "crm.reveal_contact"):
        return {}
    entry = (session.get(REVEAL_SESSION_KEY) or {}).get(str(client.code)) or {}
    out: dict[str, str] = {}
    for field, mark in entry.items():
        value = getattr(client, field, "") if field in REVEALABLE else ""
        if value and _fingerprint(value) == mark:
            out[field] = value
    return out


# --- who may give work to whom -------------------------------------------------------------------


def visible_brands(user: Any) -> QuerySet[Brand]:
    """The brands a user works with: all of them for administrators and all-brand users."""
    if user.is_administrator or user.all_brands:
        return Brand.objects.all()
    return Brand.objects.filter(staff=user)


def desks_run_by(user: Any) -> QuerySet[Desk]:
    """The desks a desk manager answers for: those they manage and their own."""
    desk_filter = Q(manager_id=user.pk)
    if getattr(user, "desk_id", None):
        desk_filter |= Q(pk=user.desk_id)
    return Desk.objects.filter(desk_filter)


# Who owns clients: the roles routing and the assignment pages give clients to.
AGENT_ROLES: tuple[str, ...] = (RoleCode.SALES_AGENT, RoleCode.RETENTION_AGENT)


def assignable_agents(user: Any, *, brand_id: int | None = None) -> QuerySet[User]:
    """The active agents `user` may give clients to (of `brand_id` when given), by name: the
    choices every assignment page offers, following assignment_refusal: administrators any agent,
    a desk manager the agents of the desks they run, nobody for those without the permission."""
    qs = User.objects.filter(is_active=True, role__code__in=AGENT_ROLES).select_related("desk", "role")
    if brand_id is not None:
        qs = qs.filter(Q(all_brands=True) | Q(brands=brand_id)).distinct()
    if getattr(user, "is_administrator", False):
        return qs.order_by("full_name", "id")
    if not user_can(user, "crm.assign_client"):
        return qs.none()
    if getattr(user, "role_code", None) == RoleCode.DESK_MANAGER:
        qs = qs.filter(desk_id__in=desks_run_by(user).values("pk"))
    return qs.order_by("full_name", "id")


def assignment_refusal(actor: Any, *, owner: User | None, desk: Desk | None) -> str | None:
    """Why `actor` may not give a client to `owner` on `desk` (the desk the client will be on), or
    None when they may. One rule for every page and API operation that assigns (crm.services.
    client_assign calls it): the system and API keys (actor None) and administrators assign within
    the brand; a desk manager only to the desks they run and their agents; anyone else needs the
    assign permission. The brand itself is checked by the service."""
    if actor is None or getattr(actor, "is_administrator", False):
        return None
    if not user_can(actor, "crm.assign_client"):
        return gettext("You are not allowed to assign clients.")
    if actor.role_code == RoleCode.DESK_MANAGER:
        run = set(desks_run_by(actor).values_list("pk", flat=True))
        if (desk is not None and desk.pk not in run) or (owner is not None and owner.desk_id not in run):
            return gettext("You can assign only to agents of your own desks.")
        if desk is None and owner is None:
            return gettext("You can assign only to agents of your own desks.")
    return None


def task_assignee_refusal(actor: Any, assignee: User, *, brand_id: int | None) -> str | None:
    """Why `actor` may not give a task to `assignee`, or None. Staff give work to themselves and to
    colleagues of a brand they share (of the client's brand when the task is about a client);
    administrators and the system to anyone."""
    if actor is None or getattr(actor, "is_administrator", False) or assignee.pk == actor.pk:
        return None
    if assignee.is_administrator:
        return None  # anyone may ask an administrator for help
    if brand_id is not None:
        works_there = assignee.all_brands or assignee.brands.filter(pk=brand_id).exists()
        return None if works_there else gettext("This user does not work for the client's brand.")
    if actor.all_brands or assignee.all_brands:
        return None
    shared = User.brands.through.objects.filter(user_id=assignee.pk, brand_id__in=_brand_ids(actor)).exists()
    return None if shared else gettext("You can give tasks only to colleagues of your brands.")


# --- staff restrictions ----------------------------------------------------------------------------

RESTRICT_PERMISSION = "crm.restrict_staff"


def staff_restriction_refusal(actor: Any, user: User) -> str | None:
    """Why `actor` may not restrict `user` or lift their restriction, or None when they may. The
    system (actor None) and administrators may; otherwise "crm.restrict_staff" is needed, and a desk
    manager restricts only members of the desks they run, anyone else only colleagues of a brand
    they share. Nobody restricts or lifts a restriction of themselves."""
    if actor is not None and actor.pk == user.pk:
        return gettext("You cannot restrict yourself or lift your own restriction.")
    if actor is None or getattr(actor, "is_administrator", False):
        return None
    if not user_can(actor, RESTRICT_PERMISSION):
        return gettext("You are not allowed to restrict staff.")
    if actor.role_code == RoleCode.DESK_MANAGER:
        if user.desk_id is None or not desks_run_by(actor).filter(pk=user.desk_id).exists():
            return gettext("You can restrict only members of your own desks.")
        return None
    if actor.all_brands or user.all_brands:
        return None
    shared = User.brands.through.objects.filter(user_id=user.pk, brand_id__in=_brand_ids(actor)).exists()
    return None if shared else gettext("You can restrict only colleagues of your brands.")
