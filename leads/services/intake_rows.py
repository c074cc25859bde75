"""The rows of new people taken in, written in bulk.

New people are written in bulk (contact keys, touches, scores, SLA state, events, notifications),
so that a batch of a thousand leads costs a handful of statements rather than thousands; a big
batch is written a chunk at a time, each chunk sent without waiting (crm.lib.bulk.pipelined) so
that PostgreSQL stores one chunk while Python scores and routes the next, and the batch still
commits or fails as one. The clients themselves come from the core's own creation path
(crm.services.clients_creation, as client_create): their rows, history rows, "client.created"
events and audit rows are the core's; the intake adds its channel, touch and score to the event."""

from __future__ import annotations

import functools
import ipaddress
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.apps import apps
from django.db import models

from crm.events import event_row, event_rows_ready
from crm.lib import bulk
from crm.models import Brand, Client, Event, Notification
from crm.services import ClientsCreation, NewClient, client_from_row
from leads import dedupe
from leads.config import IntakeConfig
from leads.intake import IntakeMeta, LeadInput
from leads.models import Campaign, ContactKey, LeadContactState, LeadScore, LeadTouch
from leads.routing import Router, RoutingDecision
from leads.scoring import Breakdown, LeadFacts, score_facts
from leads.services.intake_notifications import _ClientRef, _Notifications


@dataclass
class IntakeResult:
    """The outcome for one lead: "created" (a new client), "duplicate" (a new touch on an existing
    client) or "invalid" (nothing written; `errors` names each field).

    New clients are written in bulk; `client` and `touch` build their model instances on first use
    (the batch API only needs the codes)."""

    index: int
    status: str
    score: int | None = None
    routing: RoutingDecision | None = None
    errors: dict[str, list[str]] = field(default_factory=dict)
    client_values: dict[str, Any] | None = None
    touch_values: dict[str, Any] | None = None
    client_obj: Client | None = None
    touch_obj: LeadTouch | None = None

    @property
    def client(self) -> Client | None:
        if self.client_obj is None and self.client_values is not None:
            self.client_obj = client_from_row(self.client_values)
        return self.client_obj

    @property
    def touch(self) -> LeadTouch | None:
        if self.touch_obj is None and self.touch_values is not None:
            self.touch_obj = LeadTouch(**self.touch_values)
            self.touch_obj._state.adding = False
        return self.touch_obj

    @property
    def client_code(self) -> uuid.UUID | None:
        if self.client_values is not None:
            code: uuid.UUID = self.client_values["code"]
            return code
        return self.client_obj.code if self.client_obj is not None else None

    @property
    def touch_code(self) -> uuid.UUID | None:
        return self.touch_values["code"] if self.touch_values is not None else None


@functools.lru_cache(maxsize=1024)
def _clean_ip(value: str | None) -> str | None:
    """The address in its compressed form, or None (a batch's thousand touches share one)."""
    if not value:
        return None
    try:
        return ipaddress.ip_address(value).compressed
    except ValueError:
        return None


@dataclass
class _New:
    index: int
    lead: LeadInput
    keys: list[dedupe.Key]
    client: Client | None = None
    touch: LeadTouch | None = None
    score: int = 0
    breakdown: Breakdown = field(default_factory=list)
    decision: RoutingDecision | None = None
    result: IntakeResult | None = None


def _new_client(lead: LeadInput, decision: RoutingDecision, pk: int, event_data: dict[str, Any]) -> NewClient:
    """The client a new lead becomes, for the core's creation (lead_clean normalised its values)."""
    return NewClient(
        id=pk, first_name=lead.first_name, last_name=lead.last_name, email=lead.email, phone=lead.phone,
        country=lead.country, language=lead.language, owner=decision.owner, desk=decision.desk, source=lead.source,
        campaign=lead.campaign, utm_source=lead.utm_source, utm_medium=lead.utm_medium,
        utm_campaign=lead.utm_campaign, utm_term=lead.utm_term, utm_content=lead.utm_content,
        referrer_code=lead.referrer_code, event_data=event_data,
    )


def _touch_values(brand: Brand, client_id: int, lead: LeadInput, channel: str, meta: IntakeMeta, now: datetime,
                  campaigns: Mapping[str, Campaign], *, repeat: bool, pk: int | None = None) -> dict[str, Any]:
    campaign = campaigns.get(lead.campaign.lower()) if lead.campaign else None
    values = {
        "code": uuid.uuid4(), "brand_id": brand.pk, "client_id": client_id, "channel": channel, "is_repeat": repeat,
        "source": lead.source, "campaign_id": campaign.pk if campaign is not None else None,
        "campaign_code": lead.campaign, "utm_source": lead.utm_source, "utm_medium": lead.utm_medium,
        "utm_campaign": lead.utm_campaign, "utm_term": lead.utm_term, "utm_content": lead.utm_content,
        "click_id": lead.click_id, "referrer_code": lead.referrer_code, "landing_page": lead.landing_page,
        "ip": _clean_ip(meta.ip), "user_agent": (meta.user_agent or "")[:500], "consent_given": lead.consent,
        "consent_text_version": lead.consent_text_version, "consent_at": now if lead.consent else None,
        "declared": dict(lead.declared), "payload": lead.payload,
        "api_key_id": meta.api_key.pk if meta.api_key is not None else None,
        "lead_import_id": meta.lead_import.pk if meta.lead_import is not None else None, "created_at": now,
    }
    if pk is not None:
        values["id"] = pk
    return values


def _write_new(brand: Brand, new: list[_New], client_ids: list[int], touch_ids: list[int], *, channel: str,
               meta: IntakeMeta, now: datetime, config: IntakeConfig, router: Router, notes: _Notifications,
               creation: ClientsCreation, actor_id: int | None, request_id: str, results: list[IntakeResult],
               last: bool) -> None:
    """Score, route and write one chunk of new people: the clients through the core's creation,
    then the intake's own rows; the last chunk also carries the notifications and the routing
    state collected over the whole intake."""
    touches: list[dict[str, Any]] = []
    clients: list[NewClient] = []
    for item, client_id, touch_id in zip(new, client_ids, touch_ids, strict=False):
        facts = LeadFacts.of_input(item.lead)
        item.score, item.breakdown = score_facts(facts, config.scoring_rules)
        item.decision = router.route(facts.with_score(item.score))
        touch = _touch_values(brand, client_id, item.lead, channel, meta, now, config.campaigns, repeat=False,
                              pk=touch_id)
        touches.append(touch)
        clients.append(_new_client(item.lead, item.decision, client_id, {
            "via": "lead_intake", "channel": channel, "touch": str(touch["code"]), "score": item.score}))
    client_rows = creation.add(clients)
    keys_rows, score_rows, state_rows = [], [], []
    events: list[dict[str, Any]] = []
    for item, values, touch in zip(new, client_rows, touches, strict=True):
        decision = item.decision
        assert decision is not None
        client_id, touch_id = values["id"], touch["id"]
        keys_rows += [{"brand_id": brand.pk, "kind": k, "value": dedupe.stored_value((k, v)), "client_id": client_id,
                       "created_at": now} for k, v in item.keys]
        score_rows.append({"client_id": client_id, "touch_id": touch_id, "score": item.score,
                           "breakdown": item.breakdown, "computed_at": now})
        sla = config.slas.get(decision.desk.pk) if decision.desk is not None else None
        if decision.owner is not None or decision.desk is not None:
            state_rows.append({
                "client_id": client_id, "desk_id": values["desk_id"], "owner_id": values["owner_id"],
                "assigned_at": now,
                # A queued lead's first-contact clock starts when it gets an owner (leads.services.queue).
                "due_at": (now + timedelta(minutes=sla.minutes_to_first_contact)
                           if sla is not None and decision.owner is not None else None),
            })
        result = IntakeResult(index=item.index, status="created", score=item.score, routing=decision,
                              client_values=values, touch_values=touch)
        item.result = result
        name = f"{item.lead.first_name} {item.lead.last_name}".strip()
        if decision.owner is not None:
            notes.assigned_to(decision.owner, _ClientRef(values["code"], name))
        elif decision.desk is not None:
            notes.queued_on(decision.desk, _ClientRef(values["code"], name))
        events.append(event_row("lead.routed", client_id=client_id, brand_id=brand.pk, actor_id=actor_id,
                                data=decision.as_event_data(), at=now, request_id=request_id))
        results.append(result)
    # No key conflicts are possible: the keys are locked and were free (see leads.dedupe).
    rows = (keys_rows, touches, score_rows, state_rows, events, notes.rows(now) if last else [])
    event_rows_ready(events)
    # Touches carry the ids drawn for them beforehand (scores refer to them).
    bulk.write([(model, model_rows, model is LeadTouch)
                for model, model_rows in zip(_new_lead_models()[2:], rows, strict=True)],
               updates=router.save_statements() if last else ())


@functools.cache
def _new_lead_models() -> tuple[type[models.Model], ...]:
    """The tables a new lead is written to, in the order they are written: the core's (the client,
    its history row, its event), then the intake's. (Client.history builds a manager class on every
    access: the history model is looked up instead.)"""
    return (Client, apps.get_model("crm", "HistoricalClient"), ContactKey, LeadTouch, LeadScore,
            LeadContactState, Event, Notification)
