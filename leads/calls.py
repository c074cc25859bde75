"""Calls with clients: logged by agents on the profile, or reported by a telephony provider's signed
webhook, and click-to-call links.

Every call with a client emits "call.logged" once (when logged by hand, or when the provider
reports its end) and, if somebody answered, is the lead's first contact
(leads.services.lead_mark_contacted). KPIs read Call rows for calls and talk time.

The webhook (POST /hooks/telephony/<provider>/):

    X-CRM-Signature: t=<unix seconds>,v1=<hex> the timestamp within five minutes of our clock;
                                               v1 the HMAC-SHA256 over "<t>." + raw body, keyed
                                               with the provider's secret (leads.telephony keeps
                                               it encrypted and decrypts it here); the one
                                               X-CRM-Signature of the CRM (plumbing.signatures),
                                               the same as its outbound webhooks and postbacks
    {"event": "started" | "answered" | "ended", "call_id": "...", "direction": "outbound",
     "extension": "101", "phone": "+442071838750", "occurred_at": "2026-01-05T10:00:00Z",
     "duration": 95, "talk_seconds": 80, "recording_url": "https://...", "outcome": "interested"}

The timestamp is part of the signed text, so an old request cannot be replayed with a fresh
timestamp. Each (provider, call_id, event) is applied once: a retry or replay answers 200 with
"duplicate" and changes nothing.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext

from crm.audit import AuditEntry, audit_record, audit_record_many
from crm.events import emit, event_row, event_rows_ready, kick_after_commit
from crm.exceptions import NotAllowed, ValidationFailed
from crm.lib import bulk
from crm.lib.fieldcrypt import keyed_hashes
from crm.lib.payloads import user_ref
from crm.lib.phone import phone_normalise
from crm.lib.validation import InvalidValue, json_problem
from crm.lib.webhooks import Finding, Receipt, WebhookInbox
from crm.models import Client, Event, User
from crm.permissions import user_can
from leads.exceptions import TelephonyWebhookRefused
from leads.models import (
    ANSWERED_OUTCOMES,
    Call,
    CallDirection,
    CallOutcome,
    ContactKey,
    ContactKind,
    PipelineStatus,
    TelephonyEvent,
    TelephonyProvider,
    TelephonyWebhook,
    TelephonyWebhookOutcome,
)
from leads.pipeline import pipeline_follow_call
from leads.services import lead_mark_contacted
from leads.telephony import provider_secret_read
from plumbing import context, signatures

NOTES_MAX = 5000
DURATION_MAX = 24 * 3600
TELEPHONY_EVENTS = ("started", "answered", "ended")


def _call_event(call: Call, *, source: str) -> None:
    emit("call.logged", client=call.client, actor=call.agent, occurred_at=call.ended_at or call.started_at, data={
        "call": str(call.code), "direction": call.direction, "outcome": call.outcome,
        "duration": call.duration_seconds, "talk_seconds": call.talk_seconds, "agent": user_ref(call.agent),
        "source": source, "recording": bool(call.recording_url),
    })


@transaction.atomic
def call_log(*, actor: User, client: Client, outcome: str, duration_seconds: int = 0, notes: str = "",
             direction: str = CallDirection.OUTBOUND, ended_at: datetime | None = None) -> Call:
    """Log a call the agent made (or took) with `client`. Event "call.logged"; an answered call is the
    lead's first contact; the outcome moves the pipeline status the brand maps it to (forward only,
    leads.pipeline.pipeline_follow_call). The call ended at `ended_at` (default now) and lasted
    `duration_seconds`."""
    _call_agent_check(actor)
    notes = _call_checked(outcome=outcome, direction=direction, duration_seconds=duration_seconds, notes=notes)
    call = Call(**_call_fields(actor=actor, client=client, outcome=outcome, direction=direction,
                               duration_seconds=duration_seconds, notes=notes, ended_at=ended_at or timezone.now()))
    call.client, call.agent, call.logged_by = client, actor, actor
    call.save(force_insert=True)
    answered = outcome in ANSWERED_OUTCOMES
    _call_event(call, source="manual")
    audit_record(action="call.logged", obj=client, after={"call": str(call.code), "outcome": outcome,
                                                          "duration": duration_seconds}, actor=actor)
    if answered:
        lead_mark_contacted(actor=actor, client=client, via="call", at=call.answered_at)
    pipeline_follow_call(actor=actor, client=client, outcome=outcome)
    return call


def _call_agent_check(actor: User | None) -> None:
    if actor is None or not user_can(actor, "crm.change_client"):
        raise NotAllowed(gettext("You are not allowed to log calls for this client."))


def _call_checked(*, outcome: str, direction: str, duration_seconds: int, notes: str, prefix: str = "") -> str:
    """The call's notes, stripped; ValidationFailed naming each bad field (after `prefix`)."""
    errors: dict[str, list[str]] = {}
    if outcome not in CallOutcome.values:
        errors[f"{prefix}outcome"] = [gettext("Choose a call outcome.")]
    if direction not in CallDirection.values:
        errors[f"{prefix}direction"] = [gettext("Choose inbound or outbound.")]
    if not isinstance(duration_seconds, int) or not 0 <= duration_seconds <= DURATION_MAX:
        errors[f"{prefix}duration_seconds"] = [gettext("Enter a duration between 0 seconds and 24 hours.")]
    notes = (notes or "").strip()
    if len(notes) > NOTES_MAX:
        errors[f"{prefix}notes"] = [gettext("Keep notes under %(n)s characters.") % {"n": NOTES_MAX}]
    if errors:
        raise ValidationFailed(fields=errors)
    return notes


def _call_fields(*, actor: User, client: Client, outcome: str, direction: str, duration_seconds: int, notes: str,
                 ended_at: datetime) -> dict[str, Any]:
    answered = outcome in ANSWERED_OUTCOMES
    started_at = ended_at - timedelta(seconds=duration_seconds)
    return {"brand_id": client.brand_id, "client_id": client.pk, "agent_id": actor.pk, "logged_by_id": actor.pk,
            "direction": direction, "outcome": outcome, "phone": client.phone, "started_at": started_at,
            "answered_at": started_at if answered else None, "ended_at": ended_at,
            "duration_seconds": duration_seconds, "talk_seconds": duration_seconds if answered else 0, "notes": notes}


@dataclass(frozen=True)
class CallToLog:
    """One call for call_log_many: call_log's arguments."""

    actor: User
    client: Client
    outcome: str
    ended_at: datetime
    duration_seconds: int = 0
    notes: str = ""
    direction: str = CallDirection.OUTBOUND


@transaction.atomic
def call_log_many(*, calls: Sequence[CallToLog], reason: str = "") -> list[uuid.UUID]:
    """call_log for many calls at once (a chunk of an import), in the caller's transaction: the same
    checks (ValidationFailed naming "calls.<n>.<field>"; nothing is written), Call rows with their "+"
    history rows and "call.logged" events in one statement, each client's first contact (its earliest
    answered call) and pipeline move (each call in time order, skipped when the brand maps no
    status to the outcome); one audit row per brand lists the calls (and `reason`). The calls' codes."""
    for agent in {c.actor for c in calls}:
        _call_agent_check(agent)
    ctx, now = context.current(), timezone.now()
    rows: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    by_brand: dict[int | None, list[str]] = {}
    for i, c in enumerate(calls):
        notes = _call_checked(outcome=c.outcome, direction=c.direction, duration_seconds=c.duration_seconds,
                              notes=c.notes, prefix=f"calls.{i}.")
        row = {"code": uuid.uuid4(), "created_at": now, "recording_url": "", "provider": "", "provider_call_id": "",
               **_call_fields(actor=c.actor, client=c.client, outcome=c.outcome, direction=c.direction,
                              duration_seconds=c.duration_seconds, notes=notes, ended_at=c.ended_at)}
        rows.append(row)
        events.append(event_row("call.logged", client_id=c.client.pk, brand_id=c.client.brand_id, actor_id=c.actor.pk,
                                at=c.ended_at, request_id=ctx.request_id, data={
                                    "call": str(row["code"]), "direction": c.direction, "outcome": c.outcome,
                                    "duration": c.duration_seconds, "talk_seconds": row["talk_seconds"],
                                    "agent": user_ref(c.actor), "source": "manual", "recording": False}))
        by_brand.setdefault(c.client.brand_id, []).append(str(row["code"]))
    history = bulk.AsInserted(Call, {"history_date": now, "history_type": "+", "history_change_reason": None,
                                     "history_user_id": getattr(ctx.user, "pk", None)})
    event_rows_ready(events)
    bulk.write([(Call, rows, False), (apps.get_model("leads", "HistoricalCall"), history, False),
                (Event, events, False)])
    kick_after_commit()
    audit_record_many([AuditEntry(action="call.logged_many", object_type="leads.call", brand=brand_id, reason=reason,
                                  after={"calls": codes}) for brand_id, codes in by_brand.items()])
    contacted: set[int] = set()
    moves: dict[tuple[int, str], bool] = {}
    for c, row in sorted(zip(calls, rows, strict=True), key=lambda pair: pair[0].ended_at):
        if row["answered_at"] is not None and c.client.pk not in contacted:
            contacted.add(c.client.pk)
            lead_mark_contacted(actor=c.actor, client=c.client, via="call", at=row["answered_at"])
        mapped = moves.setdefault((c.client.brand_id, c.outcome), PipelineStatus.objects.filter(
            brand_id=c.client.brand_id, is_active=True, call_outcomes__contains=[c.outcome]).exists())
        if mapped:
            pipeline_follow_call(actor=c.actor, client=c.client, outcome=c.outcome)
    return [row["code"] for row in rows]


# --- click to call ---------------------------------------------------------------------------


def click_to_call_template(*, brand_id: int | None) -> str:
    """The brand's provider template, else any brand-wide provider's, else CRM_CLICK_TO_CALL_TEMPLATE."""
    providers = TelephonyProvider.objects.filter(is_active=True).exclude(click_to_call_template="")
    for provider in sorted(providers, key=lambda p: p.brand_id is None):
        if provider.brand_id in (brand_id, None):
            return provider.click_to_call_template
    return str(getattr(settings, "CRM_CLICK_TO_CALL_TEMPLATE", "") or "")


def click_to_call_url(*, template: str, phone: str, extension: str = "") -> str:
    """`template` with {phone} (E.164, URL-escaped) and {extension}; "" without a template or phone."""
    if not template or not phone:
        return ""
    return template.replace("{phone}", quote(phone, safe="+")).replace("{extension}", quote(extension or "", safe=""))


# --- the telephony webhook -------------------------------------------------------------------


@dataclass(frozen=True)
class WebhookResult:
    status: str  # "applied" | "duplicate"
    call: Call


def provider_secret(code: str) -> tuple[TelephonyProvider | None, str]:
    """The provider row and its secret (decrypted; "" if no configured key can); CRM_TELEPHONY_SECRETS
    ({"code": "secret"}) names providers configured only in settings."""
    provider = TelephonyProvider.objects.filter(code=code, is_active=True).first()
    if provider is not None:
        return provider, provider_secret_read(provider)
    secrets = getattr(settings, "CRM_TELEPHONY_SECRETS", {}) or {}
    return None, str(secrets.get(code, "") or "")


@dataclass(frozen=True)
class TelephonyInput:
    event: str
    call_id: str
    direction: str
    extension: str
    phone: str
    occurred_at: datetime
    duration: int | None
    talk_seconds: int | None
    recording_url: str
    outcome: str
    raw: dict[str, Any]


def _seconds(data: Mapping[str, Any], name: str, errors: dict[str, list[str]]) -> int | None:
    value = data.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit() \
            or int(value) > DURATION_MAX:
        errors[name] = [gettext("Give whole seconds between 0 and 86400.")]
        return None
    return int(value)


def telephony_parse(body: bytes) -> TelephonyInput:
    """Validate a webhook body; ValidationFailed names each bad field."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):  # RecursionError: nested beyond reason
        raise ValidationFailed(fields={"body": [gettext("Send a JSON object.")]}) from None
    if not isinstance(data, dict):
        raise ValidationFailed(fields={"body": [gettext("Send a JSON object.")]})
    unstorable = json_problem(data)  # NUL or a lone surrogate escaped in JSON: named, not a failed write
    if unstorable:
        raise ValidationFailed(fields={unstorable[0]: [unstorable[1]]})
    errors: dict[str, list[str]] = {}
    event = str(data.get("event") or "")
    if event not in TELEPHONY_EVENTS:
        errors["event"] = [gettext("Choose one of: %(choices)s.") % {"choices": ", ".join(TELEPHONY_EVENTS)}]
    call_id = data.get("call_id")
    if not isinstance(call_id, str | int) or not str(call_id).strip() or len(str(call_id)) > 128:
        errors["call_id"] = [gettext("Give the provider's call id (up to 128 characters).")]
    direction = str(data.get("direction") or CallDirection.OUTBOUND)
    if direction not in CallDirection.values:
        errors["direction"] = [gettext("Choose inbound or outbound.")]
    extension = str(data.get("extension") or "").strip()[:20]
    phone = ""
    if data.get("phone"):
        try:
            phone = phone_normalise(str(data["phone"]))
        except InvalidValue as exc:
            errors["phone"] = [exc.message]
    occurred_at = _occurred_at(data, errors)
    duration = _seconds(data, "duration", errors)
    talk = _seconds(data, "talk_seconds", errors)
    recording_url = _recording_url(data, errors)
    outcome = str(data.get("outcome") or "")
    if outcome and outcome not in CallOutcome.values:
        errors["outcome"] = [gettext("Choose one of: %(choices)s.") % {"choices": ", ".join(CallOutcome.values)}]
    if errors:
        raise ValidationFailed(fields=errors)
    return TelephonyInput(event=event, call_id=str(call_id).strip(), direction=direction, extension=extension,
                          phone=phone, occurred_at=occurred_at, duration=duration, talk_seconds=talk,
                          recording_url=recording_url, outcome=outcome, raw=data)


def _occurred_at(data: dict[str, Any], errors: dict[str, list[str]]) -> datetime:
    """When the call event happened: the body's ISO 8601 time (with its offset), or now."""
    if not data.get("occurred_at"):
        return timezone.now()
    parsed = parse_datetime(str(data["occurred_at"])) if isinstance(data["occurred_at"], str) else None
    if parsed is None or timezone.is_naive(parsed):
        errors["occurred_at"] = [gettext("Give an ISO 8601 time with its offset.")]
        return timezone.now()
    return parsed


def _recording_url(data: dict[str, Any], errors: dict[str, list[str]]) -> str:
    """The recording's http(s) link, if the body gives one."""
    recording_url = str(data.get("recording_url") or "").strip()
    if recording_url:
        try:
            URLValidator(schemes=["http", "https"])(recording_url)
        except ValidationError:
            errors["recording_url"] = [gettext("Give an http(s) link.")]
        if len(recording_url) > 500:
            errors["recording_url"] = [gettext("Keep the link under 500 characters.")]
    return recording_url


def _match_client(phone: str, brand_id: int | None) -> Client | None:
    if not phone:
        return None
    keys = ContactKey.objects.filter(kind=ContactKind.PHONE, value__in=keyed_hashes(phone, kind="phone"))
    if brand_id is not None:
        keys = keys.filter(brand_id=brand_id)
    key = keys.select_related("client").order_by("-created_at").first()
    if key is not None:
        return key.client
    clients = Client.objects.filter(phone_hash__in=keyed_hashes(phone, kind="phone"))
    if brand_id is not None:
        clients = clients.filter(brand_id=brand_id)
    return clients.order_by("-created_at").first()


def _call_for(*, provider: str, brand_id: int | None, data: TelephonyInput) -> Call:
    """The provider's call `data` is about, locked; created on the first event seen, in any order.
    Under the caller's transaction."""
    call = Call.objects.select_for_update().filter(provider=provider, provider_call_id=data.call_id).first()
    if call is None:
        agent = (User.objects.filter(phone_extension=data.extension, is_active=True).order_by("id").first()
                 if data.extension else None)
        client = _match_client(data.phone, brand_id)
        try:
            with transaction.atomic():
                call = Call.objects.create(
                    provider=provider, provider_call_id=data.call_id, direction=data.direction, agent=agent,
                    client=client, brand_id=client.brand_id if client else brand_id, phone=data.phone,
                    started_at=data.occurred_at,
                )
        except IntegrityError:
            # A concurrent delivery of another event of this call created it first.
            call = Call.objects.select_for_update().get(provider=provider, provider_call_id=data.call_id)
    return call


@transaction.atomic
def telephony_event_receive(*, provider: str, brand_id: int | None, data: TelephonyInput) -> WebhookResult:
    """Apply one provider event to its call (created on the first event seen, in any order).
    Idempotent per (provider, call id, event)."""
    call = _call_for(provider=provider, brand_id=brand_id, data=data)
    if TelephonyEvent.objects.filter(provider=provider, provider_call_id=data.call_id, event_type=data.event).exists():
        return WebhookResult("duplicate", call)
    TelephonyEvent.objects.create(provider=provider, provider_call_id=data.call_id, event_type=data.event, call=call,
                                  occurred_at=data.occurred_at, payload=data.raw)
    if data.event == "started":
        call.started_at = min(call.started_at, data.occurred_at)
    elif data.event == "answered":
        call.answered_at = data.occurred_at
    else:
        _call_ended(call, data)
    call.save()
    if data.event == "ended" and call.client is not None:
        _call_event(call, source=f"telephony:{provider}")
        if call.answered_at is not None and call.talk_seconds > 0:
            lead_mark_contacted(actor=call.agent, client=call.client, via="call", at=call.answered_at)
        if call.outcome:
            pipeline_follow_call(actor=call.agent, client=call.client, outcome=call.outcome)
    return WebhookResult("applied", call)


def _call_ended(call: Call, data: TelephonyInput) -> None:
    call.ended_at = data.occurred_at
    if data.duration is not None:
        call.duration_seconds = data.duration
        call.started_at = min(call.started_at, data.occurred_at - timedelta(seconds=data.duration))
    else:
        call.duration_seconds = max(0, int((data.occurred_at - call.started_at).total_seconds()))
    if data.talk_seconds is not None:
        call.talk_seconds = data.talk_seconds
    elif call.answered_at is not None:
        call.talk_seconds = max(0, int((data.occurred_at - call.answered_at).total_seconds()))
    call.talk_seconds = min(call.talk_seconds, call.duration_seconds)
    if call.talk_seconds and call.answered_at is None:
        call.answered_at = data.occurred_at - timedelta(seconds=call.talk_seconds)
    if data.recording_url:
        call.recording_url = data.recording_url
    if data.outcome:
        call.outcome = data.outcome
    elif not call.outcome:
        call.outcome = CallOutcome.CONNECTED if call.answered_at is not None else CallOutcome.NO_ANSWER


# --- the webhook inbox ---------------------------------------------------------------------------
# Every delivery to /hooks/telephony/<provider>/ goes through crm.lib.webhooks' inbox, as the PSPs'
# and the KYC vendors' do: stored (leads.TelephonyWebhook, the body encrypted), its signature
# checked, deduplicated by the provider and "<call id>:<event>" (a repeated event is kept as a
# duplicate and changes nothing), and applied in the transaction that stores it as accepted.


@dataclass(frozen=True)
class TelephonySender:
    """A provider as the webhook knows it: its code in the URL, its row (None for one configured in
    settings, or for nobody) and its secret ("" for nobody: no signature passes)."""

    code: str
    row: TelephonyProvider | None
    secret: str

    @property
    def brand_id(self) -> int | None:
        return self.row.brand_id if self.row is not None else None


def _header(headers: Mapping[str, str], name: str) -> str:
    return next((value for key, value in headers.items() if key.lower() == name.lower()), "")


class TelephonyInbox(WebhookInbox[TelephonyWebhook, TelephonySender, TelephonyInput]):
    def sender(self, code: str) -> TelephonySender | Finding:
        # A provider nobody configured is not told apart from a bad signature (401 either way): the
        # answer does not say which provider codes exist.
        row, secret = provider_secret(code)
        return TelephonySender(code=code, row=row, secret=secret)

    def verify(self, sender: TelephonySender, headers: Mapping[str, str], body: bytes,
               now: Any) -> TelephonyInput:
        try:
            signatures.verify(body=body, header=_header(headers, signatures.HEADER), secrets=[sender.secret],
                              now=now)
        except signatures.SignatureError as exc:
            raise TelephonyWebhookRefused("stale" if exc.reason == "stale" else "bad_signature", str(exc)) from None
        try:
            return telephony_parse(body)
        except ValidationFailed as exc:
            raise TelephonyWebhookRefused("malformed", exc.message, fields=exc.fields) from None

    def texts(self, note: TelephonyInput) -> Mapping[str, object]:
        return {"call_id": note.call_id, "event": note.event, "extension": note.extension}

    def facts(self, note: TelephonyInput) -> dict[str, Any]:
        return {"event_id": f"{note.call_id}:{note.event}"[:200], "kind": note.event}

    def locate(self, sender: TelephonySender, note: TelephonyInput) -> dict[str, Any] | Finding:
        return {"call": _call_for(provider=sender.code, brand_id=sender.brand_id, data=note)}

    def apply(self, sender: TelephonySender, note: TelephonyInput, row: TelephonyWebhook) -> Finding | None:
        result = telephony_event_receive(provider=sender.code, brand_id=sender.brand_id, data=note)
        if result.status == "duplicate":
            # Applied before the inbox kept its rows (the call's own record of its events says so).
            return Finding(TelephonyWebhookOutcome.DUPLICATE, "this event of the call was applied already",
                           "telephony webhook: event applied already", {"call_id": note.call_id})
        return None


INBOX = TelephonyInbox(TelephonyWebhook, TelephonyWebhookOutcome, TelephonyWebhookRefused, sender_field="provider",
                       log_key="provider", label="telephony webhook", header_prefix="x-telephony-",
                       logger=logging.getLogger("leads.telephony"))
TelephonyReceipt = Receipt[TelephonyWebhook, TelephonyInput]


def telephony_webhook_receive(*, provider: str, headers: Mapping[str, str], body: bytes,
                              remote_addr: str | None = None, now: float | None = None) -> TelephonyReceipt:
    """Store, check and apply one delivery of a provider's webhook (see the section's comment)."""
    return INBOX.receive(sender=provider, headers=headers, body=body, remote_addr=remote_addr, now=now)


def telephony_webhook_answer(receipt: TelephonyReceipt, body: bytes) -> tuple[int, dict[str, Any]]:
    """The status and JSON the provider gets: the call for an accepted or repeated event; the
    signature's refusal (401); for a malformed body, each bad field (400)."""
    row = receipt.row
    if receipt.status_code == 200:
        status = "applied" if row.outcome == TelephonyWebhookOutcome.ACCEPTED else "duplicate"
        call = row.call
        return 200, {"status": status, "call": str(call.code) if call else None,
                     "client": str(call.client.code) if call and call.client else None}
    if receipt.status_code == 401:
        return 401, {"error": "invalid_signature", "message": row.detail}
    try:
        telephony_parse(body)
        fields = {"body": [row.detail]}  # the body itself (a NUL byte), refused before it was read
    except ValidationFailed as exc:
        fields = exc.fields
    return 400, {"error": ValidationFailed.default_code, "message": row.detail, "fields": fields}
