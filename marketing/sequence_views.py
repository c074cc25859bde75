"""Pages of marketing's email sequences (drips): the list, a new or changed sequence with its steps
(htmx adds and removes a step's row), a sequence's page (its enrolments by status, and per step who
waits for it and what became of it) with pause and resume."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm.exceptions import DomainError, NotAllowed, ValidationFailed
from crm.permissions import AuthedRequest, visible_brands
from marketing import sequences
from marketing.exceptions import SequenceUnknown
from marketing.permissions import (
    may_change_sequences,
    may_view_sequences,
    sequence_get_for_user,
    sequence_queryset_for_user,
)
from marketing.sequence_models import EnrollmentStatus, Sequence, SequenceGoal, SequenceTrigger


def sequences_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @login_required
    @wraps(view)
    def wrapper(request: AuthedRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not may_view_sequences(request.user):
            raise Http404
        return view(request, *args, **kwargs)

    return wrapper


def _get(request: AuthedRequest, code: Any) -> Sequence:
    try:
        return sequence_get_for_user(request.user, code)
    except SequenceUnknown:
        raise Http404 from None


@sequences_required
@require_GET
def sequence_list(request: AuthedRequest) -> HttpResponse:
    rows = list(sequence_queryset_for_user(request.user).order_by("brand__name", "name")[:200])
    return render(
        request, "marketing/sequences.html", {"sequences": rows, "may_change": may_change_sequences(request.user)}
    )


def _row(index: int, delay: int = 24, subject: str = "", body: str = "") -> dict[str, Any]:
    days = delay % 24 == 0
    return {"index": index, "amount": delay // 24 if days else delay, "unit": "days" if days else "hours",
            "subject": subject, "body": body}


def _rows(steps: list[sequences.StepText]) -> list[dict[str, Any]]:
    return [_row(i, s.delay_hours, s.subject, s.body) for i, s in enumerate(steps)]


@sequences_required
@require_http_methods(["GET", "POST"])
def sequence_edit(request: AuthedRequest, code: Any = None) -> HttpResponse:
    """A new sequence (no code) or one changed; the service names every problem by its field."""
    if not may_change_sequences(request.user):
        raise Http404
    sequence = _get(request, code) if code is not None else None
    brands = visible_brands(request.user)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        post = request.POST
        steps = sequences.steps_from(post)
        values = {
            "brand": str(post.get("brand", "")),
            "name": str(post.get("name", "")),
            "trigger": str(post.get("trigger", "")),
            "inactive_days": str(post.get("inactive_days", "")),
            "goal": str(post.get("goal", "")),
        }
        brand = sequence.brand if sequence is not None else brands.filter(pk=values["brand"]).first() if \
            values["brand"].isdigit() else None
        if brand is None:
            errors["brand"] = [_("Choose a brand.")]
        else:
            days = values["inactive_days"].strip()
            try:
                saved = sequences.sequence_save(
                    actor=request.user, brand=brand, name=values["name"], trigger=values["trigger"],
                    goal=values["goal"], steps=steps, inactive_days=int(days) if days.isdigit() else None,
                    sequence=sequence,
                )
            except ValidationFailed as error:
                errors = {k: [str(m) for m in v] for k, v in error.fields.items()}
            except NotAllowed:
                raise Http404 from None
            else:
                messages.success(request, _("Sequence saved."))
                return redirect(reverse("marketing_sequence", args=[saved.code]))
        rows = _rows(steps) or [_row(0)]
    elif sequence is not None:
        values = {"brand": str(sequence.brand_id), "name": sequence.name, "trigger": sequence.trigger,
                  "inactive_days": str(sequence.inactive_days or ""), "goal": sequence.goal}
        rows = [_row(i, s.delay_hours, s.subject, s.body) for i, s in enumerate(sequence.steps.order_by("order"))]
    else:
        values = {"brand": "", "name": "", "trigger": SequenceTrigger.REGISTERED, "inactive_days": "",
                  "goal": SequenceGoal.KYC_VERIFIED}
        rows = [_row(0, 24), _row(1, 72)]
    for row in rows:
        row["errors"] = [m for f in ("delay", "subject", "body") for m in errors.get(f"{f}_{row['index']}", [])]
    context = {
        "sequence": sequence, "values": values, "rows": rows, "errors": errors, "brands": brands,
        "triggers": SequenceTrigger.choices, "goals": SequenceGoal.choices,
    }
    return render(request, "marketing/sequence_edit.html", context, status=422 if errors else 200)


@sequences_required
@require_POST
def sequence_step_row(request: AuthedRequest) -> HttpResponse:
    """htmx: an empty step row to add after the form's rows (posted with it), or nothing (remove=1:
    the row is swapped out)."""
    if not may_change_sequences(request.user):
        raise Http404
    if request.POST.get("remove"):
        return HttpResponse("")
    index = sequences.step_next_index(request.POST)
    return render(request, "marketing/sequence_edit.html#step-row", {"row": {**_row(index, 24 * 7), "errors": []}})


@sequences_required
@require_GET
def sequence_detail(request: AuthedRequest, code: Any) -> HttpResponse:
    sequence = _get(request, code)
    statuses = sequences.sequence_status_counts(sequence=sequence)
    context = {
        "sequence": sequence,
        "steps": sequences.sequence_step_counts(sequence=sequence),
        "statuses": [(label, statuses[value]) for value, label in EnrollmentStatus.choices],
        "may_change": may_change_sequences(request.user),
    }
    return render(request, "marketing/sequence.html", context)


def _act(request: AuthedRequest, code: Any, action: Callable[..., Any], done: str) -> HttpResponse:
    if not may_change_sequences(request.user):
        raise Http404
    sequence = _get(request, code)
    try:
        action(actor=request.user, sequence=sequence)
    except NotAllowed:
        raise Http404 from None
    except DomainError as error:
        messages.error(request, str(error.message))
    else:
        messages.success(request, done)
    return redirect(reverse("marketing_sequence", args=[sequence.code]))


@sequences_required
@require_POST
def sequence_pause(request: AuthedRequest, code: Any) -> HttpResponse:
    return _act(request, code, sequences.sequence_pause, _("Sequence paused: no step is sent until it is resumed."))


@sequences_required
@require_POST
def sequence_resume(request: AuthedRequest, code: Any) -> HttpResponse:
    return _act(request, code, sequences.sequence_resume, _("Sequence resumed."))
