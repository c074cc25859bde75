"""Notes on a client's file."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.apps import apps
from django.db import transaction
from django.utils import timezone

from crm.audit import AuditEntry, audit_record, audit_record_many
from crm.events import emit, event_row, event_rows_ready, kick_after_commit
from crm.exceptions import ValidationFailed
from crm.lib import bulk
from crm.lib.payloads import user_ref
from crm.lib.validation import InvalidValue, text_clean
from crm.models import Client, Note, User
from crm.services.common import _excerpt, _require, _text
from plumbing import context

NOTE_MAX_LENGTH = 20_000


@transaction.atomic
def note_add(*, actor: User | None, client: Client, body: str, at: datetime | None = None) -> Note:
    """Add a note to the client's file. Event "note.added" with an excerpt for the timeline.
    `at`: when it was written, for a note moved in from another system (imports only); None: now."""
    _require(actor, "crm.add_note")
    try:
        body = text_clean(_text(body, "body"), field="body", max_length=NOTE_MAX_LENGTH, required=True)
    except InvalidValue as exc:
        raise ValidationFailed(fields={exc.field: [exc.message]}) from None
    note = Note.objects.create(client=client, author=actor, body=body)
    if at is not None:  # auto_now_add stamps "now" on create: the old time is written after it
        Note.objects.filter(pk=note.pk).update(created_at=at)
        note.created_at = at
    audit_record(action="note.add", obj=note, after={"client": str(client.code), "body": body}, actor=actor)
    emit("note.added", client=client, actor=actor, data={
        "note": str(note.code), "excerpt": _excerpt(body), "author": user_ref(actor),
    }, occurred_at=at)
    return note


@dataclass(frozen=True)
class NoteToAdd:
    client: Client
    author: User | None
    body: str
    at: datetime | None = None


@transaction.atomic
def note_add_many(*, notes: Sequence[NoteToAdd], reason: str = "") -> list[uuid.UUID]:
    """note_add for many notes (an import's chunk): its checks (ValidationFailed naming "notes.<n>.body",
    nothing written), rows, "+" history rows and "note.added" events in one statement; one audit row per
    brand lists the notes' codes (and `reason`). Their codes, in order."""
    for author in {n.author for n in notes}:
        _require(author, "crm.add_note")
    ctx, now = context.current(), timezone.now()
    rows: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    by_brand: dict[int, list[str]] = {}
    for i, n in enumerate(notes):
        try:
            body = text_clean(_text(n.body, "body"), field="body", max_length=NOTE_MAX_LENGTH, required=True)
        except InvalidValue as exc:
            raise ValidationFailed(fields={f"notes.{i}.{exc.field}": [exc.message]}) from None
        code, author_id, at = uuid.uuid4(), getattr(n.author, "pk", None), n.at or now
        rows.append({"code": code, "client_id": n.client.pk, "author_id": author_id, "body": body,
                     "is_pinned": False, "created_at": at, "updated_at": now})
        events.append(event_row("note.added", client_id=n.client.pk, brand_id=n.client.brand_id, actor_id=author_id,
                                data={"note": str(code), "excerpt": _excerpt(body), "author": user_ref(n.author)},
                                at=at, request_id=ctx.request_id))
        by_brand.setdefault(n.client.brand_id, []).append(str(code))
    history = bulk.AsInserted(Note, {"history_date": now, "history_type": "+", "history_change_reason": None,
                                     "history_user_id": getattr(ctx.user, "pk", None)})
    event_rows_ready(events)
    bulk.write([(Note, rows, False), (apps.get_model("crm", "HistoricalNote"), history, False),
                (apps.get_model("crm", "Event"), events, False)])
    kick_after_commit()
    audit_record_many([AuditEntry(action="note.add_many", object_type="crm.note", brand=brand_id, reason=reason,
                                  after={"notes": codes}) for brand_id, codes in by_brand.items()])
    return [row["code"] for row in rows]
