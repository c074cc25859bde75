"""Notes on a client's file."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from crm.audit import audit_record
from crm.events import emit
from crm.exceptions import ValidationFailed
from crm.lib.payloads import user_ref
from crm.lib.validation import InvalidValue, text_clean
from crm.models import Client, Note, User
from crm.services.common import _excerpt, _require, _text

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
