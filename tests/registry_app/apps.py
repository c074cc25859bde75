"""An app the core has never heard of, installed only in the test settings.

It adds a role permission, a menu entry, an API scope, an event with its timeline label, a profile
tab and a playbook rule, all from its own AppConfig.ready() and its own modules (urls.py, api.py,
event_types.py), so that tests/crm/test_registry_app.py can show that adding an app needs no edit
under crm/.
"""

from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RegistryAppConfig(AppConfig):
    name = "tests.registry_app"
    label = "registry_app"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from crm.models import RoleCode
        from crm.registry import ApiScope, ClientTab, NavItem, PlaybookRule, TimelineKind, contribute

        contribute(
            "registry_app",
            permissions={RoleCode.DEALER: ["registry_app.view_gadget"], RoleCode.ADMIN: ["registry_app.view_gadget"]},
            navigation=[NavItem("gadgets", _("Gadgets"), "registry_app_gadgets", "flag",
                                permission="registry_app.view_gadget", order=400)],
            api_scopes=[ApiScope("gadgets:read", _("Read gadgets."), order=900)],
            timeline=[TimelineKind("gadget.polished", _("Gadget polished"), "tick",
                                   lambda event: str(event.data.get("shine", "")))],
            tabs=[ClientTab(key="gadgets", label=_("Gadgets"), template="registry_app/client_tab.html",
                            permission="registry_app.view_gadget", order=90)],
            playbook=[PlaybookRule({
                "name": "Gadget polished: tell the owner", "trigger": "gadget.polished", "conditions": [],
                "actions": [{"type": "notify", "who": "owner", "title": "Gadget polished", "body": ""}],
            }, order=900)],
        )
