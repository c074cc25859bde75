"""The compliance staff API: the screening queue and hits, the officers' decisions (four-eyes above the
high score), and the lists' versions with their diffs and the upload of a new version.

For staff sessions only: a decision is an officer's, and an API key is nobody's; a key gets 403.
Hits are scoped as on the pages (compliance.view_screeninghit, the clients within the user's reach)."""

from __future__ import annotations

import builtins
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import File, Form, Query, Router, Schema, Status
from ninja.files import UploadedFile
from pydantic import Field

from compliance import selectors, services
from compliance.api_aml import router as aml_router
from compliance.api_cases import router as cases_router
from compliance.api_restrictions import router as restrictions_router
from compliance.api_risk import router as risk_router
from compliance.exceptions import WatchlistGlobal, WatchlistRefused
from compliance.models import ScreeningHit, WatchlistEntry, WatchlistVersion
from compliance.screening import DECIDE_PERMISSION, VIEW_PERMISSION
from compliance.watchlists.parsers import FORMATS, SourceFile
from crm.api import ApiError, PageIn, Text10k, caller_of, paginate
from crm.exceptions import NotFound, ValidationFailed
from crm.models import User
from crm.permissions import user_can

router = Router(tags=["compliance"])
# Jurisdictions and restrictions bring their own router.
router.add_router("", restrictions_router)
# The risk score and the compliance trail export too (issue 35, items 2 and 5).
router.add_router("", risk_router)
router.add_router("", cases_router)
router.add_router("", aml_router)

VIEW_LISTS = "compliance.view_watchlistversion"
LOAD_LISTS = "compliance.add_watchlistversion"
MAX_UPLOAD_BYTES = 50 * 1024 * 1024


def _officer(request: HttpRequest, perm: str) -> User:
    """The staff user of the session holding `perm`; 403 for an API key, 404 without the permission
    (the operation does not exist for them, as on the pages)."""
    caller = caller_of(request)
    if caller.api_key is not None or caller.user is None:
        raise ApiError(403, "staff_only", _("Screening decisions and list loads are made by staff, signed in."))
    if not user_can(caller.user, perm):
        raise NotFound()
    return caller.user


class DecisionOut(Schema):
    step: str = Field(..., description="decided, proposed (waits for a second officer), approved or sent_back")
    action: str = Field(..., description="confirm or dismiss")
    officer: UUID
    reason: str
    at: str


class HitOut(Schema):
    code: UUID
    client: UUID
    status: str = Field(..., description="open, pending (waits for a second officer), confirmed or dismissed")
    list: str
    version: int
    ent_num: str = Field(..., description="The list's own entry number (OFAC's ent_num)")
    matched_name: str
    score: Decimal
    explanation: str
    matches: builtins.list[dict[str, str]] = Field(..., description="Token by token: typed, listed, how")
    screened: dict[str, str] = Field(..., description="The client's details as screened: name, dob, country")
    entry: dict[str, Any] = Field(..., description="The list entry: names, dobs, countries")
    trigger: str
    needs_second_officer: bool
    pending_action: str
    pending_by: UUID | None
    decided_by: UUID | None
    approved_by: UUID | None
    decision_reason: str
    created_at: str
    decided_at: str | None
    decisions: builtins.list[DecisionOut]


class HitPage(Schema):
    items: list[HitOut]
    next_cursor: str | None


class HitFilters(Schema):
    status: Literal["unresolved", "open", "pending", "confirmed", "dismissed", "all"] = "unresolved"
    list: str = Field("", description="Only the hits of this list (its name)")
    min_score: Decimal | None = Field(None, ge=0, le=1)


class DecisionIn(Schema):
    action: Literal["confirm", "dismiss"]
    reason: Text10k = Field("", max_length=2000, description="Required to dismiss")


class SendBackIn(Schema):
    reason: Text10k = Field(..., min_length=1, max_length=2000)


def _entry_out(entry: WatchlistEntry) -> dict[str, Any]:
    return {"ent_num": entry.ent_num, "type": entry.entry_type, "names": entry.names, "dobs": entry.dobs,
            "countries": entry.countries, "places_of_birth": entry.places_of_birth, "programs": entry.programs}


def hit_out(hit: ScreeningHit) -> dict[str, Any]:
    from compliance.screening import high_score

    def code(user: User | None) -> UUID | None:
        return user.code if user is not None else None

    return {
        "code": hit.code, "client": hit.client.code, "status": hit.status, "list": hit.watchlist.name,
        "version": hit.version.number, "ent_num": hit.ent_num, "matched_name": hit.matched_name, "score": hit.score,
        "explanation": hit.explanation, "matches": hit.matches, "screened": hit.screened,
        "entry": _entry_out(hit.entry), "trigger": hit.trigger, "needs_second_officer": hit.score >= high_score(),
        "pending_action": hit.pending_action, "pending_by": code(hit.pending_by), "decided_by": code(hit.decided_by),
        "approved_by": code(hit.approved_by), "decision_reason": hit.decision_reason,
        "created_at": hit.created_at.isoformat(), "decided_at": hit.decided_at.isoformat() if hit.decided_at else None,
        "decisions": [{"step": d.step, "action": d.action, "officer": d.officer.code, "reason": d.reason,
                       "at": d.at.isoformat()} for d in hit.decisions.select_related("officer")],
    }


def _hit(user: User, code: UUID) -> ScreeningHit:
    return selectors.screening_hit_get_for_user(user, code)


@router.get("/compliance/screening/hits", response=HitPage, url_name="api_compliance_hits",
            summary="The screening queue")
def hit_list(request: HttpRequest, filters: Query[HitFilters], page: Query[PageIn]) -> dict[str, Any]:
    """Hits of the clients within your reach, newest first: by default those waiting for a decision or
    a second officer."""
    user = _officer(request, VIEW_PERMISSION)
    qs = selectors.screening_queue(user=user, status="" if filters.status == "all" else filters.status,
                                   list_name=filters.list, min_score=filters.min_score)
    result = paginate(qs.select_related("version", "entry", "decided_by", "approved_by"), page)
    return {"items": [hit_out(h) for h in result.items], "next_cursor": result.next_cursor}


@router.get("/compliance/screening/hits/{uuid:code}", response=HitOut, url_name="api_compliance_hit",
            summary="A screening hit beside the client")
def hit_get(request: HttpRequest, code: UUID) -> dict[str, Any]:
    return hit_out(_hit(_officer(request, VIEW_PERMISSION), code))


@router.post("/compliance/screening/hits/{uuid:code}/decision", response=HitOut,
             url_name="api_compliance_hit_decide", summary="Confirm or dismiss a hit")
def hit_decide(request: HttpRequest, code: UUID, payload: DecisionIn) -> dict[str, Any]:
    """Confirm (the client is the listed person) or dismiss (a false positive; `reason` required). At or
    above the high score the decision waits for a second officer (`status` pending). 409 when the hit
    is not waiting for a decision."""
    user = _officer(request, DECIDE_PERMISSION)
    hit = services.screening_hit_decide(hit=_hit(user, code), actor=user, action=payload.action,
                                        reason=payload.reason)
    return hit_out(_hit(user, hit.code))


@router.post("/compliance/screening/hits/{uuid:code}/approval", response=HitOut,
             url_name="api_compliance_hit_approve", summary="Approve the first officer's decision")
def hit_approve(request: HttpRequest, code: UUID) -> dict[str, Any]:
    """The second officer's approval; the decision then takes effect. 409 for the officer who decided
    first (`second_officer_required`) or a hit not waiting for a second officer."""
    user = _officer(request, DECIDE_PERMISSION)
    hit = services.screening_hit_approve(hit=_hit(user, code), actor=user)
    return hit_out(_hit(user, hit.code))


@router.post("/compliance/screening/hits/{uuid:code}/send-back", response=HitOut,
             url_name="api_compliance_hit_send_back", summary="Send the first decision back to the queue")
def hit_send_back(request: HttpRequest, code: UUID, payload: SendBackIn) -> dict[str, Any]:
    user = _officer(request, DECIDE_PERMISSION)
    hit = services.screening_hit_send_back(hit=_hit(user, code), actor=user, reason=payload.reason)
    return hit_out(_hit(user, hit.code))


class VersionOut(Schema):
    list: str
    watchlist_id: int
    number: int
    source: str
    checksum: str
    published_on: str | None
    loaded_at: str
    entry_count: int
    name_count: int
    added: builtins.list[str]
    removed: builtins.list[str]
    changed: builtins.list[str]


def version_out(version: WatchlistVersion) -> dict[str, Any]:
    return {"list": version.watchlist.name, "watchlist_id": version.watchlist_id, "number": version.number,
            "source": version.source, "checksum": version.checksum,
            "published_on": version.published_on.isoformat() if version.published_on else None,
            "loaded_at": version.loaded_at.isoformat(), "entry_count": version.entry_count,
            "name_count": version.name_count, "added": version.added, "removed": version.removed,
            "changed": version.changed}


class DiffOut(Schema):
    version: VersionOut
    added: list[dict[str, Any]]
    removed: list[dict[str, Any]]
    changed: list[dict[str, Any]] = Field(..., description="Each {now, before}")


@router.get("/compliance/watchlists/versions", response=list[VersionOut], url_name="api_compliance_versions",
            summary="The lists' versions")
def version_list(request: HttpRequest) -> list[dict[str, Any]]:
    _officer(request, VIEW_LISTS)
    return [version_out(v) for v in selectors.watchlist_versions()]


@router.get("/compliance/watchlists/{int:watchlist_id}/versions/{int:number}", response=DiffOut,
            url_name="api_compliance_version", summary="A list version and its diff")
def version_get(request: HttpRequest, watchlist_id: int, number: int) -> dict[str, Any]:
    _officer(request, VIEW_LISTS)
    version = selectors.watchlist_version_get(watchlist_id=watchlist_id, number=number)
    diff = selectors.watchlist_version_diff(version)
    return {"version": version_out(version), "added": [_entry_out(e) for e in diff.added],
            "removed": [_entry_out(e) for e in diff.removed],
            "changed": [{"now": _entry_out(now), "before": _entry_out(before) if before else None}
                        for now, before in diff.changed]}


@router.post("/compliance/watchlists/versions", response={201: VersionOut}, url_name="api_compliance_version_load",
             summary="Load a new list version")
def version_load(request: HttpRequest, list_name: Form[str], fmt: Form[str],
                 files: File[list[UploadedFile]]) -> Status[dict[str, Any]]:
    """The same load as `manage.py sanctions_load` (multipart: `list_name`, `fmt`, one or more `files`).
    A file that does not follow its layout is refused whole (400 naming the file, line and field);
    once loaded, every client is screened against the new and changed entries. Lists are global:
    staff who work for some brands only get 403 `watchlist_global`."""
    user = _officer(request, LOAD_LISTS)
    if not selectors.watchlist_load_allowed(user):
        raise WatchlistGlobal()  # 403 naming why, before the files are read
    if fmt not in FORMATS:
        raise ValidationFailed(fields={"fmt": [_("One of %(formats)s.") % {"formats": ", ".join(FORMATS)}]})
    if not list_name.strip() or len(list_name) > 80:
        raise ValidationFailed(fields={"list_name": [_("Give the list's name (at most 80 characters).")]})
    sources = []
    for upload in files:
        if upload.size is not None and upload.size > MAX_UPLOAD_BYTES:
            raise ValidationFailed(fields={"files": [_("%(name)s is larger than 50 MB.") % {"name": upload.name}]})
        sources.append(SourceFile(upload.name or "file", upload.read()))
    try:
        version = services.watchlist_load(name=list_name.strip(), fmt=fmt, files=sources, actor=user)
    except WatchlistRefused as error:
        raise ValidationFailed(error.message, code=error.code, fields={"files": [error.message]}) from None
    return Status(201, version_out(version))
