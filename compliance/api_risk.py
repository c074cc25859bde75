"""The staff API of the client risk score and the compliance trail export (mounted by compliance.api).

A client's risk score is open to API keys with the `compliance:risk` scope (their brand's clients)
as well as to officers; a periodic review is an officer's act, which the service refuses to a key
(403). The risk model and the trail export are staff sessions only (403 for a key). Scoped like the pages: clients within the user's reach, brands the user works for; a missing
permission reads as not found."""

from __future__ import annotations

import datetime as dt
from typing import Any
from uuid import UUID

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Query, Router, Schema, Status
from pydantic import Field

from compliance.models import RiskScore, TrailExport
from compliance.risk import (
    CONFIGURE_PERMISSION,
    RECOMPUTE_PERMISSION,
    VIEW_PERMISSION,
    risk_history,
    risk_model_save,
    risk_model_settings,
    risk_score_compute,
)
from compliance.trail import EXPORT_PERMISSION, trail_export_request, trail_exports_for
from crm.api import ApiError, Text64, Text500, caller_of, client_for, requires_scope
from crm.exceptions import NotFound
from crm.models import Brand, Client, User
from crm.permissions import client_get_for_user, client_queryset_for_user, user_can, visible_brands

router = Router(tags=["compliance"])


def _officer(request: HttpRequest, perm: str) -> User:
    caller = caller_of(request)
    if caller.api_key is not None or caller.user is None:
        raise ApiError(403, "staff_only", _("Risk scores and the compliance trail are for staff, signed in."))
    if not user_can(caller.user, perm):
        raise NotFound()
    return caller.user


def _brand(user: User, code: str | None) -> Brand:
    brands = visible_brands(user).order_by("name")
    brand = brands.filter(code=code).first() if code else brands.first()
    if brand is None:
        raise NotFound()
    return brand


class FactorOut(Schema):
    key: str
    label: str
    value: str = Field(..., description="What the factor found")
    points: int


class RiskScoreOut(Schema):
    code: UUID
    client: UUID
    band: str = Field(..., description="low, medium or high")
    previous_band: str
    points: int
    factors: list[FactorOut]
    trigger: str
    computed_at: dt.datetime
    review_due: dt.date
    model_version: int = Field(..., description="The brand's risk model version; 0: the built-in defaults")


class RiskOut(Schema):
    current: RiskScoreOut | None
    history: list[RiskScoreOut]


def score_out(row: RiskScore, client_code: UUID) -> dict[str, Any]:
    return {"code": row.code, "client": client_code, "band": row.band, "previous_band": row.previous_band,
            "points": row.score, "factors": row.factors, "trigger": row.trigger, "computed_at": row.computed_at,
            "review_due": row.review_due, "model_version": row.model_version}


def _risk_client(request: HttpRequest, code: UUID, perm: str) -> tuple[Client, User | None]:
    """The client and who acts: an API key (scope `compliance:risk`, its brand's clients; the system
    acts) or a compliance officer with `perm` within their scope."""
    caller = caller_of(request)
    if caller.api_key is not None:
        return client_for(caller, code), None
    user = _officer(request, perm)
    return client_get_for_user(user, code), user


@router.get("/compliance/clients/{uuid:code}/risk", response=RiskOut, url_name="api_compliance_client_risk",
            summary="A client's risk score and its history")
@requires_scope("compliance:risk")
def client_risk(request: HttpRequest, code: UUID) -> dict[str, Any]:
    """The client's current risk band with its factors, and the scores before it (newest first)."""
    client, _user = _risk_client(request, code, VIEW_PERMISSION)
    rows = [score_out(r, client.code) for r in risk_history(client=client)[:200]]
    return {"current": rows[0] if rows else None, "history": rows}


@router.post("/compliance/clients/{uuid:code}/risk/review", response={201: RiskScoreOut},
             url_name="api_compliance_client_risk_review", summary="Record a review of a client's risk")
@requires_scope("compliance:risk")
def client_risk_review(request: HttpRequest, code: UUID) -> Status[dict[str, Any]]:
    """Score the client now and date the next periodic review from today."""
    client, user = _risk_client(request, code, RECOMPUTE_PERMISSION)
    row = risk_score_compute(client_id=client.pk, trigger="review", actor=user, review=True)
    assert row is not None  # noqa: S101 - the client was just read
    return Status(201, score_out(row, client.code))


class RiskModelOut(Schema):
    brand: str
    version: int = Field(..., description="0: no version saved, the built-in defaults")
    factors: dict[str, dict[str, Any]]
    medium_from: int
    high_from: int
    review_months: dict[str, int]


class RiskModelIn(Schema):
    brand: Text64 = Field(..., description="The brand's code")
    factors: dict[str, dict[str, Any]] = Field(..., description="Per factor key: its parameters and points")
    medium_from: int = Field(..., ge=0)
    high_from: int = Field(..., ge=0)
    review_months: dict[str, int] = Field(default_factory=dict, description="low, medium, high: months")
    note: Text500 = ""


class BrandQuery(Schema):
    brand: str | None = None


def _model_out(brand: Brand) -> dict[str, Any]:
    s = risk_model_settings(brand=brand)
    return {"brand": brand.code, "version": s.version, "factors": s.factors, "medium_from": s.medium_from,
            "high_from": s.high_from, "review_months": s.review_months}


@router.get("/compliance/risk-model", response=RiskModelOut, url_name="api_compliance_risk_model",
            summary="A brand's risk model")
def risk_model_get(request: HttpRequest, filters: Query[BrandQuery]) -> dict[str, Any]:
    user = _officer(request, "compliance.view_riskmodel")
    return _model_out(_brand(user, filters.brand))


@router.post("/compliance/risk-model", response={201: RiskModelOut}, url_name="api_compliance_risk_model_save",
             summary="Save a brand's risk model as a new version")
def risk_model_post(request: HttpRequest, payload: RiskModelIn) -> Status[dict[str, Any]]:
    user = _officer(request, CONFIGURE_PERMISSION)
    brand = _brand(user, payload.brand)
    risk_model_save(brand=brand, by=user, factors=payload.factors, medium_from=payload.medium_from,
                    high_from=payload.high_from, review_months=payload.review_months, note=payload.note)
    return Status(201, _model_out(brand))


class TrailIn(Schema):
    brand: Text64 = Field(..., description="The brand's code")
    client: UUID | None = Field(None, description="One client of the brand; empty: every client")
    start: dt.date | None = Field(None, description="The first day (UTC)")
    end: dt.date | None = Field(None, description="The last day (UTC), included")


class TrailOut(Schema):
    code: UUID
    brand: str
    client: UUID | None
    start: dt.datetime
    end: dt.datetime = Field(..., description="Exclusive: the start of the day after the last day")
    job: UUID | None = Field(None, description="The job building it (GET /api/v1/jobs/{code} for its progress)")
    status: str = Field(..., description="The job's status: queued, running, done, failed or cancelled")
    counts: dict[str, int] = Field(..., description="Rows per section, and files: the documents copied")
    chain_ok: bool | None = Field(None, description="The audit chain verified when the export was built")
    chain_detail: str


def trail_out(row: TrailExport) -> dict[str, Any]:
    return {"code": row.code, "brand": row.brand.code, "client": row.client.code if row.client else None,
            "start": row.start, "end": row.end, "job": row.job.code if row.job else None,
            "status": row.job.status if row.job else "", "counts": row.counts or {}, "chain_ok": row.chain_ok,
            "chain_detail": row.chain_detail}


@router.post("/compliance/trail-exports", response={201: TrailOut}, url_name="api_compliance_trail_start",
             summary="Export the compliance trail of a brand or a client over a period")
def trail_start(request: HttpRequest, payload: TrailIn) -> Status[dict[str, Any]]:
    """Queue the export (a job); download its ZIP from the job once done."""
    user = _officer(request, EXPORT_PERMISSION)
    brand = _brand(user, payload.brand)
    client = None
    if payload.client is not None:
        client = client_queryset_for_user(user).filter(brand=brand, code=payload.client).first()
        if client is None:
            raise NotFound()
    row = trail_export_request(actor=user, brand=brand, client=client, start=payload.start, end=payload.end)
    return Status(201, trail_out(TrailExport.objects.select_related("brand", "client", "job").get(pk=row.pk)))


@router.get("/compliance/trail-exports/{uuid:code}", response=TrailOut, url_name="api_compliance_trail_export",
            summary="An export of the compliance trail")
def trail_get(request: HttpRequest, code: UUID) -> dict[str, Any]:
    user = _officer(request, "compliance.view_trailexport")
    row = trail_exports_for(user=user).filter(code=code).first()
    if row is None:
        raise NotFound()
    return trail_out(row)


__all__ = ["router"]
