"""Outbound webhooks: API clients subscribe to domain events and receive them, signed, at their URL.

Subscribing. A subscriber (`WebhookSubscriber`) belongs to an API key (the API client) and so to
its brand; it names event types from the catalogue (crm.events.catalogue), an https URL (plain
http only to the loopback address where CRM_WEBHOOK_ALLOW_HTTP_LOOPBACK allows it: DEBUG and
tests) and its scopes. Payload fields the catalogue marks PERSONAL (a client's name, an email, a
note's text) are sent only with the `personal_data` scope, which needs a key with `clients:read`;
without it they are left out and listed in `redacted`.

Delivering. One more subscriber of the event stream: `deliveries_for_events` (integrations.handlers, a
batch handler given each dispatch batch) writes one `WebhookDelivery` per (subscriber, event),
its body built once, in one INSERT per batch, and kicks a worker after commit. `send_due`
(Celery, integrations.tasks.webhooks_send_due) claims the due head of each queue (subscriber, client):
a later event for a client waits while an earlier one is pending, being sent or
failed-and-retrying; it goes once that one is delivered or dead. The claimed deliveries are POSTed
concurrently (CRM_WEBHOOK_SEND_THREADS, keep-alive connections; a failing subscriber one at a time
in a slow lane of its own threads) through plumbing.egress: the host resolved and every address
checked public at send time, the connection pinned to the checked address, and
CRM_WEBHOOK_TIMEOUT_SECONDS for the whole POST, connect to last byte. Outcomes are recorded as they
come, several in one statement:

    POST <url>
    Content-Type: application/json
    X-CRM-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex of the previous secret, during a key change>]
    X-CRM-Delivery: <delivery id>      (also the body's delivery_id; the same on retries and replays)
    X-CRM-Event: <event name>

(plumbing.signatures has the signing and the receiver's `verify`.) A 2xx answer is
delivered. Anything else (4xx, 5xx, 3xx, "timed out", "unreachable", "refused by policy": never
the network's own error, which would make the log a port scanner) is recorded with its code and an
excerpt of the answer, and retried after an exponential pause with jitter
(CRM_WEBHOOK_BACKOFF_SECONDS doubling, at most CRM_WEBHOOK_BACKOFF_MAX_SECONDS, times a random
factor in [0.5, 1]) until CRM_WEBHOOK_MAX_ATTEMPTS, then dead. A subscriber whose deliveries have
failed without a success for CRM_WEBHOOK_PAUSE_AFTER_HOURS is paused (nothing more is sent; new
events still queue) and the member of staff who set it up is told by notification and email.

Replaying. Staff (or the API client) replay a delivery from the log: the same delivery id is sent
again as a new attempt, through the same queue. A replay that fails is not retried (dead again).

At least once: a worker that dies after a POST but before recording it leaves the claim to run out
(timeout + a margin) and the delivery is sent again; receivers dedupe by the delivery id.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import os
import random
import secrets as secrets_mod
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ALL_COMPLETED, FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import orjson
from django.conf import settings
from django.core.mail import EmailMessage
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import RedisError

from crm.audit import audit_record
from crm.events import catalogue
from crm.exceptions import Conflict, NotAllowed, NotFound, ValidationFailed
from crm.lib.crypto import FieldCipher
from crm.lib.enqueue import task_named
from crm.lib.validation import InvalidValue, text_clean
from crm.models import ApiKey, Client, Event, User
from crm.permissions import user_can

# API keys, the API clients that subscribe, are this app's too (integrations.apikeys).
from integrations import event_access, permissions
from integrations.apikeys import apikey_authenticate as apikey_authenticate
from integrations.apikeys import apikey_create as apikey_create
from integrations.apikeys import apikey_revoke as apikey_revoke
from integrations.models import (
    REPLAY_ROUTE,
    WEBHOOK_DELIVERY_STATES,
    SubscriberStatus,
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookSubscriber,
)
from plumbing import egress
from plumbing.signatures import DELIVERY_HEADER, EVENT_HEADER, HEADER, header_value

logger = logging.getLogger(__name__)


def _require(actor: User | None, perm: str) -> None:
    if actor is not None and not user_can(actor, perm):
        raise NotAllowed()

CIPHER = FieldCipher(salt=b"brokerage-crm/crm.services.outbound", info=b"outbound webhook signing secrets v1",
                     what="webhook secrets")
PERSONAL_SCOPE = "personal_data"
SUBSCRIBER_SCOPES: dict[str, str] = {
    PERSONAL_SCOPE: gettext_noop("Personal data in payloads (clients' names, emails, notes); needs clients:read."),
}
USER_AGENT = "brokerage-crm-webhooks/1"
EXCERPT = 500
MANAGE_PERM = permissions.WEBHOOKS_MANAGE  # who may manage subscribers: integrations.permissions
SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix of generated secrets, not one


def _setting(name: str, default: float) -> float:
    return float(getattr(settings, name, default))


def timeout_seconds() -> float:
    return _setting("CRM_WEBHOOK_TIMEOUT_SECONDS", 5)


def max_attempts() -> int:
    return int(_setting("CRM_WEBHOOK_MAX_ATTEMPTS", 12))


def pause_after() -> dt.timedelta:
    return dt.timedelta(hours=_setting("CRM_WEBHOOK_PAUSE_AFTER_HOURS", 24))


def backoff(attempts: int, *, rand: random.Random | None = None) -> dt.timedelta:
    """The pause after the `attempts`-th failure: base * 2^(attempts-1), capped, times a factor in
    [0.5, 1] so that receivers coming back up are not hit by every sender at once."""
    base = _setting("CRM_WEBHOOK_BACKOFF_SECONDS", 10)
    cap = _setting("CRM_WEBHOOK_BACKOFF_MAX_SECONDS", 3600)
    full = min(base * 2 ** max(attempts - 1, 0), cap)
    return dt.timedelta(seconds=full * (rand or random).uniform(0.5, 1.0))  # noqa: S311 - jitter, not a secret


# --- configuration ----------------------------------------------------------------------------

def url_clean(url: str) -> str:
    """An https URL with a host as the sender reads it (plumbing.egress): http only to the loopback
    address where the setting allows it; no credentials in it, no private address in any form, no
    special-use name. Where the name leads is checked again at every delivery."""
    url = (url or "").strip() if isinstance(url, str) else ""
    try:
        egress.target_parse(url, allow_loopback=_allow_loopback())
    except egress.Refused as refused:
        raise ValidationFailed(fields={"url": [_URL_PROBLEMS.get(refused.problem, _URL_PROBLEMS["host"])()]}) from None
    return url


_URL_PROBLEMS: dict[str, Callable[[], str]] = {
    "length": lambda: gettext("Keep the address within 500 characters."),
    "host": lambda: gettext("Enter a full https:// address."),
    "scheme": lambda: gettext("Enter a full https:// address."),
    "port": lambda: gettext("Enter a valid port number."),
    "credentials": lambda: gettext("Leave user names and passwords out of the address; the signature proves the sender."),
    "http": lambda: gettext("Webhooks are sent over https only."),
    "numeric_form": lambda: gettext("Write the server's name, or its address as four numbers (203.0.113.7)."),
    "private": lambda: gettext("Webhooks go to a public server, not to a private address."),
    "special_name": lambda: gettext("Webhooks go to a public server, not to a private address."),
}


def _allow_loopback() -> bool:
    return bool(getattr(settings, "CRM_WEBHOOK_ALLOW_HTTP_LOOPBACK", False))


def event_types_clean(names: Iterable[str], api_key: ApiKey | None = None) -> list[str]:
    """Declared event names, each once, sorted; refuses an empty list, names no app declares and
    (given the key) events of a family guarded by a scope the key lacks (integrations.event_access)."""
    chosen = [names] if isinstance(names, str) else list(names or [])
    unknown = [str(n) for n in chosen if not isinstance(n, str) or catalogue.event_type(n) is None]
    if unknown:
        raise ValidationFailed(fields={"event_types": [
            gettext("Not in the event catalogue: %(names)s.") % {"names": ", ".join(unknown[:10])}]})
    refused = event_access.refused_for_key(chosen, held=api_key.scopes) if api_key is not None else {}
    if refused:
        raise ValidationFailed(fields={"event_types": [
            gettext("The API key needs the %(scopes)s scope for %(names)s.") % {
                "scopes": ", ".join(sorted(set(refused.values()))), "names": ", ".join(sorted(refused)[:10])}]})
    if not chosen:
        raise ValidationFailed(fields={"event_types": [gettext("Choose at least one event type.")]})
    return sorted(set(chosen))


def scopes_clean(scopes: Iterable[str], api_key: ApiKey) -> list[str]:
    chosen = [scopes] if isinstance(scopes, str) else list(scopes or [])
    unknown = [str(s) for s in chosen if s not in SUBSCRIBER_SCOPES]
    if unknown:
        raise ValidationFailed(fields={"scopes": [gettext("Unknown scopes: %(s)s.") % {"s": ", ".join(unknown)}]})
    if PERSONAL_SCOPE in chosen and "clients:read" not in api_key.scopes:
        raise ValidationFailed(fields={"scopes": [gettext(
            "Personal data needs an API key with the clients:read scope.")]})
    return sorted(set(chosen))


def _name_clean(name: str) -> str:
    try:
        return text_clean(name if isinstance(name, str) else "", field="name", max_length=120, required=True)
    except InvalidValue as exc:
        raise ValidationFailed(fields={"name": [exc.message]}) from None


def _new_secret() -> str:
    return SECRET_PREFIX + secrets_mod.token_urlsafe(32)


def _authorise(actor: User | None, api_key: ApiKey | None, subscriber_key_id: int) -> None:
    """Staff need the API-key administration permission; an API client may act on its own
    subscribers only (integrations.permissions)."""
    if permissions.subscriber_manage_refused(actor, api_key, subscriber_key_id):
        raise NotAllowed()


@dataclass(frozen=True)
class Saved:
    subscriber: WebhookSubscriber
    secret: str | None  # a new signing secret, shown this once


@transaction.atomic
def subscriber_create(*, actor: User | None, api_key: ApiKey, name: str, url: str, event_types: Iterable[str],
                      scopes: Iterable[str] = (), caller_key: ApiKey | None = None) -> Saved:
    """A subscriber of `api_key` (staff `actor`, or the key itself as `caller_key`). Every bad
    input is reported at once, by field. Returns the signing secret in clear, this once."""
    _authorise(actor, caller_key, api_key.pk)
    if api_key.revoked_at is not None:
        raise ValidationFailed(fields={"api_key": [gettext("This API key has been revoked.")]})
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    for field, fn in (("name", lambda: _name_clean(name)), ("url", lambda: url_clean(url)),
                      ("event_types", lambda: event_types_clean(event_types, api_key)),
                      ("scopes", lambda: scopes_clean(scopes, api_key))):
        try:
            cleaned[field] = fn()
        except ValidationFailed as exc:
            errors.update(exc.fields)
    if errors:
        raise ValidationFailed(fields=errors)
    secret = _new_secret()
    sub = WebhookSubscriber.objects.create(
        api_key=api_key, brand_id=api_key.brand_id, secret=CIPHER.encrypt(secret),
        created_by=actor or api_key.created_by, **cleaned)
    _subscribers_changed()
    audit_record(action="webhook_subscriber.create", obj=sub, actor=actor, after={
        "name": sub.name, "url": sub.url, "event_types": sub.event_types, "scopes": sub.scopes,
        "api_key": api_key.prefix})
    return Saved(sub, secret)


_UNSET: Any = object()


@transaction.atomic
def subscriber_update(*, actor: User | None, subscriber: WebhookSubscriber, name: str = _UNSET, url: str = _UNSET,
                      event_types: Iterable[str] = _UNSET, scopes: Iterable[str] = _UNSET,
                      caller_key: ApiKey | None = None) -> WebhookSubscriber:
    """Change what was given; the rest stays."""
    _authorise(actor, caller_key, subscriber.api_key_id)
    sub = WebhookSubscriber.objects.select_for_update().select_related("api_key").get(pk=subscriber.pk)
    before = {"name": sub.name, "url": sub.url, "event_types": sub.event_types, "scopes": sub.scopes}
    errors: dict[str, list[str]] = {}
    changes: dict[str, Any] = {}
    cleaners: tuple[tuple[str, Any, Callable[[Any], Any]], ...] = (
        ("name", name, _name_clean), ("url", url, url_clean),
        ("event_types", event_types, lambda v: event_types_clean(v, sub.api_key)),
        ("scopes", scopes, lambda v: scopes_clean(v, sub.api_key)))
    for field, value, fn in cleaners:
        if value is _UNSET:
            continue
        try:
            changes[field] = fn(value)
        except ValidationFailed as exc:
            errors.update(exc.fields)
    if errors:
        raise ValidationFailed(fields=errors)
    for field, value in changes.items():
        setattr(sub, field, value)
    sub.save()
    _subscribers_changed()
    audit_record(action="webhook_subscriber.update", obj=sub, actor=actor, before=before,
                 after={k: getattr(sub, k) for k in before})
    return sub


@transaction.atomic
def subscriber_rotate_secret(*, actor: User | None, subscriber: WebhookSubscriber,
                             caller_key: ApiKey | None = None) -> str:
    """Start a key change: a new secret signs every delivery beside the current one, which stays
    valid until retired (subscriber_retire_secret). Returns the new secret, shown this once. A
    change already under way is refused: retire the old secret first."""
    _authorise(actor, caller_key, subscriber.api_key_id)
    sub = WebhookSubscriber.objects.select_for_update().get(pk=subscriber.pk)
    if sub.previous_secret:
        raise ValidationFailed(fields={"secret": [gettext(
            "A key change is already under way; retire the old secret first.")]})
    secret = _new_secret()
    sub.previous_secret, sub.secret = sub.secret, CIPHER.encrypt(secret)
    sub.secret_rotated_at = timezone.now()
    sub.save(update_fields=["previous_secret", "secret", "secret_rotated_at"])
    audit_record(action="webhook_subscriber.rotate_secret", obj=sub, actor=actor, after={"rotated": True})
    subscriber.previous_secret, subscriber.secret = sub.previous_secret, sub.secret
    return secret


@transaction.atomic
def subscriber_retire_secret(*, actor: User | None, subscriber: WebhookSubscriber,
                             caller_key: ApiKey | None = None) -> bool:
    """End a key change: only the new secret signs from now on. False if none was under way."""
    _authorise(actor, caller_key, subscriber.api_key_id)
    sub = WebhookSubscriber.objects.select_for_update().get(pk=subscriber.pk)
    if not sub.previous_secret:
        return False
    sub.previous_secret = ""
    sub.save(update_fields=["previous_secret"])
    subscriber.previous_secret = ""
    audit_record(action="webhook_subscriber.retire_secret", obj=sub, actor=actor, after={"retired": True})
    return True


@transaction.atomic
def subscriber_resume(*, actor: User | None, subscriber: WebhookSubscriber,
                      caller_key: ApiKey | None = None) -> WebhookSubscriber:
    """Send again to a paused subscriber: what queued meanwhile goes at once, in order."""
    _authorise(actor, caller_key, subscriber.api_key_id)
    sub = WebhookSubscriber.objects.select_for_update().get(pk=subscriber.pk)
    if sub.status == SubscriberStatus.PAUSED:
        sub.status, sub.paused_at, sub.pause_reason, sub.failing_since = SubscriberStatus.ACTIVE, None, "", None
        sub.save(update_fields=["status", "paused_at", "pause_reason", "failing_since"])
        # What waited for a retry goes now: the receiver has been fixed.
        WebhookDelivery.objects.filter(subscriber=sub, status__in=[WebhookDeliveryStatus.PENDING,
                                                                   WebhookDeliveryStatus.FAILED]).update(
            next_attempt_at=timezone.now())
        audit_record(action="webhook_subscriber.resume", obj=sub, actor=actor, after={"status": sub.status})
        _kick_after_commit()
    return sub


@transaction.atomic
def subscriber_pause(*, actor: User | None, subscriber: WebhookSubscriber, reason: str = "",
                     caller_key: ApiKey | None = None) -> WebhookSubscriber:
    """Stop sending to a subscriber; its events keep queuing until it is resumed."""
    _authorise(actor, caller_key, subscriber.api_key_id)
    sub = WebhookSubscriber.objects.select_for_update().get(pk=subscriber.pk)
    if sub.status == SubscriberStatus.ACTIVE:
        sub.status, sub.paused_at = SubscriberStatus.PAUSED, timezone.now()
        sub.pause_reason = (reason or gettext("Paused by hand."))[:300]
        sub.save(update_fields=["status", "paused_at", "pause_reason"])
        audit_record(action="webhook_subscriber.pause", obj=sub, actor=actor, after={"status": sub.status})
    return sub


def subscriber_secrets(subscriber: WebhookSubscriber) -> list[str]:
    """The secrets that sign its deliveries, the current one first."""
    return [CIPHER.decrypt(s) for s in (subscriber.secret, subscriber.previous_secret) if s]


# --- the payload and the queue ----------------------------------------------------------------

def payload_build(event: Event, subscriber: WebhookSubscriber, delivery_id: str) -> str:
    """The body, as JSON text: the event from the catalogue's point of view (its declared
    version), personal fields only with the personal-data scope."""
    declared = catalogue.event_type(event.name)
    data, redacted = event_access.data_redacted(event.name, event.data, personal=PERSONAL_SCOPE in subscriber.scopes)
    body = {
        "delivery_id": delivery_id,
        "event": {
            "id": str(event.uuid),
            "name": event.name,
            "version": declared.version if declared is not None else 1,
            "occurred_at": event.occurred_at.isoformat(),
            "brand": str(subscriber.brand.code),
            "client": str(event.client.code) if event.client_id is not None and event.client is not None else None,
            "data": data,
            "redacted": redacted,
        },
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


# A batch's deliveries in one INSERT of plain values rather than model instances (the ORM's
# bulk_create cost more in Python than the INSERT in PostgreSQL), as one JSON parameter (orjson
# writes it in C; arrays were quoted element by element in Python); the rest of each row is what
# a new delivery starts with.
_QUEUE_SQL = """
INSERT INTO integrations_webhookdelivery (delivery_id, subscriber_id, event_id, event_name, order_key, body, status, attempts,
                                 next_attempt_at, claimed_until, replay_requested, last_status_code, last_error,
                                 last_response, created_at, delivered_at, updated_at)
SELECT v.delivery_id, v.subscriber_id, v.event_id, v.event_name, v.order_key, v.body, %(status)s, 0,
       %(now)s, NULL, false, NULL, '', '', %(now)s, NULL, %(now)s
FROM json_to_recordset(%(rows)s::json)
  AS v(delivery_id uuid, subscriber_id bigint, event_id bigint, event_name text, order_key bigint, body text)
ON CONFLICT DO NOTHING
"""


def deliveries_for_events(events: Sequence[Event]) -> int:
    """Queue each event for every subscriber of its brand that chose its type (paused ones too:
    they get it when resumed), in one INSERT. Idempotent per (subscriber, event). Returns how many
    were queued. The brands' subscribers are looked up once for the lot."""
    version = _subscribers_version()
    by_brand: dict[int, list[WebhookSubscriber]] = {}
    now = timezone.now()
    rows: list[dict[str, Any]] = []
    for event in events:
        if event.brand_id is None:
            continue
        if event.brand_id not in by_brand:
            by_brand[event.brand_id] = _brand_subscribers(event.brand_id, version=version)
        for sub in by_brand[event.brand_id]:
            # A guarded family (compliance's events) only while the key holds its scope (integrations.event_access).
            if event.name not in sub.event_types or not event_access.event_allowed(event.name, held=sub.api_key.scopes):
                continue
            delivery_id = str(uuid.uuid4())
            rows.append({"delivery_id": delivery_id, "subscriber_id": sub.pk, "event_id": event.pk,
                         "event_name": event.name, "order_key": event.client_id or 0,
                         "body": payload_build(event, sub, delivery_id)})
    if not rows:
        return 0
    with connection.cursor() as cur:
        cur.execute(_QUEUE_SQL, {"status": str(WebhookDeliveryStatus.PENDING), "now": now,
                                 "rows": orjson.dumps(rows).decode()})
    _kick_after_commit()
    return len(rows)


def deliveries_for_event(event: Event) -> int:
    """`deliveries_for_events` for one event."""
    return deliveries_for_events([event])


# The handler runs on every event: a brand's subscribers are read once per process and kept
# until any subscriber is created or changed (the services bump a version in Redis, in the
# transaction and again after commit), instead of one query per event. Without Redis the cache is
# not used. Paused subscribers stay in it: they get their events when resumed.
SUBSCRIBERS_VERSION_KEY = "crm:webhooks:subscribers:version"
_subscribers_cache: dict[int, tuple[str, list[WebhookSubscriber]]] = {}


def _subscribers_version() -> str | None:
    from crm.lib.redis import get_redis

    try:
        redis = get_redis()
        value = redis.get(SUBSCRIBERS_VERSION_KEY)
        if value is None:
            # A flushed Redis must not bring back an old version: start from a fresh random one.
            redis.set(SUBSCRIBERS_VERSION_KEY, secrets_mod.token_hex(8), nx=True)
            value = redis.get(SUBSCRIBERS_VERSION_KEY)
    except RedisError:
        return None
    return value.decode() if isinstance(value, bytes) else (str(value) if value is not None else None)


def _subscribers_changed() -> None:
    """Invalidate every process's cache of subscribers, now and again once the change commits."""
    from crm.lib.redis import get_redis

    def bump() -> None:
        try:
            get_redis().set(SUBSCRIBERS_VERSION_KEY, secrets_mod.token_hex(8))
        except RedisError:
            logger.warning("could not invalidate the webhook subscribers cache", exc_info=True)

    bump()
    transaction.on_commit(bump, robust=True)


def _brand_subscribers(brand_id: int, *, version: str | None = _UNSET) -> list[WebhookSubscriber]:
    if version is _UNSET:
        version = _subscribers_version()
    cached = _subscribers_cache.get(brand_id)
    if version is not None and cached is not None and cached[0] == version:
        return cached[1]
    subs = list(WebhookSubscriber.objects.filter(brand_id=brand_id).select_related("brand", "api_key").order_by("id"))
    if version is not None:
        _subscribers_cache[brand_id] = (version, subs)
    return subs


KICK_KEY = "crm:webhooks:kick"
# One sender task waits in the queue at a time (as the event dispatcher's kick): the kick queues a
# task only if this flag was not set, and the sender clears it at each round, so deliveries queued
# after a round's claim queue a fresh task. The lifetime only bounds a lost task message.
KICK_PENDING_MS = 10_000


def kick(*, countdown: float = 0.05) -> bool:
    """Queue a sender task unless one is already waiting. Returns whether one was queued."""
    from crm.lib.redis import queue_once

    try:
        return queue_once(KICK_KEY, task_named("integrations.tasks.webhooks_send_due"), countdown=countdown, pending_ms=KICK_PENDING_MS)
    except (RedisError, BrokerError):
        logger.warning("could not kick the webhook sender; beat will send", exc_info=True)
        return False


def _kick() -> None:
    kick()


def _kick_after_commit() -> None:
    conn = transaction.get_connection()
    if conn.in_atomic_block and any(entry[1] is _kick for entry in conn.run_on_commit):
        return
    transaction.on_commit(_kick, robust=True)


# --- sending ----------------------------------------------------------------------------------

# The due heads of the queues: an open delivery with no earlier open one of its (subscriber,
# client). The NOT EXISTS is one probe of webhookdelivery_open_idx per candidate, whatever the
# statistics say. (A DISTINCT ON of every open row joined back planned, on a table just filled
# by a burst and not yet analysed, as a nested loop re-sorting the backlog per row: minutes for a
# 20,000-row backlog, during which nothing was sent.) One statement claims them: the heads are
# marked as being sent and what a POST needs comes back as plain rows, no model instances (the
# replay flag as it was before the claim cleared it).
#
# Two lanes. Subscribers that answer (no failure since their last delivery) give up to `limit`
# heads. A failing subscriber (failing_since set: it timed out, refused or answered errors) gives
# one head at a time, and only while none of its deliveries is being sent anywhere, up to
# `slow_limit` of them in all: a receiver that hangs holds one sending thread of the slow lane
# (its own thread pool), never the threads of the brands whose receivers answer.
_CLAIM_SQL = """
WITH fast AS (
  SELECT d.id, d.replay_requested, false AS failing FROM integrations_webhookdelivery d
  JOIN integrations_webhooksubscriber s ON s.id = d.subscriber_id AND s.status = 'active' AND s.failing_since IS NULL
  WHERE d.status = ANY(%(claimable)s) AND d.next_attempt_at <= %(now)s
    AND NOT EXISTS (
      SELECT 1 FROM integrations_webhookdelivery e
      WHERE e.subscriber_id = d.subscriber_id AND e.order_key = d.order_key AND e.id < d.id
        AND e.status IN ('pending', 'sending', 'failed'))
  ORDER BY d.id
  LIMIT %(limit)s
  FOR UPDATE OF d SKIP LOCKED),
slow AS (
  SELECT h.id, h.replay_requested, true AS failing FROM integrations_webhooksubscriber s
  CROSS JOIN LATERAL (
    SELECT d.id, d.replay_requested FROM integrations_webhookdelivery d
    WHERE d.subscriber_id = s.id AND d.status = ANY(%(claimable)s) AND d.next_attempt_at <= %(now)s
      AND NOT EXISTS (
        SELECT 1 FROM integrations_webhookdelivery e
        WHERE e.subscriber_id = d.subscriber_id AND e.order_key = d.order_key AND e.id < d.id
          AND e.status IN ('pending', 'sending', 'failed'))
    ORDER BY d.id
    LIMIT 1
    FOR UPDATE OF d SKIP LOCKED) h
  WHERE s.status = 'active' AND s.failing_since IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM integrations_webhookdelivery f WHERE f.subscriber_id = s.id AND f.status = 'sending')
  ORDER BY h.id
  LIMIT %(slow_limit)s),
c AS (SELECT * FROM fast UNION ALL SELECT * FROM slow)
UPDATE integrations_webhookdelivery d
SET status = 'sending', claimed_until = %(until)s, replay_requested = false
FROM c, integrations_webhooksubscriber s
WHERE d.id = c.id AND s.id = d.subscriber_id AND d.status = ANY(%(claimable)s)
RETURNING d.id, d.subscriber_id, d.delivery_id, s.url, d.body, d.event_name, s.secret, s.previous_secret,
          d.attempts, c.replay_requested, c.failing
"""
# Claims that ran out (a worker died mid-send): the delivery goes back to the queue as failed.
_EXPIRED_SQL = """
UPDATE integrations_webhookdelivery SET status = 'failed', claimed_until = NULL, next_attempt_at = %(now)s,
       last_error = 'the sending worker stopped; sent again'
WHERE status = ANY(%(expirable)s) AND claimed_until < %(now)s
"""
# Claims given back unsent (their subscriber turned out slow in this run, or their claim would run
# out before the POST's deadline): back to the queue as they were, no attempt counted.
_RELEASE_SQL = """
UPDATE integrations_webhookdelivery SET status = CASE WHEN attempts = 0 THEN 'pending' ELSE 'failed' END,
       claimed_until = NULL, replay_requested = (id = ANY(%(replays)s))
WHERE id = ANY(%(ids)s) AND status = ANY(%(releasable)s)
"""


# Each statement moves only the deliveries its new status may come from (WEBHOOK_DELIVERY_STATES):
# its WHERE is those sources, so that nothing moves a delivery the table does not allow.
_CLAIMABLE = WEBHOOK_DELIVERY_STATES.sources(WebhookDeliveryStatus.SENDING)
_EXPIRABLE = WEBHOOK_DELIVERY_STATES.sources(WebhookDeliveryStatus.FAILED)
_RELEASABLE = sorted(set(WEBHOOK_DELIVERY_STATES.sources(WebhookDeliveryStatus.PENDING))
                     & set(WEBHOOK_DELIVERY_STATES.sources(WebhookDeliveryStatus.FAILED)))
_RECORDABLE = sorted(set.intersection(*(set(WEBHOOK_DELIVERY_STATES.sources(outcome)) for outcome in (
    WebhookDeliveryStatus.DELIVERED, WebhookDeliveryStatus.FAILED, WebhookDeliveryStatus.DEAD))))


@dataclass
class Claimed:
    id: int
    subscriber_id: int
    delivery_id: str
    url: str
    body: bytes
    event_name: str
    secrets: list[str]
    attempt: int
    replay: bool
    failing: bool = False  # the subscriber's last attempts failed: sent in the slow lane
    start_by: float = float("inf")  # time.monotonic() after which it is given back unsent


@dataclass
class Outcome:
    status_code: int | None
    error: str
    response: str
    started_at: dt.datetime
    duration_ms: int
    released: bool = False  # not sent: given back to the queue

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@functools.lru_cache(maxsize=256)
def _decrypted(secret: str, previous: str) -> tuple[str, ...]:
    """The signing secrets in clear, decrypted once per process and secret, not once per round."""
    return tuple(CIPHER.decrypt(s) for s in (secret, previous) if s)


def _claim_seconds() -> float:
    return timeout_seconds() * 2 + 30


def _claim(limit: int, now: dt.datetime, *, slow_limit: int | None = None) -> list[Claimed]:
    until = now + dt.timedelta(seconds=_claim_seconds())
    # A claim not started within this is given back: its POST could outlast the claim.
    start_by = time.monotonic() + _claim_seconds() - timeout_seconds() - 10
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(_EXPIRED_SQL, {"now": now, "expirable": _EXPIRABLE})
        cur.execute(_CLAIM_SQL, {"now": now, "limit": limit, "until": until, "claimable": _CLAIMABLE,
                                 "slow_limit": _slow_threads() if slow_limit is None else slow_limit})
        rows = sorted(cur.fetchall())
    return [Claimed(pk, sub_id, str(delivery_id), url, body.encode(), event_name,
                    list(_decrypted(secret, previous or "")), attempts + 1, bool(replay), bool(failing), start_by)
            for pk, sub_id, delivery_id, url, body, event_name, secret, previous, attempts, replay, failing in rows]


_local = threading.local()


def _connections() -> egress.Pool:
    """This thread's kept-alive connections (each opened to an address checked when it was opened)."""
    pool: egress.Pool | None = getattr(_local, "pool", None)
    if pool is None:
        pool = _local.pool = egress.Pool()
    return pool


def post(claim: Claimed) -> Outcome:
    """One POST of one delivery within CRM_WEBHOOK_TIMEOUT_SECONDS in all (plumbing.egress: the
    address checked and pinned); never raises. What the log shows of a failure is the answer's
    status, or "refused by policy", "unreachable", "timed out": nothing of the network's own errors."""
    started = timezone.now()
    t0 = time.monotonic()
    headers = {
        "Content-Type": "application/json", "User-Agent": USER_AGENT,
        HEADER: header_value(claim.secrets, claim.body), DELIVERY_HEADER: claim.delivery_id,
        EVENT_HEADER: claim.event_name,
    }
    answer = egress.post(claim.url, body=claim.body, headers=headers, seconds=timeout_seconds(),
                         allow_loopback=_allow_loopback(), pool=_connections())
    text = answer.body[:EXCERPT].decode("utf-8", "replace").replace("\x00", "\ufffd")  # no NUL in text columns
    return Outcome(answer.status, answer.error, text, started, int((time.monotonic() - t0) * 1000))


_executors: dict[str, ThreadPoolExecutor] = {}
_executor_lock = threading.Lock()


def _slow_threads() -> int:
    return max(int(_setting("CRM_WEBHOOK_SEND_THREADS", 16)) // 4, 2)


def _pool(lane: str = "fast") -> ThreadPoolExecutor:
    with _executor_lock:
        executor = _executors.get(lane)
        if executor is None:
            threads = int(_setting("CRM_WEBHOOK_SEND_THREADS", 16)) if lane == "fast" else _slow_threads()
            executor = _executors[lane] = ThreadPoolExecutor(max_workers=threads,
                                                             thread_name_prefix=f"webhook-send-{lane}")
        return executor


def _after_fork() -> None:
    # A forked worker process has none of its parent's threads: its pools start afresh.
    _executors.clear()


os.register_at_fork(after_in_child=_after_fork)


# A round's outcomes in one statement: each delivery still being sent by this round is updated
# and its attempt logged (a claim that ran out and was taken over meanwhile is no longer this
# round's to record); returns the recorded ids. The outcomes come as one JSON parameter (orjson
# writes it in C; arrays were quoted element by element in Python).
_RECORD_SQL = """
WITH v AS (
  SELECT * FROM json_to_recordset(%(rows)s::json)
    AS v(id bigint, status text, attempts int, code int, response text, error text, next_at timestamptz,
         started timestamptz, duration int, attempt_error text, replay boolean)),
u AS (
  UPDATE integrations_webhookdelivery d
  SET status = v.status, attempts = v.attempts, claimed_until = NULL, last_status_code = v.code,
      last_response = v.response, last_error = v.error,
      delivered_at = CASE WHEN v.status = 'delivered' THEN %(now)s ELSE d.delivered_at END,
      next_attempt_at = coalesce(v.next_at, d.next_attempt_at), updated_at = %(now)s
  FROM v
  WHERE d.id = v.id AND d.status = ANY(%(recordable)s)
  RETURNING d.id)
INSERT INTO integrations_webhookattempt (delivery_id, number, started_at, duration_ms, status_code, error, response, replay)
SELECT v.id, v.attempts, v.started, v.duration, v.code, v.attempt_error, v.response, v.replay
FROM v JOIN u ON u.id = v.id
RETURNING delivery_id
"""


def _record(claims: Sequence[Claimed], outcomes: Sequence[Outcome]) -> None:
    """Write every outcome of one round in one transaction (one statement, set-based: a round is
    up to a thousand rows), give back the claims released unsent, and pause subscribers failing
    too long."""
    released = [c for c, o in zip(claims, outcomes, strict=True) if o.released]
    if released:
        pairs = [(c, o) for c, o in zip(claims, outcomes, strict=True) if not o.released]
        claims, outcomes = [c for c, _o in pairs], [o for _c, o in pairs]
    now = timezone.now()
    limit = max_attempts()
    rows: list[dict[str, Any]] = []
    for claim, outcome in zip(claims, outcomes, strict=True):
        if outcome.ok:
            status, error, next_at = WebhookDeliveryStatus.DELIVERED, "", None
        else:
            error = outcome.error or f"HTTP {outcome.status_code}"
            if claim.replay or claim.attempt >= limit:
                status, next_at = WebhookDeliveryStatus.DEAD, None
            else:
                status, next_at = WebhookDeliveryStatus.FAILED, now + backoff(claim.attempt)
        rows.append({"id": claim.id, "status": str(status), "attempts": claim.attempt, "code": outcome.status_code,
                     "response": outcome.response, "error": error, "next_at": next_at,
                     "started": outcome.started_at, "duration": outcome.duration_ms,
                     "attempt_error": outcome.error, "replay": claim.replay})
    with transaction.atomic():
        with connection.cursor() as cur:
            if released:
                cur.execute(_RELEASE_SQL, {"ids": [c.id for c in released], "releasable": _RELEASABLE,
                                           "replays": [c.id for c in released if c.replay]})
            if not rows:
                return
            cur.execute(_RECORD_SQL, {"now": now, "rows": orjson.dumps(rows).decode(), "recordable": _RECORDABLE})
            recorded = {row[0] for row in cur.fetchall()}
        ok_subs = {c.subscriber_id for c, o in zip(claims, outcomes, strict=True) if o.ok and c.id in recorded}
        failed_subs = {c.subscriber_id for c, o in zip(claims, outcomes, strict=True)
                       if not o.ok and c.id in recorded}
        if ok_subs:
            WebhookSubscriber.objects.filter(pk__in=ok_subs, failing_since__isnull=False).update(failing_since=None)
        failing_only = failed_subs - ok_subs
        if failing_only:
            WebhookSubscriber.objects.filter(pk__in=failing_only, failing_since__isnull=True).update(failing_since=now)
            subscribers_pause_failing(now=now, ids=failing_only)


def subscribers_pause_failing(*, now: dt.datetime | None = None, ids: Iterable[int] | None = None) -> int:
    """Pause active subscribers failing since longer than CRM_WEBHOOK_PAUSE_AFTER_HOURS and tell
    their owners (notification + email). Returns how many were paused."""
    from crm.services import notify_user

    now = now or timezone.now()
    qs = WebhookSubscriber.objects.select_for_update().filter(
        status=SubscriberStatus.ACTIVE, failing_since__lte=now - pause_after())
    if ids is not None:
        qs = qs.filter(pk__in=list(ids))
    paused = 0
    with transaction.atomic():
        for sub in qs.select_related("created_by"):
            sub.status, sub.paused_at = SubscriberStatus.PAUSED, now
            sub.pause_reason = gettext("Every delivery failed since %(since)s.") % {
                "since": sub.failing_since.isoformat(timespec="minutes") if sub.failing_since else "?"}
            sub.save(update_fields=["status", "paused_at", "pause_reason"])
            audit_record(action="webhook_subscriber.paused_failing", obj=sub, after={"reason": sub.pause_reason})
            owner = sub.created_by
            url = _subscriber_url(sub)
            notify_user(owner, kind="webhook_paused", title=gettext_noop("Webhook \"%(name)s\" was paused"),
                        params={"name": sub.name}, body=sub.pause_reason, url=url)
            if owner is not None and owner.is_active and owner.email:
                subject = gettext("Webhook \"%(name)s\" was paused") % {"name": sub.name}
                text = "\n\n".join([
                    gettext("The CRM stopped sending events to %(url)s: %(reason)s") % {
                        "url": sub.url, "reason": sub.pause_reason},
                    gettext("Events keep queuing. Fix the receiver, then resume the subscriber: %(link)s") % {
                        "link": url}])
                message = EmailMessage(subject, text, settings.DEFAULT_FROM_EMAIL, [owner.email])
                transaction.on_commit(functools.partial(_send_mail, message), robust=True)
            paused += 1
    return paused


def _send_mail(message: EmailMessage) -> None:
    try:
        message.send()
    except OSError:
        logger.warning("could not email the owner of a paused webhook", exc_info=True)


def _subscriber_url(sub: WebhookSubscriber) -> str:
    try:
        return reverse("webhook_subscriber_detail", args=[sub.code])
    except NoReverseMatch:
        return ""


def _rearm_kick() -> None:
    from crm.lib.redis import get_redis

    try:
        get_redis().delete(KICK_KEY)
    except RedisError:
        logger.warning("could not clear the webhook sender's kick flag", exc_info=True)


def send_due(*, limit: int = 500, max_rounds: int | None = None) -> int:
    """Send every due delivery that heads its queue, round after round until none is left;
    returns how many attempts were made. Safe to run in several workers at once."""
    return send_rounds(limit=limit, max_rounds=max_rounds)[0]


def send_rounds(*, limit: int = 500, max_rounds: int | None = None) -> tuple[int, bool]:
    """`send_due`, also telling whether it stopped because nothing was left to claim (True) rather
    than at `max_rounds` claims.

    A pipeline, not rounds in lock step: claimed deliveries are POSTed by the lanes' threads, and
    the outcomes are recorded as they come (in one statement per FLUSH_SECONDS, or when nothing is
    left in flight), so a receiver that takes its whole deadline holds up only its own delivery.
    After each record, and every POLL_SECONDS while POSTs are in flight, it claims again: the
    deliveries the recorded ones held back (the next of each client) and new ones. Each claim first
    clears the kick flag, so that deliveries queued meanwhile kick a fresh task too. A worker that
    finds nothing to claim because the heads are being sent elsewhere can stop, as the worker
    sending them goes on with what follows them.

    A subscriber whose POST timed out in this run gets its other claims of the run given back
    unsent (they go again through the slow lane, one at a time), as does a claim that waited for a
    thread so long that its POST could outlast the claim."""
    total = 0
    rounds = 0
    in_flight: dict[Future[Outcome], Claimed] = {}
    finished: list[tuple[Claimed, Outcome]] = []
    first_finished = 0.0
    last_claim = -POLL_SECONDS
    claim_now = True
    slow_subscribers: set[int] = set()
    while True:
        may_claim = max_rounds is None or rounds < max_rounds
        if may_claim and len(in_flight) < limit and (
                claim_now or not in_flight or time.monotonic() - last_claim >= POLL_SECONDS):
            _rearm_kick()
            slow_busy = sum(1 for c in in_flight.values() if c.failing)
            claims = _claim(limit - len(in_flight), timezone.now(), slow_limit=max(_slow_threads() - slow_busy, 0))
            last_claim, claim_now = time.monotonic(), False
            if claims:
                rounds += 1
                for claim in claims:
                    lane = _pool("slow" if claim.failing else "fast")
                    in_flight[lane.submit(_post_in_run, claim, slow_subscribers)] = claim
            elif not in_flight and not finished:
                return total, True
        if not in_flight and not finished:
            return total, False
        if finished:
            done, _ = wait(in_flight, timeout=max(first_finished + FLUSH_SECONDS - time.monotonic(), 0),
                           return_when=ALL_COMPLETED)
        else:
            done, _ = wait(in_flight, timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
        for future in done:
            claim = in_flight.pop(future)
            if not finished:
                first_finished = time.monotonic()
            finished.append((claim, _result(future, claim)))
        if finished and (not in_flight or time.monotonic() - first_finished >= FLUSH_SECONDS):
            _record([c for c, _o in finished], [o for _c, o in finished])
            total += sum(1 for _c, o in finished if not o.released)
            finished, claim_now = [], True


FLUSH_SECONDS = 0.05  # an outcome waits at most this long for others to be recorded with it
POLL_SECONDS = 0.2  # while POSTs are in flight and nothing was recorded, a claim this often


def _post_in_run(claim: Claimed, slow_subscribers: set[int]) -> Outcome:
    if claim.subscriber_id in slow_subscribers or time.monotonic() > claim.start_by:
        return Outcome(None, "", "", timezone.now(), 0, released=True)
    outcome = post(claim)
    if outcome.error == egress.TIMED_OUT:
        slow_subscribers.add(claim.subscriber_id)
    return outcome


def _result(future: Future[Outcome], claim: Claimed) -> Outcome:
    try:
        return future.result()
    except Exception:  # noqa: BLE001 - one delivery's failure is that delivery's, never the round's
        logger.exception("webhook delivery %s could not be sent", claim.delivery_id)
        return Outcome(None, egress.UNREACHABLE, "", timezone.now(), 0)


# The soonest time a queue's head is due: heads that no worker is sending (a queue whose head is
# being sent is that worker's to go on with). The same NOT EXISTS as the claim's.
_NEXT_DUE_SQL = """
SELECT min(d.next_attempt_at) FROM integrations_webhookdelivery d
JOIN integrations_webhooksubscriber s ON s.id = d.subscriber_id AND s.status = 'active'
WHERE d.status IN ('pending', 'failed')
  AND NOT EXISTS (
    SELECT 1 FROM integrations_webhookdelivery e
    WHERE e.subscriber_id = d.subscriber_id AND e.order_key = d.order_key AND e.id < d.id
      AND e.status IN ('pending', 'sending', 'failed'))
  AND (s.failing_since IS NULL
       OR NOT EXISTS (SELECT 1 FROM integrations_webhookdelivery f WHERE f.subscriber_id = s.id AND f.status = 'sending'))
"""


def next_due_in() -> float | None:
    """Seconds until the soonest queue head of an active subscriber is due (None: none is open, or
    every open queue's head is being sent). Deliveries waiting behind a head do not count: they
    are not due before it is delivered or dead, and whoever records that sends them."""
    with connection.cursor() as cur:
        cur.execute(_NEXT_DUE_SQL)
        row = cur.fetchone()
    if row is None or row[0] is None:
        return None
    due: dt.datetime = row[0]
    return max((due - timezone.now()).total_seconds(), 0.0)


# --- the log and replays ------------------------------------------------------------------------

@transaction.atomic
def delivery_replay(*, actor: User | None, delivery: WebhookDelivery, caller_key: ApiKey | None = None) -> WebhookDelivery:
    """Send `delivery` again, with the same delivery id, as a new attempt (queued: it goes when it
    heads its client's queue). A delivery being sent right now is left alone."""
    sub = delivery.subscriber
    _authorise(actor, caller_key, sub.api_key_id)
    row = WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
    if row.status == WebhookDeliveryStatus.SENDING:
        return row
    from crm.events import event_archived

    if event_archived(row.event_id):
        # No delivery of an archived event is left open (the archive refuses a month with one): the
        # month is reattached first, and the replay is then sent as any other.
        raise Conflict(gettext("This delivery's event was archived with its month (past the event retention): "
                               "it cannot be sent again unless that month is reattached."),
                       code="event_archived")
    before = {"status": row.status, "attempts": row.attempts}
    WEBHOOK_DELIVERY_STATES.move(row, WebhookDeliveryStatus.PENDING, via=REPLAY_ROUTE, save=("updated_at",),
                                 also={"next_attempt_at": timezone.now(), "replay_requested": True})
    audit_record(action="webhook_delivery.replay", obj=row, actor=actor, before=before,
                 after={"status": row.status, "delivery_id": str(row.delivery_id)})
    _kick_after_commit()
    return row


def subscribers_for(*, actor: User | None = None, api_key: ApiKey | None = None) -> QuerySet[WebhookSubscriber]:
    """The subscribers a caller may see: an API client its own; staff with the permission all of
    the brands they may see (administrators: every one)."""
    qs = WebhookSubscriber.objects.select_related("api_key", "brand", "created_by")
    if api_key is not None:
        return qs.filter(api_key=api_key)
    if actor is None:
        return qs.none()
    try:
        _require(actor, MANAGE_PERM)
    except NotAllowed:
        return qs.none()
    if actor.is_administrator or actor.all_brands:
        return qs
    return qs.filter(brand__in=actor.brands.all())


def subscriber_get(*, code: Any, actor: User | None = None, api_key: ApiKey | None = None) -> WebhookSubscriber:
    sub = subscribers_for(actor=actor, api_key=api_key).filter(code=code).first()
    if sub is None:
        raise NotFound()
    return sub


def deliveries_for(*, actor: User | None = None, api_key: ApiKey | None = None, subscriber: Any = None,
                   status: str = "", event_name: str = "", client: Any = None) -> QuerySet[WebhookDelivery]:
    """The delivery log a caller may see, newest first, filtered."""
    subs = subscribers_for(actor=actor, api_key=api_key)
    # Not joined to the event: a delivery whose event's month was archived stays in the log, marked
    # `event_archived`; what the log shows of the event was copied into the delivery (name, body).
    qs = (WebhookDelivery.objects.filter(subscriber__in=subs).select_related("subscriber")
          .annotate(event_archived=~Exists(Event.objects.filter(pk=OuterRef("event_id")))))
    if subscriber:
        qs = qs.filter(subscriber__code=subscriber)
    if status:
        qs = qs.filter(status=status)
    if event_name:
        qs = qs.filter(event_name=event_name)
    if client:
        # order_key is the event's client (its id), kept on the delivery.
        qs = qs.filter(order_key__in=Client.objects.filter(code=client).values("pk"))
    return qs.order_by("-id")


def delivery_event_uuid(delivery: WebhookDelivery) -> str | None:
    """The id of the event the delivery carries, as the receiver saw it (read from the body it was
    sent, so that a delivery whose event was archived still names it)."""
    try:
        return str(json.loads(delivery.body)["event"]["id"])
    except (ValueError, KeyError, TypeError):
        return None


def webhooks_archive_check(cur: Any, candidate: Any) -> None:
    """Before a month of the event outbox is archived (a crm.lib.partitions ArchiveHook): refused while
    deliveries of its events to subscribers are still open (pending, being sent or failing), since
    the log, a replay and the subscriber's queue would then point at an event no longer there."""
    from crm.events import archive_refusal
    from crm.lib.partitions import PartitionArchiveError, month_range
    from integrations.models import OPEN_STATUSES

    if not candidate.attached:
        return
    start, end = month_range(candidate.month)
    open_count = WebhookDelivery.objects.filter(status__in=OPEN_STATUSES, event__occurred_at__gte=start,
                                                event__occurred_at__lt=end).count()
    if open_count:
        raise PartitionArchiveError(archive_refusal(
            candidate.month, [f"{open_count} webhook deliveries pending, being sent or failing"]))


def delivery_get(*, delivery_id: Any, actor: User | None = None, api_key: ApiKey | None = None) -> WebhookDelivery:
    row = deliveries_for(actor=actor, api_key=api_key).filter(delivery_id=delivery_id).first()
    if row is None:
        raise NotFound()
    return row
