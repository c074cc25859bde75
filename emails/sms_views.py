"""SMS pages and endpoints: the administrators' SMS providers (one page to list and add, one to
change), and the provider's two webhooks (status callbacks, inbound messages), through the webhook
inbox (emails.sms)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from crm.exceptions import DomainError
from crm.lib.webhooks import webhook_answer, webhook_request
from crm.models import Brand
from crm.permissions import user_can
from crm.views.ui.forms import apply_domain_errors
from emails import permissions, sms
from emails.sms_models import TWILIO_LIVE_URL, SmsProvider

TWIML_EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


class SmsProviderForm(forms.Form):
    brand = forms.ModelChoiceField(label=_("Brand"), queryset=Brand.objects.filter(is_active=True))
    code = forms.SlugField(label=_("Code"), max_length=40,
                           help_text=_("Short name in the webhook addresses: /hooks/sms/<code>/."))
    name = forms.CharField(label=_("Name"), max_length=120)
    base_url = forms.URLField(label=_("API base URL"), initial=TWILIO_LIVE_URL, assume_scheme="https",
                              help_text=_("https://api.twilio.com for live; a simulator's address for a sandbox."))
    account_sid = forms.CharField(label=_("Account SID"), max_length=64)
    auth_token = forms.CharField(label=_("Auth token"), required=False, max_length=200,
                                 widget=forms.PasswordInput(render_value=False),
                                 help_text=_("Stored encrypted and never shown again; leave empty to keep it."))
    from_number = forms.CharField(label=_("Sender number"), required=False, max_length=20)
    messaging_service_sid = forms.CharField(label=_("Messaging service SID"), required=False, max_length=64)
    rate_per_second = forms.DecimalField(label=_("Messages per second"), initial=1, min_value=0.01, max_value=1000,
                                         decimal_places=2)
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    @staticmethod
    def of(provider: SmsProvider) -> dict[str, Any]:
        return {"brand": provider.brand_id, "code": provider.code, "name": provider.name, "base_url": provider.base_url,
                "account_sid": provider.account_sid, "from_number": provider.from_number,
                "messaging_service_sid": provider.messaging_service_sid,
                "rate_per_second": provider.rate_per_second, "is_active": provider.is_active}


def _may_manage(request: HttpRequest) -> None:
    if not user_can(request.user, permissions.SMS_PROVIDER_MANAGE):
        raise Http404  # the page does not exist for anyone else


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def sms_provider_list(request: HttpRequest) -> HttpResponse:
    """The brands' SMS providers, and a form to add one."""
    _may_manage(request)
    form = SmsProviderForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            sms.sms_provider_save(actor=request.user, **form.cleaned_data)  # type: ignore[arg-type]  # the form's cleaned data, checked by the form
        except DomainError as error:
            apply_domain_errors(form, error)
        else:
            messages.success(request, _("SMS provider saved."))
            return redirect("sms_provider_list")
    rows = [(p, sms.sms_webhook_urls(p)) for p in sms.sms_providers()]
    return render(request, "emails/sms_providers.html", {"form": form, "rows": rows},
                  status=400 if form.errors else 200)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def sms_provider_edit(request: HttpRequest, code: str) -> HttpResponse:
    _may_manage(request)
    provider = get_object_or_404(SmsProvider.objects.select_related("brand"), code=code)
    form = SmsProviderForm(request.POST or None, initial=SmsProviderForm.of(provider))
    if request.method == "POST" and form.is_valid():
        try:
            sms.sms_provider_save(actor=request.user, provider=provider, **form.cleaned_data)  # type: ignore[arg-type]  # the form's cleaned data, checked by the form
        except DomainError as error:
            apply_domain_errors(form, error)
        else:
            messages.success(request, _("SMS provider saved."))
            return redirect("sms_provider_list")
    return render(request, "emails/sms_provider_form.html",
                  {"form": form, "provider": provider, "urls": sms.sms_webhook_urls(provider)},
                  status=400 if form.errors else 200)


@csrf_exempt
@require_POST
def sms_status_webhook(request: HttpRequest, provider: str) -> JsonResponse:
    """Twilio's status callback of a message we sent (emails.sms: signed, stored, deduplicated, applied)."""
    return webhook_answer(sms.sms_webhook_receive(kind="status", provider=provider, **webhook_request(request)))


@csrf_exempt
@require_POST
def sms_inbound_webhook(request: HttpRequest, provider: str) -> HttpResponse:
    """A message a client texted to our number (STOP, START, HELP...): answered with empty TwiML
    (Twilio itself answers the opt-out keywords)."""
    receipt = sms.sms_webhook_receive(kind="inbound", provider=provider, **webhook_request(request))
    if receipt.status_code == 200:
        return HttpResponse(TWIML_EMPTY, content_type="text/xml")
    return webhook_answer(receipt)
