"""Input and output schemas of the API of the core's resources: clients, their notes, tasks.

Built from the API's checked input types (crm.api: lengths, no NUL characters, ISO times, canonical
codes; unknown input fields are rejected); the services validate meaning and their ValidationFailed
becomes a 422 naming the field.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal, get_args
from uuid import UUID

from ninja import Schema
from pydantic import Field, StrictBool

from crm.api import (
    Body20k,
    Code,
    InputSchema,
    IsoDate,
    IsoDatetime,
    Name100,
    Tag,
    Text2,
    Text10k,
    Text16,
    Text40,
    Text50,
    Text64,
    Text100,
    Text254,
    Text500,
    Title200,
)
from crm.models import Stage

StageName = Literal["lead", "registered", "verified", "funded", "active", "dormant", "closed"]
# The API's stage names are the model's: a new stage must be added here too.
assert set(get_args(StageName)) == set(Stage.values)

TaskStatus = Literal["open", "done", "overdue", "all"]


# --- clients ------------------------------------------------------------------------------------


class ClientOut(Schema):
    code: UUID
    brand: str = Field(description="Brand code.")
    stage: StageName
    first_name: str
    last_name: str
    email: str = Field(description="In full for API keys; masked (j***@example.com) for staff sessions.")
    phone: str = Field(description="E.164. In full for API keys; masked (+44*******750) for staff sessions.")
    contact_masked: bool = Field(description="Whether `email` and `phone` are masked in this answer.")
    country: str = Field(description="ISO 3166-1 alpha-2, or empty.")
    nationality: str = Field(description="ISO 3166-1 alpha-2, or empty.")
    language: str
    timezone: str
    date_of_birth: date | None
    owner: UUID | None = Field(description="Code of the owning staff member.")
    desk: UUID | None = Field(description="Code of the client's desk.")
    source: str
    campaign: str
    utm_source: str
    utm_medium: str
    utm_campaign: str
    utm_term: str
    utm_content: str
    referrer_code: str
    tags: list[str]
    created_at: datetime
    updated_at: datetime
    stage_changed_at: datetime | None


class ClientPage(Schema):
    items: list[ClientOut]
    next_cursor: str | None


class ClientIn(InputSchema):
    brand: Text40 | None = Field(
        None,
        description="Brand code. Staff sessions must give one of their brands; for an API key it "
                    "defaults to the key's brand and may only name that brand.",
    )
    first_name: Name100
    last_name: Text100 = ""
    email: Text254 = ""
    phone: Text40 = Field("", description="E.164 (+442071838750), or national with `country` set.")
    country: Text2 = Field("", description="ISO 3166-1 alpha-2, e.g. GB.")
    nationality: Text2 = Field("", description="ISO 3166-1 alpha-2, e.g. DE.")
    language: Text16 = Field("", description="ISO 639-1, optionally with region: en, pt-BR.")
    timezone: Text64 = Field("", description="IANA name, e.g. Europe/London.")
    date_of_birth: IsoDate | None = None
    owner: Code | None = Field(None, description="Code of a staff member of the brand.")
    desk: Code | None = Field(None, description="Code of a desk of the brand.")
    stage: StageName = "lead"
    source: Text100 = ""
    campaign: Text100 = ""
    utm_source: Text100 = ""
    utm_medium: Text100 = ""
    utm_campaign: Text100 = ""
    utm_term: Text100 = ""
    utm_content: Text100 = ""
    referrer_code: Text64 = ""
    tags: list[Tag] = Field(default_factory=list, max_length=50)


class ClientPatch(InputSchema):
    """Only the fields sent are changed. `stage` makes an ordinary move of the client's lifecycle
    (verified, funded and active are proven by KYC approval, first deposit and first trade, never set);
    `owner`/`desk` reassign it (null: back to the pool); `reason` is recorded with the change."""

    first_name: Name100 | None = None
    last_name: Text100 | None = None
    email: Text254 | None = None
    phone: Text40 | None = None
    country: Text2 | None = None
    nationality: Text2 | None = None
    language: Text16 | None = None
    timezone: Text64 | None = None
    date_of_birth: IsoDate | None = None
    stage: StageName | None = None
    owner: Code | None = None
    desk: Code | None = None
    source: Text100 | None = None
    campaign: Text100 | None = None
    utm_source: Text100 | None = None
    utm_medium: Text100 | None = None
    utm_campaign: Text100 | None = None
    utm_term: Text100 | None = None
    utm_content: Text100 | None = None
    referrer_code: Text64 | None = None
    tags: list[Tag] | None = Field(None, max_length=50)
    reason: Text500 = ""


class ClientFilters(Schema):
    stage: StageName | None = None
    country: Text2 | None = Field(None, description="ISO 3166-1 alpha-2.")
    language: Text16 | None = None
    owner: Code | None = Field(None, description="Code of the owning staff member.")
    desk: Code | None = Field(None, description="Code of the desk.")
    tag: Text50 | None = None
    q: Text100 | None = Field(None, description="Name, email, phone (trailing digits) or client code (prefix).")
    created_after: IsoDatetime | None = Field(None, description="Created at or after this time (with zone).")
    created_before: IsoDatetime | None = Field(None, description="Created before this time (with zone).")


# --- notes --------------------------------------------------------------------------------------


class NoteOut(Schema):
    code: UUID
    client: UUID
    body: str
    is_pinned: bool
    author: UUID | None = Field(description="Code of the staff member; null when written by an API key or the system.")
    author_name: str
    created_at: datetime


class NotePage(Schema):
    items: list[NoteOut]
    next_cursor: str | None


class NoteIn(InputSchema):
    body: Body20k


# --- tasks --------------------------------------------------------------------------------------


class TaskOut(Schema):
    code: UUID
    title: str
    description: str
    client: UUID | None
    assignee: UUID
    created_by: UUID | None
    due_at: datetime | None
    remind_at: datetime | None
    done_at: datetime | None
    is_done: bool
    created_at: datetime


class TaskPage(Schema):
    items: list[TaskOut]
    next_cursor: str | None


class TaskIn(InputSchema):
    title: Title200
    description: Text10k = ""
    client: Code | None = Field(None, description="Code of the client the task is about; required for API keys.")
    assignee: Code | None = Field(None, description="Code of the staff member; staff sessions default to themselves, "
                                                   "API keys must give one.")
    due_at: IsoDatetime | None = None
    remind_at: IsoDatetime | None = None


class TaskPatch(InputSchema):
    done: StrictBool | None = Field(None, description="true completes the task, false reopens it.")
    due_at: IsoDatetime | None = Field(None, description="New due time; null clears it; omit to keep it.")
    remind_at: IsoDatetime | None = Field(None, description="New reminder time; null clears it; omit to keep it.")


class TaskFilters(Schema):
    status: TaskStatus = Field("open", description="open, done, overdue (open and past due) or all.")
