"""Finding an imported client by the old system's id: a member of staff types "OLD-10023" (a client's
old id, or the old id of anything imported for a client: a KYC verification, a withdrawal, a
transaction's reference) in the top bar's search and gets the client, if they may see them.

The core's search knows no app; its dropdown shows what this registers (crm.registry.SEARCH_EXTRAS,
from IntegrationsConfig.ready). The lookup is the ImportedRef's old-id index,
then the clients through the user's scope (crm.permissions.client_queryset_for_user), so a client
outside the user's book is not found, just as the search does not find them by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext

from crm.models import Client
from crm.permissions import client_queryset_for_user
from integrations.models import ImportedRef

LIMIT = 10
_MAX_LENGTH = 200  # ImportedRef.old_id


@dataclass(frozen=True)
class OldIdMatch:
    client: Client
    source: str  # the old system's name (mapping.json's source)
    kind: str  # what had the old id: client, kyc, withdrawal, transaction ...
    old_id: str

    @property
    def why(self) -> str:
        return gettext("Old id %(old_id)s in %(source)s") % {"old_id": self.old_id, "source": self.source}


def imported_client_search(*, user: Any, q: str, limit: int = LIMIT) -> list[OldIdMatch]:
    """The clients `user` may see that an old id equal to `q` (as typed, or in upper or lower case)
    belongs to, the client's own old id first; at most `limit`."""
    q = " ".join((q or "").split())
    if not q or len(q) > _MAX_LENGTH:
        return []
    refs = list(ImportedRef.objects.filter(old_id__in={q, q.upper(), q.lower()}, client_code__isnull=False)
                .order_by("id")[:50])
    if not refs:
        return []
    clients = {c.code: c for c in client_queryset_for_user(user).filter(code__in={r.client_code for r in refs})
               .select_related("brand")}
    refs.sort(key=lambda r: (r.kind != "client", r.id))
    found: dict[Any, OldIdMatch] = {}
    for ref in refs:
        client = clients.get(ref.client_code) if ref.client_code is not None else None
        if client is not None and client.code not in found:
            found[client.code] = OldIdMatch(client=client, source=ref.source, kind=ref.kind, old_id=ref.old_id)
    return list(found.values())[:limit]


def old_id_search_extra(user: Any, q: str) -> list[OldIdMatch]:
    """The search dropdown's extra (crm.registry.SEARCH_EXTRAS): nothing for a user not signed in."""
    if user is None or not getattr(user, "is_authenticated", False):
        return []
    return imported_client_search(user=user, q=q)
