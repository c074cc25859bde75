"""The side navigation: the top-level pages a user may open, from what the apps registered.

Each app registers its entries from its AppConfig.ready() (`crm.registry.contribute(app,
navigation=[NavItem(...)])`); the core's are `CORE_NAVIGATION`. An entry is shown on the same
terms as its page opens (its permission, administrators only, or every member of staff), so the
menu neither hides a page a role may open nor offers one it may not: tests/crm/test_navigation.py
walks every role's menu to hold that.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.urls import NoReverseMatch, get_script_prefix, get_urlconf, reverse
from django.utils.translation import gettext_lazy as _

from crm.registry import NAVIGATION, NavItem


def nav_item_visible(item: NavItem, user: Any) -> bool:
    from crm.permissions import user_can

    if item.admin_only:
        return bool(user.is_administrator)
    return item.permission is None or user_can(user, item.permission)


# Each entry's URL, reversed once per URL configuration and script prefix (None: no such page):
# the menu is on every page, some sixty entries for an administrator.
_URLS: dict[tuple[str, Any, str], str | None] = {}


def _nav_url(url_name: str) -> str | None:
    key = (url_name, get_urlconf() or settings.ROOT_URLCONF, get_script_prefix())
    if key not in _URLS:
        try:
            _URLS[key] = reverse(url_name)
        except NoReverseMatch:
            _URLS[key] = None
    return _URLS[key]


def nav_items_for(user: Any) -> list[dict[str, Any]]:
    items = []
    for item in NAVIGATION:
        if not nav_item_visible(item, user):
            continue
        url = _nav_url(item.url_name)
        if url is None:
            continue
        items.append({"key": item.key, "label": item.label, "url": url, "icon": item.icon})
    return items


@receiver(setting_changed)
def _forget_urls(*, setting: str, **_kwargs: Any) -> None:
    if setting == "ROOT_URLCONF":
        _URLS.clear()


# Registered by CrmConfig.ready() with the other apps' entries (crm.registry.contribute).
CORE_NAVIGATION = [
    NavItem("home", _("Dashboard"), "home", "home", order=10),
    NavItem("clients", _("Clients"), "client_list", "users", order=20),
    NavItem("tasks", _("My tasks"), "task_list", "check", order=30),
    NavItem("notifications", _("Notifications"), "notification_list", "bell", order=40),
    NavItem("jobs", _("My jobs"), "job_list", "check", order=190),
    NavItem("deliveries", _("Event deliveries"), "delivery_list", "alert", admin_only=True, order=820),
    NavItem("event_catalogue", _("Event catalogue"), "event_catalogue", "note", admin_only=True, order=830),
    NavItem("audit", _("Audit log"), "audit_list", "shield", permission="crm.view_auditlog", order=840),
    NavItem("staff", _("Staff"), "staff_list", "user", admin_only=True, order=860),
    NavItem("roles", _("Roles"), "role_list", "shield", admin_only=True, order=870),
]
