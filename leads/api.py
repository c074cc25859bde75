"""The lead API: `POST /api/v1/leads`, one lead or a batch of up to 1,000.

Landing pages and lead vendors each get an API key with the `leads:write` scope (the key's name
is the default source of its leads). Every lead goes through leads.services, exactly like the web
form and imports.

- One lead (a JSON object of lead fields): 201 with the new client, or 200 when the person was
  known (a new touch on the existing client); invalid input is 422 in the standard error shape.
- A batch (`{"leads": [...]}`): 200 with one result per item, in order, as long as the envelope
  is sound: `{"index", "status": "created"|"duplicate"|"invalid", "client", "errors"}`. Good items
  are written, bad ones are reported field by field and nothing of them is written. A bad
  envelope (no list, an empty one, more than 1,000 items) is 422.

Lead vendors send bursts: leads have their own request budget per key (LEADS_API_RATE_LIMIT,
default 6000/m) instead of the API's general one.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext as _
from ninja import Router, Schema, Status
from pydantic import Field

from crm.api import ApiError, Caller, CallerRateThrottle, caller_of, requires_scope
from crm.exceptions import ValidationFailed
from crm.lib.middleware import client_ip
from crm.models import Brand
from crm.permissions import user_can
from leads.intake import IntakeMeta
from leads.models import Channel
from leads.services import MAX_BATCH, IntakeResult, lead_intake, lead_intake_batch

logger = logging.getLogger(__name__)


# Lead vendors send bursts: a budget of their own per key, not the API's general one.
router = Router(tags=["leads"], throttle=[CallerRateThrottle("LEADS_API_RATE_LIMIT", "leads:api:rate")])


class LeadIn(Schema):
    """One lead. Only the fields marked required must be present; amounts are decimal strings or numbers."""

    first_name: str = Field(..., description="Required.")
    last_name: str = Field(..., description="Required.")
    email: str = Field(..., description="Required. Compared case-insensitively for dedupe.")
    phone: str = Field(..., description="Required. E.164 (+4420...) or national, read with `country`.")
    country: str = Field(..., description="Required. ISO 3166-1 alpha-2.")
    language: str | None = None
    source: str | None = Field(None, description="Defaults to the API key's name.")
    campaign: str | None = Field(None, description="A campaign code; defaults to utm_campaign.")
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    utm_term: str | None = None
    utm_content: str | None = None
    click_id: str | None = None
    referrer_code: str | None = Field(None, description="The introducing broker's code.")
    landing_page: str | None = None
    experience: str | None = Field(None, description="none, some, experienced or professional.")
    deposit_intent: str | float | None = Field(None, description="An amount, such as 5000.")
    annual_income: str | float | None = None
    net_worth: str | float | None = None
    occupation: str | None = None
    consent: bool | str | None = Field(None, description="true/false, or yes/no.")
    consent_text_version: str | None = None
    brand: str | None = Field(None, description="Staff sessions only: the brand's code. Keys use their own brand.")


class LeadOut(Schema):
    status: str = Field(..., description="created or duplicate.")
    client: str
    touch: str
    score: int | None
    owner: str | None = Field(None, description="Code of the agent the lead was routed to.")
    desk: str | None = None
    queued: bool = Field(..., description="Nobody was available: the lead waits in the desk's queue.")


class LeadResultOut(Schema):
    index: int
    status: str = Field(..., description="created, duplicate or invalid.")
    client: str | None
    errors: dict[str, list[str]]


class LeadBatchOut(Schema):
    results: list[LeadResultOut]
    created: int
    duplicates: int
    invalid: int


def _body_doc() -> dict[str, Any]:
    one = LeadIn.model_json_schema()
    batch = {"title": "LeadBatchIn", "type": "object", "required": ["leads"], "properties": {"leads": {
        "type": "array", "minItems": 1, "maxItems": MAX_BATCH,
        # Each item is checked on its own and answered in `results`: a bad item never fails the batch.
        "items": {"description": "A lead object like LeadIn. Items that are not valid leads are reported "
                                 "in `results` with status invalid.", "x-item-schema": one},
    }}}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": {"oneOf": [one, batch]}}}}}


_TEXT_FIELDS = frozenset({
    "first_name", "last_name", "email", "phone", "country", "language", "source", "campaign", "utm_source",
    "utm_medium", "utm_campaign", "utm_term", "utm_content", "click_id", "referrer_code", "landing_page",
    "experience", "occupation", "consent_text_version", "brand",
})
_AMOUNT_FIELDS = frozenset({"deposit_intent", "annual_income", "net_worth"})


def _type_errors(item: Any) -> dict[str, list[str]]:
    """JSON types the API does not take (spreadsheets may give numbers for text; JSON callers must not)."""
    if not isinstance(item, dict):
        return {"__all__": [_("A lead must be an object of fields.")]}
    errors: dict[str, list[str]] = {}
    for name, value in item.items():
        if value is None:
            continue
        if name in _TEXT_FIELDS and not isinstance(value, str):
            errors[name] = [_("Enter text.")]
        elif name in _AMOUNT_FIELDS and (isinstance(value, bool) or not isinstance(value, str | int | float)):
            errors[name] = [_("Enter an amount, such as 5000.")]
        elif name == "consent" and not isinstance(value, bool | str):
            errors[name] = [_("Answer yes or no.")]
    return errors


def _body(request: HttpRequest) -> Any:
    try:
        return json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested beyond reason
        raise ApiError(400, "malformed_body", _("The request body is not valid JSON.")) from None


def _brand(caller: Caller, body: dict[str, Any]) -> Brand:
    if caller.api_key is not None:
        brand = caller.api_key.brand
        if body.get("brand") not in (None, "", brand.code):
            raise ValidationFailed(fields={"brand": [_("This API key can only send leads of its own brand.")]})
        return brand
    user = caller.user
    if user is None or not user_can(user, "crm.add_client"):
        raise ApiError(403, "forbidden", _("You are not allowed to do this."))
    code = body.get("brand")
    found = Brand.objects.filter(code=code).first() if isinstance(code, str) and code else None
    if found is None:
        raise ValidationFailed(fields={"brand": [_("Give the code of one of your brands.")]})
    if not (user.is_administrator or user.all_brands or user.brands.filter(pk=found.pk).exists()):
        raise ValidationFailed(fields={"brand": [_("Give the code of one of your brands.")]})
    return found


def _meta(request: HttpRequest, caller: Caller) -> IntakeMeta:
    return IntakeMeta(
        ip=client_ip(request), user_agent=request.META.get("HTTP_USER_AGENT", "")[:500], api_key=caller.api_key,
        actor=caller.user, default_source=caller.api_key.name if caller.api_key is not None else "api",
    )


def _strip(item: Any) -> Any:
    return {k: v for k, v in item.items() if k != "brand"} if isinstance(item, dict) else item


def _single_out(result: IntakeResult) -> dict[str, Any]:
    decision = result.routing
    if result.status == "created" and decision is not None:
        owner, desk = decision.owner, decision.desk  # already loaded: no query per answer
    else:
        client = result.client
        assert client is not None
        owner, desk = client.owner, client.desk
    return {
        "status": result.status, "client": str(result.client_code), "touch": str(result.touch_code),
        "score": result.score, "owner": str(owner.code) if owner is not None else None,
        "desk": str(desk.code) if desk is not None else None,
        "queued": bool(decision is not None and decision.queued),
    }


@router.post("/leads", response={200: LeadOut | LeadBatchOut, 201: LeadOut}, url_name="api_lead_create",
             summary="Send one lead or a batch", openapi_extra=_body_doc())
@requires_scope("leads:write")
def create_leads(request: HttpRequest) -> Status[dict[str, Any]] | JsonResponse:
    """One lead object, or `{"leads": [...]}` with up to 1,000 of them. Known people (same email or
    phone in the brand) become a new touch on the existing client, never a second client. Every
    new lead is scored and routed to an agent before the answer is sent."""
    caller = caller_of(request)
    body = _body(request)
    if not isinstance(body, dict):
        raise ValidationFailed(fields={"__all__": [_("Send a lead object, or {\"leads\": [...]}.")]})
    brand = _brand(caller, body)
    meta = _meta(request, caller)
    if "leads" not in body:
        errors = _type_errors(body)
        if errors:
            raise ValidationFailed(fields=errors)
        result = lead_intake(brand=brand, data=_strip(body), channel=Channel.API, meta=meta)
        return Status(201 if result.status == "created" else 200, _single_out(result))
    items = body["leads"]
    if not isinstance(items, list) or not items:
        raise ValidationFailed(fields={"leads": [_("Give a list of at least one lead.")]})
    if len(items) > MAX_BATCH:
        raise ValidationFailed(fields={"leads": [_("Send at most %(max)d leads at once.") % {"max": MAX_BATCH}]})
    out: list[dict[str, Any]] = [{}] * len(items)
    typed: list[tuple[int, Any]] = []
    for index, item in enumerate(items):
        errors = _type_errors(item)
        if errors:
            out[index] = {"index": index, "status": "invalid", "client": None, "errors": errors}
        else:
            typed.append((index, _strip(item)))
    results = lead_intake_batch(brand=brand, items=[item for _i, item in typed], channel=Channel.API, meta=meta) \
        if typed else []
    for (index, _item), r in zip(typed, results, strict=True):
        out[index] = {"index": index, "status": r.status, "client": str(r.client_code) if r.client_code else None,
                      "errors": r.errors}
    counts = {s: sum(1 for r in out if r["status"] == s) for s in ("created", "duplicate", "invalid")}
    # Built here and sent as is: validating a thousand results against the schema again costs more
    # than the rest of the answer (the schema is still documented on the operation).
    return JsonResponse({"results": out, "created": counts["created"], "duplicates": counts["duplicate"],
                         "invalid": counts["invalid"]}, status=200)

