"""The core's events and their payloads (see crm.events.catalogue). Names of staff and desks in
event data are Refs ({"code", "name"}); times are ISO 8601 text; codes are UUIDs as text."""

from __future__ import annotations

from typing import Annotated, Any, NotRequired, TypedDict

from crm.events.catalogue import PERSONAL, CodeText, DateTimeText, PersonalText, Ref, declare

# --- clients ------------------------------------------------------------------------------------


class ClientCreated(TypedDict):
    name: PersonalText
    stage: str
    country: str
    source: str
    campaign: str
    owner: Ref | None
    desk: Ref | None
    # Written by the lead intake (leads) for a client it created:
    via: NotRequired[str]
    channel: NotRequired[str]
    touch: NotRequired[CodeText]
    score: NotRequired[int]


class Change(TypedDict):
    old: Any
    new: Any


class ClientUpdated(TypedDict):
    fields: list[str]
    # Contact details masked, but names and the like in full: personal data (`fields` says what changed).
    changes: Annotated[dict[str, Change], PERSONAL]
    reason: str


# "from" is a keyword: the functional form. `via` (crm.models.stages): "move" (an ordinary move by staff, the
# API or the system), "override" (an administrator's correction) or the name of the proof's event
# (as the app that emits it registered it); absent on events written before it.
ClientStageChanged = TypedDict("ClientStageChanged", {"from": str, "to": str, "reason": str,
                                                      "via": NotRequired[str]})
RefChange = TypedDict("RefChange", {"from": Ref | None, "to": Ref | None})


class ClientAssigned(TypedDict):
    owner: RefChange
    desk: RefChange
    reason: str


class ClientShared(TypedDict):
    user: Ref


declare("client.created", payload=ClientCreated,
        description="A client (usually a lead) was created, by hand, through the API or by the lead intake.")
declare("client.updated", payload=ClientUpdated, description="A client's details changed.")
declare("client.stage_changed", payload=ClientStageChanged,
        description="A client moved from one stage to another (lead, registered, verified, funded, ...).")
declare("client.assigned", payload=ClientAssigned, description="A client got a new owner or desk.")
declare("client.shared", payload=ClientShared, description="A client was shared with another member of staff.")
declare("client.unshared", payload=ClientShared, description="Sharing a client with a member of staff ended.")

# --- notes and tasks ------------------------------------------------------------------------------


class NoteAdded(TypedDict):
    note: CodeText
    excerpt: PersonalText
    author: Ref | None


class TaskRef(TypedDict):
    task: CodeText
    title: str


class TaskCreated(TypedDict):
    task: CodeText
    title: str
    assignee: Ref | None
    due_at: DateTimeText | None


class TaskRescheduled(TypedDict):
    task: CodeText
    title: str
    due_at: DateTimeText | None


declare("note.added", payload=NoteAdded, description="A note was added to a client.")
declare("task.created", payload=TaskCreated, description="A task about a client was created.")
declare("task.completed", payload=TaskRef, description="A task was marked done.")
declare("task.reopened", payload=TaskRef, description="A done task was opened again.")
declare("task.rescheduled", payload=TaskRescheduled, description="A task's due time or reminder changed.")

# --- staff ----------------------------------------------------------------------------------------


class StaffUser(TypedDict):
    user: CodeText


class StaffUserCreated(TypedDict):
    user: CodeText
    role: str


class StaffUserUpdated(TypedDict):
    user: CodeText
    changed: list[str]


class StaffRoleUpdated(TypedDict):
    role: str
    requires_2fa: bool


class StaffDeskCreated(TypedDict):
    desk: CodeText
    name: str


class StaffDeskUpdated(TypedDict):
    desk: CodeText
    changed: list[str]


declare("staff.user_created", payload=StaffUserCreated, description="An administrator added a member of staff.")
declare("staff.user_updated", payload=StaffUserUpdated, description="A member of staff's account changed.")
declare("staff.user_deactivated", payload=StaffUser, description="A member of staff was deactivated.")
declare("staff.user_reactivated", payload=StaffUser, description="A member of staff was reactivated.")
declare("staff.password_changed", payload=StaffUser, description="A member of staff changed their password (in settings, or through a reset link).")
declare("staff.role_updated", payload=StaffRoleUpdated, description="A role's two-factor requirement changed.")
declare("staff.desk_created", payload=StaffDeskCreated, description="A desk was created.")
declare("staff.desk_updated", payload=StaffDeskUpdated, description="A desk's settings changed.")
declare("staff.2fa_enabled", payload=StaffUser, description="A member of staff turned two-factor sign-in on.")
declare("staff.2fa_disabled", payload=StaffUser, description="A member of staff turned two-factor sign-in off.")
declare("staff.2fa_reset", payload=StaffUser, description="An administrator reset a member of staff's two-factor sign-in.")
