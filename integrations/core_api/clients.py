"""Clients and their notes.

Scope: an API key sees every client of its brand and nothing else; a staff session sees what the
user sees in the pages (crm.permissions). A client outside the caller's scope is 404, exactly
like one that does not exist (crm.api.client_for, which the apps' routers nested under a client use too).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Query, Router, Status

from crm import services
from crm.api import Caller, PageIn, caller_of, client_for, key_clients, paginate, requires_scope
from crm.exceptions import ValidationFailed
from crm.models import Brand, Client, Desk, Note, User
from crm.selectors import client_filter, client_list, mask_email, mask_phone, note_list
from integrations.core_api.schemas import (
    ClientFilters,
    ClientIn,
    ClientOut,
    ClientPage,
    ClientPatch,
    NoteIn,
    NoteOut,
    NotePage,
)

router = Router(tags=["clients"])

# Each operation keeps the id the API has published since this router lived in the core (as
# crm.api_routers.clients): clients generated from the schema name their methods by it.
def _op(name: str) -> str:
    return f"crm_api_routers_clients_{name}"


# Text fields a PATCH may clear by sending null (stored as "").
_CLEARABLE_TEXT = frozenset({
    "last_name", "email", "phone", "country", "nationality", "language", "timezone", "source", "campaign", "utm_source",
    "utm_medium", "utm_campaign", "utm_term", "utm_content", "referrer_code",
})


# --- access ---------------------------------------------------------------------------------------


def _filtered_for_key(caller: Caller, f: ClientFilters) -> QuerySet[Client]:
    """The key's brand's clients with the same filters, and the same meaning, as selectors.client_list."""
    return client_filter(key_clients(caller), q=f.q or "", stage=f.stage or "", country=f.country or "",
                         language=f.language or "", tag=f.tag or "", owner=f.owner, desk=f.desk)


def _staff_by_code(code: UUID | None, field: str) -> User | None:
    if code is None:
        return None
    user = User.objects.filter(code=code).select_related("desk").first()
    if user is None:
        raise ValidationFailed(fields={field: [_("No member of staff has this code.")]})
    return user


def _desk_by_code(code: UUID | None) -> Desk | None:
    if code is None:
        return None
    desk = Desk.objects.filter(code=code).first()
    if desk is None:
        raise ValidationFailed(fields={"desk": [_("No desk has this code.")]})
    return desk


def _brand_for(caller: Caller, code: str | None) -> Brand:
    if caller.api_key is not None:
        brand = caller.api_key.brand
        if code not in (None, "", brand.code):
            raise ValidationFailed(fields={"brand": [_("This API key can only create clients of its own brand.")]})
        return brand
    if not code:
        raise ValidationFailed(fields={"brand": [_("Give the brand code.")]})
    found = Brand.objects.filter(code=code).first()
    if found is None:
        raise ValidationFailed(fields={"brand": [_("No brand has this code.")]})
    return found


# --- output ---------------------------------------------------------------------------------------


def client_out(client: Client, caller: Caller) -> dict[str, Any]:
    # Integrations get contact details in full (the key's clients:read scope is the permission);
    # staff sessions see them masked and reveal them in the client's page, where it is logged.
    masked = caller.api_key is None
    return {
        "code": client.code,
        "brand": client.brand.code,
        "stage": client.stage,
        "first_name": client.first_name,
        "last_name": client.last_name,
        "email": mask_email(client.email) if masked else client.email,
        "phone": mask_phone(client.phone) if masked else client.phone,
        "contact_masked": masked,
        "country": client.country,
        "nationality": client.nationality,
        "language": client.language,
        "timezone": client.timezone,
        "date_of_birth": client.date_of_birth,
        "owner": client.owner.code if client.owner is not None else None,
        "desk": client.desk.code if client.desk is not None else None,
        "source": client.source,
        "campaign": client.campaign,
        "utm_source": client.utm_source,
        "utm_medium": client.utm_medium,
        "utm_campaign": client.utm_campaign,
        "utm_term": client.utm_term,
        "utm_content": client.utm_content,
        "referrer_code": client.referrer_code,
        "tags": list(client.tags),
        "created_at": client.created_at,
        "updated_at": client.updated_at,
        "stage_changed_at": client.stage_changed_at,
    }


def note_out(note: Note, client: Client) -> dict[str, Any]:
    author = note.author
    return {
        "code": note.code,
        "client": client.code,
        "body": note.body,
        "is_pinned": note.is_pinned,
        "author": author.code if author is not None else None,
        "author_name": (author.full_name or author.email) if author is not None else "",
        "created_at": note.created_at,
    }


# --- clients --------------------------------------------------------------------------------------


@router.get("/clients", response=ClientPage, url_name="api_client_list", summary="List clients",
            operation_id=_op("list_clients"))
@requires_scope("clients:read")
def list_clients(request: HttpRequest, filters: Query[ClientFilters], page: Query[PageIn]) -> dict[str, Any]:
    """Clients in the caller's scope, newest first, with optional filters (all combined with AND)."""
    caller = caller_of(request)
    if caller.api_key is not None:
        qs = _filtered_for_key(caller, filters)
    else:
        qs = client_list(
            user=caller.user, q=filters.q or "", stage=filters.stage or "", country=filters.country or "",
            owner=filters.owner, desk=filters.desk, language=filters.language or "", tag=filters.tag or "",
        )
    if filters.created_after is not None:
        qs = qs.filter(created_at__gte=filters.created_after)
    if filters.created_before is not None:
        qs = qs.filter(created_at__lt=filters.created_before)
    result = paginate(qs, page)
    if caller.user is not None:
        # A staff session's search, with the rows of this page (the API counts no totals).
        services.access_search_record(actor=caller.user, where="api clients", query=filters.q or "",
                                      rows=len(result.items))
    return {"items": [client_out(c, caller) for c in result.items], "next_cursor": result.next_cursor}


@router.get("/clients/{uuid:code}", response=ClientOut, url_name="api_client_detail", summary="Get a client",
            operation_id=_op("get_client"))
@requires_scope("clients:read")
def get_client(request: HttpRequest, code: UUID) -> dict[str, Any]:
    """One client. A staff session's read is recorded as a view of the client's record."""
    caller = caller_of(request)
    client = client_for(caller, code)
    if caller.user is not None:
        services.client_view_record(actor=caller.user, client=client)
    return client_out(client, caller)


@router.post("/clients", response={201: ClientOut}, url_name="api_client_create", summary="Create a client",
             operation_id=_op("create_client"))
@requires_scope("clients:write")
def create_client(request: HttpRequest, payload: ClientIn) -> Status[dict[str, Any]]:
    """Create a client. The phone is stored in E.164 (national numbers need `country`); an agent
    who creates a client without naming an owner becomes its owner. Event `client.created`.
    A new client starts as `lead` or `registered`; any other `stage` is **409** `stage_refused`."""
    caller = caller_of(request)
    data = payload.model_dump(exclude={"brand", "owner", "desk"})
    client = services.client_create(
        actor=caller.user,
        brand=_brand_for(caller, payload.brand),
        owner=_staff_by_code(payload.owner, "owner"),
        desk=_desk_by_code(payload.desk),
        **data,
    )
    return Status(201, client_out(client, caller))


@router.patch("/clients/{uuid:code}", response=ClientOut, url_name="api_client_update", summary="Update a client",
              operation_id=_op("update_client"))
@requires_scope("clients:write")
def update_client(request: HttpRequest, code: UUID, payload: ClientPatch) -> dict[str, Any]:
    """Change the fields sent, all or nothing. Events `client.updated`, `client.assigned` (owner,
    desk) and `client.stage_changed` (stage; reopening a closed client needs a `reason`).

    `stage` makes only the ordinary moves: lead to registered, funded or active to dormant, any
    stage to closed, closed back to lead or registered. Verified, funded and active are reached only
    through their proofs (KYC approval, first deposit, first trade) and nothing moves backwards: such
    a move is **409** `stage_refused`, naming the move, and nothing is changed."""
    caller = caller_of(request)
    changes = payload.model_dump(exclude_unset=True)
    reason = changes.pop("reason", "")
    stage = changes.pop("stage", None)
    assign = {name: changes.pop(name) for name in ("owner", "desk") if name in changes}
    for name in list(changes):
        if changes[name] is None and name in _CLEARABLE_TEXT:
            changes[name] = ""
        elif changes[name] is None and name == "tags":
            changes[name] = []
    with transaction.atomic():
        client = client_for(caller, code)
        if changes:
            client = services.client_update(actor=caller.user, client=client, reason=reason, **changes)
        if assign:
            owner = _staff_by_code(assign["owner"], "owner") if "owner" in assign else client.owner
            desk = _desk_by_code(assign["desk"]) if "desk" in assign else None
            client = services.client_assign(actor=caller.user, client=client, owner=owner, desk=desk, reason=reason)
        if stage is not None:
            client = services.client_stage_change(actor=caller.user, client=client, stage=stage, reason=reason)
    return client_out(client_for(caller, code), caller)


# --- notes ----------------------------------------------------------------------------------------


@router.get("/clients/{uuid:code}/notes", response=NotePage, url_name="api_note_list", tags=["notes"],
            summary="List a client's notes", operation_id=_op("list_notes"))
@requires_scope("notes:read")
def list_notes(request: HttpRequest, code: UUID, page: Query[PageIn]) -> dict[str, Any]:
    """The client's notes, newest first."""
    client = client_for(caller_of(request), code)
    result = paginate(note_list(client=client), page)
    return {"items": [note_out(n, client) for n in result.items], "next_cursor": result.next_cursor}


@router.post("/clients/{uuid:code}/notes", response={201: NoteOut}, url_name="api_note_create", tags=["notes"],
             summary="Add a note to a client", operation_id=_op("create_note"))
@requires_scope("notes:write")
def create_note(request: HttpRequest, code: UUID, payload: NoteIn) -> Status[dict[str, Any]]:
    """Add a note. Event `note.added`. Notes written with an API key have no author."""
    caller = caller_of(request)
    client = client_for(caller, code)
    note = services.note_add(actor=caller.user, client=client, body=payload.body)
    return Status(201, note_out(note, client))
