"""The partner programme's API, read-only: partners, a partner's referred clients, its commission lines
of a month (each with the stable key the partner pages and disputes use) and its settlements.

Reads go through ib's selectors and access helpers, as the IB manager's pages do: a staff session
needs ib.view_partner and sees its brands' partners; an API key needs the `ib:read` scope and sees
its brand's. A partner outside the caller's scope is 404, exactly like one that does not exist.
Amounts are decimal strings with their currency (commission lines unrounded, as computed;
settlements at the currency's minor unit); times are UTC.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Query, Router, Schema
from pydantic import Field

from crm.api import Caller, Code, PageIn, Text16, caller_of, one_of, paginate, requires_scope, utc_text
from crm.exceptions import NotFound
from crm.lib.money import decimal_text
from crm.lib.pagination import Key
from crm.models import Client
from ib import selectors
from ib.models import (
    ClientAttribution,
    CommissionLine,
    CommissionSettlement,
    Partner,
    PartnerKind,
    PartnerStatus,
)
from ib.permissions import partner_get_for_user, partner_queryset_for_user
from ib.statements import statement_month
from trading.selectors import account_logins

router = Router(tags=["partners"])

SINCE_NEWEST_FIRST = (Key("effective_from", True, "datetime"), Key("id", True, "int"))
LINES_NEWEST_FIRST = (Key("business_time", True, "datetime"), Key("id", True, "int"))
SETTLED_NEWEST_FIRST = (Key("settled_at", True, "datetime"), Key("id", True, "int"))



class PartnerOut(Schema):
    code: UUID
    display_name: str
    kind: str = Field(..., description="ib or affiliate")
    status: str = Field(..., description="applied, active, suspended, rejected or closed")
    country: str
    contact_email: str
    payout_currency: str
    schedule: str = Field(..., description="How often the partner's commissions are settled.")
    parent: UUID | None = Field(None, description="The partner above it in the hierarchy.")
    client: UUID | None = Field(None, description="The partner's own client record, if it trades too.")
    created_at: str
    approved_at: str | None


class PartnerPage(Schema):
    items: list[PartnerOut]
    next_cursor: str | None


class PartnerFilters(Schema):
    status: Text16 | None = Field(None, description="Only partners in this status.")
    kind: Text16 | None = Field(None, description="ib or affiliate.")
    parent: Code | None = Field(None, description="Only the direct sub-partners of this partner.")


class ReferredClientOut(Schema):
    client: UUID = Field(..., description="The client's code (read it with `clients:read`).")
    source: str = Field(..., description="How it was attributed: link, code, manual, import ...")
    since: str = Field(..., description="When it became the partner's client, UTC.")


class ReferredClientPage(Schema):
    items: list[ReferredClientOut]
    next_cursor: str | None


class LineFilters(Schema):
    period: Text16 = Field(..., description="The commission month, YYYY-MM.")


class LineOut(Schema):
    key: str = Field(..., description="The line's stable identity: the same in every run that computes it "
                                      "(a recalculation, a dispute).")
    source_kind: str = Field(..., description="deal, cpa or chargeback")
    client: UUID | None
    login: int | None = Field(None, description="The trading account's login, for deal lines.")
    business_time: str = Field(..., description="The source's time (a deal's), UTC.")
    level: int = Field(..., description="0: the client's own partner; 1, 2 ...: partners above it.")
    rule_code: str
    basis: str = Field(..., description="Lots, revenue or 1 (CPA), a decimal string.")
    basis_currency: str
    rate: str
    amount: str = Field(..., description="basis x rate x fx, unrounded, in `currency`.")
    currency: str
    payable: bool = Field(..., description="The month's run was settled for the partner.")


class LinePage(Schema):
    items: list[LineOut]
    next_cursor: str | None


class SettlementOut(Schema):
    period: str = Field(..., description="YYYY-MM")
    currency: str
    amount: str = Field(..., description="What this settlement paid (negative: clawed back).")
    payable: str = Field(..., description="The run's payable it settles to.")
    settled_at: str
    posted_at: str | None


class SettlementPage(Schema):
    items: list[SettlementOut]
    next_cursor: str | None


def partner_out(p: Partner) -> dict[str, Any]:
    return {"code": p.code, "display_name": p.display_name, "kind": p.kind, "status": p.status,
            "country": p.country, "contact_email": p.contact_email, "payout_currency": p.payout_currency,
            "schedule": p.schedule, "parent": p.parent.code if p.parent else None,
            "client": p.client.code if p.client else None, "created_at": utc_text(p.created_at),
            "approved_at": utc_text(p.approved_at)}


def _partners(caller: Caller) -> QuerySet[Partner]:
    if caller.api_key is None:
        return partner_queryset_for_user(caller.user).select_related("client")
    return Partner.objects.filter(brand_id=caller.api_key.brand_id).select_related("brand", "parent", "client")


def _partner(caller: Caller, code: UUID) -> Partner:
    if caller.api_key is None:
        return partner_get_for_user(caller.user, code)
    found = _partners(caller).filter(code=code).first()
    if found is None:
        raise NotFound()
    return found



@router.get("/partners", response=PartnerPage, url_name="api_partner_list", summary="List partners")
@requires_scope("ib:read")
def partner_list(request: HttpRequest, filters: Query[PartnerFilters], page: Query[PageIn]) -> dict[str, Any]:
    """Partners (introducing brokers and affiliates) within your scope, newest first."""
    qs = _partners(caller_of(request))
    status = one_of(filters.status, list(PartnerStatus.values), "status")
    kind = one_of(filters.kind, list(PartnerKind.values), "kind")
    if status:
        qs = qs.filter(status=status)
    if kind:
        qs = qs.filter(kind=kind)
    if filters.parent is not None:
        qs = qs.filter(parent__code=filters.parent)
    result = paginate(qs, page)
    return {"items": [partner_out(p) for p in result.items], "next_cursor": result.next_cursor}


@router.get("/partners/{uuid:code}", response=PartnerOut, url_name="api_partner_detail", summary="Get a partner")
@requires_scope("ib:read")
def partner_get(request: HttpRequest, code: UUID) -> dict[str, Any]:
    return partner_out(_partner(caller_of(request), code))


@router.get("/partners/{uuid:code}/clients", response=ReferredClientPage, url_name="api_partner_clients",
            summary="A partner's referred clients")
@requires_scope("ib:read")
def partner_client_list(request: HttpRequest, code: UUID, page: Query[PageIn]) -> dict[str, Any]:
    """The partner's own clients now (not its sub-partners'), the newest attribution first."""
    partner = _partner(caller_of(request), code)
    result = paginate(selectors.partner_client_attributions(partner), page, keys=SINCE_NEWEST_FIRST)
    items: list[ClientAttribution] = result.items
    return {"items": [{"client": a.client.code, "source": a.source, "since": utc_text(a.effective_from)} for a in items],
            "next_cursor": result.next_cursor}


@router.get("/partners/{uuid:code}/commission-lines", response=LinePage, url_name="api_partner_lines",
            summary="A partner's commission lines of a month")
@requires_scope("ib:read")
def partner_line_list(request: HttpRequest, code: UUID, filters: Query[LineFilters],
                      page: Query[PageIn]) -> dict[str, Any]:
    """The partner's own lines that count for the month (those of its latest finished regular run),
    the newest source first. Each line's `key` is the one the partner's pages and disputes name."""
    partner = _partner(caller_of(request), code)
    period = statement_month(filters.period)
    qs = selectors.partner_lines(partner).filter(run__period=period)
    result = paginate(qs, page, keys=LINES_NEWEST_FIRST)
    lines: list[CommissionLine] = result.items
    clients = dict(Client.objects.filter(pk__in={ln.client_id for ln in lines if ln.client_id})
                   .values_list("pk", "code"))
    logins = account_logins(ln.account_id for ln in lines if ln.account_id)
    items = [{"key": ln.key, "source_kind": ln.source_kind, "client": clients.get(ln.client_id or 0),
              "login": logins.get(ln.account_id or 0), "business_time": utc_text(ln.business_time), "level": ln.level,
              "rule_code": ln.rule_code, "basis": decimal_text(ln.basis), "basis_currency": ln.basis_currency,
              "rate": decimal_text(ln.rate), "amount": decimal_text(ln.amount), "currency": ln.currency,
              "payable": bool(getattr(ln, "is_payable", False))} for ln in lines]
    return {"items": items, "next_cursor": result.next_cursor}


@router.get("/partners/{uuid:code}/settlements", response=SettlementPage, url_name="api_partner_settlements",
            summary="A partner's settlements")
@requires_scope("ib:read")
def partner_settlement_list(request: HttpRequest, code: UUID, page: Query[PageIn]) -> dict[str, Any]:
    """What was settled to the partner, per month and currency, the latest first."""
    partner = _partner(caller_of(request), code)
    result = paginate(CommissionSettlement.objects.filter(partner=partner), page, keys=SETTLED_NEWEST_FIRST)
    settlements: list[CommissionSettlement] = result.items
    return {"items": [{"period": s.period.strftime("%Y-%m"), "currency": s.currency, "amount": decimal_text(s.amount),
                       "payable": decimal_text(s.payable), "settled_at": utc_text(s.settled_at),
                       "posted_at": utc_text(s.posted_at)} for s in settlements],
            "next_cursor": result.next_cursor}
