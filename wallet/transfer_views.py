"""Finance's transfer action on the client's Wallet tab: move the client's money between the wallet
and the client's live trading accounts (wallet.transfers), as the trader's room lets the client."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from crm.exceptions import DomainError, NotFound
from crm.lib.money import money_parse
from crm.lib.payloads import client_url
from crm.lib.validation import InvalidValue
from crm.models import Client
from crm.permissions import AuthedRequest, client_get_for_user, user_can
from crm.views.ui.forms import AmountField
from wallet.selectors import transfer_accounts_for, transfers_for_client
from wallet.services import transfer_request

if TYPE_CHECKING:
    from trading.models import TradingAccount  # for annotations only

TRANSFER_PERMISSION = "wallet.transfer_funds"
WALLET = "wallet"


class StaffTransferForm(forms.Form):
    source = forms.ChoiceField(label=_("From"))
    target = forms.ChoiceField(label=_("To"))
    amount = AmountField(label=_("Amount"))
    key = forms.CharField(widget=forms.HiddenInput, max_length=100)

    def __init__(self, *args: Any, accounts: list[TradingAccount], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.accounts = {str(a.code): a for a in accounts}
        choices = [(WALLET, gettext("Wallet"))] + [(code, f"{a.login} ({a.currency})")
                                                  for code, a in self.accounts.items()]
        for name in ("source", "target"):
            field = self.fields[name]
            assert isinstance(field, forms.ChoiceField)
            field.choices = choices


def transfer_tab_context(request: AuthedRequest, client: Client) -> dict[str, Any]:
    """The Wallet tab's transfers: the latest ones, and the form for those who may transfer."""
    can = user_can(request.user, TRANSFER_PERMISSION)
    accounts = list(transfer_accounts_for(client=client)) if can else []
    return {"wallet_transfers": list(transfers_for_client(client=client)[:20]),
            "wallet_transfer_form": StaffTransferForm(accounts=accounts, initial={"key": uuid.uuid4().hex})
            if can and accounts else None}


@login_required
@require_POST
def client_transfer(request: AuthedRequest, code: str) -> HttpResponse:
    if not user_can(request.user, TRANSFER_PERMISSION):
        raise Http404
    try:
        client = client_get_for_user(request.user, code)
    except NotFound:
        raise Http404 from None
    back = HttpResponseRedirect(client_url(client, tab="wallet"))
    form = StaffTransferForm(request.POST, accounts=list(transfer_accounts_for(client=client)))
    if not form.is_valid():
        messages.error(request, gettext("Choose where from and where to, and an amount above zero."))
        return back
    data = form.cleaned_data
    source, target = form.accounts.get(data["source"]), form.accounts.get(data["target"])
    account = source or target
    try:
        transfer_request(actor=request.user, client=client, source=source, target=target,
                         amount=money_parse(data["amount"], account.currency if account else "USD"),
                         key=f"staff:{request.user.pk}:{data['key']}")
    except (DomainError, InvalidValue) as error:
        messages.error(request, error.message)
    else:
        messages.success(request, gettext("The transfer is sent to the platform; the ledger moves when it is applied."))
    return back


@login_required
@require_GET
def client_statement(request: AuthedRequest, code: str) -> HttpResponse:
    """A client's wallet statement as PDF, for staff who see the client and the deposits."""
    from wallet.selectors import statement_build, statement_pdf, statement_period

    if not user_can(request.user, "wallet.view_deposit"):
        raise Http404
    try:
        client = client_get_for_user(request.user, code)
    except NotFound:
        raise Http404 from None
    try:
        start, end = statement_period(request.GET.get("from", ""), request.GET.get("to", ""))
        made = statement_build(client=client, currency=request.GET.get("currency") or client.brand.default_currency,
                               start=start, end=end)
    except (DomainError, ValueError) as error:
        messages.error(request, getattr(error, "message", "") or gettext("Choose a currency the client has."))
        return HttpResponseRedirect(client_url(client, tab="wallet"))
    response = HttpResponse(statement_pdf(made), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{made.filename}"'
    return response
