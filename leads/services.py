"""Every write of lead acquisition: intake, routing and reassignment, first contact and its SLA,
merging duplicates, spreadsheet imports, and the administrators' configuration.

Intake: the web form, the API and imports all call `lead_intake` (one lead) or
`lead_intake_batch` (many, with a result per item): both run the same pipeline,

    clean -> lock contact keys -> find the person -> score -> route -> write -> events -> audit

in one transaction. New people are written in bulk (clients with their history rows, contact
keys, touches, scores, SLA state, events, notifications), so that a batch of a thousand leads
costs a handful of statements rather than thousands; a big batch is written a chunk at a time,
each chunk sent without waiting (leads.bulk.pipelined) so that PostgreSQL stores one chunk while
Python scores and routes the next, and the batch still commits or fails as one. The client rows
are exactly what crm.services.client_create writes (same normalisers, same "client.created"
event, the owner notified in their own language); the audit trail gets one row per intake call
naming every client it created or touched.

Conventions as in crm.services: keyword-only, actor first, `actor=None` is the system (the form,
the API, tasks), ValidationFailed names each bad field, each change is audited.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import itertools
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import models, transaction
from django.db.models import Q
from django.urls import NoReverseMatch, reverse
from django.utils import timezone, translation
from django.utils.translation import gettext, gettext_noop

from crm import services as crm_services
from crm.audit import audit_record
from crm.events import contract_check, emit, kick_dispatcher
from crm.exceptions import Conflict, FieldErrors, NotAllowed, ValidationFailed
from crm.lib import context
from crm.lib.validation import InvalidValue, country_normalise, language_normalise, text_clean
from crm.models import Brand, Client, Desk, Event, Note, Notification, RoleCode, Stage, Task, User
from crm.permissions import assignment_refusal, user_can
from crm.selectors import mask_email, mask_phone
from leads import bulk, dedupe
from leads.config import IntakeConfig, config_changed, config_for
from leads.intake import IntakeMeta, LeadInput, lead_clean
from leads.models import (
    AgentAvailability,
    AvailabilityStatus,
    Campaign,
    Channel,
    ClientMerge,
    ContactKey,
    DeskSla,
    LeadContactState,
    LeadScore,
    LeadTouch,
    RoutingPointer,
    RoutingRule,
    RoutingStrategy,
    RoutingTarget,
    ScoringKind,
    ScoringRule,
)
from leads.routing import AGENT_ROLES, Router, RoutingDecision
from leads.scoring import Breakdown, LeadFacts, params_clean, score_facts

MAX_BATCH = 1000
# New people of a batch are scored, routed and written this many at a time (see _intake); the
# first chunk is smaller, so that PostgreSQL has work sooner. A chunk of 100 is about 230 kB on
# the wire: it fits in a Unix socket's buffer at Linux's default cap (see leads.bulk.SEND_BUFFER),
# so sending it never waits for PostgreSQL to finish the chunk before (with 200 it did, and a
# batch took a sixth longer); over TCP, or with a larger buffer, 100 and 200 are alike.
INTAKE_CHUNK = 100
INTAKE_FIRST_CHUNK = 50


@dataclass
class IntakeResult:
    """The outcome for one lead: "created" (a new client), "duplicate" (a new touch on an existing
    client) or "invalid" (nothing written; `errors` names each field).

    New clients are written in one statement (leads.bulk.write); `client` and `touch` build their
    model instances on first use (the batch API only needs the codes)."""

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
            self.client_obj = Client(**self.client_values)
            self.client_obj._state.adding = False
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
            return self.client_values["code"]
        return self.client_obj.code if self.client_obj is not None else None

    @property
    def touch_code(self) -> uuid.UUID | None:
        return self.touch_values["code"] if self.touch_values is not None else None


# --- helpers -----------------------------------------------------------------------------------


def _url(name: str, *args: Any) -> str:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return ""


def _client_url(client: Any) -> str:
    return _url("client_detail", client.code)


def _user_ref(user: User | None) -> dict[str, str] | None:
    return None if user is None else {"code": str(user.code), "name": user.full_name or user.email}


def _desk_ref(desk: Desk | None) -> dict[str, str] | None:
    return None if desk is None else {"code": str(desk.code), "name": desk.name}


@functools.lru_cache(maxsize=1024)
def _clean_ip(value: str | None) -> str | None:
    """The address in its compressed form, or None (a batch's thousand touches share one)."""
    if not value:
        return None
    try:
        return ipaddress.ip_address(value).compressed
    except ValueError:
        return None


def _notify(user: User | None, *, kind: str, title: str, body: str = "", url: str = "",
            params: Mapping[str, Any] | None = None, actor: User | None = None) -> Notification | None:
    """Notify `user` (not the actor) with `title` (a gettext_noop string) in their own language."""
    if user is None or not user.is_active or (actor is not None and actor.pk == user.pk):
        return None
    with translation.override(user.language or settings.LANGUAGE_CODE):
        text = gettext(title) % dict(params or {}) if params else gettext(title)
        return crm_services.notification_send(user=user, kind=kind, title=text, body=body, url=url)


def _require_admin(actor: User | None) -> None:
    if actor is not None and not actor.is_administrator:
        raise NotAllowed()


def text_field(value: Any, name: str, limit: int, *, required: bool = False, errors: FieldErrors) -> str:
    """`value` cleaned as text of at most `limit` characters; a problem is added to `errors` under
    `name` (and "" returned), so that a form's every bad field is reported at once."""
    try:
        return text_clean(value if isinstance(value, str) or value is None else str(value), field=name,
                          max_length=limit, required=required)
    except InvalidValue as exc:
        errors.add(exc.field, exc.message)
        return ""


def _require_reason(reason: str) -> str:
    reason = " ".join((reason or "").split())
    if not reason:
        raise ValidationFailed(fields={"reason": [gettext("Say why.")]})
    return reason[:1000]


# --- intake ------------------------------------------------------------------------------------


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


@dataclass
class _Dup:
    index: int
    lead: LeadInput
    client_id: int | None = None
    new_ref: int | None = None


def _check_brand(brand: Any) -> None:
    if not isinstance(brand, Brand):
        raise ValidationFailed(fields={"brand": [gettext("Choose a brand.")]})
    if not brand.is_active:
        raise ValidationFailed(fields={"brand": [gettext("This brand is not active.")]})


def lead_intake(*, brand: Brand, data: Mapping[str, Any], channel: str, meta: IntakeMeta | None = None
                ) -> IntakeResult:
    """Take in one lead from `channel` (form, api, import). Raises ValidationFailed naming each bad
    field; otherwise returns a "created" or "duplicate" result with the client, touch, score and
    routing decision. A known person (same email or phone in the brand) gets a new touch, never a
    second client. Events: "client.created" (with the channel, touch and score) and "lead.routed"
    (the rule that matched and why) for a new person; "lead.touched" for a known one."""
    _check_brand(brand)
    if channel not in Channel.values:
        raise ValidationFailed(fields={"channel": [gettext("Unknown channel.")]})
    meta = meta or IntakeMeta()
    lead, errors = lead_clean(data, channel=channel, meta=meta)
    if lead is None:
        raise ValidationFailed(fields=errors)
    return _intake(brand, [(0, lead)], channel, meta)[0]


def lead_intake_batch(*, brand: Brand, items: Sequence[Mapping[str, Any]], channel: str,
                      meta: IntakeMeta | None = None) -> list[IntakeResult]:
    """Take in up to MAX_BATCH leads: every valid item is written (created or duplicate), every
    invalid one is reported with its field errors and nothing of it is written. One result per
    item, in order. Two items for the same person within the batch make one client."""
    _check_brand(brand)
    if channel not in Channel.values:
        raise ValidationFailed(fields={"channel": [gettext("Unknown channel.")]})
    if len(items) > MAX_BATCH:
        raise ValidationFailed(fields={"leads": [gettext("Send at most %(max)d leads at once.") % {"max": MAX_BATCH}]})
    meta = meta or IntakeMeta()
    results: list[IntakeResult | None] = [None] * len(items)
    valid: list[tuple[int, LeadInput]] = []
    for index, item in enumerate(items):
        lead, errors = lead_clean(item, channel=channel, meta=meta)
        if lead is None:
            results[index] = IntakeResult(index=index, status="invalid", errors=errors)
        else:
            valid.append((index, lead))
    if valid:
        for result in _intake(brand, valid, channel, meta):
            results[result.index] = result
    return [r for r in results if r is not None]


@dataclass(frozen=True)
class _ClientRef:
    """What a notification needs of a client just written (no model instance per lead)."""

    code: uuid.UUID
    full_name: str


class _Notifications:
    """Collects what to tell whom during one intake, then sends one notification per person:
    the lead itself when there is one, a count when a batch brought several."""

    def __init__(self, actor: User | None) -> None:
        self.actor = actor
        self.assigned: dict[int, tuple[User, list[Client]]] = {}
        self.queued: dict[int, tuple[User, Desk, list[Client]]] = {}
        self.returned: dict[int, tuple[User, list[Client]]] = {}

    def assigned_to(self, user: User, client: Any) -> None:
        self.assigned.setdefault(user.pk, (user, []))[1].append(client)

    def queued_on(self, desk: Desk, client: Any) -> None:
        manager = desk.manager
        if manager is not None:
            self.queued.setdefault(manager.pk, (manager, desk, []))[2].append(client)

    def came_back(self, user: User, client: Any) -> None:
        self.returned.setdefault(user.pk, (user, []))[1].append(client)

    def _messages(self) -> list[tuple[User, str, str, dict[str, Any], str, str]]:
        """(user, kind, title, params, body, url) of everything collected so far."""
        out: list[tuple[User, str, str, dict[str, Any], str, str]] = []
        for user, clients in self.assigned.values():
            if len(clients) == 1:
                out.append((user, "client_assigned", gettext_noop("A client was assigned to you"), {},
                            clients[0].full_name, _client_url(clients[0])))
            else:
                out.append((user, "client_assigned", gettext_noop("%(count)d new leads were assigned to you"),
                            {"count": len(clients)}, ", ".join(c.full_name for c in clients[:5]),
                            _url("client_list") + f"?owner={user.code}&stage=lead"))
        for user, desk, clients in self.queued.values():
            if len(clients) == 1:
                out.append((user, "lead_queued", gettext_noop("A new lead is waiting in the %(desk)s queue"),
                            {"desk": desk.name}, clients[0].full_name, _client_url(clients[0])))
            else:
                out.append((user, "lead_queued", gettext_noop("%(count)d new leads are waiting in the %(desk)s queue"),
                            {"count": len(clients), "desk": desk.name}, "", _url("lead_assign")))
        for user, clients in self.returned.values():
            out.append((user, "lead_returned", gettext_noop("A lead of yours registered again"), {},
                        ", ".join(c.full_name for c in clients[:5]), _client_url(clients[0])))
        self.assigned, self.queued, self.returned = {}, {}, {}
        return out

    def rows(self, now: datetime) -> list[dict[str, Any]]:
        """Notification rows for bulk.write (what crm.services.notification_send would create),
        in each recipient's language; the collected messages are then cleared."""
        rows = []
        for user, kind, title, params, body, url in self._messages():
            if not user.is_active or (self.actor is not None and self.actor.pk == user.pk):
                continue
            with translation.override(user.language or settings.LANGUAGE_CODE):
                text = gettext(title) % params if params else gettext(title)
            rows.append({"user_id": user.pk, "kind": kind, "title": text[:200], "body": body, "url": url[:500],
                         "created_at": now, "read_at": None})
        return rows

    def send(self) -> None:
        for user, kind, title, params, body, url in self._messages():
            _notify(user, kind=kind, title=title, params=params, body=body, url=url, actor=self.actor)


def _fill_blanks(client: Client, lead: LeadInput, existing: Mapping[dedupe.Key, int],
                 claimed: Mapping[dedupe.Key, int]) -> dict[str, str]:
    """Fields the known client lacks and the new touch gives (never another person's email or phone)."""
    changes: dict[str, str] = {}
    for name in ("last_name", "country", "language"):
        if not getattr(client, name) and getattr(lead, name):
            changes[name] = getattr(lead, name)
    for name, kind in (("email", "email"), ("phone", "phone")):
        value = getattr(lead, name)
        if getattr(client, name) or not value:
            continue
        key = (kind, value)
        if existing.get(key, client.pk) != client.pk or key in claimed:
            continue
        changes[name] = value
    return changes


def _client_values(brand: Brand, lead: LeadInput, decision: RoutingDecision, now: datetime, pk: int) -> dict[str, Any]:
    """The client row for a new lead: exactly what crm.services.client_create would store."""
    return {
        "id": pk, "code": uuid.uuid4(), "brand_id": brand.pk, "stage": Stage.LEAD, "first_name": lead.first_name,
        "last_name": lead.last_name, "email": lead.email, "phone": lead.phone, "country": lead.country,
        "language": lead.language, "timezone": "", "date_of_birth": None,
        "owner_id": decision.owner.pk if decision.owner is not None else None,
        "desk_id": decision.desk.pk if decision.desk is not None else None,
        "source": lead.source, "campaign": lead.campaign, "utm_source": lead.utm_source,
        "utm_medium": lead.utm_medium, "utm_campaign": lead.utm_campaign, "utm_term": lead.utm_term,
        "utm_content": lead.utm_content, "referrer_code": lead.referrer_code, "tags": [], "created_at": now,
        "updated_at": now, "stage_changed_at": now,
    }


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


def _event_row(name: str, client_id: int, brand: Brand, actor_id: int | None, data: dict[str, Any], now: datetime,
               request_id: str) -> dict[str, Any]:
    # The outbox row crm.events.emit writes, for bulk.write. `data` holds JSON types only (codes as text),
    # held to the event's declared payload as emit holds it.
    contract_check(name, data)
    return {"uuid": uuid.uuid4(), "name": name, "client_id": client_id, "brand_id": brand.pk, "actor_id": actor_id,
            "data": data, "occurred_at": now, "created_at": now, "dispatched_at": None,
            "request_id": request_id}


def _write_new(brand: Brand, new: list[_New], client_ids: list[int], touch_ids: list[int], *, channel: str,
               meta: IntakeMeta, now: datetime, config: IntakeConfig, router: Router, notes: _Notifications,
               actor_id: int | None, request_id: str, results: list[IntakeResult], last: bool) -> None:
    """Score, route and write one chunk of new people; the last chunk also carries the
    notifications and the routing state collected over the whole intake."""
    for item in new:
        facts = LeadFacts.of_input(item.lead)
        item.score, item.breakdown = score_facts(facts, config.scoring_rules)
        item.decision = router.route(facts.with_score(item.score))
    client_rows, keys_rows, touch_rows, score_rows, state_rows = [], [], [], [], []
    events: list[dict[str, Any]] = []
    for item, client_id, touch_id in zip(new, client_ids, touch_ids, strict=False):
        decision = item.decision
        assert decision is not None
        values = _client_values(brand, item.lead, decision, now, client_id)
        client_rows.append(values)
        keys_rows += [{"brand_id": brand.pk, "kind": k, "value": v, "client_id": client_id, "created_at": now}
                      for k, v in item.keys]
        touch = _touch_values(brand, client_id, item.lead, channel, meta, now, config.campaigns, repeat=False,
                              pk=touch_id)
        touch_rows.append(touch)
        score_rows.append({"client_id": client_id, "touch_id": touch_id, "score": item.score,
                           "breakdown": item.breakdown, "computed_at": now})
        sla = config.slas.get(decision.desk.pk) if decision.desk is not None else None
        if decision.owner is not None or decision.desk is not None:
            state_rows.append({
                "client_id": client_id, "desk_id": values["desk_id"], "owner_id": values["owner_id"],
                "assigned_at": now,
                "due_at": now + timedelta(minutes=sla.minutes_to_first_contact) if sla is not None else None,
            })
        result = IntakeResult(index=item.index, status="created", score=item.score, routing=decision,
                              client_values=values, touch_values=touch)
        item.result = result
        name = f"{item.lead.first_name} {item.lead.last_name}".strip()
        if decision.owner is not None:
            notes.assigned_to(decision.owner, _ClientRef(values["code"], name))
        elif decision.desk is not None:
            notes.queued_on(decision.desk, _ClientRef(values["code"], name))
        events.append(_event_row("client.created", client_id, brand, actor_id, {
            "name": name, "stage": Stage.LEAD, "country": item.lead.country, "source": item.lead.source,
            "campaign": item.lead.campaign, "owner": _user_ref(decision.owner), "desk": _desk_ref(decision.desk),
            "via": "lead_intake", "channel": channel, "touch": str(touch["code"]), "score": item.score,
        }, now, request_id))
        events.append(_event_row("lead.routed", client_id, brand, actor_id, decision.as_event_data(), now,
                                 request_id))
        results.append(result)
    # Each new client's "+" history row is copied from the client row as stored.
    history = bulk.AsInserted(Client, {"history_date": now, "history_type": "+", "history_user_id": actor_id,
                                       "history_change_reason": None})
    # No key conflicts are possible: the keys are locked and were free (see leads.dedupe).
    rows = (client_rows, history, keys_rows, touch_rows, score_rows, state_rows, events,
            notes.rows(now) if last else [])
    # Clients and touches carry the ids drawn for them beforehand (other rows refer to them).
    bulk.write([(model, model_rows, model in (Client, LeadTouch))
                for model, model_rows in zip(_new_lead_models(), rows, strict=True)],
               updates=router.save_statements() if last else ())


@functools.cache
def _new_lead_models() -> tuple[type[models.Model], ...]:
    """The tables a new lead is written to, in the order _write_new writes them. (Client.history
    builds a manager class on every access: the history model is looked up instead.)"""
    return (Client, apps.get_model("crm", "HistoricalClient"), ContactKey, LeadTouch, LeadScore,
            LeadContactState, Event, Notification)


@transaction.atomic
def _intake(brand: Brand, rows: list[tuple[int, LeadInput]], channel: str, meta: IntakeMeta) -> list[IntakeResult]:
    now = meta.received_at or timezone.now()
    actor = meta.actor
    ctx = context.current()
    actor_id = actor.pk if actor is not None else (ctx.user.pk if getattr(ctx.user, "pk", None) else None)
    keys_of = [dedupe.contact_keys(email=lead.email, phone=lead.phone) for _, lead in rows]
    existing = dedupe.keys_lock_and_find(brand.pk, [k for keys in keys_of for k in keys])
    config = config_for(brand)
    router = Router(brand, now=now, config=config, expected=len(rows))

    new: list[_New] = []
    dups: list[_Dup] = []
    claimed: dict[dedupe.Key, int] = {}
    for (index, lead), keys in zip(rows, keys_of, strict=True):
        known = next((existing[k] for k in keys if k in existing), None)
        if known is not None:
            dups.append(_Dup(index, lead, client_id=known))
            continue
        ref = next((claimed[k] for k in keys if k in claimed), None)
        if ref is not None:
            dups.append(_Dup(index, lead, new_ref=ref))
            continue
        for key in keys:
            claimed[key] = len(new)
        new.append(_New(index, lead, keys))

    notes = _Notifications(actor)
    results: list[IntakeResult] = []

    # -- new people: routed and written a chunk at a time --
    # Ids first: routing locks the rule's rotation row until commit, so nothing else should wait inside it.
    client_ids, touch_ids = bulk.next_ids((Client, len(new)), (LeadTouch, len(new) + len(dups)))
    if new:
        # A big batch is written in chunks sent without waiting for PostgreSQL (bulk.pipelined): the
        # database stores one chunk while Python scores and routes the next.
        if len(new) > INTAKE_CHUNK:
            bounds = [0, *range(INTAKE_FIRST_CHUNK, len(new), INTAKE_CHUNK), len(new)]
        else:
            bounds = [0, len(new)]
        with bulk.pipelined(*_new_lead_models()) if len(bounds) > 2 else contextlib.nullcontext():
            for start, end in itertools.pairwise(bounds):
                part = slice(start, end)
                _write_new(brand, new[part], client_ids[part], touch_ids[part], channel=channel, meta=meta,
                           now=now, config=config, router=router, notes=notes, actor_id=actor_id,
                           request_id=ctx.request_id, results=results, last=end == len(new))
        # The dispatcher is kicked after commit exactly as crm.events.emit does.
        transaction.on_commit(kick_dispatcher, robust=True)

    # -- known people: a touch each, through the ORM (rare, and each may change the client) --
    if dups:
        known_clients = Client.objects.select_related("owner", "desk", "brand").in_bulk(
            {d.client_id for d in dups if d.client_id is not None})
        remaining_ids = touch_ids[len(new):]
        touch_rows = []
        touched: list[tuple[_Dup, Client, dict[str, Any]]] = []
        for dup, touch_id in zip(dups, remaining_ids, strict=True):
            if dup.client_id is not None:
                client = known_clients[dup.client_id]
            else:
                source = new[dup.new_ref or 0].result
                assert source is not None
                client = source.client
            touch = _touch_values(brand, client.pk, dup.lead, channel, meta, now, config.campaigns, repeat=True,
                                  pk=touch_id)
            touch_rows.append(touch)
            touched.append((dup, client, touch))
        bulk.write([(LeadTouch, touch_rows, True)])
        scores: list[LeadScore] = []
        for dup, client, touch_values in touched:
            touch = LeadTouch(**touch_values)
            filled: dict[str, str] = {}
            decision: RoutingDecision | None = None
            if dup.client_id is not None:
                filled = _fill_blanks(client, dup.lead, existing, claimed)
                if filled:
                    crm_services.client_update(actor=actor, client=client, reason=gettext("new lead details"), **filled)
                    dedupe.keys_add(brand.pk, client.pk, dedupe.contact_keys(email=filled.get("email", ""),
                                                                            phone=filled.get("phone", "")))
            score, breakdown = score_facts(LeadFacts.of_client(client, touch), config.scoring_rules)
            scores.append(LeadScore(client=client, touch_id=touch.pk, score=score, breakdown=breakdown, computed_at=now))
            emit("lead.touched", client=client, actor=actor, occurred_at=now, data={
                "touch": str(touch.code), "channel": channel, "source": touch.source,
                "campaign": touch.campaign_code, "score": score, "filled": sorted(filled),
            })
            if dup.client_id is not None and client.owner_id is None and client.stage != Stage.CLOSED:
                decision = router.route(LeadFacts.of_client(client, touch).with_score(score))
                if decision.owner is not None or decision.desk is not None:
                    crm_services.client_assign(actor=actor, client=client, owner=decision.owner, desk=decision.desk,
                                               reason=gettext("lead routing"))
                    _state_reset(client, owner=decision.owner, desk=decision.desk, now=now)
                    if decision.queued:
                        notes.queued_on(decision.desk, client)  # type: ignore[arg-type]
                emit("lead.routed", client=client, actor=actor, occurred_at=now, data=decision.as_event_data())
            elif dup.client_id is not None and client.owner is not None:
                notes.came_back(client.owner, client)
            results.append(IntakeResult(index=dup.index, status="duplicate", score=score, routing=decision,
                                        client_obj=client, touch_values=touch_values))
        LeadScore.objects.bulk_create(scores)

    router.save()
    notes.send()
    _audit_intake(brand, channel, meta, results)
    results.sort(key=lambda r: r.index)
    return results


def _audit_intake(brand: Brand, channel: str, meta: IntakeMeta, results: list[IntakeResult]) -> None:
    if len(results) == 1:
        result = results[0]
        values = result.client_values or {}
        client = result.client_obj
        audit_record(
            action="lead.intake", object_type="crm.client", object_id=str(result.client_code), actor=meta.actor,
            after={
                "status": result.status, "channel": channel, "touch": str(result.touch_code), "brand": brand.code,
                "name": client.full_name if client is not None else
                f"{values.get('first_name', '')} {values.get('last_name', '')}".strip(),
                "email": mask_email(client.email if client is not None else values.get("email")),
                "phone": mask_phone(client.phone if client is not None else values.get("phone")),
                "score": result.score,
                "owner": client.owner_id if client is not None else values.get("owner_id"),
                "desk": client.desk_id if client is not None else values.get("desk_id"),
            })
        return
    audit_record(
        action="lead.intake_batch", object_type="leads.leadtouch",
        object_id=str(meta.lead_import.code) if meta.lead_import is not None else "", actor=meta.actor,
        after={"channel": channel, "brand": brand.code,
               "created": [str(r.client_code) for r in results if r.status == "created"],
               "duplicates": [str(r.client_code) for r in results if r.status == "duplicate"]},
    )


# --- assignment and first contact ---------------------------------------------------------------


def _state_reset(client: Client, *, owner: User | None, desk: Desk | None, now: datetime) -> LeadContactState:
    """A new assignment starts a new first-contact window (unless the lead was contacted already)."""
    sla = DeskSla.objects.filter(desk_id=desk.pk, is_active=True).first() if desk is not None else None
    due = now + timedelta(minutes=sla.minutes_to_first_contact) if sla is not None else None
    state = LeadContactState.objects.select_for_update().filter(client_id=client.pk).first()
    if state is None:
        return LeadContactState.objects.create(client=client, desk=desk, owner=owner, assigned_at=now, due_at=due)
    state.desk, state.owner = desk, owner
    if state.contacted_at is None:
        state.assigned_at, state.due_at, state.escalated_at = now, due, None
    state.save()
    return state


def _assignable_by(actor: User | None, owner: User | None, desk: Desk | None) -> None:
    """Administrators assign to anyone; desk managers only within the desks they run."""
    if actor is None or actor.is_administrator:
        return
    if not user_can(actor, "crm.assign_client"):
        raise NotAllowed()
    # The core's rule, the same the API and every other assignment follow.
    target_desk = desk if desk is not None else (owner.desk if owner is not None else None)
    refusal = assignment_refusal(actor, owner=owner, desk=target_desk)
    if refusal:
        raise ValidationFailed(fields={"owner": [refusal]})


@transaction.atomic
def lead_reassign(*, actor: User | None, client: Client, owner: User | None, desk: Desk | None = None,
                  reason: str) -> Client:
    """Give the lead to `owner` (None: back to the desk's queue) with a reason, which the audit
    row and the "client.assigned" event keep. Restarts the first-contact window."""
    reason = _require_reason(reason)
    _assignable_by(actor, owner, desk)
    before = client.owner_id
    client = crm_services.client_assign(actor=actor, client=client, owner=owner, desk=desk, reason=reason)
    if client.owner_id != before or owner is None:
        now = timezone.now()
        state = _state_reset(client, owner=client.owner, desk=client.desk, now=now)
        if client.owner is not None and state.contacted_at is None and client.stage == Stage.LEAD:
            # Routing by hand is routing: what follows a routed lead (the playbook's first call on the
            # new owner's list) follows this one too, e.g. a lead that waited in the queue off shift.
            emit("lead.routed", client=client, actor=actor, occurred_at=now, data={
                "rule": None, "strategy": "", "owner": _user_ref(client.owner),
                "desk": None if client.desk is None else {"code": str(client.desk.code), "name": client.desk.name},
                "queued": False, "why": [gettext("assigned by hand: %(reason)s") % {"reason": reason}],
                "skipped": [], "manual": True,
            })
    return client


@transaction.atomic
def lead_reassign_bulk(*, actor: User | None, clients: Iterable[Client], owner: User | None,
                       desk: Desk | None = None, reason: str) -> int:
    """lead_reassign for each client, all or nothing. Returns how many changed hands."""
    reason = _require_reason(reason)
    changed = 0
    for client in clients:
        before = (client.owner_id, client.desk_id)
        client = lead_reassign(actor=actor, client=client, owner=owner, desk=desk, reason=reason)
        changed += (client.owner_id, client.desk_id) != before
    return changed


CONTACT_VIA: tuple[str, ...] = ("note", "call", "email", "sms", "chat", "meeting")


@transaction.atomic
def lead_mark_contacted(*, actor: User | None, client: Client, via: str, at: datetime | None = None) -> bool:
    """Record the first contact with the lead (a call, email, note...). Event "lead.contacted" with
    the minutes it took and whether the SLA was met. Returns False if it was contacted already."""
    if via not in CONTACT_VIA:
        raise ValidationFailed(fields={"via": [gettext("Choose one of: %(choices)s.") % {"choices": ", ".join(CONTACT_VIA)}]})
    # A call logged as it ends may have begun before the lead was entered (the agent registered the
    # caller during the call): the lead cannot have been contacted before it existed.
    at = max(at or timezone.now(), client.created_at)
    state = LeadContactState.objects.select_for_update().filter(client_id=client.pk).first()
    if state is not None and state.contacted_at is not None:
        return False
    if state is None:
        state = LeadContactState(client=client, desk=client.desk, owner=client.owner, assigned_at=client.created_at)
    state.contacted_at, state.contacted_via, state.contacted_by = at, via, actor
    state.save()
    minutes = max(0, int((at - state.assigned_at).total_seconds() // 60))
    within = None if state.due_at is None else at <= state.due_at
    emit("lead.contacted", client=client, actor=actor, occurred_at=at,
         data={"via": via, "minutes": minutes, "within_sla": within, "by": _user_ref(actor)})
    audit_record(action="lead.contacted", obj=client, after={"via": via, "at": at}, actor=actor)
    return True


SLA_BATCH = 200


def _latest_touch(client: Client) -> LeadTouch | None:
    return LeadTouch.objects.filter(client_id=client.pk).order_by("-created_at", "-id").first()


def _latest_score(client: Client) -> int:
    row = LeadScore.objects.filter(client_id=client.pk).order_by("-computed_at", "-id").values_list("score", flat=True).first()
    return int(row or 0)


def lead_sla_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """Escalate leads whose first contact is overdue: once per assignment, the desk's escalation
    contact (or manager) is notified and "lead.sla_breached" emitted; desks with auto_reassign
    route the lead again, to someone else. Leads whose owner wrote a note meanwhile count as
    contacted instead. Safe to run concurrently and repeatedly: each breach fires once."""
    now = now or timezone.now()
    counts = {"escalated": 0, "reassigned": 0, "contacted": 0}
    while True:
        with transaction.atomic():
            due = list(
                LeadContactState.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(contacted_at__isnull=True, escalated_at__isnull=True, due_at__isnull=False, due_at__lte=now)
                .select_related("client", "client__brand", "client__owner", "client__desk", "desk", "desk__manager",
                                "owner")
                .order_by("due_at", "id")[:SLA_BATCH]
            )
            for state in due:
                _sla_handle(state, now, counts)
        if len(due) < SLA_BATCH:
            return counts


def _sla_handle(state: LeadContactState, now: datetime, counts: dict[str, int]) -> None:
    client = state.client
    if state.owner_id:
        note_at = (Note.objects.filter(client_id=client.pk, author_id=state.owner_id, created_at__gte=state.assigned_at)
                   .order_by("created_at").values_list("created_at", flat=True).first())
        if note_at is not None:
            lead_mark_contacted(actor=state.owner, client=client, via="note", at=note_at)
            counts["contacted"] += 1
            return
    sla = DeskSla.objects.select_related("escalate_to").filter(desk_id=state.desk_id).first()
    escalate_to = (sla.escalate_to if sla is not None else None) or (state.desk.manager if state.desk else None)
    auto = bool(sla and sla.auto_reassign)
    state.escalated_at = now
    state.escalations += 1
    state.save(update_fields=["escalated_at", "escalations"])
    emit("lead.sla_breached", client=client, actor=None, occurred_at=now, data={
        "owner": _user_ref(state.owner), "desk": _desk_ref(state.desk), "due_at": state.due_at,
        "minutes": sla.minutes_to_first_contact if sla else None, "escalated_to": _user_ref(escalate_to),
        "auto_reassign": auto,
    })
    counts["escalated"] += 1
    _notify(escalate_to, kind="lead_sla_breached", title=gettext_noop("First-contact SLA missed: %(name)s"),
            params={"name": client.full_name},
            body=state.owner.full_name if state.owner else "", url=_client_url(client))
    if not auto:
        return
    router = Router(client.brand, now=now)
    touch = _latest_touch(client)
    facts = LeadFacts.of_client(client, touch).with_score(_latest_score(client))
    decision = router.route(facts, exclude=[client.owner_id] if client.owner_id else [])
    if decision.owner is None or decision.owner.pk == client.owner_id:
        return
    with context.acting_as(None, source="task"):
        crm_services.client_assign(actor=None, client=client, owner=decision.owner, desk=decision.desk,
                                   reason=gettext("First-contact SLA missed: reassigned automatically"))
    router.save()
    _state_reset(client, owner=decision.owner, desk=decision.desk, now=now)
    emit("lead.routed", client=client, actor=None, occurred_at=now, data=decision.as_event_data())
    counts["reassigned"] += 1


# --- merging duplicates -------------------------------------------------------------------------


MERGED_TAG = "merged"


@transaction.atomic
def client_merge(*, actor: User | None, keep: Client, merge: Client, reason: str) -> ClientMerge:
    """Fold `merge` into `keep`: touches, notes, tasks, timeline events, scores and contact keys
    move to `keep`; `merge` is closed, tagged "merged" and given a note naming the survivor. Both
    histories then show on the survivor's timeline. Needs "crm.assign_client". Event "client.merged"."""
    if actor is not None and not user_can(actor, "crm.assign_client"):
        raise NotAllowed()
    reason = _require_reason(reason)
    if keep.pk == merge.pk:
        raise ValidationFailed(fields={"merge": [gettext("Choose a different client to merge.")]})
    if keep.brand_id != merge.brand_id:
        raise ValidationFailed(fields={"merge": [gettext("Only clients of the same brand can be merged.")]})
    # Lock both in id order, like every other multi-client writer.
    locked = {c.pk: c for c in Client.objects.select_for_update(of=("self",)).filter(pk__in=[keep.pk, merge.pk]).order_by("pk")}
    keep, merge = locked[keep.pk], locked[merge.pk]
    if ClientMerge.objects.filter(Q(merged_code=merge.code) | Q(merged_code=keep.code)).exists() \
            or MERGED_TAG in merge.tags or MERGED_TAG in keep.tags:
        raise Conflict(gettext("One of these clients has already been merged away."))

    dedupe.keys_lock(keep.brand_id, [(k.kind, k.value) for k in ContactKey.objects.filter(client_id__in=[keep.pk, merge.pk])])
    kept_keys = set(ContactKey.objects.filter(client_id=keep.pk).values_list("kind", "value"))
    clash = [k.pk for k in ContactKey.objects.filter(client_id=merge.pk) if (k.kind, k.value) in kept_keys]
    ContactKey.objects.filter(pk__in=clash).delete()
    moved = {
        "touches": LeadTouch.objects.filter(client_id=merge.pk).update(client=keep),
        "notes": Note.objects.filter(client_id=merge.pk).update(client=keep),
        "tasks": Task.objects.filter(client_id=merge.pk).update(client=keep),
        "events": Event.objects.filter(client_id=merge.pk).update(client=keep),
        "scores": LeadScore.objects.filter(client_id=merge.pk).update(client=keep),
        "contact_keys": ContactKey.objects.filter(client_id=merge.pk).update(client=keep),
    }
    LeadContactState.objects.filter(client_id=merge.pk).delete()
    record = ClientMerge.objects.create(brand_id=keep.brand_id, kept=keep, merged=merge, kept_code=keep.code,
                                        merged_code=merge.code, actor=actor, reason=reason, moved=moved)
    crm_services.client_update(actor=None, client=merge, tags=[*merge.tags, MERGED_TAG], reason=reason)
    if merge.stage != Stage.CLOSED:
        crm_services.client_stage_change(actor=None, client=merge, stage=Stage.CLOSED, reason=reason)
    crm_services.note_add(actor=actor, client=merge, body=gettext(
        "Merged into %(name)s (client %(code)s). Reason: %(reason)s") % {
            "name": keep.full_name, "code": keep.code, "reason": reason})
    audit_record(action="client.merge", obj=keep, actor=actor, reason=reason, after={
        "kept": str(keep.code), "merged": str(merge.code), "moved": moved})
    emit("client.merged", client=keep, actor=actor, data={
        "merged": {"code": str(merge.code), "name": merge.full_name}, "moved": moved, "reason": reason})
    emit("client.merged_into", client=merge, actor=actor, data={
        "kept": {"code": str(keep.code), "name": keep.full_name}, "reason": reason})
    return record


# --- configuration (administrators) -----------------------------------------------------------------


def _clean_list(value: Any, name: str, errors: FieldErrors, normalise: Any = None, limit: int = 100) -> list[str]:
    if value in (None, ""):
        return []
    items = value.replace("\n", ",").split(",") if isinstance(value, str) else list(value)
    out: list[str] = []
    for item in items:
        if not isinstance(item, str):
            errors.add(name, gettext("Enter text."))
            return []
        item = item.strip()
        if not item:
            continue
        if normalise is not None:
            try:
                item = normalise(item)
            except InvalidValue as exc:
                errors.add(name, f"{item}: {exc.message}")
                continue
        if len(item) > limit:
            errors.add(name, gettext("Use at most %(max)d characters per item.") % {"max": limit})
            continue
        if item not in out:
            out.append(item)
    return out


def _snapshot(obj: Any, names: Iterable[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in names:
        value = getattr(obj, obj._meta.get_field(name).attname)
        out[name] = value.isoformat() if isinstance(value, time) else value
    return out


@transaction.atomic
def campaign_save(*, actor: User | None, brand: Brand, code: str, name: str, source: str = "",
                  is_active: bool = True, campaign: Campaign | None = None) -> Campaign:
    """Create a campaign of `brand` or change `campaign`. Codes are lower-case slugs, unique per brand."""
    _require_admin(actor)
    from django.utils.text import slugify

    errors = FieldErrors()
    name = text_field(name, "name", 120, required=True, errors=errors)
    source = text_field(source, "source", 100, errors=errors)
    raw_code = text_field(code, "code", 64, required=True, errors=errors)
    code = slugify(raw_code).lower()
    if raw_code and not code:
        errors.add("code", gettext("Use letters, digits and hyphens."))
    clash = Campaign.objects.filter(brand_id=brand.pk, code=code)
    if campaign is not None:
        clash = clash.exclude(pk=campaign.pk)
    if code and clash.exists():
        errors.add("code", gettext("Another campaign of this brand has this code."))
    errors.raise_if_any()
    fields = ("code", "name", "source", "is_active")
    before = _snapshot(campaign, fields) if campaign is not None else None
    campaign = campaign or Campaign(brand=brand)
    campaign.code, campaign.name, campaign.source, campaign.is_active = code, name, source, bool(is_active)
    campaign.save()
    audit_record(action="campaign.save", obj=campaign, before=before, after=_snapshot(campaign, fields), actor=actor)
    config_changed(brand.pk)
    return campaign


SCORING_FIELDS = ("name", "kind", "params", "points", "is_active", "order")


@transaction.atomic
def scoring_rule_save(*, actor: User | None, brand: Brand, name: str, kind: str, params: Any, points: int,
                      is_active: bool = True, order: int | None = None, rule: ScoringRule | None = None) -> ScoringRule:
    """Create or change a scoring rule; `params` are checked for the kind (leads.scoring)."""
    _require_admin(actor)
    errors = FieldErrors()
    name = text_field(name, "name", 120, required=True, errors=errors)
    if kind not in ScoringKind.values:
        errors.add("kind", gettext("Choose a valid kind of rule."))
    else:
        try:
            params = params_clean(kind, params)
        except ValidationFailed as exc:
            for key, messages in exc.fields.items():
                for message in messages:
                    errors.add(key, message)
    if isinstance(points, bool) or not isinstance(points, int) or not -100 <= points <= 100:
        errors.add("points", gettext("Give whole points between -100 and 100."))
    errors.raise_if_any()
    before = _snapshot(rule, SCORING_FIELDS) if rule is not None else None
    if rule is None:
        last = ScoringRule.objects.filter(brand_id=brand.pk).order_by("-order").values_list("order", flat=True).first()
        rule = ScoringRule(brand=brand, order=(last or 0) + 10 if order is None else order)
    elif order is not None:
        rule.order = order
    rule.name, rule.kind, rule.params, rule.points, rule.is_active = name, kind, params, points, bool(is_active)
    rule.save()
    audit_record(action="scoring_rule.save", obj=rule, before=before, after=_snapshot(rule, SCORING_FIELDS), actor=actor)
    config_changed(brand.pk)
    return rule


@transaction.atomic
def scoring_rule_delete(*, actor: User | None, rule: ScoringRule) -> None:
    _require_admin(actor)
    audit_record(action="scoring_rule.delete", obj=rule, before=_snapshot(rule, SCORING_FIELDS), actor=actor)
    config_changed(rule.brand_id)
    rule.delete()


ROUTING_FIELDS = ("name", "order", "is_active", "is_fallback", "countries", "languages", "campaigns", "sources",
                  "referrer_codes", "score_min", "score_max", "target_kind", "target_agent", "target_desk",
                  "strategy", "weights", "fall_through")


def _score_bound(value: Any, name: str, errors: FieldErrors) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        errors.add(name, gettext("Give a score from 0 to 100."))
        return None
    if not 0 <= number <= 100:
        errors.add(name, gettext("Give a score from 0 to 100."))
        return None
    return number


def _is_agent_of(user: Any, brand: Brand) -> bool:
    return (isinstance(user, User) and user.is_active and user.role_code in AGENT_ROLES
            and (user.all_brands or user.brands.filter(pk=brand.pk).exists()))


@transaction.atomic
def routing_rule_save(
    *, actor: User | None, brand: Brand, name: str, target_kind: str, target_agent: User | None = None,
    target_desk: Desk | None = None, strategy: str = RoutingStrategy.ROUND_ROBIN, countries: Any = (),
    languages: Any = (), campaigns: Any = (), sources: Any = (), referrer_codes: Any = (), score_min: Any = None,
    score_max: Any = None, weights: Mapping[str, Any] | None = None, is_fallback: bool = False,
    fall_through: bool = False, is_active: bool = True, rule: RoutingRule | None = None,
) -> RoutingRule:
    """Create or change a routing rule. New rules go to the end of the list (before the fallback)."""
    _require_admin(actor)
    errors = FieldErrors()
    name = text_field(name, "name", 120, required=True, errors=errors)
    values: dict[str, Any] = {
        "countries": _clean_list(countries, "countries", errors, country_normalise, 2),
        "languages": _clean_list(languages, "languages", errors, language_normalise, 8),
        "campaigns": [c.lower() for c in _clean_list(campaigns, "campaigns", errors)],
        "sources": _clean_list(sources, "sources", errors),
        "referrer_codes": _clean_list(referrer_codes, "referrer_codes", errors, None, 64),
        "score_min": _score_bound(score_min, "score_min", errors),
        "score_max": _score_bound(score_max, "score_max", errors),
    }
    if values["score_min"] is not None and values["score_max"] is not None and values["score_min"] > values["score_max"]:
        errors.add("score_max", gettext("The maximum must not be below the minimum."))
    if target_kind == RoutingTarget.AGENT:
        if not _is_agent_of(target_agent, brand):
            errors.add("target_agent", gettext("Choose an active agent of this brand."))
        target_desk = target_desk if isinstance(target_desk, Desk) else None
    elif target_kind == RoutingTarget.DESK:
        target_agent = None
    else:
        errors.add("target_kind", gettext("Choose an agent or a desk."))
    if target_desk is not None and (not isinstance(target_desk, Desk) or target_desk.brand_id != brand.pk):
        errors.add("target_desk", gettext("Choose a desk of this brand."))
    elif target_kind == RoutingTarget.DESK and target_desk is None:
        errors.add("target_desk", gettext("Choose a desk of this brand."))
    if strategy not in RoutingStrategy.values:
        errors.add("strategy", gettext("Choose a valid strategy."))
    clean_weights: dict[str, int] = {}
    for code, weight in (weights or {}).items():
        try:
            number = int(weight)
        except (TypeError, ValueError):
            number = -1
        if not 0 <= number <= 100:
            errors.add("weights", gettext("Weights are whole numbers from 0 to 100."))
            break
        clean_weights[str(code)] = number
    if is_fallback:
        clash = RoutingRule.objects.filter(brand_id=brand.pk, is_fallback=True)
        if rule is not None:
            clash = clash.exclude(pk=rule.pk)
        if clash.exists():
            errors.add("is_fallback", gettext("This brand already has a fallback rule."))
    errors.raise_if_any()

    before = _snapshot(rule, ROUTING_FIELDS) if rule is not None else None
    if rule is None:
        last = RoutingRule.objects.filter(brand_id=brand.pk).order_by("-order").values_list("order", flat=True).first()
        rule = RoutingRule(brand=brand, order=(last or 0) + 10)
    rule.name, rule.target_kind, rule.target_agent, rule.target_desk = name, target_kind, target_agent, target_desk
    rule.strategy, rule.weights, rule.is_fallback = strategy, clean_weights, bool(is_fallback)
    rule.fall_through, rule.is_active = bool(fall_through), bool(is_active)
    for key, value in values.items():
        setattr(rule, key, value)
    rule.save()
    RoutingPointer.objects.get_or_create(rule=rule)
    audit_record(action="routing_rule.save", obj=rule, before=before, after=_snapshot(rule, ROUTING_FIELDS), actor=actor)
    config_changed(brand.pk)
    return rule


@transaction.atomic
def routing_rule_delete(*, actor: User | None, rule: RoutingRule) -> None:
    _require_admin(actor)
    audit_record(action="routing_rule.delete", obj=rule, before=_snapshot(rule, ROUTING_FIELDS), actor=actor)
    config_changed(rule.brand_id)
    rule.delete()


@transaction.atomic
def routing_rules_reorder(*, actor: User | None, brand: Brand, codes: Sequence[Any]) -> list[RoutingRule]:
    """Put the brand's rules in the order of `codes` (drag and drop); rules not named keep their
    relative order after those named."""
    _require_admin(actor)
    rules = list(RoutingRule.objects.select_for_update().filter(brand_id=brand.pk).order_by("order", "id"))
    wanted = [str(c) for c in codes]
    position = {code: i for i, code in enumerate(wanted)}
    rules.sort(key=lambda r: (position.get(str(r.code), len(wanted)), r.order, r.pk))
    before = {str(r.code): r.order for r in rules}
    for i, rule in enumerate(rules):
        rule.order = (i + 1) * 10
    RoutingRule.objects.bulk_update(rules, ["order"])
    audit_record(action="routing_rule.reorder", object_type="leads.routingrule", object_id=brand.code,
                 before=before, after={str(r.code): r.order for r in rules}, actor=actor)
    config_changed(brand.pk)
    return rules


@transaction.atomic
def routing_rule_move(*, actor: User | None, rule: RoutingRule, direction: str) -> None:
    """Move a rule one place up or down in its brand's list."""
    if direction not in ("up", "down"):
        raise ValidationFailed(fields={"direction": [gettext("Move up or down.")]})
    codes = [str(c) for c in RoutingRule.objects.filter(brand_id=rule.brand_id, is_fallback=False)
             .order_by("order", "id").values_list("code", flat=True)]
    code = str(rule.code)
    if code not in codes:
        return
    i = codes.index(code)
    j = i - 1 if direction == "up" else i + 1
    if 0 <= j < len(codes):
        codes[i], codes[j] = codes[j], codes[i]
    routing_rules_reorder(actor=actor, brand=rule.brand, codes=codes)


@transaction.atomic
def desk_sla_save(*, actor: User | None, desk: Desk, minutes_to_first_contact: int, escalate_to: User | None = None,
                  auto_reassign: bool = False, is_active: bool = True) -> DeskSla:
    """Set the desk's first-contact SLA. Applies to leads assigned from now on."""
    _require_admin(actor)
    errors = FieldErrors()
    if isinstance(minutes_to_first_contact, bool) or not isinstance(minutes_to_first_contact, int) \
            or not 1 <= minutes_to_first_contact <= 7 * 24 * 60:
        errors.add("minutes_to_first_contact", gettext("Give minutes from 1 to 10080 (a week)."))
    if escalate_to is not None and (not isinstance(escalate_to, User) or not escalate_to.is_active):
        errors.add("escalate_to", gettext("Choose an active member of staff."))
    errors.raise_if_any()
    sla = DeskSla.objects.select_for_update().filter(desk_id=desk.pk).first()
    fields = ("minutes_to_first_contact", "escalate_to", "auto_reassign", "is_active")
    before = _snapshot(sla, fields) if sla is not None else None
    sla = sla or DeskSla(desk=desk)
    sla.minutes_to_first_contact, sla.escalate_to = minutes_to_first_contact, escalate_to
    sla.auto_reassign, sla.is_active = bool(auto_reassign), bool(is_active)
    sla.save()
    audit_record(action="desk_sla.save", obj=sla, object_id=str(desk.code), before=before,
                 after=_snapshot(sla, fields), actor=actor)
    config_changed(desk.brand_id)
    return sla


AVAILABILITY_FIELDS = ("status", "shift_start", "shift_end", "shift_days", "note")


@transaction.atomic
def agent_availability_set(*, actor: User | None, user: User, status: str, shift_start: time | None = None,
                           shift_end: time | None = None, shift_days: Iterable[int] = (), note: str = "") -> AgentAvailability:
    """Whether routing may give `user` leads, and their own shift (in their time zone; without one the
    desk's hours apply). Administrators set anyone's; desk managers those of their desks' agents."""
    if actor is not None and not actor.is_administrator:
        managed = Desk.objects.filter(manager_id=actor.pk).values_list("pk", flat=True)
        if actor.role_code != RoleCode.DESK_MANAGER or user.desk_id not in set(managed):
            raise NotAllowed()
    errors = FieldErrors()
    if status not in AvailabilityStatus.values:
        errors.add("status", gettext("Choose a valid status."))
    if (shift_start is None) != (shift_end is None):
        errors.add("shift_end", gettext("Give both the start and the end of the shift, or neither."))
    if shift_start is not None and shift_start == shift_end:
        errors.add("shift_end", gettext("The shift must not start and end at the same time."))
    days = sorted({int(d) for d in shift_days or ()})
    if any(d < 1 or d > 7 for d in days):
        errors.add("shift_days", gettext("Days are 1 (Monday) to 7 (Sunday)."))
    note = text_field(note, "note", 200, errors=errors)
    errors.raise_if_any()
    availability = AgentAvailability.objects.select_for_update().filter(user_id=user.pk).first()
    before = _snapshot(availability, AVAILABILITY_FIELDS) if availability is not None else None
    availability = availability or AgentAvailability(user=user)
    availability.status, availability.shift_start, availability.shift_end = status, shift_start, shift_end
    availability.shift_days, availability.note, availability.updated_by = days, note, actor
    availability.save()
    audit_record(action="agent_availability.set", obj=availability, object_id=str(user.code), before=before,
                 after=_snapshot(availability, AVAILABILITY_FIELDS), actor=actor)
    brand_ids = set(Brand.objects.values_list("pk", flat=True)) if user.all_brands else set(
        user.brands.values_list("pk", flat=True))
    if user.desk_id:
        brand_ids.add(user.desk.brand_id)
    for brand_id in brand_ids:
        config_changed(brand_id)
    return availability
