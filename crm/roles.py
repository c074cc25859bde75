"""Staff roles and what each may do.

Permissions live on each Role's auth Group. What each app grants each role is registered from
the app's AppConfig.ready() (`crm.registry.contribute(app, permissions={role: [...]})`; the core's
own grants are `CORE_PERMISSIONS` below); `roles_sync()` makes the database match their union
(idempotently) and runs after every `migrate`, so a fresh database always has every role. Which clients a user sees (scope) is decided in
`crm.permissions.client_queryset_for_user`; "crm.view_all_clients" widens an ordinary role's
scope to every client of the user's brands.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.apps import apps as global_apps
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections, transaction

from crm.models import Role, RoleCode
from crm.registry import CUSTOM_PERMISSIONS, CustomPermission, role_permissions

logger = logging.getLogger(__name__)

# Permissions that are not declared on a model's Meta: roles_sync creates them on Client.
CORE_CUSTOM_PERMISSIONS = [
    CustomPermission("crm.client", "assign_client", "Can assign a client to an owner or desk and share it"),
    CustomPermission("crm.client", "override_client_stage", "Can override a client's stage (any move, with a reason)"),
    CustomPermission("crm.client", "classify_client",
                     "Can classify a client as retail, professional or eligible counterparty"),
    CustomPermission("crm.client", "email_client", "Can write emails to a client from the profile"),
    CustomPermission("crm.client", "export_client", "Can export the client list (CSV, XLSX) as they see it"),
    CustomPermission("crm.user", "restrict_staff",
                     "Can restrict a member of staff (no reveals, no exports, read-only) and lift it"),
]

# Every member of staff works clients' notes and their own tasks.
_STAFF_BASE = [
    "crm.view_client",
    "crm.view_note", "crm.add_note",
    "crm.view_task", "crm.add_task", "crm.change_task",
    "crm.view_notification",
]
# Those who work a book write to their clients (the profile's email composer).
_AGENT = [*_STAFF_BASE, "crm.add_client", "crm.change_client", "crm.reveal_contact", "crm.email_client"]


def _model_perms(model: str, actions: tuple[str, ...] = ("view", "add", "change", "delete")) -> list[str]:
    return [f"crm.{action}_{model}" for action in actions]


_ADMIN = sorted({
    *_STAFF_BASE,
    *_model_perms("client"), "crm.reveal_contact", "crm.view_all_clients", "crm.assign_client",
    "crm.override_client_stage", "crm.classify_client", "crm.export_client", "crm.email_client",
    *_model_perms("note"), *_model_perms("task"), "crm.view_notification",
    *_model_perms("brand"), *_model_perms("desk"), *_model_perms("user"), *_model_perms("role", ("view", "change")),
    *_model_perms("apikey", ("view", "add", "change")),
    "crm.view_event", "crm.view_eventdelivery", "crm.change_eventdelivery",
    # The audit trail is read-only for everyone: the database refuses changes anyway.
    "crm.view_auditlog", "crm.view_accessevent", "crm.restrict_staff",
})

CORE_PERMISSIONS: dict[str, list[str]] = {
    RoleCode.ADMIN: _ADMIN,
    RoleCode.DESK_MANAGER: sorted({*_AGENT, "crm.assign_client", "crm.view_accessevent", "crm.view_user",
                                   "crm.view_desk", "crm.export_client", "crm.restrict_staff"}),
    RoleCode.SALES_AGENT: sorted(_AGENT),
    RoleCode.RETENTION_AGENT: sorted(_AGENT),
    RoleCode.COMPLIANCE: sorted({*_STAFF_BASE, "crm.change_client", "crm.reveal_contact", "crm.view_all_clients",
                                 "crm.classify_client", "crm.export_client",
                                 "crm.view_auditlog", "crm.view_accessevent", "crm.view_event", "crm.view_user",
                                 "crm.restrict_staff"}),
    RoleCode.FINANCE: sorted({*_STAFF_BASE, "crm.reveal_contact", "crm.view_all_clients"}),
    RoleCode.IB_MANAGER: sorted({*_STAFF_BASE, "crm.view_all_clients"}),
    RoleCode.DEALER: sorted({*_STAFF_BASE, "crm.view_all_clients"}),
}

# Privileged by default (an administrator may change it later; roles_sync never overrides it).
ROLES_REQUIRING_2FA: frozenset[str] = frozenset({RoleCode.ADMIN, RoleCode.COMPLIANCE, RoleCode.FINANCE})


def role_group_name(code: str) -> str:
    return f"role:{code}"


@dataclass(frozen=True)
class SyncReport:
    created: list[str]
    updated: list[str]

    def __str__(self) -> str:
        return f"roles created: {', '.join(self.created) or 'none'}; permissions changed: " \
               f"{', '.join(self.updated) or 'none'}"


def _ensure_permissions(using: str) -> dict[str, Permission]:
    """Permission rows for every name the roles are granted, keyed "app_label.codename"."""
    wanted = {perm for perms in role_permissions().values() for perm in perms}
    for custom in CUSTOM_PERMISSIONS:
        content_type = ContentType.objects.db_manager(using).get_for_model(global_apps.get_model(custom.model))
        Permission.objects.using(using).get_or_create(
            content_type=content_type, codename=custom.codename, defaults={"name": custom.name}
        )
    found = {
        f"{app_label}.{codename}": perm
        for perm, app_label, codename in (
            (p, p.content_type.app_label, p.codename)
            for p in Permission.objects.using(using).select_related("content_type").filter(
                content_type__app_label__in={name.split(".", 1)[0] for name in wanted}
            )
        )
    }
    missing = sorted(wanted - found.keys())
    if missing:
        # Permissions are created by auth's own post_migrate handler; a name that is still missing
        # is a typo in an app's grants or a model that no longer exists.
        raise ImproperlyConfigured(f"Roles are granted permissions that do not exist: {', '.join(missing)}")
    return found


def roles_sync(*, using: str = DEFAULT_DB_ALIAS) -> SyncReport:
    """Create every Role with its Group, and set each Group's permissions to what the apps grant it.

    Idempotent. Existing roles keep their name and their `requires_2fa` setting.
    """
    created: list[str] = []
    updated: list[str] = []
    with transaction.atomic(using=using):
        perms = _ensure_permissions(using)
        granted = role_permissions()
        for code, label in RoleCode.choices:
            group, _ = Group.objects.using(using).get_or_create(name=role_group_name(code))
            role = Role.objects.using(using).filter(code=code).first()
            if role is None:
                role = Role(code=code, name=str(label), group=group, requires_2fa=code in ROLES_REQUIRING_2FA)
                role.save(using=using)
                created.append(code)
            elif role.group_id != group.pk:
                # The role was linked to another group by hand; its permissions follow the role's group.
                group = role.group
            want = {perms[name].pk for name in granted.get(code, [])}
            have = set(group.permissions.values_list("pk", flat=True))
            if want != have:
                group.permissions.set(want)
                if code not in created:
                    updated.append(code)
    return SyncReport(created=created, updated=updated)


def roles_sync_after_migrate(sender: Any, *, using: str = DEFAULT_DB_ALIAS, plan: Any = None, apps: Any = None,
                             **_: Any) -> None:
    """post_migrate receiver (connected in CrmConfig.ready).

    crm migrates before the apps that grant roles their permissions, so every installed app's
    permissions are created here first (from the migrated state: an app not migrated yet is skipped).
    """
    tables = connections[using].introspection.table_names()
    needed = {Role._meta.db_table, Group._meta.db_table, Permission._meta.db_table}
    if not needed <= set(tables):
        return  # migrated backwards, or only part of the way: nothing to sync yet
    _create_all_permissions(using=using, state_apps=apps)
    report = roles_sync(using=using)
    if report.created or report.updated:
        logger.info("roles synced", extra={"roles_created": report.created, "roles_updated": report.updated})


def _create_all_permissions(*, using: str, state_apps: Any) -> None:
    from django.contrib.auth.management import create_permissions
    from django.contrib.contenttypes.management import create_contenttypes

    for config in global_apps.get_app_configs():
        if state_apps is not None and not any(True for _ in _state_models(state_apps, config.label)):
            continue
        create_contenttypes(config, verbosity=0, using=using, apps=state_apps or global_apps)
        create_permissions(config, verbosity=0, using=using, apps=state_apps or global_apps)


def _state_models(state_apps: Any, label: str) -> list[Any]:
    try:
        return list(state_apps.get_app_config(label).get_models())
    except LookupError:
        return []
