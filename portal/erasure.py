"""The trader's room's part of an erasure (compliance.erasure): the client's login goes (its email, password,
second factor and sessions with it), so that nobody signs in as the erased client again. Registered from
PortalConfig.ready: compliance sits below the portal."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import transaction

from crm.audit import audit_record
from portal.models import ClientLogin

if TYPE_CHECKING:
    from crm.models import Client, User


@transaction.atomic
def client_login_erase(*, client: Client, actor: User | None) -> int:
    """Delete the client's trader's-room login and its sessions; audited with the count. Returns 1 or 0."""
    removed = ClientLogin.objects.filter(client=client).delete()[1].get(ClientLogin._meta.label, 0)
    audit_record(action="portal.login_erase", obj=client, after={"logins": removed}, actor=actor)
    return removed


def _erase(client: Client, actor: User | None) -> int:
    return client_login_erase(client=client, actor=actor)


def register() -> None:
    from compliance.services import ErasureStep, erasure_step_register

    erasure_step_register(ErasureStep("portal_login", _erase))
