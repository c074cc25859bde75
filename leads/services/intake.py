"""Lead intake: the web form, the API and imports all call `lead_intake` (one lead) or
`lead_intake_batch` (many, with a result per item): both run the same pipeline,

    clean -> lock contact keys -> find the person -> score -> route -> write -> events -> audit

in one transaction. New people are written in bulk (leads.services.intake_rows), their clients
through the core's creation path (crm.services.clients_creation, as client_create writes one); a
known person gets a new touch through the ORM. The audit trail gets each new client's
"client.create" row and one row per intake call naming every client it created or touched."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from crm import services as crm_services
from crm.audit import AuditEntry, audit_record_many
from crm.events import emit
from crm.exceptions import ValidationFailed
from crm.lib import bulk
from crm.models import Brand, Client, Stage, User
from crm.selectors import mask_email, mask_phone
from leads import dedupe
from leads.config import IntakeConfig, config_for
from leads.intake import IntakeMeta, LeadInput, lead_clean
from leads.models import Channel, LeadScore, LeadTouch
from leads.routing import Router, RoutingDecision
from leads.scoring import LeadFacts, score_facts
from leads.services.first_contact import _state_reset
from leads.services.intake_notifications import _Notifications
from leads.services.intake_rows import IntakeResult, _New, _new_lead_models, _touch_values, _write_new
from plumbing import context
from plumbing.hooks import HookPoint

MAX_BATCH = 1000
# New people of a batch are scored, routed and written this many at a time (see _intake); the
# first chunk is smaller, so that PostgreSQL has work sooner. A chunk of 100 is about 230 kB on
# the wire: it fits in a Unix socket's buffer at Linux's default cap (see crm.lib.bulk.SEND_BUFFER),
# so sending it never waits for PostgreSQL to finish the chunk before (with 200 it did, and a
# batch took a sixth longer); over TCP, or with a larger buffer, 100 and 200 are alike.
INTAKE_CHUNK = 100
INTAKE_FIRST_CHUNK = 50


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


# A higher app (compliance) plugs in here what refuses a new person outright (called with brand= and
# country=); each returns the sentence the person is shown (neutral), or None.
IntakeCheck = Callable[..., str | None]
intake_checks: HookPoint[IntakeCheck] = HookPoint("leads.intake")
register_intake_check = intake_checks.register
unregister_intake_check = intake_checks.unregister


def intake_refusal(*, brand: Brand, country: str) -> str | None:
    """The first reason a registered check gives to refuse a person of `country`, else None."""
    for check in intake_checks:
        refused = check(brand=brand, country=country)
        if refused:
            return str(refused)
    return None


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
    refused = intake_refusal(brand=brand, country=lead.country)
    if refused:
        raise ValidationFailed(refused, code="intake_refused", fields={"__all__": [refused]})
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
        refused = intake_refusal(brand=brand, country=lead.country) if lead is not None else None
        if refused:
            results[index] = IntakeResult(index=index, status="invalid", errors={"__all__": [refused]})
        elif lead is None:
            results[index] = IntakeResult(index=index, status="invalid", errors=errors)
        else:
            valid.append((index, lead))
    if valid:
        for result in _intake(brand, valid, channel, meta):
            results[result.index] = result
    return [r for r in results if r is not None]


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
    new, dups, claimed = _new_and_repeats(rows, keys_of, existing)

    notes = _Notifications(actor)
    results: list[IntakeResult] = []
    creation: crm_services.ClientsCreation | None = None

    # -- new people: routed and written a chunk at a time --
    # Ids first: routing locks the rule's rotation row until commit, so nothing else should wait inside it.
    client_ids, touch_ids = bulk.next_ids((Client, len(new)), (LeadTouch, len(new) + len(dups)))
    if new:
        # The core checks the actor and brand here; the clients' audit rows are written at the end,
        # with the intake's own (the audit chain's lock is then held only until commit).
        creation = crm_services.ClientsCreation(actor=actor, brand=brand, notify=False, now=now)
        _write_new_people(brand, new, client_ids, touch_ids[:len(new)], channel=channel, meta=meta, now=now,
                          config=config, router=router, notes=notes, creation=creation, actor_id=actor_id,
                          request_id=ctx.request_id, results=results)

    # -- known people: a touch each, through the ORM (rare, and each may change the client) --
    if dups:
        _write_repeats(brand, dups, new, touch_ids[len(new):], existing=existing, claimed=claimed, channel=channel,
                       meta=meta, now=now, config=config, router=router, notes=notes, results=results)

    router.save()
    notes.send()
    entry = _intake_audit(brand, channel, meta, results)
    if creation is not None:
        creation.finish(also=[entry])
    else:
        audit_record_many([entry])
    results.sort(key=lambda r: r.index)
    return results


def _new_and_repeats(rows: list[tuple[int, LeadInput]], keys_of: list[list[dedupe.Key]],
                     existing: Mapping[dedupe.Key, int]) -> tuple[list[_New], list[_Dup], dict[dedupe.Key, int]]:
    """The rows of people not known yet, and the repeats: of a known client, or of a new person met
    earlier in the batch (`new_ref`); with the contact keys the new people claim."""
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
    return new, dups, claimed


def _write_new_people(brand: Brand, new: list[_New], client_ids: list[int], touch_ids: list[int], *, channel: str,
                      meta: IntakeMeta, now: datetime, config: IntakeConfig, router: Router, notes: _Notifications,
                      creation: crm_services.ClientsCreation, actor_id: int | None, request_id: str,
                      results: list[IntakeResult]) -> None:
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
                       now=now, config=config, router=router, notes=notes, creation=creation,
                       actor_id=actor_id, request_id=request_id, results=results, last=end == len(new))


def _write_repeats(brand: Brand, dups: list[_Dup], new: list[_New], touch_ids: list[int], *,
                   existing: Mapping[dedupe.Key, int], claimed: Mapping[dedupe.Key, int], channel: str,
                   meta: IntakeMeta, now: datetime, config: IntakeConfig, router: Router, notes: _Notifications,
                   results: list[IntakeResult]) -> None:
    """A touch for each repeat, its client's blanks filled, scored, and routed again when nobody owns it."""
    actor = meta.actor
    known_clients = Client.objects.select_related("owner", "desk", "brand").in_bulk(
        {d.client_id for d in dups if d.client_id is not None})
    touch_rows = []
    touched: list[tuple[_Dup, Client, dict[str, Any]]] = []
    for dup, touch_id in zip(dups, touch_ids, strict=True):
        if dup.client_id is not None:
            client = known_clients[dup.client_id]
        else:
            source = new[dup.new_ref or 0].result
            assert source is not None and source.client is not None  # the lead it repeats was written above
            client = source.client
        touch_row = _touch_values(brand, client.pk, dup.lead, channel, meta, now, config.campaigns, repeat=True,
                                  pk=touch_id)
        touch_rows.append(touch_row)
        touched.append((dup, client, touch_row))
    bulk.write([(LeadTouch, touch_rows, True)])
    scores: list[LeadScore] = []
    for dup, client, touch_values in touched:
        touch = LeadTouch(**touch_values)
        filled: dict[str, str] = {}
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
        decision = _route_repeat(dup, client, touch, score, actor=actor, now=now, router=router, notes=notes)
        results.append(IntakeResult(index=dup.index, status="duplicate", score=score, routing=decision,
                                    client_obj=client, touch_values=touch_values))
    LeadScore.objects.bulk_create(scores)


def _route_repeat(dup: _Dup, client: Client, touch: LeadTouch, score: int, *, actor: User | None, now: datetime,
                  router: Router, notes: _Notifications) -> RoutingDecision | None:
    """A known client nobody owns (and not closed) is routed again; its owner, if any, hears they came back."""
    decision: RoutingDecision | None = None
    if dup.client_id is not None and client.owner_id is None and client.stage != Stage.CLOSED:
        decision = router.route(LeadFacts.of_client(client, touch).with_score(score))
        if decision.owner is not None or decision.desk is not None:
            crm_services.client_assign(actor=actor, client=client, owner=decision.owner, desk=decision.desk,
                                       reason=gettext("lead routing"))
            _state_reset(client, owner=decision.owner, desk=decision.desk, now=now)
            if decision.queued and decision.desk is not None:  # queued: on a desk, by definition
                notes.queued_on(decision.desk, client)
        emit("lead.routed", client=client, actor=actor, occurred_at=now, data=decision.as_event_data())
    elif dup.client_id is not None and client.owner is not None:
        notes.came_back(client.owner, client)
    return decision


def _intake_audit(brand: Brand, channel: str, meta: IntakeMeta, results: list[IntakeResult]) -> AuditEntry:
    if len(results) == 1:
        result = results[0]
        values = result.client_values or {}
        client = result.client_obj
        return AuditEntry(
            action="lead.intake", object_type="crm.client", object_id=str(result.client_code), actor=meta.actor,
            brand=brand,
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
    return AuditEntry(
        action="lead.intake_batch", object_type="leads.leadtouch",
        object_id=str(meta.lead_import.code) if meta.lead_import is not None else "", actor=meta.actor, brand=brand,
        after={"channel": channel, "brand": brand.code,
               "created": [str(r.client_code) for r in results if r.status == "created"],
               "duplicates": [str(r.client_code) for r in results if r.status == "duplicate"]},
    )
