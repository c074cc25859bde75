"""The API of the core's resources (clients and their notes, tasks): routers over crm's services and
selectors, mounted by integrations.assembly first, and the scopes they need."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from crm.registry import ApiScope

# Registered by IntegrationsConfig.ready() (crm.registry.contribute), first in the key form's order.
CORE_API_SCOPES = [
    ApiScope("clients:read", _("List and read clients, with email and phone in full."), order=10),
    ApiScope("clients:write", _("Create and update clients."), order=20),
    ApiScope("notes:read", _("Read clients' notes."), order=30),
    ApiScope("notes:write", _("Add notes to clients."), order=40),
    ApiScope("tasks:read", _("List and read tasks about the brand's clients."), order=50),
    ApiScope("tasks:write", _("Create tasks, complete and reopen them."), order=60),
]
