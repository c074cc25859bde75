"""The KYC approval is the proof that makes a client verified (crm.models.stages)."""

from __future__ import annotations

from django.utils.translation import gettext_noop

from crm.events import subscribe
from crm.lib.payloads import client_url
from crm.models import Event
from crm.services import client_stage_prove, notify_user
from kyc.event_types import KYC_APPROVAL


@subscribe("kyc.approved")
def client_verified(event: Event) -> None:
    """A lead or registered client becomes verified; a client already further on stays where it is."""
    if event.client is None:
        return
    client_stage_prove(client=event.client, proof=KYC_APPROVAL, actor=event.actor,
                       evidence={"event": str(event.uuid), "level": str((event.data or {}).get("level", ""))})


@subscribe("kyc.approved")
def owner_told(event: Event) -> None:
    """The client's agent learns that the client is verified: the moment to call about funding."""
    client = event.client
    if client is None or client.owner is None:
        return
    notify_user(client.owner, kind="kyc_approved", title=gettext_noop("%(name)s is verified"),
                params={"name": client.full_name}, url=client_url(client, tab="kyc"), actor=event.actor)
