"""Finance's withdrawal queue: ordered by SLA, with first/second approval and rejection; and one
withdrawal's page: the client, the method and destination, each flag (its reason and link as far as the
user's permissions allow), the decision trail and the same decisions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from crm.exceptions import DomainError, NotFound
from crm.permissions import AuthedRequest, user_can
from crm.views.ui import render_page
from wallet.models import WithdrawalState
from wallet.permissions import APPROVE_PERMISSION, withdrawal_get_for_user
from wallet.selectors import WITHDRAWAL_OPEN_STATES as OPEN_STATES
from wallet.selectors import withdrawal_flags_for_queue, withdrawal_queue_for_user
from wallet.services import (
    withdrawal_approve,
    withdrawal_first_approval_send_back,
    withdrawal_mark_failed,
    withdrawal_mark_paid,
    withdrawal_reject,
)
from wallet.withdrawal_policy import POLICY_PERMISSION
from wallet.withdrawals import withdrawal_trail


class QueueFilter(forms.Form):
    state = forms.ChoiceField(label=_("State"), required=False,
                              choices=[("", _("Open")), ("all", _("All")), *WithdrawalState.choices])
    overdue = forms.BooleanField(label=_("Past the SLA only"), required=False)


class RejectForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=500)


class MarkPaidForm(forms.Form):
    bank_reference = forms.CharField(label=_("Bank's reference"), max_length=200)


@login_required
@require_GET
def withdrawal_queue(request: AuthedRequest) -> HttpResponse:
    if not user_can(request.user, APPROVE_PERMISSION):
        raise Http404
    qs = withdrawal_queue_for_user(user=request.user)
    form = QueueFilter(request.GET or None)
    state = form.cleaned_data.get("state") if form.is_valid() else ""
    if not state:
        qs = qs.filter(state__in=OPEN_STATES)
    elif state != "all":
        qs = qs.filter(state=state)
    if form.is_valid() and form.cleaned_data.get("overdue"):
        qs = qs.filter(state=WithdrawalState.REQUESTED, due_at__lt=timezone.now())
    rows = list(qs[:200])
    # Each flag as this user may see it: its kind always, its reason and link only with its permission.
    flags = withdrawal_flags_for_queue(user=request.user, withdrawals=rows)
    for w in rows:
        w.flags_shown = flags.get(w.pk, [])  # type: ignore[attr-defined]  # for the template only
    return render_page(request, "wallet/withdrawals/queue.html", {
        "withdrawals": rows, "filter": form, "reject_form": RejectForm(), "now": timezone.now(),
        "can_see_policy": user_can(request.user, POLICY_PERMISSION)})


def _back(request: AuthedRequest | None = None, code: str = "") -> HttpResponseRedirect:
    """Back to where the decision was made: the withdrawal's page when it was posted from there, else the queue."""
    if request is not None and code and request.POST.get("back") == "detail":
        return HttpResponseRedirect(reverse("wallet_withdrawal_detail", args=[code]))
    return HttpResponseRedirect(reverse("wallet_withdrawal_queue"))


@login_required
@require_GET
def withdrawal_detail(request: AuthedRequest, code: str) -> HttpResponse:
    """One withdrawal for finance: 404 for a user who may not decide withdrawals or see its client."""
    w = _finance_withdrawal(request, code)
    flags = withdrawal_flags_for_queue(user=request.user, withdrawals=[w]).get(w.pk, [])
    first_waiting = (w.state == WithdrawalState.REQUESTED and w.needs_two_approvals
                     and w.first_approved_by_id is not None)
    return render_page(request, "wallet/withdrawals/detail.html", {
        "w": w, "flags": flags, "trail": withdrawal_trail(withdrawal=w),
        "first_waiting": first_waiting,
        "may_second": first_waiting and w.first_approved_by_id != request.user.pk})


def _finance_withdrawal(request: AuthedRequest, code: str) -> Any:
    """A withdrawal of a client the user may see, if the user decides withdrawals; else 404."""
    try:
        return withdrawal_get_for_user(user=request.user, code=code)
    except NotFound:
        raise Http404 from None


@login_required
@require_POST
def withdrawal_approve_view(request: AuthedRequest, code: str) -> HttpResponse:
    w = _finance_withdrawal(request, code)
    try:
        w = withdrawal_approve(withdrawal=w, actor=request.user)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, gettext("Approved.") if w.state == WithdrawalState.APPROVED
                         else gettext("First approval recorded; a second person must approve."))
    return _back(request, code)


def _decide(request: AuthedRequest, code: str, form_class: type[forms.Form], *, invalid: str, done: str,
            act: Callable[[Any, dict[str, Any]], Any]) -> HttpResponseRedirect:
    """A decision taking a form (a reason, a reference): the form's problem or the service's refusal
    is said, else `done`; back to the queue either way."""
    w = _finance_withdrawal(request, code)
    form = form_class(request.POST)
    if not form.is_valid():
        messages.error(request, invalid)
        return _back(request, code)
    try:
        act(w, form.cleaned_data)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, done)
    return _back(request, code)


@login_required
@require_POST
def withdrawal_reject_view(request: AuthedRequest, code: str) -> HttpResponse:
    return _decide(request, code, RejectForm, invalid=gettext("Reason: say why the withdrawal is rejected."),
                   done=gettext("Rejected; the amount is available to the client again."),
                   act=lambda w, data: withdrawal_reject(withdrawal=w, actor=request.user, reason=data["reason"]))


@login_required
@require_POST
def withdrawal_send_back_view(request: AuthedRequest, code: str) -> HttpResponse:
    """A second approver disagrees with the first approval: it is withdrawn, the withdrawal waits again."""
    return _decide(request, code, RejectForm, invalid=gettext("Reason: say why the first approval is sent back."),
                   done=gettext("First approval sent back; the withdrawal waits for two approvals again."),
                   act=lambda w, data: withdrawal_first_approval_send_back(withdrawal=w, actor=request.user,
                                                                           reason=data["reason"]))


@login_required
@require_POST
def withdrawal_mark_paid_view(request: AuthedRequest, code: str) -> HttpResponse:
    """Finance sent the wire from the bank and records its reference."""
    return _decide(request, code, MarkPaidForm,
                   invalid=gettext("Bank's reference: give the reference of the transfer you sent."),
                   done=gettext("Recorded as paid; the client sees it paid."),
                   act=lambda w, data: withdrawal_mark_paid(withdrawal=w, actor=request.user,
                                                            bank_reference=data["bank_reference"]))


@login_required
@require_POST
def withdrawal_mark_failed_view(request: AuthedRequest, code: str) -> HttpResponse:
    """The wire could not be sent or came back: the withdrawal fails and the amount is released."""
    return _decide(request, code, RejectForm, invalid=gettext("Reason: say why the transfer could not be made."),
                   done=gettext("Recorded as failed; the amount is available to the client again."),
                   act=lambda w, data: withdrawal_mark_failed(withdrawal=w, actor=request.user,
                                                              reason=data["reason"]))
