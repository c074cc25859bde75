"""Every write of marketing's email sequences (drips), and their sender.

A sequence (sequence_save) belongs to a brand: what starts it for a client (`trigger`), what ends it
(`goal`) and its steps, each an email sent a number of hours after the client was enrolled.

1. Enrolment. The domain events (marketing.sequence_handlers) enrol the client in every active
   sequence of their brand the event triggers: "portal.registered" (registered), "kyc.approved"
   (kyc_verified), "wallet.first_deposit" (first_deposit). Idle clients (inactive_days N: registered
   more than N days ago, no sign-in and no trade in the last N days, read through the segment
   engine's facts over the published views) are enrolled once a day per sequence. A client is in a
   sequence once, ever (a named constraint; a second trigger is ignored).
2. The goal. The goal's event ("kyc.approved", "wallet.first_deposit", "trading.first_trade") ends
   the client's active enrolments of sequences with that goal (goal_reached): no further step.
3. Sending (sequences_send_due, every minute): active enrolments of active sequences whose step is
   due are locked (SKIP LOCKED: two runs never take the same one); those who may not receive
   marketing email now (marketing.consent.allowed_recipients) get the step recorded as not sent and
   leave the sequence (stopped_no_consent); the others get the step through the same pipeline as
   campaigns (marketing.campaigns.marketing_email_queue: rendered in the emails app's sandbox,
   unsubscribe headers) and move to the next step, or complete after the last. Each step is
   recorded once per enrolment (SequenceDelivery, a named constraint), in the transaction that
   queues its email. Steps keep the campaigns' rules: one falling due outside the sending hours of
   the client's own time zone waits for the next opening, and a step spends the brand's sending
   budget (a spent budget leaves the rest due for the next minute).

Automation's delayed actions (automation.runner) are per rule run and cancelled by events; a
sequence's steps are its own rows (next_due_at), so that the page counts who is at which step.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Iterable, Mapping
from collections.abc import Sequence as Seq
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext

from crm.audit import audit_record
from crm.exceptions import FieldErrors, NotAllowed, NotFound, ValidationFailed
from crm.lib.bulk import rows_gathered
from crm.lib.ratelimit import rate_hit, rate_key, rate_spent
from crm.models import Brand, Client, User
from crm.permissions import user_can, visible_brands
from emails.services import template_problems
from marketing.campaigns import _rate, _window, in_sending_window, marketing_email_queue
from marketing.consent import allowed_recipients
from marketing.engine import definition_member_ids
from marketing.permissions import CHANGE_SEQUENCE
from marketing.sequence_models import (
    ENROLLMENT_STATES,
    SEQUENCE_STATES,
    EnrollmentStatus,
    Sequence,
    SequenceDelivery,
    SequenceEnrollment,
    SequenceGoal,
    SequenceStatus,
    SequenceStep,
    SequenceTrigger,
    StepDeliveryStatus,
)

BATCH = 200
MAX_STEPS = 20
MAX_DELAY_HOURS = 24 * 365

# The domain events that start (trigger) and end (goal) a sequence.
TRIGGER_EVENTS: dict[str, str] = {
    "portal.registered": SequenceTrigger.REGISTERED,
    "kyc.approved": SequenceTrigger.KYC_VERIFIED,
    "wallet.first_deposit": SequenceTrigger.FIRST_DEPOSIT,
}
GOAL_EVENTS: dict[str, str] = {
    "kyc.approved": SequenceGoal.KYC_VERIFIED,
    "wallet.first_deposit": SequenceGoal.FIRST_DEPOSIT,
    "trading.first_trade": SequenceGoal.TRADE,
}


def _require(actor: User | None, brand: Brand) -> None:
    if actor is None:
        return
    if not user_can(actor, CHANGE_SEQUENCE) or not visible_brands(actor).filter(pk=brand.pk).exists():
        raise NotAllowed(gettext("You may not work this brand's sequences."))


# --- writing a sequence -------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepText:
    delay_hours: int
    subject: str
    body: str


def delay_hours(amount: Any, unit: str) -> int:
    """A delay as typed (a whole number of "hours" or "days") in hours; -1 when it is not one."""
    try:
        value = int(str(amount).strip())
    except ValueError:
        return -1
    return value * 24 if unit == "days" else value


def _steps_clean(steps: Seq[StepText], errors: FieldErrors, brand: Brand) -> list[StepText]:
    from emails.services import sample_context

    context = {**sample_context(brand=brand), "unsubscribe_url": ""}
    clean: list[StepText] = []
    previous = 0
    for index, step in enumerate(steps):
        subject = " ".join((step.subject or "").split())
        body = (step.body or "").strip()
        if not subject or len(subject) > 255:
            errors.add(f"subject_{index}", gettext("Give a subject of up to 255 characters."))
        if not body:
            errors.add(f"body_{index}", gettext("Write the email's text."))
        for name, text in ((f"subject_{index}", subject), (f"body_{index}", body)):
            if text:
                for problem in template_problems(text, context=context):
                    errors.add(name, problem)
        if not 0 <= step.delay_hours <= MAX_DELAY_HOURS:
            errors.add(f"delay_{index}", gettext("A delay is a whole number of hours or days, up to a year."))
        elif step.delay_hours < previous:
            errors.add(f"delay_{index}", gettext("A step comes no earlier than the step before it."))
        previous = max(previous, step.delay_hours)
        clean.append(StepText(delay_hours=step.delay_hours, subject=subject, body=body))
    if not clean:
        errors.add("subject_0", gettext("A sequence needs at least one step."))
    elif len(clean) > MAX_STEPS:
        errors.add("subject_0", gettext("A sequence has at most %(n)d steps.") % {"n": MAX_STEPS})
    return clean


@transaction.atomic
def sequence_save(
    *,
    actor: User,
    brand: Brand,
    name: str,
    trigger: str,
    goal: str,
    steps: Seq[StepText],
    inactive_days: int | None = None,
    sequence: Sequence | None = None,
) -> Sequence:
    """A new sequence of `brand` (active at once), or `sequence` changed. Every problem is named by
    its field (name, trigger, inactive_days, goal, delay_0, subject_1 ...); nothing is written unless
    all is valid. A step already sent to someone cannot be removed (its deliveries name it); clients
    in the sequence get the changed steps from their next one on."""
    _require(actor, brand)
    errors = FieldErrors()
    name = " ".join((name or "").split())
    taken = Sequence.objects.filter(brand=brand, name=name)
    if sequence is not None:
        sequence = Sequence.objects.select_for_update().get(pk=sequence.pk)
        taken = taken.exclude(pk=sequence.pk)
        if sequence.brand_id != brand.pk:
            raise NotFound(gettext("No such sequence."))
    if not name or len(name) > 120:
        errors.add("name", gettext("Give a name of up to 120 characters."))
    elif taken.exists():
        errors.add("name", gettext("This brand already has a sequence with this name."))
    if trigger not in SequenceTrigger.values:
        errors.add("trigger", gettext("Choose what starts the sequence."))
    if goal not in SequenceGoal.values:
        errors.add("goal", gettext("Choose what ends the sequence."))
    if trigger == SequenceTrigger.INACTIVE_DAYS:
        if inactive_days is None or not 1 <= inactive_days <= 365:
            errors.add("inactive_days", gettext("Give the idle days, 1 to 365."))
    else:
        inactive_days = None
    clean = _steps_clean(steps, errors, brand)
    existing = list(sequence.steps.order_by("order")) if sequence is not None else []
    removed = [s for s in existing[len(clean):] if s.deliveries.exists()]
    if removed:
        errors.add(f"subject_{removed[0].order - 1}",
                   gettext("This step was sent to clients already: change it, but keep it."))
    errors.raise_if_any()
    before: dict[str, Any] = {}
    if sequence is None:
        sequence = Sequence.objects.create(
            brand=brand, name=name, trigger=trigger, inactive_days=inactive_days, goal=goal, created_by=actor
        )
    else:
        before = {"name": sequence.name, "trigger": sequence.trigger, "goal": sequence.goal,
                  "steps": len(existing)}
        sequence.name, sequence.trigger, sequence.inactive_days, sequence.goal = name, trigger, inactive_days, goal
        sequence.save(update_fields=["name", "trigger", "inactive_days", "goal"])
        SequenceStep.objects.filter(pk__in=[s.pk for s in existing[len(clean):]]).delete()
    for index, text in enumerate(clean):
        if index < len(existing):
            row = existing[index]
            row.delay_hours, row.subject, row.body = text.delay_hours, text.subject, text.body
            row.save(update_fields=["delay_hours", "subject", "body"])
        else:
            SequenceStep.objects.create(
                sequence=sequence, order=index + 1, delay_hours=text.delay_hours, subject=text.subject,
                body=text.body,
            )
    audit_record(
        action="marketing.sequence_saved",
        obj=sequence,
        before=before or None,
        after={"name": name, "trigger": trigger, "inactive_days": inactive_days, "goal": goal,
               "steps": [s.delay_hours for s in clean]},
        actor=actor,
    )
    return sequence


def _status(actor: User, sequence: Sequence, new: str, action: str) -> Sequence:
    _require(actor, sequence.brand)
    locked = Sequence.objects.select_for_update().select_related("brand").get(pk=sequence.pk)
    SEQUENCE_STATES.move(locked, new, save=())
    audit_record(action=action, obj=locked, after={"name": locked.name}, actor=actor)
    return locked


@transaction.atomic
def sequence_pause(*, actor: User, sequence: Sequence) -> Sequence:
    """Nobody is enrolled and no step is sent until it is resumed; the steps that fall due meanwhile
    are sent on resuming."""
    return _status(actor, sequence, SequenceStatus.PAUSED, "marketing.sequence_paused")


@transaction.atomic
def sequence_resume(*, actor: User, sequence: Sequence) -> Sequence:
    return _status(actor, sequence, SequenceStatus.ACTIVE, "marketing.sequence_resumed")


def sequence_get(*, code: Any) -> Sequence:
    sequence = Sequence.objects.select_related("brand").filter(code=code).first()
    if sequence is None:
        raise NotFound(gettext("No such sequence."))
    return sequence


def steps_from(data: Mapping[str, Any]) -> list[StepText]:
    """The steps a form posted (delay_N, unit_N, subject_N, body_N), in the order of N (rows removed
    on the page leave gaps); a row with neither subject nor body is left out."""
    indexes = sorted({int(m.group(1)) for key in data if (m := _STEP_FIELD.fullmatch(str(key)))})
    steps: list[StepText] = []
    for index in indexes:
        subject, body = str(data.get(f"subject_{index}") or ""), str(data.get(f"body_{index}") or "")
        if subject.strip() or body.strip():
            hours = delay_hours(data.get(f"delay_{index}") or "0", str(data.get(f"unit_{index}") or "days"))
            steps.append(StepText(delay_hours=hours, subject=subject, body=body))
    return steps


_STEP_FIELD = re.compile(r"(?:subject|body)_(\d{1,3})")


def step_next_index(data: Mapping[str, Any]) -> int:
    """The index of a row added after the posted form's step rows."""
    return max((int(m.group(1)) for key in data if (m := _STEP_FIELD.fullmatch(str(key)))), default=-1) + 1


# --- enrolment ------------------------------------------------------------------------------------------


def _first_step(sequence: Sequence) -> SequenceStep | None:
    return sequence.steps.order_by("order").first()


def sequence_enroll(*, sequence: Sequence, client_id: int, at: dt.datetime) -> SequenceEnrollment | None:
    """Enrol the client in `sequence` from `at`: its first step falls due after its delay. None when
    the client was in the sequence already (ever) or it has no step."""
    first = _first_step(sequence)
    if first is None:
        return None
    try:
        with transaction.atomic():
            return SequenceEnrollment.objects.create(
                sequence=sequence,
                client_id=client_id,
                started_at=at,
                next_step=first.order,
                next_due_at=at + dt.timedelta(hours=first.delay_hours),
            )
    except IntegrityError:  # marketing_enrollment_once: in it already
        return None


def _end(enrollments: Iterable[SequenceEnrollment], status: str, reason: str, at: dt.datetime) -> int:
    ended = 0
    for enrollment in enrollments:
        ENROLLMENT_STATES.move(
            enrollment, status, also={"ended_at": at, "next_due_at": None, "reason": reason[:200]}, save=()
        )
        ended += 1
    return ended


@transaction.atomic
def sequences_on_event(*, event_name: str, client: Client, at: dt.datetime) -> tuple[int, int]:
    """A domain event of `client`: the goal it is ends their active enrolments of sequences with that
    goal; the trigger it is enrols them in the active sequences of their brand it starts (unless its
    own goal has been reached by the same event). Returns (ended, enrolled)."""
    ended = enrolled = 0
    goal = GOAL_EVENTS.get(event_name)
    if goal is not None:
        active = SequenceEnrollment.objects.select_for_update().filter(
            client=client, status=EnrollmentStatus.ACTIVE, sequence__goal=goal
        )
        ended = _end(active, EnrollmentStatus.GOAL_REACHED, gettext("Goal reached: %(event)s") % {"event": event_name}, at)
    trigger = TRIGGER_EVENTS.get(event_name)
    if trigger is not None:
        for sequence in Sequence.objects.filter(
            brand_id=client.brand_id, trigger=trigger, status=SequenceStatus.ACTIVE
        ).exclude(goal=goal or ""):
            if sequence_enroll(sequence=sequence, client_id=client.pk, at=at) is not None:
                enrolled += 1
    return ended, enrolled


def inactive_definition(days: int) -> dict[str, Any]:
    """The segment engine's definition of an idle client: registered more than `days` days ago, no
    sign-in to the trader's room and no trade in the last `days` days."""
    return {
        "match": "all",
        "conditions": [
            {"fact": "stage", "op": "not_in", "value": ["lead"]},
            {"fact": "registered", "op": "older_than_days", "days": days},
            {"fact": "last_login", "op": "not_within_days", "days": days},
            {"fact": "last_trade", "op": "not_within_days", "days": days},
        ],
    }


def sequences_enroll_inactive(*, now: dt.datetime | None = None) -> int:
    """Once a day per active idle-trigger sequence: enrol the brand's clients idle for its days."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    enrolled = 0
    due = Sequence.objects.filter(trigger=SequenceTrigger.INACTIVE_DAYS, status=SequenceStatus.ACTIVE).filter(
        Q(inactive_checked_on__isnull=True) | Q(inactive_checked_on__lt=today)
    )
    for sequence in due:
        with transaction.atomic():
            locked = Sequence.objects.select_for_update(skip_locked=True).filter(pk=sequence.pk).first()
            if locked is None or (locked.inactive_checked_on is not None and locked.inactive_checked_on >= today):
                continue
            ids = definition_member_ids(
                inactive_definition(locked.inactive_days or 1), brand_id=locked.brand_id, now=now
            )
            already = set(SequenceEnrollment.objects.filter(sequence=locked).values_list("client_id", flat=True))
            for client_id in ids:
                if client_id not in already and sequence_enroll(sequence=locked, client_id=client_id, at=now):
                    enrolled += 1
            locked.inactive_checked_on = today
            locked.save(update_fields=["inactive_checked_on"])
    return enrolled


# --- sending --------------------------------------------------------------------------------------------


def window_next_open(*, client_timezone: str, now: dt.datetime, window: tuple[int, int]) -> dt.datetime:
    """When the sending `window` (hours of the client's own day) next opens after `now`, outside it
    (an unknown or empty time zone: UTC, as in_sending_window)."""
    try:
        zone = zoneinfo.ZoneInfo(client_timezone) if client_timezone else dt.UTC
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = dt.UTC
    local = now.astimezone(zone)
    opening = local.replace(hour=window[0], minute=0, second=0, microsecond=0)
    if opening <= local:
        opening += dt.timedelta(days=1)
    return opening.astimezone(dt.UTC)


def _send_batch(now: dt.datetime) -> int:
    """One batch of due enrolments (locked, SKIP LOCKED); how many were handled. A step due outside
    the client's sending window (MARKETING_CAMPAIGN_WINDOW, as campaigns) waits for its next opening;
    the brand's budget (MARKETING_CAMPAIGN_RATE) is the one its campaigns spend: once spent, the rest
    of the batch stays due for the next run."""
    rows = list(
        SequenceEnrollment.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(status=EnrollmentStatus.ACTIVE, next_due_at__lte=now, sequence__status=SequenceStatus.ACTIVE)
        .select_related("sequence", "sequence__brand")
        .order_by("next_due_at", "id")[:BATCH]
    )
    if not rows:
        return 0
    steps: dict[tuple[int, int], SequenceStep] = {
        (s.sequence_id, s.order): s
        for s in SequenceStep.objects.filter(sequence_id__in={r.sequence_id for r in rows})
    }
    clients = Client.objects.select_related("brand", "owner").in_bulk([r.client_id for r in rows])
    allowed: set[int] = set()
    by_brand: dict[int, list[int]] = {}
    for row in rows:
        by_brand.setdefault(row.sequence.brand_id, []).append(row.client_id)
    for brand_id, ids in by_brand.items():
        allowed |= allowed_recipients(brand=brand_id, client_ids=ids, channel="email", at=now)
    window, rate = _window(), _rate()
    handled = 0
    for row in rows:
        step = steps.get((row.sequence_id, row.next_step or 0))
        client = clients.get(row.client_id)
        if step is None:  # the step was removed since: the sequence is over for them
            _end([row], EnrollmentStatus.COMPLETED, "", now)
            handled += 1
            continue
        if client is not None and not in_sending_window(client_timezone=client.timezone, now=now, window=window):
            row.next_due_at = window_next_open(client_timezone=client.timezone, now=now, window=window)
            row.save(update_fields=["next_due_at"])
            handled += 1
            continue
        budget = rate_key("marketing", "campaign", str(row.sequence.brand_id))
        if row.client_id in allowed and rate_spent(budget, rate) > 0:
            break
        handled += 1
        if row.client_id not in allowed:
            SequenceDelivery.objects.create(
                enrollment=row, step=step, status=StepDeliveryStatus.SKIPPED_NO_CONSENT, at=now,
                reason=gettext("No consent to marketing by email when it was due."),
            )
            _end([row], EnrollmentStatus.STOPPED_NO_CONSENT, gettext("No consent to marketing by email."), now)
            continue
        try:
            if client is None or not client.email:
                raise ValidationFailed(gettext("The client has no email address."))
            rate_hit(budget, rate)
            with transaction.atomic():
                email = marketing_email_queue(
                    brand=row.sequence.brand,
                    client=client,
                    subject=step.subject,
                    body=step.body,
                    source=str(row.sequence.code),
                    markers={"X-CRM-Marketing": "sequence", "X-CRM-Sequence": str(row.sequence.code)},
                    audit_action="marketing.sequence_email",
                    audit_extra={"sequence": str(row.sequence.code), "step": step.order},
                )
        except ValidationFailed as error:
            SequenceDelivery.objects.create(
                enrollment=row, step=step, status=StepDeliveryStatus.FAILED, at=now, reason=str(error.message)[:200]
            )
            _end([row], EnrollmentStatus.EXITED, str(error.message), now)
            continue
        SequenceDelivery.objects.create(
            enrollment=row, step=step, status=StepDeliveryStatus.SENT, at=now, email_code=email.code
        )
        following = steps_after(steps, row.sequence_id, step.order)
        if following is None:
            _end([row], EnrollmentStatus.COMPLETED, "", now)
        else:
            row.next_step = following.order
            row.next_due_at = row.started_at + dt.timedelta(hours=following.delay_hours)
            row.save(update_fields=["next_step", "next_due_at"])
    return handled


def steps_after(steps: Mapping[tuple[int, int], SequenceStep], sequence_id: int, order: int) -> SequenceStep | None:
    later = [s for (sid, o), s in steps.items() if sid == sequence_id and o > order]
    return min(later, key=lambda s: s.order) if later else None


def sequences_send_due(*, now: dt.datetime | None = None, max_batches: int = 50) -> int:
    """Send every step that is due (see the module docstring); how many enrolments were handled.
    Two runs at once share the work (SKIP LOCKED) and never send a step twice."""
    from plumbing import context as actor_context

    now = now or timezone.now()
    handled = 0
    with actor_context.acting_as(None, source="task", label="marketing:sequences"):
        for _ in range(max_batches):
            with transaction.atomic(), rows_gathered():
                done = _send_batch(now)
            handled += done
            if done < BATCH:
                break
    return handled


# --- reading --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepCounts:
    step: SequenceStep
    waiting: int  # enrolled clients this step is next for
    sent: int
    skipped: int
    failed: int


def sequence_step_counts(*, sequence: Sequence) -> list[StepCounts]:
    """Per step: who waits for it, and what became of it (sent, not sent for want of consent, failed)."""
    waiting = dict(
        SequenceEnrollment.objects.filter(sequence=sequence, status=EnrollmentStatus.ACTIVE)
        .values_list("next_step")
        .annotate(n=Count("id"))
        .values_list("next_step", "n")
    )
    done: dict[tuple[int, str], int] = {
        (step_id, status): n
        for step_id, status, n in SequenceDelivery.objects.filter(step__sequence=sequence)
        .values_list("step_id", "status")
        .annotate(n=Count("id"))
        .values_list("step_id", "status", "n")
    }
    return [
        StepCounts(
            step=step,
            waiting=waiting.get(step.order, 0),
            sent=done.get((step.pk, StepDeliveryStatus.SENT), 0),
            skipped=done.get((step.pk, StepDeliveryStatus.SKIPPED_NO_CONSENT), 0),
            failed=done.get((step.pk, StepDeliveryStatus.FAILED), 0),
        )
        for step in sequence.steps.order_by("order")
    ]


def sequence_status_counts(*, sequence: Sequence) -> dict[str, int]:
    """Enrolments by status, every status named (0 when none)."""
    counts = dict(
        SequenceEnrollment.objects.filter(sequence=sequence).values_list("status").annotate(n=Count("id"))
        .values_list("status", "n")
    )
    return {status: counts.get(status, 0) for status in EnrollmentStatus.values}
