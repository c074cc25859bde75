"""The staff API of jurisdictions and restrictions (mounted by compliance.api).

Staff sessions act as their role allows (compliance.view_/change_jurisdiction, compliance.view_/add_/
change_restriction) within their scope; API keys act on their own brand with the `compliance:read`
or `compliance:write` scope (a restriction set by a key names no officer: the audit log names the key).
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from uuid import UUID

from django.http import HttpRequest
from django.utils import timezone
from ninja import Query, Router, Schema, Status
from pydantic import Field

from compliance import selectors, services
from compliance.models import Restriction
from compliance.restrictions import VIEW_PERMISSION
from crm.api import Caller, Text10k, Text16, Text40, Text64, Text80, Text500, caller_of, requires_scope
from crm.exceptions import NotAllowed, NotFound
from crm.models import Brand, Client
from crm.permissions import client_get_for_user, user_can, visible_brands

router = Router(tags=["compliance"])


class JurisdictionOut(Schema):
    country: str
    region: str
    status: str = Field(..., description="sanctioned, high_risk or allowed")
    effective_from: dt.date
    effective_to: dt.date | None
    in_effect: bool
    source: str
    note: str


class JurisdictionIn(Schema):
    brand: Text64 = Field(..., description="The brand's code")
    country: Text80 = Field(..., description="ISO 3166-1 alpha-2 code (or an English country name)")
    region: Text16 = Field("", description="ISO 3166-2 code of a region; empty: the whole country")
    status: Text40 = Field(..., description="sanctioned, high_risk or allowed")
    effective_from: dt.date | None = Field(None, description="Default: today")
    effective_to: dt.date | None = None
    note: Text500 = ""


class RestrictionOut(Schema):
    code: UUID
    client: UUID
    kind: str = Field(..., description="no_deposit, no_withdrawal, no_trading or no_login")
    source: str
    reason: str
    in_force: bool
    imposed_at: dt.datetime
    imposed_by: str | None
    until: dt.datetime | None
    lifted_at: dt.datetime | None
    lifted_by: str | None
    lift_reason: str


class RestrictionIn(Schema):
    kinds: list[Text40] = Field(..., description="Any of no_deposit, no_withdrawal, no_trading, no_login")
    reason: Text10k
    until: dt.datetime | None = Field(None, description="Default: until lifted")


class LiftIn(Schema):
    reason: Text10k


class BrandQuery(Schema):
    brand: str | None = Field(None, description="The brand's code (an API key: its own brand)")


def _brand_for(caller: Caller, code: str | None) -> Brand:
    if caller.api_key is not None:
        brand = Brand.objects.filter(pk=caller.api_key.brand_id).first()
        if brand is None or (code and brand.code != code):
            raise NotFound()
        return brand
    if not user_can(caller.user, "compliance.view_jurisdiction"):
        raise NotAllowed()
    brands = visible_brands(caller.user).order_by("name")
    found = brands.filter(code=code).first() if code else brands.first()
    if found is None:
        raise NotFound()
    return found


def _client_for(caller: Caller, code: UUID) -> Client:
    if caller.api_key is None:
        if not user_can(caller.user, VIEW_PERMISSION):
            raise NotAllowed()
        return client_get_for_user(caller.user, code)
    client = Client.objects.filter(brand_id=caller.api_key.brand_id, code=code).select_related("brand").first()
    if client is None:
        raise NotFound()
    return client


def _who(user: Any) -> str | None:
    return None if user is None else str(user.full_name or user.email)


def jurisdiction_out(row: Any) -> dict[str, Any]:
    return {"country": row.country, "region": row.region, "status": row.status, "effective_from": row.effective_from,
            "effective_to": row.effective_to, "in_effect": row.in_effect(timezone.localdate()),
            "source": row.source, "note": row.note}


def restriction_out(row: Restriction) -> dict[str, Any]:
    return {"code": row.code, "client": row.client.code, "kind": row.kind, "source": row.source, "reason": row.reason,
            "in_force": row.active_at(timezone.now()), "imposed_at": row.imposed_at, "imposed_by": _who(row.imposed_by),
            "until": row.until, "lifted_at": row.lifted_at, "lifted_by": _who(row.lifted_by),
            "lift_reason": row.lift_reason}


@router.get("/compliance/jurisdictions", response=list[JurisdictionOut], url_name="api_compliance_jurisdictions",
            summary="A brand's jurisdictions")
@requires_scope("compliance:read")
def jurisdiction_list(request: HttpRequest, filters: Query[BrandQuery]) -> list[dict[str, Any]]:
    brand = _brand_for(caller_of(request), filters.brand)
    return [jurisdiction_out(j) for j in selectors.jurisdictions_for_brand(brand=brand)]


@router.post("/compliance/jurisdictions", response={200: JurisdictionOut}, url_name="api_compliance_jurisdiction_set",
             summary="Set a jurisdiction's status")
@requires_scope("compliance:write")
def jurisdiction_put(request: HttpRequest, payload: JurisdictionIn) -> dict[str, Any]:
    """Set a country's (or region's) status and dates for the brand. A sanctioned one restricts the
    brand's clients of that country (no deposits, withdrawals or trading) and tells the officers."""
    caller = caller_of(request)
    brand = _brand_for(caller, payload.brand)
    row = services.jurisdiction_set(brand=brand, by=caller.user, country=payload.country, region=payload.region,
                                    status=payload.status, effective_from=payload.effective_from,
                                    effective_to=payload.effective_to, note=payload.note, source="API")
    return jurisdiction_out(row)


@router.get("/compliance/clients/{uuid:code}/restrictions", response=list[RestrictionOut],
            url_name="api_compliance_client_restrictions", summary="A client's restrictions")
@requires_scope("compliance:read")
def restriction_list(request: HttpRequest, code: UUID) -> list[dict[str, Any]]:
    client = _client_for(caller_of(request), code)
    return [restriction_out(r) for r in selectors.restrictions_for_client(client=client)]


@router.post("/compliance/clients/{uuid:code}/restrictions", response={201: list[RestrictionOut]},
             url_name="api_compliance_restriction_impose", summary="Impose restrictions on a client")
@requires_scope("compliance:write")
def restriction_impose(request: HttpRequest, code: UUID, payload: RestrictionIn) -> Status[list[dict[str, Any]]]:
    """Impose each kind named (one already in force is kept as it is), with the reason and end."""
    caller = caller_of(request)
    client = _client_for(caller, code)
    rows = services.impose_restriction(client=client, kinds=payload.kinds, reason=payload.reason, by=caller.user,
                                       until=payload.until)
    return Status(201, [restriction_out(r) for r in rows])


@router.post("/compliance/restrictions/{uuid:code}/lift", response=RestrictionOut,
             url_name="api_compliance_restriction_lift", summary="Lift a restriction")
@requires_scope("compliance:write")
def restriction_lift(request: HttpRequest, code: UUID, payload: LiftIn) -> dict[str, Any]:
    """Lift the restriction, saying why (audited)."""
    caller = caller_of(request)
    row = Restriction.objects.select_related("client").filter(code=code).first()
    if row is None:
        raise NotFound()
    _client_for(caller, row.client.code)  # out of scope: not found
    lifted = services.lift_restriction(restriction=row, reason=payload.reason, by=caller.user)
    return restriction_out(Restriction.objects.select_related("client", "imposed_by", "lifted_by").get(pk=lifted.pk))
