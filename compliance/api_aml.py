"""The staff API of AML monitoring (mounted by compliance.api): the alert queue, an alert with its linked
ledger transactions, dismissing it; the rules, their versions, a new version (an edit) and a version's dry
run. For staff sessions of compliance officers only, scoped as on the pages; an API key gets 403."""

from __future__ import annotations

import builtins
import datetime as dt
from typing import Any, Literal
from uuid import UUID

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Query, Router, Schema, Status
from pydantic import Field

from compliance import selectors, services
from compliance.aml import DECIDE_PERMISSION, RULES_EDIT_PERMISSION, RULES_VIEW_PERMISSION, VIEW_PERMISSION
from compliance.models import AmlAlert, AmlRule, AmlRuleVersion
from crm.api import ApiError, PageIn, Text10k, caller_of, paginate
from crm.exceptions import NotFound
from crm.models import User
from crm.permissions import user_can

router = Router(tags=["compliance"])


def _officer(request: HttpRequest, perm: str) -> User:
    caller = caller_of(request)
    if caller.api_key is not None or caller.user is None:
        raise ApiError(403, "staff_only", _("AML alerts and rules are worked by compliance staff, signed in."))
    if not user_can(caller.user, perm):
        raise NotFound()
    return caller.user


class AlertOut(Schema):
    code: UUID
    client: UUID
    brand: str
    rule: str = Field(..., description="The rule's kind")
    rule_code: UUID
    rule_version: int
    score: int
    status: str = Field(..., description="open, in_case or dismissed")
    status_reason: str
    summary: str
    facts: dict[str, Any]
    transaction_ids: builtins.list[int] = Field(..., description="The ledger transactions that fired it")
    created_at: str


class AlertDetailOut(AlertOut):
    transactions: builtins.list[dict[str, Any]]


class AlertPage(Schema):
    items: builtins.list[AlertOut]
    next_cursor: str | None


class AlertFilters(Schema):
    status: Literal["open", "in_case", "dismissed", "all"] = "open"
    rule: str = Field("", description="Only this rule kind")
    brand: str = Field("", description="Only this brand (its code)")


class DismissIn(Schema):
    reason: Text10k = Field(..., min_length=1, max_length=2000)


def alert_out(alert: AmlAlert) -> dict[str, Any]:
    return {"code": alert.code, "client": alert.client.code, "brand": alert.brand.code, "rule": alert.rule.kind,
            "rule_code": alert.rule.code, "rule_version": alert.rule_version.number, "score": alert.score,
            "status": alert.status, "status_reason": alert.status_reason, "summary": alert.summary,
            "facts": alert.facts, "transaction_ids": list(alert.transaction_ids),
            "created_at": alert.created_at.isoformat()}


def _detail(alert: AmlAlert) -> dict[str, Any]:
    rows = [{**t, "amount": str(t["amount"]), "occurred_at": t["occurred_at"].isoformat(),
             "recorded_at": t["recorded_at"].isoformat()} for t in selectors.aml_alert_transactions(alert)]
    return {**alert_out(alert), "transactions": rows}


@router.get("/compliance/aml/alerts", response=AlertPage, url_name="api_compliance_aml_alerts",
            summary="The AML alert queue")
def alert_list(request: HttpRequest, filters: Query[AlertFilters], page: Query[PageIn]) -> dict[str, Any]:
    """Alerts of the clients within your reach, best score first: by default the open ones."""
    user = _officer(request, VIEW_PERMISSION)
    qs = selectors.aml_alert_queue(user=user, status="" if filters.status == "all" else filters.status,
                                   rule_kind=filters.rule)
    if filters.brand:
        qs = qs.filter(brand__code=filters.brand)
    result = paginate(qs, page)
    return {"items": [alert_out(a) for a in result.items], "next_cursor": result.next_cursor}


@router.get("/compliance/aml/alerts/{uuid:code}", response=AlertDetailOut, url_name="api_compliance_aml_alert",
            summary="An AML alert with its linked transactions")
def alert_get(request: HttpRequest, code: UUID) -> dict[str, Any]:
    return _detail(selectors.aml_alert_get_for_user(_officer(request, VIEW_PERMISSION), code))


@router.post("/compliance/aml/alerts/{uuid:code}/dismissal", response=AlertDetailOut,
             url_name="api_compliance_aml_alert_dismiss", summary="Dismiss an open alert")
def alert_dismiss(request: HttpRequest, code: UUID, payload: DismissIn) -> dict[str, Any]:
    user = _officer(request, DECIDE_PERMISSION)
    alert = services.aml_alert_dismiss(alert=selectors.aml_alert_get_for_user(user, code), actor=user,
                                       reason=payload.reason)
    return _detail(selectors.aml_alert_get_for_user(user, alert.code))


class VersionOut(Schema):
    number: int
    parameters: dict[str, Any]
    effective_from: str
    note: str
    created_by: UUID | None


class RuleOut(Schema):
    code: UUID
    brand: str
    kind: str
    risk_class: str
    name: str
    is_active: bool
    version_in_force: int | None
    versions: builtins.list[VersionOut]


class VersionIn(Schema):
    parameters: dict[str, Any] = Field(..., description="The parameters of the rule's kind (see the rules page)")
    effective_from: dt.datetime | None = Field(None, description="Empty: now")
    note: Text10k = Field("", max_length=300)


class DryRunRowOut(Schema):
    client: int
    transaction_ids: builtins.list[int]
    score: int
    summary: str
    facts: dict[str, Any]
    already_alerted: bool


class DryRunOut(Schema):
    version: int
    since: str
    until: str
    rows: builtins.list[DryRunRowOut]


def _version_out(v: AmlRuleVersion) -> dict[str, Any]:
    return {"number": v.number, "parameters": v.parameters, "effective_from": v.effective_from.isoformat(),
            "note": v.note, "created_by": v.created_by.code if v.created_by else None}


def rule_out(rule: AmlRule) -> dict[str, Any]:
    current = selectors.version_in_force(rule)
    return {"code": rule.code, "brand": rule.brand.code, "kind": rule.kind, "risk_class": rule.risk_class,
            "name": rule.name, "is_active": rule.is_active, "version_in_force": current.number if current else None,
            "versions": [_version_out(v) for v in rule.versions.select_related("created_by").order_by("-number")]}


@router.get("/compliance/aml/rules", response=list[RuleOut], url_name="api_compliance_aml_rules",
            summary="The AML rules and their versions")
def rule_list(request: HttpRequest) -> list[dict[str, Any]]:
    return [rule_out(r) for r in selectors.aml_rules_for_user(_officer(request, RULES_VIEW_PERMISSION))]


@router.post("/compliance/aml/rules/{uuid:code}/versions", response={201: RuleOut},
             url_name="api_compliance_aml_rule_version", summary="Edit a rule: a new version")
def rule_version_add(request: HttpRequest, code: UUID, payload: VersionIn) -> Status[dict[str, Any]]:
    """A new version with these parameters; 400 naming each bad one (`parameters.<name>`). The alerts
    already raised keep the version that raised them."""
    user = _officer(request, RULES_EDIT_PERMISSION)
    rule = selectors.aml_rule_get_for_user(user, code)
    services.aml_rule_version_add(rule=rule, parameters=payload.parameters, actor=user,
                                  effective_from=payload.effective_from, note=payload.note)
    return Status(201, rule_out(rule))


@router.get("/compliance/aml/rules/{uuid:code}/versions/{int:number}/dry-run", response=DryRunOut,
            url_name="api_compliance_aml_rule_dry_run", summary="What a version would have fired last month")
def rule_dry_run(request: HttpRequest, code: UUID, number: int) -> dict[str, Any]:
    """The version's query over the last month's movements, as a plain read: nothing is written."""
    rule = selectors.aml_rule_get_for_user(_officer(request, RULES_VIEW_PERMISSION), code)
    version = rule.versions.filter(number=number).first()
    if version is None:
        raise NotFound()
    result = selectors.aml_rule_dry_run(version=version)
    return {"version": version.number, "since": result.since.isoformat(), "until": result.until.isoformat(),
            "rows": [{"client": r.client_id, "transaction_ids": r.transaction_ids, "score": r.score,
                      "summary": r.summary, "facts": r.facts, "already_alerted": r.already_alerted}
                     for r in result.rows]}
