"""Staff pages of deposits: finance's list and the Wallet tab of the client profile."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from crm.lib.dates import date_parse
from crm.lib.validation import InvalidValue
from crm.models import Client
from crm.permissions import AuthedRequest, user_can
from crm.views.ui import render_page
from wallet import deposits
from wallet.ledger import statement_lines, wallet_balances_for_client
from wallet.models import DepositStatus, PaymentProvider

VIEW = "wallet.view_deposit"
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
    rows = deposits.deposit_list_for_user(request.user)
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


def _tab_context(request: AuthedRequest, client: Client) -> dict[str, Any]:
    balances = wallet_balances_for_client(client)
    statements = []
    for row in balances:
        _opening, lines = statement_lines(row.account)
        statements.append({"currency": row.account.currency, "lines": list(reversed(lines))[:20]})
    from wallet.transfer_views import transfer_tab_context

    return {"wallet_balances": balances, "wallet_statements": statements,
            "wallet_deposits": list(deposits.deposits_for_client(client=client)[:20]),
            **transfer_tab_context(request, client)}


def ui_contributions() -> dict[str, Any]:
    from crm.tabs import ClientTab

    return {"tabs": [ClientTab(key="wallet", label=_("Wallet"), template="wallet/deposits/client_tab.html",
                               order=40, permission=VIEW, context=_tab_context)]}
