"""Postbacks: server-to-server notifications to a partner's URL when one of its clients registers,
is verified, makes a first deposit or qualifies for a CPA.

Configuration (`Postback`, one per partner): an https URL (plain http only to the loopback
address, where settings.IB_POSTBACK_ALLOW_HTTP_LOOPBACK allows it: DEBUG and tests), the events the
partner wants, an active flag, and a signing secret stored encrypted (CIPHER) and shown to the IB
manager once, when it is made or replaced.

Delivery (`PostbackDelivery`, the log): ib.handlers gives each of the four domain events to
`deliveries_for_event`, which writes one row per (partner, event) with the body built once, and
asks a worker to send it after commit (ib.tasks.postback_send). Each attempt POSTs the JSON body
with

    X-CRM-Signature: t=<unix seconds>,v1=<HMAC-SHA256 over "<t>." + body, keyed with the secret>
    Idempotency-Key: <the domain event's uuid>          (also the body's event_id)

(plumbing.signatures: the one X-CRM-Signature, the same as the CRM's outbound webhooks, which a
partner verifies with that module's `verify`), through plumbing.egress: the
host resolved and checked public at send time, the connection pinned to the checked address, one
deadline (IB_POSTBACK_TIMEOUT_SECONDS) for the whole call. 2xx: succeeded. "timed out",
"unreachable", 5xx, 408 or 429: tried again after a growing pause (beat's sweep,
ib.tasks.postbacks_retry_due) until IB_POSTBACK_MAX_ATTEMPTS attempts, then dead. Any other
answer, or "refused by policy" (the name now leads to a private address): failed, not retried. An IB manager can retry a failed or dead delivery (audited).

An attempt first claims the row (attempts + 1, next_attempt_at pushed past the timeout) and
commits, then calls out, then records the outcome: two workers never send one delivery at once, and
a worker that dies mid-call leaves a row that the sweep sends again after the claim runs out. The
partner may thus see one event twice (at least once): the idempotency key is how it tells.

The body carries no personal data: the client is a pseudonymous id, stable for the pair (partner,
client) and different for every partner, plus the click id and link code of the attribution.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext
from kombu.exceptions import OperationalError as BrokerError

from crm.audit import audit_record
from crm.lib.crypto import FieldCipher
from crm.lib.enqueue import task_named
from crm.models import Client, Event, User
from ib.exceptions import ValidationFailed
from ib.models import (
    POSTBACK_STATES,
    ClientAttribution,
    Partner,
    Postback,
    PostbackDelivery,
    PostbackEvent,
    PostbackStatus,
)
from ib.services import _require as require_manager
from plumbing import egress
from plumbing.signatures import HEADER, header_value

logger = logging.getLogger(__name__)

CIPHER = FieldCipher(salt=b"brokerage-crm/ib.postbacks", info=b"partner postback signing secrets v1",
                     what="postback secrets")

# The domain events that make postbacks, and the name each has in the body.
EVENT_NAMES: dict[str, str] = {
    "portal.registered": PostbackEvent.REGISTRATION,
    "kyc.approved": PostbackEvent.KYC_APPROVED,
    "wallet.first_deposit": PostbackEvent.FIRST_DEPOSIT,
    "ib.client_qualified": PostbackEvent.QUALIFICATION,
}
RETRY_STATUSES = frozenset({408, 429})
USER_AGENT = "brokerage-crm-postback/1"


def _timeout() -> float:
    return float(getattr(settings, "IB_POSTBACK_TIMEOUT_SECONDS", 5))


def _max_attempts() -> int:
    return int(getattr(settings, "IB_POSTBACK_MAX_ATTEMPTS", 8))


def backoff(attempts: int) -> dt.timedelta:
    """The pause after the `attempts`-th failed attempt: one minute, doubling, at most six hours."""
    return dt.timedelta(seconds=min(60 * 2 ** max(attempts - 1, 0), 6 * 3600))


# --- configuration --------------------------------------------------------------------------------

def postback_url_clean(url: str) -> str:
    """An https URL with a host as the sender reads it (plumbing.egress; http only to the loopback
    address where the setting allows it); no credentials in it, no address of a private network in
    any form, no special-use name. Where the name leads is checked again at every attempt."""
    url = (url or "").strip() if isinstance(url, str) else ""
    try:
        egress.target_parse(url, allow_loopback=_allow_loopback())
    except egress.Refused as refused:
        raise ValidationFailed(fields={"url": _url_problem(refused.problem)}) from None
    return url


def _url_problem(problem: str) -> str:
    if problem == "credentials":
        return gettext("Leave user names and passwords out of the address; the signature proves the sender.")
    if problem == "http":
        return gettext("Postbacks are sent over https only.")
    if problem == "port":
        return gettext("Enter a valid port number.")
    if problem == "numeric_form":
        return gettext("Write the server's name, or its address as four numbers (203.0.113.7).")
    if problem in ("private", "special_name"):
        return gettext("Postbacks go to the partner's public server, not to a private address.")
    return gettext("Enter a full https:// address.")


def _allow_loopback() -> bool:
    return bool(getattr(settings, "IB_POSTBACK_ALLOW_HTTP_LOOPBACK", False))


def _events_clean(events: list[str]) -> list[str]:
    unknown = [e for e in events if e not in PostbackEvent.values]
    if unknown:
        raise ValidationFailed(fields={"events": gettext("Unknown events: %(e)s.") % {"e": ", ".join(unknown)}})
    return [e for e in PostbackEvent.values if e in set(events)]


def _require(actor: User | None, partner: Partner) -> None:
    require_manager(actor, partner.brand_id)


@dataclass(frozen=True)
class Saved:
    postback: Postback
    secret: str | None  # the new secret, when one was made: shown once, never again


@transaction.atomic
def postback_save(*, actor: User | None, partner: Partner, url: str, events: list[str], is_active: bool,
                  new_secret: bool = False) -> Saved:
    """Create or change `partner`'s postback. A secret is made with the first save and, on demand,
    replaced (`new_secret`); the new one is returned in clear this once."""
    _require(actor, partner)
    url = postback_url_clean(url)
    events = _events_clean(list(events))
    current = Postback.objects.select_for_update().filter(partner=partner).first()
    before = None if current is None else {"url": current.url, "events": list(current.events),
                                           "is_active": current.is_active}
    secret = None
    if current is None or new_secret:
        secret = secrets.token_urlsafe(32)
    if current is None:
        assert secret is not None
        current = Postback(partner=partner, secret=CIPHER.encrypt(secret))
    elif secret is not None:
        current.secret = CIPHER.encrypt(secret)
        current.secret_changed_at = timezone.now()
    current.url, current.events, current.is_active = url, events, is_active
    current.save()
    audit_record(action="ib.postback_saved", obj=partner, actor=actor, before=before,
                 after={"url": url, "events": events, "is_active": is_active, "new_secret": secret is not None})
    return Saved(current, secret)


def postback_of(partner: Partner) -> Postback | None:
    return Postback.objects.filter(partner=partner).first()


def postback_deliveries(partner: Partner) -> QuerySet[PostbackDelivery]:
    """The partner's delivery log, newest first."""
    return PostbackDelivery.objects.filter(partner=partner).order_by("-created_at", "-id")


# --- the body ---------------------------------------------------------------------------------------

def client_pseudonym(partner: Partner, client: Client | int) -> str:
    """The id a partner knows the client by: stable for this partner, unrelated across partners,
    and not reversible to the client without the CRM's SECRET_KEY."""
    client_id = client if isinstance(client, int) else client.pk
    return salted_hmac("ib.postbacks.client", f"{partner.code}:{client_id}", algorithm="sha256").hexdigest()[:32]


def _client_part(partner: Partner, client: Client, attribution: ClientAttribution | None) -> dict[str, str]:
    part = {"id": client_pseudonym(partner, client)}
    if attribution is not None and attribution.partner_id == partner.pk:
        if attribution.click is not None:
            part["click_id"] = str(attribution.click.code)
        if attribution.link is not None:
            part["link"] = attribution.link.code
            if attribution.link.campaign:
                part["campaign"] = attribution.link.campaign
    return part


def payload_for(event: Event, partner: Partner, attribution: ClientAttribution | None) -> dict[str, Any]:
    assert event.client is not None
    body: dict[str, Any] = {
        "event": EVENT_NAMES[event.name],
        "event_id": str(event.uuid),
        "occurred_at": event.occurred_at.isoformat(),
        "client": _client_part(partner, event.client, attribution),
    }
    data = event.data if isinstance(event.data, dict) else {}
    if event.name == "wallet.first_deposit":
        body["amount"], body["currency"] = str(data.get("amount", "")), str(data.get("currency", ""))
    elif event.name == "kyc.approved":
        body["level"] = str(data.get("level", ""))
    elif event.name == "ib.client_qualified":
        body["qualified_at"] = str(data.get("qualified_at", ""))
    return body


def _partner_for(event: Event) -> tuple[Partner | None, ClientAttribution | None]:
    """The partner to tell: the one the qualification names, else the client's partner when the
    event happened (else its current one: an attribution recorded just after registration)."""
    assert event.client is not None
    attributions = (ClientAttribution.objects.filter(client=event.client)
                    .select_related("partner", "click", "link").order_by("-effective_from", "-id"))
    if event.name == "ib.client_qualified":
        code = ((event.data or {}).get("partner") or {}).get("code") if isinstance(event.data, dict) else None
        partner = Partner.objects.filter(code=code).first() if code else None
        if partner is None:
            return None, None
        return partner, attributions.filter(partner=partner).first()
    at_time = attributions.filter(effective_from__lte=event.occurred_at).first()
    if at_time is not None and (at_time.effective_to is None or at_time.effective_to > event.occurred_at):
        return at_time.partner, at_time
    current = attributions.filter(effective_to__isnull=True).first()
    return (current.partner, current) if current is not None else (None, None)


def deliveries_for_event(event: Event) -> PostbackDelivery | None:
    """ib.handlers' entry: the delivery this event makes for the client's partner, if the partner
    has an active postback that wants it (written once per partner and event; sent after commit)."""
    if event.client is None or event.name not in EVENT_NAMES:
        return None
    partner, attribution = _partner_for(event)
    if partner is None:
        return None
    postback = Postback.objects.filter(partner=partner, is_active=True).first()
    if postback is None or EVENT_NAMES[event.name] not in postback.events:
        return None
    delivery, created = PostbackDelivery.objects.get_or_create(
        partner=partner, event_uuid=event.uuid,
        defaults={"event_name": EVENT_NAMES[event.name], "payload": payload_for(event, partner, attribution),
                  "next_attempt_at": timezone.now()})
    if created:
        send_after_commit(delivery.pk)
    return delivery


def send_after_commit(delivery_id: int) -> None:
    transaction.on_commit(lambda: _queue(delivery_id), robust=True)


def _queue(delivery_id: int) -> None:
    try:
        task_named("ib.tasks.postback_send").delay(delivery_id)
    except BrokerError:
        logger.warning("could not queue a postback; beat will send it", extra={"delivery": delivery_id})


# --- sending (the errors kept in the log are technical text, not translated) ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Outcome:
    status: int | None  # the HTTP status, None when there was no answer
    error: str  # "" on success
    retry: bool  # whether trying again may help


def body_bytes(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


def signed_headers(*, secret: str, body: bytes, event_id: str, timestamp: int | None = None) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        HEADER: header_value([secret], body, timestamp=timestamp),
        "Idempotency-Key": event_id,
    }


def http_post(url: str, *, body: bytes, headers: dict[str, str], timeout: float) -> Outcome:
    """One POST within `timeout` seconds in all, through plumbing.egress (the address checked at send
    time and the connection pinned to it); no redirects followed. The partner reads the log: a
    failure says "refused by policy", "unreachable" or "timed out", never the network's own error."""
    answer = egress.post(url, body=body, headers=headers, seconds=timeout, allow_loopback=_allow_loopback(),
                         read_limit=4096)
    if answer.status is None:
        # An address refused by policy is not tried again by itself; an IB manager can, once fixed.
        return Outcome(None, answer.error, answer.error != egress.REFUSED)
    status = answer.status
    if 200 <= status < 300:
        return Outcome(status, "", False)
    retry = status >= 500 or status in RETRY_STATUSES
    return Outcome(status, f"HTTP {status} from the partner's server.", retry)


def _claim(delivery_id: int, now: dt.datetime) -> tuple[PostbackDelivery, Postback] | None:
    """Take a due pending delivery for one attempt (committed before the call)."""
    with transaction.atomic():
        delivery = (PostbackDelivery.objects.select_for_update(skip_locked=True)
                    .filter(pk=delivery_id, status=PostbackStatus.PENDING, next_attempt_at__lte=now).first())
        if delivery is None:
            return None
        postback = Postback.objects.filter(partner_id=delivery.partner_id).first()
        delivery.attempts += 1
        # The claim: nobody else sends it until the call has had its time (a dead worker's too).
        delivery.next_attempt_at = now + dt.timedelta(seconds=_timeout() * 2 + 30)
        delivery.save(update_fields=["attempts", "next_attempt_at", "updated_at"])
    if postback is None or not postback.is_active:
        # Paused or removed meanwhile: not sent, and not retried by itself (an IB manager can).
        _record(delivery, Outcome(None, "The postback is paused or removed.", False))
        return None
    return delivery, postback


def _record(delivery: PostbackDelivery, outcome: Outcome) -> None:
    """The attempt's outcome on the (claimed, pending) delivery: delivered, pending again with its next
    time, or failed or dead (POSTBACK_STATES)."""
    now = timezone.now()
    fields: dict[str, Any] = {"last_status": outcome.status, "last_error": outcome.error[:500]}
    if not outcome.error:
        status, fields["delivered_at"], fields["next_attempt_at"] = PostbackStatus.SUCCEEDED, now, None
    elif outcome.retry and delivery.attempts < _max_attempts():
        status, fields["next_attempt_at"] = PostbackStatus.PENDING, now + backoff(delivery.attempts)
    else:
        status = PostbackStatus.DEAD if outcome.retry else PostbackStatus.FAILED
        fields["next_attempt_at"] = None
    if status == delivery.status:  # pending, to be tried again later: not a move
        for key, value in fields.items():
            setattr(delivery, key, value)
        delivery.save(update_fields=[*fields, "updated_at"])
    else:
        POSTBACK_STATES.move(delivery, status, also=fields, save=("updated_at",))


def delivery_send(*, delivery_id: int, now: dt.datetime | None = None) -> PostbackDelivery | None:
    """One attempt of a pending delivery whose time has come (the task and the sweep call this).
    Returns the delivery with its outcome, or None when it was not due (or someone else has it).
    Must not run inside a transaction: the claim commits before the call goes out."""
    claimed = _claim(delivery_id, now or timezone.now())
    if claimed is None:
        return None
    delivery, postback = claimed
    body = body_bytes(delivery.payload)
    try:
        secret = CIPHER.decrypt(postback.secret)
    except ValueError:
        _record(delivery, Outcome(None, "The signing secret cannot be read: make a new one.", False))
        return delivery
    headers = signed_headers(secret=secret, body=body, event_id=str(delivery.event_uuid))
    _record(delivery, http_post(postback.url, body=body, headers=headers, timeout=_timeout()))
    return delivery


def deliveries_due(*, now: dt.datetime | None = None, limit: int = 500) -> list[int]:
    """The pending deliveries whose time has come (first tries whose kick was lost, and retries
    whose pause is over), oldest first. Beat's sweep queues one task per delivery, so that a slow
    partner's server holds up no other partner's postbacks."""
    now = now or timezone.now()
    return list(PostbackDelivery.objects.filter(status=PostbackStatus.PENDING, next_attempt_at__lte=now)
                .order_by("next_attempt_at", "id").values_list("pk", flat=True)[:limit])


@transaction.atomic
def delivery_retry(*, actor: User | None, delivery: PostbackDelivery, reason: str = "") -> PostbackDelivery:
    """An IB manager sends a failed or dead delivery again, now (audited). Its count of attempts
    goes on: a retryable failure of a dead delivery leaves it dead again."""
    delivery = PostbackDelivery.objects.select_for_update(of=("self",)).select_related("partner").get(pk=delivery.pk)
    _require(actor, delivery.partner)
    before = {"status": delivery.status, "attempts": delivery.attempts}
    # Only a failed or dead delivery is sent again (PostbackTransitionRefused otherwise, naming both states).
    POSTBACK_STATES.move(delivery, PostbackStatus.PENDING, via="retry", also={"next_attempt_at": timezone.now()},
                         save=("updated_at",))
    audit_record(action="ib.postback_retried", obj=delivery.partner, actor=actor, before=before,
                 after={"delivery": str(delivery.code), "event": delivery.event_name, "status": delivery.status},
                 reason=reason)
    send_after_commit(delivery.pk)
    return delivery
