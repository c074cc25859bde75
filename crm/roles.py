"""Staff roles and what each may do.

Permissions live on each Role's auth Group. `ROLE_PERMISSIONS` is the source of truth;
`roles_sync()` makes the database match it (idempotently) and runs after every `migrate`, so a
fresh database always has every role. Which clients a user sees (scope) is decided in
`crm.permissions.client_queryset_for_user`; "crm.view_all_clients" widens an ordinary role's
scope to every client of the user's brands.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections, transaction

from crm.models import Client, Role, RoleCode

logger = logging.getLogger(__name__)

# Permissions that are not declared on a model's Meta: roles_sync creates them on Client.
EXTRA_CLIENT_PERMISSIONS: dict[str, str] = {
    "assign_client": "Can assign a client to an owner or desk and share it",
    "override_client_stage": "Can override a client's stage (any move, with a reason)",
}

# Every member of staff works clients' notes and their own tasks.
_STAFF_BASE = [
    "crm.view_client",
    "crm.view_note", "crm.add_note",
    "crm.view_task", "crm.add_task", "crm.change_task",
    "crm.view_notification",
]
_AGENT = [*_STAFF_BASE, "crm.add_client", "crm.change_client", "crm.reveal_contact"]


def _model_perms(model: str, actions: tuple[str, ...] = ("view", "add", "change", "delete")) -> list[str]:
    return [f"crm.{action}_{model}" for action in actions]


_ADMIN = sorted({
    *_STAFF_BASE,
    *_model_perms("client"), "crm.reveal_contact", "crm.view_all_clients", "crm.assign_client",
    "crm.override_client_stage",
    *_model_perms("note"), *_model_perms("task"), "crm.view_notification",
    *_model_perms("brand"), *_model_perms("desk"), *_model_perms("user"), *_model_perms("role", ("view", "change")),
    *_model_perms("apikey", ("view", "add", "change")),
    *_model_perms("automationrule"), *_model_perms("emailtemplate", ("view", "add", "change")),
    "crm.view_automationrun",
    "crm.view_event", "crm.view_eventdelivery", "crm.change_eventdelivery",
    # The audit trail is read-only for everyone: the database refuses changes anyway.
    "crm.view_auditlog", "crm.view_accessevent",
})

ROLE_PERMISSIONS: dict[str, list[str]] = {
    RoleCode.ADMIN: _ADMIN,
    RoleCode.DESK_MANAGER: sorted({*_AGENT, "crm.assign_client", "crm.view_accessevent", "crm.view_user",
                                   "crm.view_desk"}),
    RoleCode.SALES_AGENT: sorted(_AGENT),
    RoleCode.RETENTION_AGENT: sorted(_AGENT),
    RoleCode.COMPLIANCE: sorted({*_STAFF_BASE, "crm.change_client", "crm.reveal_contact", "crm.view_all_clients",
                                 "crm.view_auditlog", "crm.view_accessevent", "crm.view_event", "crm.view_user"}),
    RoleCode.FINANCE: sorted({*_STAFF_BASE, "crm.reveal_contact", "crm.view_all_clients"}),
    RoleCode.IB_MANAGER: sorted({*_STAFF_BASE, "crm.view_all_clients"}),
    RoleCode.DEALER: sorted({*_STAFF_BASE, "crm.view_all_clients"}),
}

# Trading (trading.models): every role that works clients sees their trading accounts; dealers change
# them and watch deals and servers; finance moves money; administrators configure the servers;
# retention agents and desk managers work the retention workspace.
_TRADING_VIEW = ["trading.view_tradingaccount", "trading.view_position", "trading.view_balanceoperation"]
for _code, _perms in {
    RoleCode.ADMIN: [*_TRADING_VIEW, "trading.add_tradingaccount", "trading.change_tradingaccount",
                     "trading.reset_trading_password", "trading.add_balanceoperation", "trading.view_deal",
                     "trading.view_platformserver", "trading.add_platformserver", "trading.change_platformserver",
                     "trading.work_retention"],
    RoleCode.DEALER: [*_TRADING_VIEW, "trading.add_tradingaccount", "trading.change_tradingaccount",
                      "trading.reset_trading_password", "trading.view_deal", "trading.view_platformserver"],
    RoleCode.FINANCE: [*_TRADING_VIEW, "trading.add_balanceoperation", "trading.view_deal"],
    RoleCode.COMPLIANCE: [*_TRADING_VIEW, "trading.view_deal"],
    RoleCode.DESK_MANAGER: [*_TRADING_VIEW, "trading.add_tradingaccount", "trading.reset_trading_password",
                            "trading.work_retention"],
    RoleCode.SALES_AGENT: [*_TRADING_VIEW, "trading.add_tradingaccount", "trading.reset_trading_password"],
    RoleCode.RETENTION_AGENT: [*_TRADING_VIEW, "trading.add_tradingaccount", "trading.reset_trading_password",
                               "trading.work_retention"],
    RoleCode.IB_MANAGER: ["trading.view_tradingaccount"],
}.items():
    ROLE_PERMISSIONS[_code] = sorted({*ROLE_PERMISSIONS[_code], *_perms})

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
    """Permission rows for every name in ROLE_PERMISSIONS, keyed "app_label.codename"."""
    wanted = {perm for perms in ROLE_PERMISSIONS.values() for perm in perms}
    client_ct = ContentType.objects.db_manager(using).get_for_model(Client)
    for codename, name in EXTRA_CLIENT_PERMISSIONS.items():
        Permission.objects.using(using).get_or_create(
            content_type=client_ct, codename=codename, defaults={"name": name}
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
        # is a typo in ROLE_PERMISSIONS or a model that no longer exists.
        raise ImproperlyConfigured(f"ROLE_PERMISSIONS names permissions that do not exist: {', '.join(missing)}")
    return found


def roles_sync(*, using: str = DEFAULT_DB_ALIAS) -> SyncReport:
    """Create every Role with its Group, and set each Group's permissions to ROLE_PERMISSIONS.

    Idempotent. Existing roles keep their name and their `requires_2fa` setting.
    """
    created: list[str] = []
    updated: list[str] = []
    with transaction.atomic(using=using):
        perms = _ensure_permissions(using)
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
            want = {perms[name].pk for name in ROLE_PERMISSIONS[code]}
            have = set(group.permissions.values_list("pk", flat=True))
            if want != have:
                group.permissions.set(want)
                if code not in created:
                    updated.append(code)
    return SyncReport(created=created, updated=updated)


def roles_sync_after_migrate(sender: Any, *, using: str = DEFAULT_DB_ALIAS, plan: Any = None, **_: Any) -> None:
    """post_migrate receiver (connected in CrmConfig.ready)."""
    tables = connections[using].introspection.table_names()
    needed = {Role._meta.db_table, Group._meta.db_table, Permission._meta.db_table}
    if not needed <= set(tables):
        return  # migrated backwards, or only part of the way: nothing to sync yet
    report = roles_sync(using=using)
    if report.created or report.updated:
        logger.info("roles synced", extra={"roles_created": report.created, "roles_updated": report.updated})
