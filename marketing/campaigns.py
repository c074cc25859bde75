"""Every write of marketing's email campaigns, and the send job.

A campaign is written as a draft (campaign_save: the segment, A/B variants and their shares, the
hold-out share, the attribution window, the metric that picks a winner, the cost), then sent now
(campaign_send) or at a time (campaign_schedule; campaigns_start_due starts those due). Sending is a
django-rq job (crm.jobs: progress on the job's page, cancel there or on the campaign's):

1. Once per campaign, in one transaction: a snapshot of the segment's members is taken (marketing
   services, reason "campaign <name>": whom it went to and why stays reproducible) and each member
   gets a row (CampaignRecipient), inserted in batches: held out, or queued for a variant. The split
   is a hash of the campaign's code and the client's id, so it is the same however often it is
   computed, and near the shares for any number of members.
2. Batch by batch, the queued rows are locked (SKIP LOCKED: two runs never take the same member);
   those who may not receive marketing email now (marketing.consent.allowed_recipients) are set
   skipped with the reason; those outside the sending window of their own time zone stay queued for
   a later run; the others are rendered (the emails app's sandbox, the client's context) and queued
   on the emails pipeline with the unsubscribe headers and the campaign's marker headers (the batch's
   emails in one INSERT and their audit rows, one per email, in another: email_queue_many), their
   rows marked sent in one UPDATE in the same transaction. A rerun of the job therefore sends nobody
   twice, and a job that dies mid-batch leaves the whole batch queued, none of it handed to Celery.
   Consent is asked again as each email is delivered (marketing.apps registers the check with the
   emails app): whoever withdrew it, or whose address was suppressed, since the batch was queued is
   not sent to (the email fails with the reason, and the member's delivery is recorded as failed).
3. The brand's per-minute budget (settings.MARKETING_CAMPAIGN_RATE, "600/m" by default) is counted
   in Redis (crm.lib.ratelimit), one email at a time but taken for a batch at once (rate_take); a
   spent budget pauses the job until its window ends.
4. No member left queued: the campaign is sent. A cancel stops it at the next batch; the members not
   mailed yet are recorded as not sent.

Opens and clicks arrive on signed URLs (campaign_open_record, campaign_click_record); delivery from
the emails app's "email.sent" / "email.failed" events (marketing.campaign_handlers).

An SMS campaign (channel "sms") is the same but for the message: a variant is a body only (no
subject), consent is asked for the SMS channel, each member with consent gets the body rendered for
them (links through the click redirect) through the emails app's sms_send (purpose marketing, the
campaign's code as its reference); sent, delivered and failed come from "sms.sent" /
"sms.delivered" / "sms.failed", and a STOP answering the campaign ("sms.opted_out" with its
reference) is counted as the member's opt-out.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import html
import re
import time
import uuid
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core import signing
from django.db import connection, transaction
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils import timezone
from django.utils.translation import gettext

from crm.audit import audit_record
from crm.exceptions import FieldErrors, NotAllowed, NotFound, ValidationFailed
from crm.jobs import JobCancelled, JobHandle, job_cancel, job_start
from crm.lib.bulk import rows_gathered
from crm.lib.money import Money, money_parse
from crm.lib.public_url import public_url
from crm.lib.ratelimit import rate_key, rate_spent, rate_take
from crm.models import Brand, Client, User
from crm.permissions import user_can, visible_brands
from crm.selectors import mask_email
from emails.services import (
    EmailToQueue,
    SmsNotConfigured,
    SmsPurpose,
    email_queue,
    email_queue_many,
    email_render,
    email_template_pick,
    email_template_save,
    render_text,
    sms_length,
    sms_send,
    template_context,
    template_problems,
)
from marketing.campaign_models import (
    CAMPAIGN_STATES,
    RECIPIENT_STATES,
    Campaign,
    CampaignChannel,
    CampaignRecipient,
    CampaignStatus,
    CampaignVariant,
    RecipientStatus,
    WinnerMetric,
)
from marketing.consent import allowed_recipients, unsubscribe_headers
from marketing.models import Segment
from marketing.permissions import CHANGE_CAMPAIGN, SEND_CAMPAIGN
from marketing.selectors import segment_member_ids, snapshot_member_ids
from marketing.services import segment_snapshot_take

JOB_KIND = "marketing.campaign_send"
JOB_FUNC = "marketing.campaigns.campaign_send_run"


# The emails app's template a campaign's emails are rendered into: the variant's subject and body,
# already rendered for the client, as variables (never parsed again as a template).
TEMPLATE_KEY = "marketing_campaign"
_TEMPLATE_SUBJECT = "{{ event.data.subject }}"
_TEMPLATE_BODY = "{{ event.data.body }}"

BATCH = 200
INSERT_BATCH = 5000
BUCKETS = 10_000
DEFAULT_RATE = "600/m"
# The hours of the client's own day in which a campaign may reach them, [start, end).
DEFAULT_WINDOW = (9, 20)
LABELS = ("A", "B")
OPEN_SALT = "marketing.campaign.open"
CLICK_SALT = "marketing.campaign.click"
TOKEN_MAX_AGE = 180 * 86400
_URL_IN_TEXT = re.compile(r"https?://[^\s<>\"']+")
_HREF = re.compile(r'href="(https?://[^"]+)"')


# --- who may ----------------------------------------------------------------------------------------


def _require(actor: User | None, brand: Brand, perm: str) -> None:
    if actor is None:
        return
    if not user_can(actor, perm) or not visible_brands(actor).filter(pk=brand.pk).exists():
        raise NotAllowed(gettext("You may not work this brand's campaigns."))


# --- the split ----------------------------------------------------------------------------------------


def recipient_bucket(*, campaign_code: Any, client_id: int) -> int:
    """0..9999, the same for the same campaign and client wherever it is computed."""
    digest = hashlib.sha256(f"{campaign_code}:{client_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def recipient_group(
    *, campaign_code: Any, client_id: int, holdout_percent: int, shares: Sequence[tuple[str, int]]
) -> str | None:
    """The variant label `client_id` gets, or None for the hold-out group: the first
    `holdout_percent` of the buckets are held out, the rest divided by the variants' shares."""
    bucket = recipient_bucket(campaign_code=campaign_code, client_id=client_id)
    held = holdout_percent * BUCKETS // 100
    if bucket < held:
        return None
    position = (bucket - held) * 100 / (BUCKETS - held)
    edge = 0
    for label, share in shares:
        edge += share
        if position < edge:
            return label
    return shares[-1][0]


# --- drafts -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VariantText:
    label: str
    subject: str
    body: str
    share_percent: int


SMS_BODY_MAX = 1600  # the emails app's limit for one SMS (Twilio's)


def _variants_clean(
    variants: Sequence[VariantText], errors: FieldErrors, brand: Brand, channel: str = CampaignChannel.EMAIL
) -> list[VariantText]:
    from emails.services import sample_context

    context = {**sample_context(brand=brand), "unsubscribe_url": ""}
    clean: list[VariantText] = []
    sms = channel == CampaignChannel.SMS
    for variant in variants:
        label = variant.label.lower()
        subject = "" if sms else " ".join((variant.subject or "").split())
        body = (variant.body or "").strip()
        if not sms and (not subject or len(subject) > 255):
            errors.add(f"subject_{label}", gettext("Give a subject of up to 255 characters."))
        if not body:
            errors.add(
                f"body_{label}",
                gettext("Write the message's text.") if sms else gettext("Write the email's text."),
            )
        elif sms and len(body) > SMS_BODY_MAX:
            errors.add(
                f"body_{label}", gettext("Keep a message under %(n)s characters.") % {"n": SMS_BODY_MAX}
            )
        for name, text in ((f"subject_{label}", subject), (f"body_{label}", body)):
            if text:
                for problem in template_problems(text, context=context):
                    errors.add(name, problem)
        if not 1 <= variant.share_percent <= 100:
            errors.add(f"share_{label}", gettext("A share is between 1 and 100 per cent."))
        clean.append(dataclasses.replace(variant, subject=subject, body=body))
    first = "body_a" if sms else "subject_a"
    if not clean:
        errors.add(first, gettext("A campaign needs at least one variant."))
    elif sum(v.share_percent for v in clean) != 100:
        errors.add(f"share_{clean[-1].label.lower()}", gettext("The variants' shares must add up to 100."))
    if len({v.label for v in clean}) != len(clean) or any(v.label not in LABELS for v in clean):
        errors.add(first, gettext("Variants are labelled A and B, once each."))
    return clean


@transaction.atomic
def campaign_save(
    *,
    actor: User,
    brand: Brand,
    name: str,
    segment: Segment,
    variants: Sequence[VariantText],
    holdout_percent: int = 10,
    attribution_days: int = 14,
    winner_metric: str = WinnerMetric.CLICK,
    cost: Money | None = None,
    channel: str = CampaignChannel.EMAIL,
) -> Campaign:
    """A new draft campaign of `brand` to `segment`, by email or SMS (`channel`: an SMS variant has a
    body only). Every problem is named by its field (the form's names: name, segment,
    holdout_percent, subject_a, body_b, share_b ...); nothing is written unless all is valid."""
    _require(actor, brand, CHANGE_CAMPAIGN)
    errors = FieldErrors()
    if channel not in CampaignChannel.values:
        errors.add("channel", gettext("Choose email or SMS."))
        channel = CampaignChannel.EMAIL
    name = " ".join((name or "").split())
    if not name or len(name) > 120:
        errors.add("name", gettext("Give a name of up to 120 characters."))
    elif Campaign.objects.filter(brand=brand, name=name).exists():
        errors.add("name", gettext("This brand already has a campaign with this name."))
    if segment.brand_id != brand.pk:
        errors.add("segment", gettext("Choose a segment of the campaign's brand."))
    if not 0 <= holdout_percent <= 50:
        errors.add("holdout_percent", gettext("Hold out between 0 and 50 per cent."))
    if not 1 <= attribution_days <= 90:
        errors.add("attribution_days", gettext("Count results for 1 to 90 days."))
    if winner_metric not in WinnerMetric.values:
        errors.add("winner_metric", gettext("Choose opens, clicks or first deposits."))
    elif channel == CampaignChannel.SMS and winner_metric == WinnerMetric.OPEN:
        errors.add("winner_metric", gettext("An SMS has no opens: choose clicks or first deposits."))
    if cost is not None and cost.amount < 0:
        errors.add("cost_amount", gettext("A cost is not negative."))
    clean = _variants_clean(variants, errors, brand, channel)
    errors.raise_if_any()
    campaign = Campaign.objects.create(
        brand=brand,
        name=name,
        channel=channel,
        segment=segment,
        holdout_percent=holdout_percent,
        attribution_days=attribution_days,
        winner_metric=winner_metric,
        cost_amount=cost.amount if cost is not None else None,
        cost_currency=cost.currency if cost is not None else "",
        created_by=actor,
    )
    CampaignVariant.objects.bulk_create(
        CampaignVariant(
            campaign=campaign, label=v.label, subject=v.subject, body=v.body, share_percent=v.share_percent
        )
        for v in clean
    )
    audit_record(
        action="marketing.campaign_created",
        obj=campaign,
        after={
            "name": name,
            "channel": channel,
            "segment": str(segment.code),
            "holdout_percent": holdout_percent,
            "variants": {v.label: v.share_percent for v in clean},
        },
        actor=actor,
    )
    return campaign


def cost_parse(amount: str, currency: str) -> Money | None:
    """The cost as typed (both empty: none); InvalidValue names the field."""
    if not (amount or "").strip() and not (currency or "").strip():
        return None
    return money_parse(amount, currency, field="cost_amount", currency_field="cost_currency")


# --- rendering ------------------------------------------------------------------------------------------


def _template(brand: Brand) -> Any:
    """The brand's campaign template in the emails app (created the first time a campaign needs it)."""
    language = brand.default_language or "en"
    found = email_template_pick(brand=brand, key=TEMPLATE_KEY, language=language)
    if found is not None:
        return found
    return email_template_save(
        actor=None,
        brand=brand,
        key=TEMPLATE_KEY,
        language=language,
        subject=_TEMPLATE_SUBJECT,
        body=_TEMPLATE_BODY,
        description="Marketing campaigns: each campaign's variant, rendered for the client",
    )


def _unsubscribe_url(headers: Mapping[str, str]) -> str:
    for part in (headers.get("List-Unsubscribe") or "").split(","):
        part = part.strip().strip("<>")
        if part.startswith(("https://", "http://")):
            return part
    return ""


def _render(
    *,
    brand: Brand,
    subject: str,
    body: str,
    context: dict[str, Any],
    recipient_code: Any = None,
    template: Any = None,
) -> Any:
    """The emails app's RenderedEmail of a variant for one context; with `recipient_code`, its links
    go through the click redirect and an open pixel is added (both signed for that recipient)."""
    filled = {
        "subject": " ".join(render_text(subject, context).split()),
        "body": render_text(body, context).strip(),
    }
    event = {"name": "marketing.campaign", "data": filled, "occurred_at": timezone.now()}
    rendered = email_render(template=template or _template(brand), context={**context, "event": event})
    if recipient_code is None:
        return rendered

    links: dict[str, str] = {}  # a link in both the text and the HTML is signed once

    def tracked(url: str) -> str:
        if url not in links:
            links[url] = click_url(recipient_code=recipient_code, url=url)
        return links[url]

    text = _URL_IN_TEXT.sub(lambda m: tracked(m.group(0)), rendered.text)
    body_html = _HREF.sub(
        lambda m: f'href="{html.escape(tracked(html.unescape(m.group(1))))}"', rendered.html
    )
    pixel = f'<img src="{html.escape(open_url(recipient_code=recipient_code))}" width="1" height="1" alt="">'
    body_html = (
        body_html.replace("</body>", f"{pixel}</body>", 1) if "</body>" in body_html else body_html + pixel
    )
    return dataclasses.replace(rendered, text=text, html=body_html)


def marketing_email_queue(
    *,
    brand: Brand,
    client: Client,
    subject: str,
    body: str,
    source: str,
    markers: Mapping[str, str],
    audit_action: str,
    audit_extra: Mapping[str, Any],
    recipient_code: Any = None,
    template: Any = None,
) -> Any:
    """One marketing email to `client` on the emails pipeline: `subject` and `body` (the sandboxed
    template language) rendered with the client's context, the unsubscribe headers (their token
    names `source`: a campaign's or sequence's code) and `markers` added; with `recipient_code`, the
    links are tracked (see _render). Campaigns and sequences (marketing.sequences) both send so; the
    caller has checked consent (allowed_recipients). ValidationFailed when it cannot be rendered."""
    item = _email_for(
        brand=brand,
        client=client,
        subject=subject,
        body=body,
        source=source,
        markers=markers,
        audit_extra=audit_extra,
        recipient_code=recipient_code,
        template=template,
    )
    return email_queue(
        client=client,
        rendered=item.rendered,
        template=item.rendered.template,
        actor=None,
        audit_action=audit_action,
        audit_extra=dict(item.audit_extra),
        headers=item.headers,
    )


def _email_for(
    *,
    brand: Brand,
    client: Client,
    subject: str,
    body: str,
    source: str,
    markers: Mapping[str, str],
    audit_extra: Mapping[str, Any],
    recipient_code: Any = None,
    template: Any = None,
) -> EmailToQueue:
    """What marketing_email_queue queues, rendered but not yet written (a campaign's batch writes its
    emails together: emails.services.email_queue_many)."""
    headers = {
        **unsubscribe_headers(client=client, channel="email", campaign_code=source),
        **markers,
        "Precedence": "bulk",
    }
    context = template_context(client=client, extra={"unsubscribe_url": _unsubscribe_url(headers)})
    rendered = _render(
        brand=brand,
        subject=subject,
        body=body,
        context=context,
        recipient_code=recipient_code,
        template=template,
    )
    return EmailToQueue(client=client, rendered=rendered, headers=headers, audit_extra=dict(audit_extra))


def _context_for(brand: Brand, segment: Segment | None) -> tuple[dict[str, Any], str]:
    """The context of a sample member of `segment` (the first by id), the address masked (a preview
    is no reveal of it), and their first name; made-up values when the segment has nobody."""
    from emails.services import sample_context

    ids = segment_member_ids(segment=segment)[:1] if segment is not None else []
    client = Client.objects.select_related("brand", "owner").filter(pk__in=ids).first()
    extra = {"unsubscribe_url": "#"}
    if client is None:
        return {**sample_context(brand=brand), **extra}, ""
    context = template_context(client=client, extra=extra)
    context["client"]["email"] = mask_email(client.email)
    return context, client.first_name


def _variant_checked(brand: Brand, variant: VariantText, channel: str = CampaignChannel.EMAIL) -> VariantText:
    errors = FieldErrors()
    clean = _variants_clean([dataclasses.replace(variant, share_percent=100)], errors, brand, channel)[0]
    errors.raise_if_any()
    return clean


@dataclass(frozen=True)
class Preview:
    subject: str
    text: str
    html: str
    sample: str  # whose context it was rendered with ("" for made-up values)
    # An SMS's length as the carrier counts it (GSM-7 or UCS-2) and the parts it is sent in.
    encoding: str = ""
    length: int = 0
    segments: int = 0


def campaign_preview(
    *,
    actor: User,
    brand: Brand,
    segment: Segment | None,
    variant: VariantText,
    channel: str = CampaignChannel.EMAIL,
) -> Preview:
    """`variant` rendered for a sample member of `segment` (see _context_for). ValidationFailed names
    the variant's field when it does not render. An SMS's preview is its text with its length and
    segment count (the links counted as typed: the click redirect lengthens them when sent)."""
    _require(actor, brand, CHANGE_CAMPAIGN)
    clean = _variant_checked(brand, variant, channel)
    context, sample = _context_for(brand, segment)
    if channel == CampaignChannel.SMS:
        text = sms_text(body=clean.body, context=context)
        size = sms_length(text)
        return Preview(
            subject="",
            text=text,
            html="",
            sample=sample,
            encoding=size.encoding,
            length=size.units,
            segments=size.segments,
        )
    rendered = _render(brand=brand, subject=clean.subject, body=clean.body, context=context)
    return Preview(subject=rendered.subject, text=rendered.text, html=rendered.html, sample=sample)


@transaction.atomic
def campaign_test_send(*, actor: User, brand: Brand, segment: Segment | None, variant: VariantText) -> Any:
    """The preview of `variant` mailed to `actor`'s own address through the emails pipeline, its
    subject marked as a test; returns the queued email."""
    _require(actor, brand, CHANGE_CAMPAIGN)
    label = variant.label.lower()
    if not actor.email:
        raise ValidationFailed(
            fields={f"subject_{label}": [gettext("You have no email address to send a test to.")]}
        )
    clean = _variant_checked(brand, variant)
    context, _sample = _context_for(brand, segment)
    rendered = _render(brand=brand, subject=f"[Test] {clean.subject}", body=clean.body, context=context)
    return email_queue(
        client=None,
        brand=brand,
        to_email=actor.email,
        rendered=rendered,
        template=rendered.template,
        actor=actor,
        audit_action="marketing.campaign_test_send",
        headers={"X-CRM-Marketing": "test"},
    )


# --- tracking -----------------------------------------------------------------------------------------------


def open_token(*, recipient_code: Any) -> str:
    return signing.dumps(str(recipient_code), salt=OPEN_SALT, compress=True)


def click_token(*, recipient_code: Any, url: str) -> str:
    return signing.dumps({"r": str(recipient_code), "u": url}, salt=CLICK_SALT, compress=True)


_SLOT = "tokenslot"


@functools.lru_cache(maxsize=16)
def _path_around(name: str, urlconf: str | None, prefix: str) -> tuple[str, str]:
    """The path of URL `name` before and after its token, reversed once per URL configuration (a
    campaign builds several such links per recipient). A signed token's characters (URL-safe base64
    and colons) are the same quoted or not, so the two halves around it are what reverse() gives."""
    head, _slot, tail = reverse(name, args=[_SLOT], urlconf=urlconf).partition(_SLOT)
    return head, tail


def _token_url(name: str, token: str) -> str:
    head, tail = _path_around(name, get_urlconf(), get_script_prefix())
    return public_url(f"{head}{token}{tail}")


def open_url(*, recipient_code: Any) -> str:
    return _token_url("marketing_campaign_open", open_token(recipient_code=recipient_code))


def click_url(*, recipient_code: Any, url: str) -> str:
    return _token_url("marketing_campaign_click", click_token(recipient_code=recipient_code, url=url))


def safe_target(url: Any) -> str | None:
    """`url` when it is an absolute http(s) URL with a host and nothing that could split a header."""
    from urllib.parse import urlsplit

    if not isinstance(url, str) or any(ch.isspace() or ord(ch) < 32 for ch in url):
        return None
    parts = urlsplit(url)
    if parts.scheme.lower() not in {"http", "https"} or not parts.netloc or "\\" in url:
        return None
    return url


def campaign_open_record(*, token: str) -> bool:
    """Record the first open of the recipient the token names; False for a bad or expired token."""
    try:
        code = signing.loads(token, salt=OPEN_SALT, max_age=TOKEN_MAX_AGE)
    except signing.BadSignature:
        return False
    CampaignRecipient.objects.filter(code=code, opened_at__isnull=True, status=RecipientStatus.SENT).update(
        opened_at=timezone.now()
    )
    return True


def campaign_click_record(*, token: str) -> str | None:
    """The target of a tracked link, its first click (and open) recorded; None for a bad token or a
    target that is not an http(s) URL (the redirect is refused: nobody may use ours to go elsewhere)."""
    try:
        data = signing.loads(token, salt=CLICK_SALT, max_age=TOKEN_MAX_AGE)
    except signing.BadSignature:
        return None
    target = safe_target(data.get("u")) if isinstance(data, dict) else None
    if target is None:
        return None
    now = timezone.now()
    sent = CampaignRecipient.objects.filter(code=data.get("r"), status=RecipientStatus.SENT)
    sent.filter(clicked_at__isnull=True).update(clicked_at=now)
    sent.filter(opened_at__isnull=True).update(opened_at=now)
    return target


def recipient_sms_outcome(*, sms_code: Any, status: str, at: dt.datetime) -> int:
    """The emails app's outcome of a campaign SMS ("sms.sent" / "sms.delivered" / "sms.failed"):
    delivered or failed is recorded once; "sent" (handed to the carrier) changes nothing here."""
    rows = CampaignRecipient.objects.filter(sms_code=sms_code)
    if status == "delivered":
        return rows.filter(delivered_at__isnull=True, delivery_failed_at__isnull=True).update(delivered_at=at)
    if status in ("failed", "undelivered"):
        return rows.filter(delivery_failed_at__isnull=True, delivered_at__isnull=True).update(
            delivery_failed_at=at
        )
    return 0


def recipient_sms_opt_out(*, client_id: int, reference: str, at: dt.datetime) -> int:
    """A STOP that answered campaign `reference` (its code): the client's row in it is marked."""
    try:
        code = uuid.UUID(str(reference))
    except ValueError:
        return 0
    return CampaignRecipient.objects.filter(
        campaign__code=code,
        campaign__channel=CampaignChannel.SMS,
        client_id=client_id,
        status=RecipientStatus.SENT,
        opted_out_at__isnull=True,
    ).update(opted_out_at=at)


def recipient_delivery(*, email_code: Any, delivered: bool, at: dt.datetime) -> int:
    """The emails app's outcome of a campaign email (its "email.sent" / "email.failed")."""
    rows = CampaignRecipient.objects.filter(email_code=email_code)
    if delivered:
        return rows.filter(delivered_at__isnull=True).update(delivered_at=at)
    return rows.filter(delivery_failed_at__isnull=True).update(delivery_failed_at=at)


# --- sending ---------------------------------------------------------------------------------------------


def _locked(campaign: Campaign) -> Campaign:
    return Campaign.objects.select_for_update().select_related("brand", "segment").get(pk=campaign.pk)


@transaction.atomic
def campaign_schedule(*, actor: User, campaign: Campaign, at: dt.datetime) -> Campaign:
    """Send `campaign` at `at` (campaigns_start_due starts it then)."""
    _require(actor, campaign.brand, SEND_CAMPAIGN)
    campaign = _locked(campaign)
    if at <= timezone.now():
        raise ValidationFailed(fields={"scheduled_at": [gettext("Choose a time in the future.")]})
    CAMPAIGN_STATES.move(campaign, CampaignStatus.SCHEDULED, also={"scheduled_at": at}, save=())
    audit_record(
        action="marketing.campaign_scheduled", obj=campaign, after={"at": at.isoformat()}, actor=actor
    )
    return campaign


@transaction.atomic
def campaign_send(*, actor: User, campaign: Campaign) -> Campaign:
    """Start sending `campaign` now: it becomes "sending" and its send job is queued after commit."""
    _require(actor, campaign.brand, SEND_CAMPAIGN)
    campaign = _locked(campaign)
    CAMPAIGN_STATES.move(campaign, CampaignStatus.SENDING, also={"started_at": timezone.now()}, save=())
    _job(actor, campaign)
    audit_record(action="marketing.campaign_send", obj=campaign, after={"name": campaign.name}, actor=actor)
    return campaign


def _job(actor: User, campaign: Campaign) -> None:
    campaign.job = job_start(
        kind=JOB_KIND,
        actor=actor,
        title=gettext("Campaign %(name)s") % {"name": campaign.name},
        func=JOB_FUNC,
        kwargs={"campaign_id": campaign.pk},
        brand=campaign.brand,
        link=reverse("marketing_campaign", args=[campaign.code]),
    )
    campaign.save(update_fields=["job"])


@transaction.atomic
def campaign_resume(*, actor: User, campaign: Campaign) -> Campaign:
    """Run the send job of a campaign that is sending again (members who waited for their sending
    window, or a job that stopped): only members still queued are mailed."""
    _require(actor, campaign.brand, SEND_CAMPAIGN)
    campaign = _locked(campaign)
    if campaign.status != CampaignStatus.SENDING:
        raise CAMPAIGN_STATES.refusal(campaign.status, CampaignStatus.SENDING)
    _job(actor, campaign)
    return campaign


def campaigns_start_due(*, now: dt.datetime | None = None) -> int:
    """Start every scheduled campaign whose time has come, as the person who created it."""
    now = now or timezone.now()
    started = 0
    for campaign in Campaign.objects.filter(
        status=CampaignStatus.SCHEDULED, scheduled_at__lte=now
    ).select_related("created_by", "brand"):
        campaign_send(actor=campaign.created_by, campaign=campaign)
        started += 1
    return started


@transaction.atomic
def campaign_cancel(*, actor: User, campaign: Campaign) -> Campaign:
    """Stop `campaign`: nobody not yet mailed is mailed (they are recorded as not sent); the send
    job stops at its next batch. Mails already handed to the pipeline go out."""
    _require(actor, campaign.brand, SEND_CAMPAIGN)
    campaign = _locked(campaign)
    _cancelled(campaign)
    if campaign.job is not None and not campaign.job.is_finished:
        try:
            job_cancel(actor=campaign.job.started_by, job=campaign.job)
        except NotAllowed:  # the job's starter left: the job sees the campaign cancelled anyway
            pass
    audit_record(
        action="marketing.campaign_cancelled", obj=campaign, after={"name": campaign.name}, actor=actor
    )
    return campaign


def _cancelled(campaign: Campaign) -> None:
    CAMPAIGN_STATES.move(campaign, CampaignStatus.CANCELLED, also={"finished_at": timezone.now()}, save=())
    CampaignRecipient.objects.filter(
        campaign=campaign, status__in=RECIPIENT_STATES.sources(RecipientStatus.CANCELLED)
    ).update(
        status=RecipientStatus.CANCELLED, reason=gettext("The campaign was cancelled before it was sent.")
    )


def _prepare(campaign_id: int, actor: User) -> Campaign:
    """Step 1 (once): the snapshot and a row per member, held out or queued for a variant."""
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().select_related("brand", "segment").get(pk=campaign_id)
        if campaign.snapshot_id is not None:
            return campaign
        snapshot = segment_snapshot_take(
            actor=actor, segment=campaign.segment, reason=f"campaign {campaign.name}"[:200]
        )
        variants = list(campaign.variants.order_by("label"))
        by_label = {v.label: v for v in variants}
        shares = [(v.label, v.share_percent) for v in variants]
        ids = snapshot_member_ids(snapshot=snapshot)
        rows: list[CampaignRecipient] = []
        for client_id in ids:
            label = recipient_group(
                campaign_code=campaign.code,
                client_id=client_id,
                holdout_percent=campaign.holdout_percent,
                shares=shares,
            )
            rows.append(
                CampaignRecipient(
                    campaign=campaign,
                    client_id=client_id,
                    variant=by_label[label] if label is not None else None,
                    status=RecipientStatus.QUEUED if label is not None else RecipientStatus.HELD_OUT,
                )
            )
        CampaignRecipient.objects.bulk_create(rows, batch_size=INSERT_BATCH)
        campaign.snapshot = snapshot
        campaign.save(update_fields=["snapshot"])
        audit_record(
            action="marketing.campaign_recipients",
            obj=campaign,
            after={"snapshot": str(snapshot.code), "members": len(ids)},
            actor=actor,
        )
        return campaign


def _rate() -> str:
    return str(getattr(settings, "MARKETING_CAMPAIGN_RATE", DEFAULT_RATE))


def _window() -> tuple[int, int]:
    start, end = getattr(settings, "MARKETING_CAMPAIGN_WINDOW", DEFAULT_WINDOW)
    return int(start), int(end)


def in_sending_window(*, client_timezone: str, now: dt.datetime, window: tuple[int, int]) -> bool:
    """Whether `now` is within the hours `window` of the client's own day (an unknown or empty time
    zone: UTC). A window of (0, 24) is always open."""
    try:
        zone = zoneinfo.ZoneInfo(client_timezone) if client_timezone else dt.UTC
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = dt.UTC
    hour = now.astimezone(zone).hour
    start, end = window
    return start <= hour < end


def _budget_wait(handle: JobHandle, key: str, rate: str) -> None:
    """Sleep until the brand's budget has room again, checking for a cancel each second."""
    wait = rate_spent(key, rate)
    while wait > 0:
        handle.flush()
        handle.check()
        time.sleep(min(wait, 1))
        wait = rate_spent(key, rate)


@dataclass
class _Counts:
    sent: int = 0
    skipped: int = 0
    failed: int = 0
    waiting: int = 0
    held_out: int = 0

    def report(self, handle: JobHandle, done: int, total: int | None = None, *, check: bool = True) -> None:
        handle.progress(
            done,
            total,
            force=True,
            check=check,
            sent=self.sent,
            skipped=self.skipped,
            failed=self.failed,
            waiting=self.waiting,
            held_out=self.held_out,
        )


def _batch(
    campaign: Campaign, after_id: int, counts: _Counts, *, budget: tuple[str, str], handle: JobHandle
) -> int | None:
    """Step 2 for the next batch of queued members after `after_id`: the last id handled, None when
    none is left. Stops early (returning the last id mailed) when the budget is spent."""
    key, rate = budget
    rows = list(
        CampaignRecipient.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(campaign=campaign, status=RecipientStatus.QUEUED, id__gt=after_id)
        .select_related("variant")
        .order_by("id")[:BATCH]
    )
    if not rows:
        return None
    clients = Client.objects.select_related("brand", "owner").in_bulk([r.client_id for r in rows])
    sms = campaign.channel == CampaignChannel.SMS
    allowed = allowed_recipients(
        brand=campaign.brand, client_ids=[r.client_id for r in rows], channel="sms" if sms else "email"
    )
    refused = [r.pk for r in rows if r.client_id not in allowed]
    if refused:
        CampaignRecipient.objects.filter(
            pk__in=refused, status__in=RECIPIENT_STATES.sources(RecipientStatus.SKIPPED_NO_CONSENT)
        ).update(
            status=RecipientStatus.SKIPPED_NO_CONSENT,
            reason=gettext("No consent to marketing by SMS when it was sent.")
            if sms
            else gettext("No consent to marketing by email when it was sent."),
        )
        counts.skipped += len(refused)
    now = timezone.now()
    window = _window()
    template = _template(campaign.brand)
    sent: list[CampaignRecipient] = []
    failed: list[CampaignRecipient] = []
    emails: list[tuple[CampaignRecipient, EmailToQueue]] = []
    # The budget is taken for the batch at once: as many as may be sent of those who would be.
    granted = rate_take(
        key,
        rate,
        sum(1 for row in rows if row.client_id in allowed and _sendable(row, clients, sms, now, window)),
    )
    last = rows[-1].pk
    for row in rows:
        if row.client_id not in allowed:
            continue
        client = clients.get(row.client_id)
        if client is not None and not in_sending_window(
            client_timezone=client.timezone, now=now, window=window
        ):
            counts.waiting += 1
            continue
        if sms:
            if client is None or not client.phone or row.variant is None:
                row.status, row.reason = RecipientStatus.FAILED, gettext("The client has no phone number.")
                failed.append(row)
                continue
        elif client is None or not client.email or row.variant is None:
            row.status, row.reason = RecipientStatus.FAILED, gettext("The client has no email address.")
            failed.append(row)
            continue
        if granted <= 0:  # the budget is spent: this one and the rest wait for the next window
            last = row.pk - 1
            break
        granted -= 1
        if sms:
            try:
                message = _sms_one(campaign, row, client)
            except (ValidationFailed, SmsNotConfigured) as error:
                row.status, row.reason = RecipientStatus.FAILED, str(error.message)[:200]
                failed.append(row)
                continue
            row.status, row.sent_at, row.sms_code = RecipientStatus.SENT, timezone.now(), message.code
            sent.append(row)
            continue
        try:
            item = _email_for(
                brand=campaign.brand,
                client=client,
                subject=row.variant.subject,
                body=row.variant.body,
                source=str(campaign.code),
                markers={"X-CRM-Marketing": "campaign", "X-CRM-Campaign": str(campaign.code)},
                audit_extra={"campaign": str(campaign.code), "variant": row.variant.label},
                recipient_code=row.code,
                template=template,
            )
        except ValidationFailed as error:
            row.status, row.reason = RecipientStatus.FAILED, str(error.message)[:200]
            failed.append(row)
            continue
        emails.append((row, item))
    if emails:
        # The batch's emails in one INSERT (and their audit rows in another), their members marked
        # sent in one UPDATE, all in this transaction: a rerun finds them sent, never queued.
        queued = email_queue_many(
            emails=[item for _row, item in emails], actor=None, audit_action="marketing.campaign_email"
        )
        with connection.cursor() as cursor:
            cursor.execute(
                _MARK_SENT,
                [timezone.now(), [row.pk for row, _item in emails], [q.code for q in queued]],
            )
    CampaignRecipient.objects.bulk_update(sent, ["status", "sent_at", "email_code", "sms_code"])
    CampaignRecipient.objects.bulk_update(failed, ["status", "reason"])
    counts.sent += len(sent) + len(emails)
    counts.failed += len(failed)
    counts.report(handle, counts.sent + counts.skipped + counts.failed + counts.waiting, check=False)
    return last


# A batch's emailed members, each with the code of its email.
_MARK_SENT = (
    "UPDATE marketing_campaignrecipient AS r SET status = 'sent', sent_at = %s, email_code = u.code"
    " FROM unnest(%s::bigint[], %s::uuid[]) AS u(id, code) WHERE r.id = u.id"
)


def _sendable(
    row: CampaignRecipient,
    clients: Mapping[int, Client],
    sms: bool,
    now: dt.datetime,
    window: tuple[int, int],
) -> bool:
    """Whether _batch would send to `row` (consent was asked already): a client in their window, with
    the address the channel needs and a variant."""
    client = clients.get(row.client_id)
    if client is None or row.variant is None or not (client.phone if sms else client.email):
        return False
    return in_sending_window(client_timezone=client.timezone, now=now, window=window)


def sms_text(*, body: str, context: dict[str, Any], recipient_code: Any = None) -> str:
    """A variant's SMS body rendered for one context; with `recipient_code`, its links go through the
    click redirect (signed for that recipient)."""
    text = render_text(body, context).strip()
    if recipient_code is None:
        return text
    return _URL_IN_TEXT.sub(lambda m: click_url(recipient_code=recipient_code, url=m.group(0)), text)


def _sms_one(campaign: Campaign, row: CampaignRecipient, client: Client) -> Any:
    assert row.variant is not None
    text = sms_text(body=row.variant.body, context=template_context(client=client), recipient_code=row.code)
    return sms_send(
        body=text, client=client, purpose=SmsPurpose.MARKETING, reference=str(campaign.code), actor=None
    )


def campaign_send_run(handle: JobHandle, *, campaign_id: int) -> None:
    """The send job (see the module docstring). Safe to run again: only queued members are mailed."""
    from plumbing import context as actor_context

    actor = handle.job.started_by
    campaign = _prepare(campaign_id, actor)
    if campaign.status != CampaignStatus.SENDING:
        return
    counts = _Counts(held_out=campaign.recipients.filter(status=RecipientStatus.HELD_OUT).count())
    total = campaign.recipients.filter(status=RecipientStatus.QUEUED).count()
    counts.report(handle, 0, total)
    budget = (rate_key("marketing", "campaign", str(campaign.brand_id)), _rate())
    after = 0
    try:
        with actor_context.acting_as(None, source="task", label=f"marketing:campaign:{campaign.code}"):
            while True:
                handle.check()
                if Campaign.objects.filter(pk=campaign.pk, status=CampaignStatus.CANCELLED).exists():
                    raise JobCancelled
                _budget_wait(handle, *budget)
                # The batch's audit rows (one per email) are written in one INSERT as it ends.
                with transaction.atomic(), rows_gathered():
                    last = _batch(campaign, after, counts, budget=budget, handle=handle)
                if last is None:
                    break
                after = last
    except JobCancelled:
        with transaction.atomic():
            locked = _locked(campaign)
            if locked.status == CampaignStatus.SENDING:
                _cancelled(locked)
        raise
    with transaction.atomic():
        locked = _locked(campaign)
        waiting = locked.recipients.filter(status=RecipientStatus.QUEUED).exists()
        if locked.status == CampaignStatus.SENDING and not waiting:
            CAMPAIGN_STATES.move(locked, CampaignStatus.SENT, also={"finished_at": timezone.now()}, save=())


def campaign_get(*, code: Any) -> Campaign:
    campaign = Campaign.objects.select_related("brand", "segment", "job").filter(code=code).first()
    if campaign is None:
        raise NotFound(gettext("No such campaign."))
    return campaign


def variants_from(data: Mapping[str, Any], labels: Iterable[str] = LABELS) -> list[VariantText]:
    """The variants a form posted: A always, B when it has a subject or a body."""
    out = []
    for label in labels:
        low = label.lower()
        subject, body = str(data.get(f"subject_{low}") or ""), str(data.get(f"body_{low}") or "")
        if label != "A" and not subject.strip() and not body.strip():
            continue
        share = data.get(f"share_{low}")
        out.append(
            VariantText(label=label, subject=subject, body=body, share_percent=int(share) if share else 0)
        )
    return out
