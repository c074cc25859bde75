"""Domain-event subscribers of leads (loaded by crm.events.autodiscover_handlers)."""

from __future__ import annotations

from typing import Any

from crm.events import subscribe
from crm.models import Client, Note
from leads import dedupe
from leads.models import LeadContactState
from leads.services import lead_mark_contacted
from leads.services.assignment import lead_owner_follow


@subscribe("note.added")
def first_contact_by_note(event: Any) -> None:
    """A note written by the lead's owner is the first contact (until calls are logged)."""
    client = event.client
    if client is None or event.actor_id is None or client.owner_id != event.actor_id:
        return
    if not LeadContactState.objects.filter(client_id=client.pk, contacted_at__isnull=True).exists():
        return  # not a routed lead, or contacted already
    note_code = (event.data or {}).get("note")
    note = Note.objects.filter(code=note_code).only("created_at").first() if note_code is not None else None
    lead_mark_contacted(actor=event.actor, client=client, via="note",
                        at=note.created_at if note is not None else event.occurred_at)


@subscribe("client.created", "client.updated")
def contact_keys_follow_client(event: Any) -> None:
    """Clients created or edited outside intake (staff pages, the clients API) get their contact keys,
    so the next lead with the same email or phone finds them."""
    if event.client_id is None or (event.data or {}).get("via") == "lead_intake":
        return  # intake writes the keys itself
    if event.name == "client.updated" and not {"email", "phone"} & set((event.data or {}).get("fields", [])):
        return
    client = Client.objects.filter(pk=event.client_id).first()
    if client is not None and "merged" not in client.tags:
        dedupe.contact_keys_sync(client)


@subscribe("client.assigned")
def first_contact_follows_owner(event: Any) -> None:
    """A lead given an owner on the client's page or list, through the API or by a rule starts its
    first-contact window, and gets its first call, as one given out on the lead queue does."""
    owner = ((event.data or {}).get("owner") or {}).get("to") or {}
    if event.client_id is None or not owner.get("code"):
        return
    lead_owner_follow(client_id=event.client_id, owner_code=str(owner["code"]), actor=event.actor,
                      reason=str((event.data or {}).get("reason") or ""))
