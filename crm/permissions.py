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

import uuid
from typing import Any

from django.db.models import F, Lookup, Q, QuerySet, Subquery

from crm.exceptions import NotFound
from crm.models import Client, ClientUserObjectPermission, Desk, Note, RoleCode, Task, User

SHARE_PERMISSION = "view_client"


def _active(user: Any) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False) and user.is_active)


def _role_perms(user: User) -> frozenset[str]:
    """The "app_label.codename" permissions of the user's role group, cached on the instance."""
    cached = getattr(user, "_crm_role_perm_cache", None)
    if cached is None:
        if user.role_id:
            from django.contrib.auth.models import Permission

            rows = Permission.objects.filter(group__crm_role__pk=user.role_id).values_list(
                "content_type__app_label", "codename"
            )
            cached = frozenset(f"{app}.{codename}" for app, codename in rows)
        else:
            cached = frozenset()
        user._crm_role_perm_cache = cached  # type: ignore[attr-defined]
    return cached


def user_can(user: Any, perm: str) -> bool:
    """Whether `user` holds the model-level permission `perm` ("crm.reveal_contact").

    Role permissions come from the role's group, even when the user was not added to it;
    permissions granted to the user directly or through other groups count too.
    """
    if not _active(user):
        return False
    if user.is_superuser:
        return True
    return perm in _role_perms(user) or user.has_perm(perm)


class _EqualsAnyOf(Lookup):
    """`field = ANY(ARRAY(subquery))`: unlike `IN (subquery)`, an indexable condition."""

    lookup_name = "equals_any_of"
    prepare_rhs = False

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = compiler.compile(self.rhs)
        return f"{lhs} = ANY(ARRAY{rhs})", [*lhs_params, *rhs_params]


def _any(field: str, subquery: QuerySet[Any]) -> _EqualsAnyOf:
    return _EqualsAnyOf(F(field), Subquery(subquery))


def _brand_ids(user: User) -> QuerySet[Any]:
    return User.brands.through.objects.filter(user_id=user.pk).order_by().values("brand_id")


def client_queryset_for_user(user: Any) -> QuerySet[Client]:
    """Every client `user` may see, as one SQL-scoped queryset (see the module docstring)."""
    qs = Client.objects.all()
    if not _active(user):
        return qs.none()
    if user.is_administrator:
        return qs
    if not user.all_brands:
        qs = qs.filter(brand_id__in=_brand_ids(user))
    if user_can(user, "crm.view_all_clients"):
        return qs
    grants = ClientUserObjectPermission.objects.filter(
        user_id=user.pk,
        permission__codename=SHARE_PERMISSION,
        permission__content_type__app_label="crm",
    ).order_by().values("content_object_id")
    # `= ANY(ARRAY(subquery))` rather than `IN (subquery)`: PostgreSQL can combine it with the owner
    # index in a bitmap OR, so a small book is found by index and a large one by the date index.
    visible = Q(owner_id=user.pk) | Q(_any("pk", grants))
    if user.role_code == RoleCode.DESK_MANAGER:
        desk_filter = Q(manager_id=user.pk)
        if user.desk_id:
            desk_filter |= Q(pk=user.desk_id)
        visible |= Q(_any("desk_id", Desk.objects.filter(desk_filter).order_by().values("pk")))
    return qs.filter(visible)


def _as_uuid(code: Any) -> uuid.UUID:
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
    if for_update:
        qs = qs.select_for_update(of=("self",))
    try:
        return qs.get(code=_as_uuid(code))
    except Client.DoesNotExist:
        raise NotFound() from None


def client_visible_to(user: Any, client: Client) -> bool:
    """Whether `client` is within `user`'s scope (one indexed query)."""
    return client_queryset_for_user(user).filter(pk=client.pk).exists()


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
        return qs.get(code=_as_uuid(code))
    except Task.DoesNotExist:
        raise NotFound() from None


def note_get_for_user(user: Any, code: Any) -> Note:
    """The note with `code` if `user` can see its client, else NotFound: note access follows the client."""
    try:
        return (
            Note.objects.select_related("client", "author")
            .filter(client_id__in=client_queryset_for_user(user).values("pk"))
            .get(code=_as_uuid(code))
        )
    except Note.DoesNotExist:
        raise NotFound() from None
