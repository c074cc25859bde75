"""Views of the payment providers: the webhook endpoint and the finance/admin overview page."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from crm.lib.webhooks import webhook_answer, webhook_request
from crm.permissions import AuthedRequest, user_can
from crm.views.ui import render_page
from wallet import selectors, services
from wallet.exceptions import ProviderNotConfigured
from wallet.models import BankWireIncoming, WebhookDelivery
from wallet.webhooks import provider_adapter

MANAGE = "wallet.manage_providers"


@csrf_exempt  # a provider's server has no CSRF token: the HMAC signature authenticates it
@require_POST
def webhook(request: HttpRequest, provider_code: str) -> HttpResponse:
    receipt = services.webhook_receive(provider_code=provider_code, **webhook_request(request))
    provider = getattr(receipt.row, "provider", None)
    if provider is not None:
        # A provider that expects an answer of its own (Praxis: a signed {"status": 0}) gets it.
        try:
            adapter = provider_adapter(provider)
        except ProviderNotConfigured:
            adapter = None
        reply = adapter.webhook_reply(status_code=receipt.status_code) if adapter is not None else None
        if reply is not None:
            status, body, headers = reply
            return HttpResponse(body, status=status, headers=headers)
    return webhook_answer(receipt)


@login_required
@require_GET
def provider_list(request: AuthedRequest) -> HttpResponse:
    if not user_can(request.user, MANAGE):
        raise Http404
    return render_page(request, "wallet/provider_list.html", {
        "providers": selectors.provider_list(),
        "methods": selectors.method_list(),
        "deliveries": WebhookDelivery.objects.select_related("provider")[:50],
        "wires": BankWireIncoming.objects.select_related("provider")[:50],
    })
