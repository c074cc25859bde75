"""Staff pages of deposits: finance's list and the Wallet tab of the client profile."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods

from crm.exceptions import DomainError, NotFound
from crm.lib.dates import date_parse
from crm.lib.money import Money, money_format
from crm.lib.validation import InvalidValue
from crm.models import Client
from crm.permissions import AuthedRequest, user_can
from crm.views.ui import render_page
from crm.views.ui.forms import AmountField, apply_domain_errors
from wallet import permissions, selectors, services
from wallet.exceptions import HeldDepositDecided
from wallet.models import Deposit, DepositRefund, DepositStatus, PaymentProvider
from wallet.models.deposits import REFUND_PENDING_APPROVAL

VIEW = "wallet.view_deposit"
REFUND = "wallet.refund_deposit"
DECIDE = permissions.DECIDE_HELD_PERMISSION
PAGE_SIZE = 100


def _date(value: str) -> dt.date | None:
    try:
        return date_parse(value, field="date") if value else None
    except InvalidValue:
        return None


@login_required
@require_GET
def deposit_list(request: AuthedRequest) -> HttpResponse:
    if not user_can(request.user, VIEW):
        raise Http404
    rows = selectors.deposit_list_for_user(request.user)
    status = request.GET.get("status", "")
    provider = request.GET.get("provider", "")
    start, end = _date(request.GET.get("from", "")), _date(request.GET.get("to", ""))
    problems: dict[str, str] = {}
    if status:
        if status in DepositStatus.values:
            rows = rows.filter(status=status)
        else:
            problems["status"] = str(_("Choose a status from the list."))
    if provider:
        rows = rows.filter(provider__code=provider)
    if request.GET.get("from") and start is None:
        problems["from"] = str(_("Enter a date as YYYY-MM-DD."))
    if request.GET.get("to") and end is None:
        problems["to"] = str(_("Enter a date as YYYY-MM-DD."))
    if start is not None:
        rows = rows.filter(created_at__date__gte=start)
    if end is not None:
        rows = rows.filter(created_at__date__lte=end)
    return render_page(request, "wallet/deposits/list.html", {
        "deposits": rows[:PAGE_SIZE], "statuses": DepositStatus.choices,
        "providers": PaymentProvider.objects.order_by("name"), "problems": problems,
        "filters": {"status": status, "provider": provider, "from": request.GET.get("from", ""),
                    "to": request.GET.get("to", "")},
    }, status=400 if problems else 200)


class RefundForm(forms.Form):
    amount = AmountField(label=_("Amount"))
    reason = forms.CharField(label=_("Reason"), max_length=300,
                             help_text=_("The client and finance read it on the refund."))


def _deposit_or_404(request: AuthedRequest, code: str) -> Deposit:
    if not user_can(request.user, VIEW):
        raise Http404
    try:
        return permissions.deposit_get_for_user(user=request.user, code=code)
    except NotFound:
        raise Http404 from None


def _refundable(deposit: Deposit) -> Money | None:
    """What is left to refund of a succeeded deposit; None when it cannot be refunded."""
    return selectors.deposit_refundable(deposit)


class RefundSendBackForm(forms.Form):
    reason = forms.CharField(label=_("Why it is sent back"), max_length=2000,
                             help_text=_("Kept in the audit log with the refund that was proposed."))


class HeldDecisionForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=300,
                             help_text=_("Kept on the deposit's history and in the audit log; the client does not see it."))


@login_required
@require_GET
def deposit_detail(request: AuthedRequest, code: str) -> HttpResponse:
    deposit = _deposit_or_404(request, code)
    return _detail(request, deposit, RefundForm() if user_can(request.user, REFUND) else None)


def _held_decision(request: AuthedRequest, deposit: Deposit) -> dict[str, Any]:
    """What the page offers for a deposit held for finance (or refused, its refund refused by the
    provider): the decision forms, for a user who may decide, and why release is not offered."""
    refunds = list(deposit.refunds.all())
    retry = deposit.status == DepositStatus.REFUSED and bool(refunds) and all(r.status == "failed" for r in refunds)
    if deposit.status != DepositStatus.HELD and not retry:
        return {}
    may = user_can(request.user, DECIDE)
    refusal = selectors.held_release_refusal(deposit) if deposit.status == DepositStatus.HELD else None
    return {"held": {"retry": retry, "may_decide": may, "release_refusal": refusal,
                     "release_form": HeldDecisionForm(prefix="release") if may and not refusal and not retry else None,
                     "refuse_form": HeldDecisionForm(prefix="refuse") if may else None}}


def _detail(request: AuthedRequest, deposit: Deposit, form: RefundForm | None, *, status: int = 200,
            held: dict[str, Any] | None = None) -> HttpResponse:
    refundable = _refundable(deposit)
    context = _held_decision(request, deposit)
    if held and context:
        context["held"].update(held)
    return render_page(request, "wallet/deposits/detail.html", {
        "deposit": deposit, "refundable": refundable,
        "refund_form": form if refundable is not None else None,
        "refunds": deposit.refunds.select_related("actor", "proposed_by", "approved_by").order_by("-created_at", "-id"),
        # A refund waiting for a second person: who may approve or send it back (not its proposer).
        "may_second": user_can(request.user, REFUND), "send_back_form": RefundSendBackForm(),
        "status_changes": deposit.status_changes.order_by("-id")[:50],
        "three_ds": selectors.deposit_three_ds(deposit), "three_ds_text": selectors.three_ds_text(deposit),
        **context,
    }, status=status)


def _decide(request: AuthedRequest, code: str, action: str) -> HttpResponse:
    """Finance releases or refuses a held deposit: the reason, then the service (which locks the
    deposit, so a second click finds it decided and changes nothing: said, not an error page)."""
    if not user_can(request.user, DECIDE):
        raise Http404
    deposit = _deposit_or_404(request, code)
    form = HeldDecisionForm(request.POST, prefix=action)
    if not form.is_valid():
        return _detail(request, deposit, None, status=400, held={f"{action}_form": form})
    service = services.deposit_release if action == "release" else services.deposit_refuse
    try:
        deposit = service(deposit=deposit, actor=request.user, reason=form.cleaned_data["reason"])
    except HeldDepositDecided as error:
        messages.info(request, error.message)
        return HttpResponseRedirect(reverse("wallet_deposit_detail", args=[deposit.code]))
    except DomainError as error:
        apply_domain_errors(form, error)
        deposit.refresh_from_db()
        return _detail(request, deposit, None, status=400, held={f"{action}_form": form})
    if action == "release":
        messages.success(request, gettext("Released: %(amount)s credited to the client's %(currency)s wallet.")
                         % {"amount": money_format(deposit.money), "currency": deposit.currency})
    elif deposit.status == DepositStatus.REFUNDED:
        messages.success(request, gettext("Refused: %(provider)s returned %(amount)s to the payer.")
                         % {"amount": money_format(deposit.money), "provider": deposit.provider.name})
    elif deposit.status == DepositStatus.FAILED:
        messages.success(request, gettext("Refused and closed: there was nothing to return."))
    else:
        messages.info(request, gettext("Refused: the refund of %(amount)s to the payer is asked of %(provider)s; "
                                       "see below for its answer.") % {"amount": money_format(deposit.money),
                                                                       "provider": deposit.provider.name})
    return HttpResponseRedirect(reverse("wallet_deposit_detail", args=[deposit.code]))


@login_required
@require_http_methods(["POST"])
def deposit_release_view(request: AuthedRequest, code: str) -> HttpResponse:
    return _decide(request, code, "release")


@login_required
@require_http_methods(["POST"])
def deposit_refuse_view(request: AuthedRequest, code: str) -> HttpResponse:
    return _decide(request, code, "refuse")


@login_required
@require_http_methods(["POST"])
def deposit_refund_view(request: AuthedRequest, code: str) -> HttpResponse:
    """Finance gives (part of) a deposit back through its provider: the amount (at most what is left
    to refund) and why. The refund service audits it and posts the ledger once the provider agrees."""
    if not user_can(request.user, REFUND):
        raise Http404
    deposit = _deposit_or_404(request, code)
    form = RefundForm(request.POST)
    if not form.is_valid():
        return _detail(request, deposit, form, status=400)
    try:
        amount = Money.exact(form.cleaned_data["amount"], deposit.currency)
    except InvalidValue as error:
        form.add_error("amount", error.message)
        return _detail(request, deposit, form, status=400)
    try:
        refund = services.deposit_refund(deposit=deposit, amount=amount, actor=request.user,
                                         reason=form.cleaned_data["reason"])
    except DomainError as error:
        apply_domain_errors(form, error)
        deposit.refresh_from_db()
        return _detail(request, deposit, form, status=400)
    _refund_message(request, deposit, refund)
    return HttpResponseRedirect(reverse("wallet_deposit_detail", args=[deposit.code]))


def _refund_message(request: AuthedRequest, deposit: Deposit, refund: DepositRefund) -> None:
    if refund.status == REFUND_PENDING_APPROVAL:
        messages.info(request, gettext("The refund of %(amount)s waits for a second person's approval; nothing is "
                                       "asked of %(provider)s until then.") % {
            "amount": money_format(refund.money), "provider": deposit.provider.name})
    elif refund.status == "succeeded":
        messages.success(request, gettext("Refunded %(amount)s to the client through %(provider)s.") % {
            "amount": money_format(refund.money), "provider": deposit.provider.name})
    elif refund.status == "failed":
        messages.error(request, gettext("%(provider)s refused the refund; nothing was taken from the wallet.")
                       % {"provider": deposit.provider.name})
    else:
        messages.info(request, gettext("The refund of %(amount)s is asked of %(provider)s; the wallet is debited "
                                       "once it confirms.") % {"amount": money_format(refund.money),
                                                               "provider": deposit.provider.name})


def _refund_or_404(request: AuthedRequest, code: str, refund_code: str) -> tuple[Deposit, DepositRefund]:
    if not user_can(request.user, REFUND):
        raise Http404
    deposit = _deposit_or_404(request, code)
    try:
        return deposit, selectors.refund_get_for_deposit(deposit=deposit, code=refund_code)
    except (NotFound, ValueError, DjangoValidationError):
        raise Http404 from None


@login_required
@require_http_methods(["POST"])
def deposit_refund_approve_view(request: AuthedRequest, code: str, refund_code: str) -> HttpResponse:
    """A second person (with the refund permission, not the one who asked for it) approves a refund that
    waits for one: it is asked of the provider at once."""
    deposit, refund = _refund_or_404(request, code, refund_code)
    try:
        refund = services.deposit_refund_approve(refund=refund, actor=request.user)
    except DomainError as error:
        messages.error(request, " ".join(m for msgs in error.fields.values() for m in msgs) or error.message)
    else:
        _refund_message(request, deposit, refund)
    return HttpResponseRedirect(reverse("wallet_deposit_detail", args=[deposit.code]))


@login_required
@require_http_methods(["POST"])
def deposit_refund_send_back_view(request: AuthedRequest, code: str, refund_code: str) -> HttpResponse:
    """A second person sends a waiting refund back, saying why: it is not made."""
    deposit, refund = _refund_or_404(request, code, refund_code)
    form = RefundSendBackForm(request.POST)
    if not form.is_valid():
        messages.error(request, gettext("Say why the refund is sent back."))
        return HttpResponseRedirect(reverse("wallet_deposit_detail", args=[deposit.code]))
    try:
        services.deposit_refund_send_back(refund=refund, actor=request.user, reason=form.cleaned_data["reason"])
    except DomainError as error:
        messages.error(request, " ".join(m for msgs in error.fields.values() for m in msgs) or error.message)
    else:
        messages.success(request, gettext("The refund of %(amount)s was sent back; nothing was refunded.")
                         % {"amount": money_format(refund.money)})
    return HttpResponseRedirect(reverse("wallet_deposit_detail", args=[deposit.code]))


def _tab_context(request: AuthedRequest, client: Client) -> dict[str, Any]:
    balances = selectors.wallet_balances_for_client(client)
    statements = []
    for row in balances:
        _opening, lines = selectors.statement_lines(row.account)
        statements.append({"currency": row.account.currency, "lines": list(reversed(lines))[:20]})
    from wallet.transfer_views import transfer_tab_context

    return {"wallet_balances": balances, "wallet_statements": statements,
            "wallet_deposits": list(selectors.deposits_for_client(client=client)[:20]),
            **transfer_tab_context(request, client)}


def ui_contributions() -> dict[str, Any]:
    from crm.registry import ClientTab

    return {"tabs": [ClientTab(key="wallet", label=_("Wallet"), template="wallet/deposits/client_tab.html",
                               order=40, permission=VIEW, context=_tab_context)]}
