"""Outgoing SMS through the brand's provider (Twilio's Messaging API, emails.twilio), for every
layer: transactional notices and marketing alike (the caller decides who may get marketing;
nothing here asks for consent: a transactional SMS is sent whatever the client decided about
marketing).

- ``sms_provider_save``: an administrator's provider (the auth token encrypted, never shown again).
- ``sms_send``: the message is written (pending) in the caller's transaction and a Celery task sends
  it after commit (``sms_deliver``): the row is locked while sending, so two workers send it once.
  A 429, a 5xx, a timeout or no connection is retried with backoff (``sms_backoff``), the last
  attempt marks it failed; any other refusal is final at once and its code and message are kept
  (21211 invalid number, 21408 region not enabled). 21610 means the recipient replied STOP to the
  provider: the message fails, and "sms.opted_out" is emitted for the client (marketing records
  the withdrawal). The provider's ``rate_per_second`` spaces the sends of all workers (Redis).
- The provider's status callbacks and inbound messages come through one webhook inbox
  (crm.lib.webhooks; ``SmsInbox``): signature checked (``X-Twilio-Signature`` over the public URL
  and the parameters), stored, a repeat is a duplicate, applied in the row's transaction. A
  status moves a message forward only (``SMS_RANK``): "sent" arriving after "delivered" is kept
  and changes nothing. An inbound STOP emits "sms.opted_out" for each client of the brand with
  that number, START "sms.opted_in"; HELP and other texts change nothing.

Message states::

    pending -> queued -> sending -> sent -> delivered | undelivered | failed
    pending -> failed                    (refused, or out of attempts)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

from celery import shared_task
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import RedisError

from crm.audit import audit_record
from crm.events import emit
from crm.exceptions import FieldErrors, NotAllowed
from crm.lib.fieldcrypt import keyed_hashes
from crm.lib.phone import phone_normalise
from crm.lib.public_url import public_url
from crm.lib.redis import get_redis
from crm.lib.validation import InvalidValue
from crm.lib.webhooks import ACCEPTED, Finding, Receipt, WebhookInbox
from crm.models import Brand, Client, User
from crm.permissions import user_can
from crm.registry import TimelineKind
from crm.selectors import mask_phone
from emails import permissions, twilio
from emails.exceptions import SmsNotConfigured, SmsWebhookRefused
from emails.sms_models import (
    SMS_RANK,
    SMS_STATES,
    TWILIO_LIVE_URL,
    SmsMessage,
    SmsProvider,
    SmsPurpose,
    SmsStatus,
    SmsWebhook,
    SmsWebhookOutcome,
)
from plumbing import context as actor_context

logger = logging.getLogger("emails.sms")

SMS_MAX_ATTEMPTS = 5
SMS_BODY_MAX = 1600  # Twilio's limit for one message (it is split into segments of 153 characters)
SMS_STALE_AFTER = timedelta(minutes=15)
RATE_WAITS = 5  # turns a worker waits for the rate limit before it hands the message back to the queue
# Twilio's statuses as ours ("accepted": a messaging service took it; "scheduled" too).
TWILIO_STATUS = {"accepted": SmsStatus.QUEUED, "scheduled": SmsStatus.QUEUED, "queued": SmsStatus.QUEUED,
                 "sending": SmsStatus.SENDING, "sent": SmsStatus.SENT, "delivered": SmsStatus.DELIVERED,
                 "read": SmsStatus.DELIVERED, "undelivered": SmsStatus.UNDELIVERED, "failed": SmsStatus.FAILED,
                 "canceled": SmsStatus.FAILED}


# --- providers ---------------------------------------------------------------------------------------

def sms_provider_for(*, brand: Brand | int) -> SmsProvider | None:
    """The brand's active SMS provider, or None."""
    brand_id = brand if isinstance(brand, int) else brand.pk
    return SmsProvider.objects.filter(brand_id=brand_id, is_active=True).first()


def sms_providers() -> list[SmsProvider]:
    return list(SmsProvider.objects.select_related("brand").order_by("brand__name", "name"))


def _provider_snapshot(provider: SmsProvider) -> dict[str, Any]:
    return {"code": provider.code, "brand": provider.brand_id, "name": provider.name, "base_url": provider.base_url,
            "account_sid": provider.account_sid, "from_number": provider.from_number,
            "messaging_service_sid": provider.messaging_service_sid, "rate_per_second": str(provider.rate_per_second),
            "is_active": provider.is_active}


def sms_provider_validate(*, provider: SmsProvider | None, code: str, name: str, account_sid: str,
                          auth_token: str | None, base_url: str, from_number: str, messaging_service_sid: str,
                          rate_per_second: Any) -> dict[str, Any]:
    """The provider's fields cleaned; ValidationFailed naming every bad one."""
    errors = FieldErrors()
    code = (code or "").strip().lower()
    if not code or not code.replace("-", "").replace("_", "").isalnum() or len(code) > 40:
        errors.add("code", gettext("Use up to 40 lower-case letters, digits, hyphens and underscores."))
    elif SmsProvider.objects.filter(code=code).exclude(pk=provider.pk if provider is not None else 0).exists():
        errors.add("code", gettext("Another SMS provider has this code."))
    name = (name or "").strip()
    if not name:
        errors.add("name", gettext("This field is required."))
    account_sid = (account_sid or "").strip()
    if not account_sid.startswith("AC") or len(account_sid) != 34:
        errors.add("account_sid", gettext("An account SID is AC followed by 32 characters."))
    if provider is None and not auth_token:
        errors.add("auth_token", gettext("Give the account's auth token."))
    base_url = (base_url or "").strip().rstrip("/")
    if not base_url.startswith(("https://", "http://")):
        errors.add("base_url", gettext("Give an http:// or https:// address."))
    messaging_service_sid = (messaging_service_sid or "").strip()
    if messaging_service_sid and (not messaging_service_sid.startswith("MG") or len(messaging_service_sid) != 34):
        errors.add("messaging_service_sid", gettext("A messaging service SID is MG followed by 32 characters."))
    try:
        from_number = phone_normalise(from_number, field="from_number")
    except InvalidValue as exc:
        errors.add(exc.field, exc.message)
    if not from_number and not messaging_service_sid and "from_number" not in errors:
        errors.add("from_number", gettext("Give a sender number or a messaging service."))
    rate = Decimal("1")
    try:
        rate = Decimal(str(rate_per_second)).quantize(Decimal("0.01"))
        if not Decimal("0.01") <= rate <= Decimal("1000"):
            raise InvalidOperation
    except (InvalidOperation, ValueError):
        errors.add("rate_per_second", gettext("Give a number of messages a second between 0.01 and 1000."))
    errors.raise_if_any()
    return {"code": code, "name": name, "account_sid": account_sid, "base_url": base_url, "from_number": from_number,
            "messaging_service_sid": messaging_service_sid, "rate_per_second": rate}


@transaction.atomic
def sms_provider_save(*, actor: User | None, provider: SmsProvider | None = None, brand: Brand, code: str, name: str,
                      account_sid: str, auth_token: str | None = None, base_url: str = TWILIO_LIVE_URL,
                      from_number: str = "", messaging_service_sid: str = "", rate_per_second: Any = "1",
                      is_active: bool = True) -> SmsProvider:
    """Create (`provider` None) or change a brand's SMS provider. `auth_token` None (or "") keeps the
    stored one (a new provider needs one). Every problem is named; nothing is written unless all is
    valid. Activating one deactivates the brand's other providers. Audited (the token never)."""
    if actor is not None and not user_can(actor, permissions.SMS_PROVIDER_MANAGE):
        raise NotAllowed(gettext("You are not allowed to manage SMS providers."))
    values = sms_provider_validate(provider=provider, code=code, name=name, account_sid=account_sid,
                                   auth_token=auth_token, base_url=base_url, from_number=from_number,
                                   messaging_service_sid=messaging_service_sid, rate_per_second=rate_per_second)
    before = None
    if provider is None:
        provider = SmsProvider(brand=brand)
    else:
        provider.refresh_from_db(from_queryset=SmsProvider.objects.select_for_update())
        before = _provider_snapshot(provider)
    for field, value in values.items():
        setattr(provider, field, value)
    provider.brand, provider.is_active = brand, bool(is_active)
    if auth_token:
        provider.set_auth_token(auth_token)
    if provider.is_active:
        SmsProvider.objects.filter(brand=brand, is_active=True).exclude(pk=provider.pk).update(is_active=False)
    provider.save()
    after = _provider_snapshot(provider)
    audit_record(action="sms_provider.create" if before is None else "sms_provider.update", obj=provider,
                 before=before, after={**after, "auth_token_changed": bool(auth_token)}, actor=actor)
    return provider


def sms_webhook_urls(provider: SmsProvider) -> dict[str, str]:
    """Where the provider posts: the status callback (sent with each message) and the inbound
    messages' address (set on the number or messaging service in Twilio's console)."""
    return {"status": public_url(reverse("sms_status_webhook", args=[provider.code])),
            "inbound": public_url(reverse("sms_inbound_webhook", args=[provider.code]))}


# --- sending ------------------------------------------------------------------------------------------

def _sender_label(actor: User | None) -> str:
    if actor is not None:
        return actor.email
    ctx = actor_context.current()
    return ctx.label or f"system:{ctx.source}"


@transaction.atomic
def sms_send(*, body: str, client: Client | None = None, brand: Brand | None = None, to: str = "",
             purpose: str = SmsPurpose.TRANSACTIONAL, reference: str = "", actor: User | None = None) -> SmsMessage:
    """Write an SMS of `body` to `client` (their phone) or to `to` (E.164) for `brand`, and hand it to
    the Celery task after commit. Marketing callers check consent first (marketing.consent): this
    pipeline does not, and transactional messages are never held back by a marketing opt-out.
    Raises ValidationFailed naming the field, SmsNotConfigured when the brand has no active provider."""
    brand_obj = brand if brand is not None else (client.brand if client is not None else None)
    errors = FieldErrors()
    number = ""
    try:
        number = phone_normalise(to or (client.phone if client is not None else ""), field="to",
                                 region=getattr(client, "country", None) or None)
    except InvalidValue as exc:
        errors.add(exc.field, exc.message)
    if not number and "to" not in errors:
        errors.add("to", gettext("The client has no phone number.") if client is not None and not to
                   else gettext("Give the number to send to."))
    text = (body or "").strip()
    if not text:
        errors.add("body", gettext("Write the message."))
    elif len(text) > SMS_BODY_MAX:
        errors.add("body", gettext("Keep a message under %(n)s characters.") % {"n": SMS_BODY_MAX})
    if purpose not in SmsPurpose.values:
        errors.add("purpose", gettext("Choose transactional or marketing."))
    if brand_obj is None:
        errors.add("brand", gettext("Say which brand sends it."))
    errors.raise_if_any()
    assert brand_obj is not None
    provider = sms_provider_for(brand=brand_obj)
    if provider is None:
        raise SmsNotConfigured(gettext("The brand %(brand)s has no active SMS provider.") % {"brand": brand_obj.name})
    message = SmsMessage.objects.create(
        brand=brand_obj, client=client, provider=provider, to_number=number, body=text, purpose=purpose,
        reference=(reference or "")[:64], status=SmsStatus.PENDING, next_attempt_at=timezone.now(),
        sent_by=_sender_label(actor)[:200])
    audit_record(action="sms.queue", obj=message, after={
        "client": str(client.code) if client is not None else "", "to": mask_phone(number), "purpose": purpose,
        "reference": message.reference, "provider": provider.code}, actor=actor)
    message_id = message.pk
    transaction.on_commit(lambda: _enqueue(message_id), robust=True)
    return message


def _enqueue(message_id: int, countdown: float | None = None) -> None:
    try:
        sms_deliver_task.apply_async(args=(message_id,), countdown=countdown or 0)
    except BrokerError:
        # The message stays pending; the sweep (sms_requeue_stale) sends it later.
        logger.warning("could not queue an SMS; the sweep will", exc_info=True, extra={"sms_id": message_id})


class SmsTemporaryFailure(Exception):  # noqa: N818 - a signal to the task to retry, not an error to show
    """The provider could not take the message now (429, 5xx, timeout); the task retries with backoff."""


class SmsRateLimited(Exception):  # noqa: N818 - a signal to the task to wait, not an error
    """The provider's rate per second is used up; try again after `wait` seconds (no attempt counted)."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"rate limited for {wait:.3f} s")
        self.wait = wait


def sms_backoff(attempt: int) -> int:
    """Seconds before retry number `attempt` (1-based): 15, 30, 60, 120 s..., at most 15 minutes."""
    return int(min(15 * 2 ** max(attempt - 1, 0), 900))


def _rate_slot(provider: SmsProvider) -> float:
    """0 when a message may go now (the slot taken), else the seconds to wait. The slot is one
    message's share of a second, shared by every worker through Redis; without Redis, sends go."""
    interval_ms = max(1, int(1000 / float(provider.rate_per_second or 1)))
    key = f"crm:sms:rate:{provider.pk}"
    try:
        client = get_redis()
        if client.set(key, "1", nx=True, px=interval_ms):
            return 0.0
        left = client.pttl(key)
    except RedisError:
        logger.warning("SMS rate limit not applied: Redis is not reachable", exc_info=True)
        return 0.0
    return max(int(left), 1) / 1000


def _opt_change(*, name: str, client: Client, number: str, provider: SmsProvider, source: str,
                reference: str = "") -> None:
    emit(name, client=client, data={"client": str(client.code), "number": mask_phone(number), "provider": provider.code,
                                    "source": source, "reference": reference})


# Our status -> the event a client's SMS emits on reaching it (marketing counts its campaigns' outcomes).
_OUTCOME_EVENTS = {SmsStatus.SENT: "sms.sent", SmsStatus.DELIVERED: "sms.delivered",
                   SmsStatus.UNDELIVERED: "sms.failed", SmsStatus.FAILED: "sms.failed"}
STOP_ATTRIBUTION = timedelta(days=30)


def _outcome_emit(message: SmsMessage) -> None:
    """"sms.sent" / "sms.delivered" / "sms.failed" for `message`'s new status (none for the others)."""
    name = _OUTCOME_EVENTS.get(SmsStatus(message.status))
    if name is None:
        return
    emit(name, client=message.client, brand=message.brand_id, data={
        "sms": str(message.code), "purpose": message.purpose, "reference": message.reference,
        "status": message.status, "error": message.error_code if name == "sms.failed" else ""})


def _stop_reference(client: Client) -> str:
    """The reference of the last marketing SMS sent to `client` within STOP_ATTRIBUTION ("" if none)."""
    found = (SmsMessage.objects.filter(client=client, purpose=SmsPurpose.MARKETING,
                                       created_at__gte=timezone.now() - STOP_ATTRIBUTION)
             .exclude(reference="").order_by("-created_at", "-id").values_list("reference", flat=True).first())
    return found or ""


GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")


@dataclass(frozen=True)
class SmsLength:
    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets (an extended character counts 2) or UTF-16 code units
    segments: int  # 0 for an empty text


def sms_length(text: str) -> SmsLength:
    """How a carrier splits `text`: GSM-7 when every character is in the GSM 03.38 alphabet (160 in
    one message, 153 per part of a longer one; ^{}[]~|€\\ take two), else UCS-2 (70, 67 per part)."""
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENDED for ch in text):
        units = sum(2 if ch in GSM7_EXTENDED else 1 for ch in text)
        single, part, encoding = 160, 153, "GSM-7"
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, part, encoding = 70, 67, "UCS-2"
    if units == 0:
        return SmsLength(encoding, 0, 0)
    return SmsLength(encoding, units, 1 if units <= single else -(-units // part))


def sms_deliver(*, message_id: int, last_attempt: bool = False) -> str:
    """Send pending SMS `message_id` once; returns its status afterwards ("missing" for none).

    Raises SmsRateLimited (nothing tried) or, after recording the attempt, SmsTemporaryFailure
    for the task to retry; a final refusal or the last attempt marks the message failed."""
    with transaction.atomic():
        message = (SmsMessage.objects.select_for_update(of=("self",)).select_related("provider", "client")
                   .filter(pk=message_id).first())
        if message is None or message.status != SmsStatus.PENDING:
            return message.status if message is not None else "missing"
        provider = message.provider
        wait = _rate_slot(provider)
        if wait:
            raise SmsRateLimited(wait)
        token = provider.auth_token()
        account = twilio.Account(base_url=provider.base_url, account_sid=provider.account_sid, auth_token=token,
                                 from_number=provider.from_number,
                                 messaging_service_sid=provider.messaging_service_sid)
        now = timezone.now()
        message.attempts += 1
        failure: twilio.SendFailed | None = None
        sent: twilio.Sent | None = None
        if not token:
            failure = twilio.SendRefused(gettext("The provider's auth token is missing or cannot be read."))
        else:
            try:
                sent = twilio.send(account, to=message.to_number, body=message.body,
                                   status_callback=sms_webhook_urls(provider)["status"])
            except twilio.SendFailed as exc:
                failure = exc
        with actor_context.acting_as(None, source="task"):
            if sent is not None:
                new = TWILIO_STATUS.get(sent.status, SmsStatus.QUEUED)
                SMS_STATES.move(message, new, save=("attempts",), also={
                    "provider_sid": sent.sid, "segments": sent.segments, "accepted_at": now, "status_at": now,
                    "error_code": "", "error_message": "", "next_attempt_at": None})
                _outcome_emit(message)
                return message.status
            assert failure is not None
            message.error_code = str(failure.code or failure.status or "")[:10]
            message.error_message = failure.message[:500]
            final = isinstance(failure, twilio.SendRefused)
            if final or last_attempt or message.attempts >= SMS_MAX_ATTEMPTS:
                SMS_STATES.move(message, SmsStatus.FAILED, save=("attempts", "error_code", "error_message"),
                                also={"next_attempt_at": None, "status_at": now})
                _outcome_emit(message)
                if failure.code == twilio.UNSUBSCRIBED and message.client is not None:
                    # The client texted STOP to the provider (perhaps before we knew them): Twilio
                    # refuses every message to the number until they text START.
                    _opt_change(name="sms.opted_out", client=message.client, number=message.to_number,
                                provider=provider, source="error_21610", reference=message.reference)
                logger.warning("SMS not sent", extra={"sms_id": message_id, "code": message.error_code})
                return message.status
            message.next_attempt_at = now + timedelta(seconds=sms_backoff(message.attempts))
            message.save(update_fields=["attempts", "error_code", "error_message", "next_attempt_at"])
            attempts = message.attempts
    logger.warning("SMS send failed; will retry", extra={"sms_id": message_id, "attempts": attempts})
    raise SmsTemporaryFailure(failure.message)


@shared_task(name="emails.sms_deliver", bind=True, ignore_result=True, max_retries=SMS_MAX_ATTEMPTS - 1)
def sms_deliver_task(self: Any, message_id: int) -> str:
    """Thin: send one pending SMS; retry 429/5xx/timeouts with backoff. Held back by the provider's
    rate, the worker waits its turn when it is a second or less away (no attempt counted), else the
    message is queued again for then."""
    for _turn in range(RATE_WAITS):
        try:
            return sms_deliver(message_id=message_id, last_attempt=self.request.retries >= self.max_retries)
        except SmsRateLimited as limited:
            if limited.wait > 1.0:
                _enqueue(message_id, countdown=limited.wait)
                return "rate_limited"
            time.sleep(limited.wait)
        except SmsTemporaryFailure as exc:
            raise self.retry(exc=exc, countdown=sms_backoff(self.request.retries + 1)) from exc
    _enqueue(message_id, countdown=1.0)
    return "rate_limited"


def sms_requeue_stale(*, now: datetime | None = None, limit: int = 500) -> int:
    """Queue again pending messages whose task was lost (their next attempt is long overdue)."""
    now = now or timezone.now()
    ids = list(SmsMessage.objects.filter(status=SmsStatus.PENDING, next_attempt_at__lt=now - SMS_STALE_AFTER)
               .order_by("next_attempt_at").values_list("pk", flat=True)[:limit])
    if ids:
        SmsMessage.objects.filter(pk__in=ids).update(next_attempt_at=now)
        for message_id in ids:
            _enqueue(message_id)
    return len(ids)


# --- the provider's requests: status callbacks and inbound messages -------------------------------------

@dataclass(frozen=True)
class SmsSender:
    provider: SmsProvider
    token: str


@dataclass(frozen=True)
class SmsNote:
    """A verified request: its parameters (names as Twilio sends them)."""

    params: Mapping[str, str]

    def get(self, name: str) -> str:
        return str(self.params.get(name) or "")


def sms_status_apply(*, message: SmsMessage, twilio_status: str, error_code: str = "") -> bool:
    """Move `message` (locked by the caller) to what the callback says, forward only (SMS_RANK);
    False when the message is there already or further (a repeat, or a callback overtaken)."""
    new = TWILIO_STATUS[twilio_status]
    if SMS_RANK[SmsStatus(new)] <= SMS_RANK[SmsStatus(message.status)]:
        return False
    also: dict[str, Any] = {"status_at": timezone.now()}
    if error_code and new in (SmsStatus.UNDELIVERED, SmsStatus.FAILED):
        also.update(error_code=error_code[:10], error_message=gettext("Twilio error %(code)s") % {"code": error_code})
    SMS_STATES.move(message, new, save=(), also=also)
    _outcome_emit(message)
    return True


def sms_inbound_apply(*, provider: SmsProvider, sender: str, opt_out: str) -> int:
    """An inbound message from `sender`: STOP emits "sms.opted_out", START "sms.opted_in", for each
    client of the provider's brand with that number. Returns how many clients it was about."""
    if opt_out not in ("STOP", "START"):
        return 0
    hashes = keyed_hashes(sender, kind="phone")
    clients = list(Client.objects.filter(brand_id=provider.brand_id, phone_hash__in=hashes)) if hashes else []
    for client in clients:
        _opt_change(name="sms.opted_out" if opt_out == "STOP" else "sms.opted_in", client=client, number=sender,
                    provider=provider, source=opt_out.lower(),
                    reference=_stop_reference(client) if opt_out == "STOP" else "")
    return len(clients)


class SmsInbox(WebhookInbox[SmsWebhook, SmsSender, SmsNote]):
    """The provider's requests of one kind ("status" or "inbound"): the URL signed is that kind's."""

    def __init__(self, kind: str) -> None:
        super().__init__(SmsWebhook, SmsWebhookOutcome, SmsWebhookRefused, sender_field="provider",
                         log_key="provider", label=f"SMS {kind} webhook", header_prefix="x-twilio-",
                         logger=logging.getLogger("emails.sms"))
        self.kind = kind

    def sender(self, code: str) -> SmsSender | Finding:
        provider = SmsProvider.objects.filter(code=code, is_active=True).first()
        token = provider.auth_token() if provider is not None else ""
        if provider is None or not token:
            return Finding(SmsWebhookOutcome.UNKNOWN_PROVIDER, "no active SMS provider with this code",
                           "SMS webhook refused: unknown provider")
        return SmsSender(provider=provider, token=token)

    def sender_fields(self, sender: SmsSender) -> dict[str, Any]:
        return {"kind": self.kind}

    def verify(self, sender: SmsSender, headers: Mapping[str, str], body: bytes, now: Any) -> SmsNote:
        given = next((v for k, v in headers.items() if k.lower() == twilio.SIGNATURE_HEADER.lower()), "")
        try:
            params = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
        except (UnicodeDecodeError, ValueError):
            params = None
        url = sms_webhook_urls(sender.provider)[self.kind]
        if params is None or not twilio.signature_ok(sender.token, url, params, given):
            # Unreadable bodies are refused as unsigned too: a signature can only be checked over parameters.
            raise SmsWebhookRefused("bad_signature", "X-Twilio-Signature does not match the URL and parameters.")
        note = SmsNote(params=dict(params))
        if note.get("AccountSid") != sender.provider.account_sid:
            raise SmsWebhookRefused("malformed", "AccountSid is not this provider's account.")
        if not twilio.SID_RE.match(note.get("MessageSid")):
            raise SmsWebhookRefused("malformed", "MessageSid is missing or not a message SID.")
        if self.kind == "status" and note.get("MessageStatus") not in TWILIO_STATUS:
            raise SmsWebhookRefused("malformed", "MessageStatus is not one Twilio documents.")
        return note

    def texts(self, note: SmsNote) -> Mapping[str, object]:
        return dict(note.params)

    def facts(self, note: SmsNote) -> dict[str, Any]:
        sid = note.get("MessageSid")
        return {"event_id": f"{sid}:{note.get('MessageStatus')}" if self.kind == "status" else sid}

    def locate(self, sender: SmsSender, note: SmsNote) -> dict[str, Any] | Finding:
        if self.kind != "status":
            return {}
        message = (SmsMessage.objects.select_for_update().filter(provider=sender.provider,
                                                                 provider_sid=note.get("MessageSid")).first())
        if message is None:
            return Finding(SmsWebhookOutcome.UNKNOWN_MESSAGE, "no message has this MessageSid",
                           "SMS status callback for an unknown message", {"sid": note.get("MessageSid")})
        return {"message": message}

    def apply(self, sender: SmsSender, note: SmsNote, row: SmsWebhook) -> Finding | None:
        if self.kind == "inbound":
            opt = twilio.opt_out_type(note.get("Body"), note.get("OptOutType"))
            sms_inbound_apply(provider=sender.provider, sender=note.get("From"), opt_out=opt)
            return None
        assert row.message is not None  # located above
        before = row.message.status
        if TWILIO_STATUS[note.get("MessageStatus")] == before:
            return None  # what the send's answer said already ("queued")
        if not sms_status_apply(message=row.message, twilio_status=note.get("MessageStatus"),
                                error_code=note.get("ErrorCode")):
            return Finding(ACCEPTED, f"not applied: the message is {before} already",
                           "SMS status callback overtaken", {"sid": note.get("MessageSid")})
        return None


STATUS_INBOX = SmsInbox("status")
INBOUND_INBOX = SmsInbox("inbound")
SmsReceipt = Receipt[SmsWebhook, SmsNote]


def sms_webhook_receive(*, kind: str, provider: str, headers: Mapping[str, str], body: bytes,
                        remote_addr: str | None = None) -> SmsReceipt:
    """Store, check and apply one request of the provider (`kind`: "status" or "inbound")."""
    inbox = STATUS_INBOX if kind == "status" else INBOUND_INBOX
    return inbox.receive(sender=provider, headers=headers, body=body, remote_addr=remote_addr)


def _opt_summary(event: Any) -> str:
    data = event.data if isinstance(event.data, Mapping) else {}
    how = {"stop": gettext("texted STOP"), "start": gettext("texted START"),
           "error_21610": gettext("the provider refused a message: the number replied STOP")}
    return f"{data.get('number', '')} · {how.get(str(data.get('source')), '')}".strip(" ·")


# Registered by EmailsConfig.ready() (crm.registry.contribute), beside the emails' own.
SMS_TIMELINE = [
    TimelineKind("sms.opted_out", _("Opted out of SMS"), "alert", _opt_summary),
    TimelineKind("sms.opted_in", _("Opted in to SMS again"), "dot", _opt_summary),
]


def sms_messages_anonymise(*, client: Client, actor: User | None, placeholder: str) -> int:
    """Erasure (compliance.erasure decides and authorises): the client's SMS keep their purpose, times
    and status, but the number is emptied and the text becomes `placeholder`; one not yet sent is failed
    rather than sent to nobody. Returns the messages anonymised; audited without personal data."""
    messages = SmsMessage.objects.filter(client=client)
    messages.filter(status=SmsStatus.PENDING).update(status=SmsStatus.FAILED, error_message=placeholder[:500])
    count = 0
    for message in messages:
        message.to_number, message.body = "", placeholder
        message.save(update_fields=["to_number", "body"])
        count += 1
    audit_record(action="sms.anonymise", obj=client, after={"messages": count}, actor=actor)
    return count


def sms_messages_for(*, client: Client, limit: int = 50) -> list[SmsMessage]:
    return list(SmsMessage.objects.filter(client=client).order_by("-created_at", "-id")[:limit])


__all__ = [
    "SmsRateLimited", "SmsTemporaryFailure", "sms_backoff", "sms_deliver", "sms_inbound_apply", "sms_messages_anonymise",
    "sms_messages_for",
    "sms_provider_for", "sms_provider_save", "sms_provider_validate", "sms_providers", "sms_requeue_stale", "sms_send", "sms_status_apply",
    "sms_webhook_receive", "sms_webhook_urls",
]
