"""Consent, unsubscribe and suppression of marketing messages (email and SMS).

- A client's consent is per channel: the latest ``ConsentDecision`` (by ``at``, then id) on that
  channel; no decision is no consent. Decisions are appended, never changed (``consent_record``),
  each audited ("marketing.consent_given" / "marketing.consent_withdrawn" on the client) and
  announced ("marketing.consent_changed").
- A ``Suppression`` blocks an address of a brand on a channel whoever holds it (a hard bounce, a
  complaint, staff's decision): ``suppress``; the email provider's notifications come through
  marketing.mail_events.
- ``allowed_recipients`` is what a campaign sends to: consent given, address known and not
  suppressed. One statement over the ids given, whatever their number.
- ``unsubscribe_headers`` are the RFC 2369 / RFC 8058 headers of a marketing email: the one-click
  URL ``/m/u/<token>`` (marketing.consent_views) carries a signed token of the client, the channel
  and the campaign.

Only marketing messages ask any of this: transactional mail (the emails app's receipts, security
notices) is never checked against consent or suppression.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core import signing
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext

from crm.audit import AuditEntry, audit_record, audit_record_many
from crm.events import emit, event_row, event_rows_ready, kick_after_commit
from crm.exceptions import NotFound, ValidationFailed
from crm.lib import bulk
from crm.lib.fieldcrypt import keyed_hashes
from crm.lib.public_url import public_url
from crm.models import Brand, Client
from marketing.models import Channel, ConsentDecision, Suppression, SuppressionReason
from plumbing import context

__all__ = [
    "Channel", "TokenRefused", "UnsubscribeToken", "allowed_recipients", "consent_history", "consent_record",
    "consent_state", "suppress", "suppression_of", "unsubscribe_headers", "unsubscribe_read", "unsubscribe_token",
    "unsubscribe_url",
]

NESTLOOP_MAX_IDS = 20_000  # above this many ids, allowed_recipients plans hash joins only
TOKEN_SALT = "marketing.unsubscribe"  # noqa: S105 - a signing salt, not a secret
CONSENT_CHANGED = "marketing.consent_changed"


class TokenRefused(NotFound):
    """An unsubscribe link that is not one of ours: changed, cut short, or of a client who is gone.
    `reason` says which ("bad_signature", "malformed", "unknown_client")."""

    default_code = "unsubscribe_token_refused"

    def __init__(self, message: str = "", *, reason: str) -> None:
        super().__init__(message or gettext("This unsubscribe link is not valid."))
        self.reason = reason


def _brand_id(brand: Brand | int) -> int:
    return int(brand.pk) if isinstance(brand, Brand) else int(brand)


def _channel(value: Any) -> str:
    if value not in Channel.values:
        raise ValidationFailed(fields={"channel": [gettext("Unknown channel.")]})
    return str(value)


# -- consent -----------------------------------------------------------------------------------------


def consent_record(
    *,
    client: Client,
    channel: str,
    given: bool,
    source: str,
    actor: Any = None,
    ip: str | None = None,
    at: dt.datetime | None = None,
    campaign_code: str = "",
) -> ConsentDecision:
    """Append the client's decision about marketing on `channel` (it becomes their consent unless a
    later one exists), audit it on the client and emit "marketing.consent_changed"."""
    channel = _channel(channel)
    source = (source or "").strip()[:40]
    if not source:
        raise ValidationFailed(fields={"source": [gettext("Say where the decision was made.")]})
    at = at or timezone.now()
    with transaction.atomic():
        decision = ConsentDecision.objects.create(
            client=client, channel=channel, given=bool(given), source=source, at=at,
            actor=actor if getattr(actor, "pk", None) else None, ip=ip or None, campaign_code=campaign_code[:64],
        )
        audit_record(
            action="marketing.consent_given" if given else "marketing.consent_withdrawn",
            obj=client, actor=actor if getattr(actor, "pk", None) else None,
            after={"channel": channel, "given": bool(given), "source": source, "at": at.isoformat(),
                   "campaign": campaign_code},
        )
        emit(
            CONSENT_CHANGED, client=client, actor=actor if getattr(actor, "pk", None) else None,
            data={"client": str(client.code), "channel": channel, "given": bool(given), "source": source,
                  "at": at.isoformat()},
            occurred_at=at,
        )
    return decision


@dataclass(frozen=True)
class ConsentToRecord:
    """One decision for consent_record_many: consent_record's arguments (at None: now)."""

    client: Client
    channel: str
    given: bool
    source: str
    at: dt.datetime | None = None


def consent_record_many(*, decisions: Sequence[ConsentToRecord], actor: Any = None) -> list[int]:
    """consent_record for many decisions at once (a migration's): each checked as consent_record
    checks it, their rows and "marketing.consent_changed" events written in one statement, their
    audit rows (one per decision, on its client) in one more. Returns the decisions' ids, in order."""
    actor = actor if getattr(actor, "pk", None) else None
    now, request_id = timezone.now(), context.current().request_id
    rows: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    audit: list[AuditEntry] = []
    for d in decisions:
        channel, source, at, given = _channel(d.channel), (d.source or "").strip()[:40], d.at or now, bool(d.given)
        if not source:
            raise ValidationFailed(fields={"source": [gettext("Say where the decision was made.")]})
        rows.append({"client_id": d.client.pk, "channel": channel, "given": given, "source": source,
                     "campaign_code": "", "at": at, "actor_id": getattr(actor, "pk", None), "ip": None,
                     "recorded_at": now})
        audit.append(AuditEntry(action="marketing.consent_given" if given else "marketing.consent_withdrawn",
                                obj=d.client, actor=actor, after={"channel": channel, "given": given,
                                                                  "source": source, "at": at.isoformat(),
                                                                  "campaign": ""}))
        events.append(event_row(CONSENT_CHANGED, client_id=d.client.pk, brand_id=d.client.brand_id,
                                actor_id=getattr(actor, "pk", None), at=at, request_id=request_id,
                                data={"client": str(d.client.code), "channel": channel, "given": given,
                                      "source": source, "at": at.isoformat()}))
    if not rows:
        return []
    ids = bulk.next_ids((ConsentDecision, len(rows)))[0]
    for row, pk in zip(rows, ids, strict=True):
        row["id"] = pk
    with transaction.atomic():
        event_rows_ready(events)
        bulk.write([(ConsentDecision, rows, True), (apps.get_model("crm", "Event"), events, False)])
        kick_after_commit()
        audit_record_many(audit)
    return list(ids)


def consent_state(*, client: Client, at: dt.datetime | None = None) -> dict[str, bool]:
    """Whether the client's latest decision on each channel is "given" (False without any)."""
    qs = ConsentDecision.objects.filter(client=client)
    if at is not None:
        qs = qs.filter(at__lte=at)
    latest = qs.order_by("channel", "-at", "-id").distinct("channel").values_list("channel", "given")
    state = dict.fromkeys(Channel.values, False)
    state.update({channel: given for channel, given in latest})
    return state


def consent_history(*, client: Client, limit: int = 50) -> list[ConsentDecision]:
    """The client's decisions, latest first."""
    return list(ConsentDecision.objects.filter(client=client).select_related("actor").order_by("-at", "-id")[:limit])


# -- who may receive marketing -------------------------------------------------------------------------

# Constant SQL, one per channel (the hash column the address is matched by); values are parameters.
# The ids are joined as a relation (unnest), not filtered with = ANY(array): a filter compares each
# decision with every id (minutes for a million), a join hashes them.
# The latest decision of each client on the channel gives consent, the client has an address on the
# channel, and no suppression of the brand holds that address's hash.
_ALLOWED = {
    Channel.EMAIL.value: (
    "SELECT d.client_id FROM ("
    "  SELECT DISTINCT ON (cd.client_id) cd.client_id, cd.given"
    "  FROM (SELECT DISTINCT unnest(%(ids)s::bigint[]) AS id) w"
    "  JOIN marketing_consentdecision cd ON cd.client_id = w.id"
    "  WHERE cd.channel = %(channel)s AND cd.at <= %(at)s"
    "  ORDER BY cd.client_id, cd.at DESC, cd.id DESC"
    ") d JOIN crm_public_clients c ON c.id = d.client_id"
    " WHERE d.given AND c.brand_id = %(brand)s"
    " AND c.email_hash <> '' AND NOT EXISTS (SELECT 1 FROM marketing_suppression s"
    "   WHERE s.brand_id = %(brand)s AND s.channel = 'email' AND s.email_hash = c.email_hash AND s.at <= %(at)s)"
    ),
    Channel.SMS.value: (
    "SELECT d.client_id FROM ("
    "  SELECT DISTINCT ON (cd.client_id) cd.client_id, cd.given"
    "  FROM (SELECT DISTINCT unnest(%(ids)s::bigint[]) AS id) w"
    "  JOIN marketing_consentdecision cd ON cd.client_id = w.id"
    "  WHERE cd.channel = %(channel)s AND cd.at <= %(at)s"
    "  ORDER BY cd.client_id, cd.at DESC, cd.id DESC"
    ") d JOIN crm_public_clients c ON c.id = d.client_id"
    " WHERE d.given AND c.brand_id = %(brand)s"
    " AND c.phone_hash <> '' AND NOT EXISTS (SELECT 1 FROM marketing_suppression s"
    "   WHERE s.brand_id = %(brand)s AND s.channel = 'sms' AND s.phone_hash = c.phone_hash AND s.at <= %(at)s)"
    ),
}


def allowed_recipients(
    *, brand: Brand | int, client_ids: Iterable[int], channel: str, at: dt.datetime | None = None
) -> set[int]:
    """The ids among `client_ids` (of `brand`) that may receive marketing on `channel` at `at` (now):
    their latest decision on the channel gives consent, they have an address on it and that address
    is not suppressed for the brand. One statement, whatever the number of ids."""
    sql = _ALLOWED[_channel(channel)]
    ids = list({int(i) for i in client_ids})
    if not ids:
        return set()
    params: dict[str, Any] = {"channel": channel, "at": at or timezone.now(), "ids": ids, "brand": _brand_id(brand)}
    with transaction.atomic(), connection.cursor() as cursor:
        if len(ids) > NESTLOOP_MAX_IDS:
            # Many ids: hash joins only. With statistics not yet taken after a bulk load, the planner
            # expects a handful of rows and loops over the suppressions once per client (minutes at a
            # million ids, where the hash joins take seconds).
            cursor.execute("SET LOCAL enable_nestloop = off")
        cursor.execute(sql, params)
        return {row[0] for row in cursor.fetchall()}


# -- suppression ----------------------------------------------------------------------------------------


def suppression_of(*, brand: Brand | int, address: str, channel: str) -> Suppression | None:
    """The brand's suppression of `address` on `channel`, or None."""
    channel = _channel(channel)
    column = "email_hash" if channel == Channel.EMAIL else "phone_hash"
    hashes = keyed_hashes(address, kind="email" if channel == Channel.EMAIL else "phone")
    if not hashes:
        return None
    brand_id = _brand_id(brand)
    return Suppression.objects.filter(brand_id=brand_id, channel=channel, **{f"{column}__in": hashes}).first()


def suppress(
    *, brand: Brand | int, address: str, channel: str, reason: str, source: str, at: dt.datetime | None = None,
    actor: Any = None,
) -> Suppression:
    """Block `address` for the brand's marketing on `channel` (idempotent: an address already
    suppressed keeps its first suppression). Audited."""
    channel = _channel(channel)
    if reason not in SuppressionReason.values:
        raise ValidationFailed(fields={"reason": [gettext("Unknown reason.")]})
    address = (parseaddr(address)[1] or address).strip() if channel == Channel.EMAIL else (address or "").strip()
    if not keyed_hashes(address, kind="email" if channel == Channel.EMAIL else "phone"):
        raise ValidationFailed(fields={"address": [gettext("Give an address.")]})
    brand_id = _brand_id(brand)
    with transaction.atomic():
        existing = suppression_of(brand=brand_id, address=address, channel=channel)
        if existing is not None:
            return existing
        row = Suppression(brand_id=brand_id, channel=channel, reason=reason, source=(source or "")[:80],
                          at=at or timezone.now())
        if channel == Channel.EMAIL:
            row.email = address
        else:
            row.phone = address
        row.save(force_insert=True)
        audit_record(action="marketing.suppressed", obj=row, brand=brand_id,
                     actor=actor if getattr(actor, "pk", None) else None,
                     after={"channel": channel, "reason": reason, "source": row.source})
    return row


def suppression_lift(*, actor: Any, suppression: Suppression, reason: str) -> None:
    """Lift a suppression (the address may be sent marketing again, if its holder consents): the
    reason is required and recorded with what the suppression was, in the audit log."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(fields={"reason": [gettext("Say why the suppression is lifted.")]})
    with transaction.atomic():
        locked = Suppression.objects.select_for_update().filter(pk=suppression.pk).first()
        if locked is None:
            raise NotFound(gettext("This suppression was lifted already."))
        audit_record(action="marketing.suppression_lifted", obj=locked, brand=locked.brand_id,
                     actor=actor if getattr(actor, "pk", None) else None,
                     before={"channel": locked.channel, "reason": locked.reason, "source": locked.source,
                             "at": locked.at.isoformat()},
                     after={"lifted_because": reason[:500]})
        locked.delete()


# -- unsubscribe links ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnsubscribeToken:
    client: Client
    channel: str
    campaign_code: str


def unsubscribe_token(*, client: Client, channel: str = "email", campaign_code: str = "") -> str:
    """A signed (tamper-proof, not expiring) token of the client, the channel and the campaign."""
    return signing.dumps({"c": str(client.code), "ch": _channel(channel), "k": campaign_code}, salt=TOKEN_SALT,
                         compress=True)


def unsubscribe_read(token: str) -> UnsubscribeToken:
    """What a token says, or TokenRefused."""
    try:
        data = signing.loads(token, salt=TOKEN_SALT)
    except signing.BadSignature as exc:
        raise TokenRefused(gettext("This unsubscribe link has been changed or cut short."),
                           reason="bad_signature") from exc
    if not isinstance(data, dict) or data.get("ch") not in Channel.values or not isinstance(data.get("c"), str):
        raise TokenRefused(reason="malformed")
    client = Client.objects.select_related("brand").filter(code=data["c"]).first() if _uuid(data["c"]) else None
    if client is None:
        raise TokenRefused(gettext("The person this link was sent to is no longer known."), reason="unknown_client")
    return UnsubscribeToken(client=client, channel=data["ch"], campaign_code=str(data.get("k") or "")[:64])


def _uuid(value: str) -> bool:
    import uuid

    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def unsubscribe_url(*, client: Client, channel: str = "email", campaign_code: str = "") -> str:
    token = unsubscribe_token(client=client, channel=channel, campaign_code=campaign_code)
    return public_url(reverse("marketing_unsubscribe", args=[token]))


def unsubscribe_headers(*, client: Client, channel: str = "email", campaign_code: str = "") -> dict[str, str]:
    """The List-Unsubscribe headers of a marketing email to `client` (RFC 2369, one-click: RFC 8058).
    A mailto address is offered only when MARKETING_UNSUBSCRIBE_MAILTO names a mailbox someone reads:
    the CRM does not read one, and an unsubscribe sent where nobody reads it would be lost."""
    token = unsubscribe_token(client=client, channel=channel, campaign_code=campaign_code)
    url = public_url(reverse("marketing_unsubscribe", args=[token]))
    mailto = str(getattr(settings, "MARKETING_UNSUBSCRIBE_MAILTO", "") or "")
    return {
        "List-Unsubscribe": f"<{url}>, <mailto:{mailto}?subject=unsubscribe%20{token}>" if mailto else f"<{url}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
