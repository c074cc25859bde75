"""Public pages of marketing consent (no login: the signed token is the authority) and the staff's
consent tab on the client's page.

- ``/m/u/<token>``: POST with ``List-Unsubscribe=One-Click`` (RFC 8058, what a mail client sends)
  withdraws consent on the token's channel and answers 200 with an empty body; GET shows the
  preference page (the brand's name, the client's language, a checkbox per channel, a save button)
  and changes nothing (mail scanners fetch links); its form POSTs back here. A token that is not ours
  gets a page naming the problem (400 changed or cut short, 404 a client no longer known).
- ``/m/webhooks/mail/<provider>/``: the email provider's bounces and complaints (marketing.mail_events).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import translation
from django.utils.translation import gettext
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from crm.lib.middleware import client_ip
from crm.lib.webhooks import webhook_answer, webhook_request
from crm.models import Client
from crm.permissions import AuthedRequest
from marketing.consent import (
    TokenRefused,
    UnsubscribeToken,
    consent_history,
    consent_record,
    consent_state,
    unsubscribe_read,
)
from marketing.models import Channel

ONE_CLICK = "One-Click"


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "private, no-store"
    response["Referrer-Policy"] = "no-referrer"  # the token is in the URL
    return response


def _refused(request: HttpRequest, error: TokenRefused) -> HttpResponse:
    status = 404 if error.reason == "unknown_client" else 400
    return _no_store(render(request, "marketing/unsubscribe_invalid.html", {"problem": error.message},
                            status=status))


def _page(request: HttpRequest, token: str, read: UnsubscribeToken, *, saved: bool = False,
          status: int = 200) -> HttpResponse:
    state = consent_state(client=read.client)
    channels = [{"value": value, "label": label, "checked": state.get(value, False)}
                for value, label in Channel.choices]
    return _no_store(render(request, "marketing/preferences.html", {
        "brand": read.client.brand, "client_first_name": read.client.first_name, "channels": channels,
        "token": token, "saved": saved,
    }, status=status))


@csrf_exempt  # a mail client's one-click POST has no session nor CSRF token: the signed token authorises it
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    try:
        read = unsubscribe_read(token)
    except TokenRefused as error:
        return _refused(request, error)
    language = read.client.language or read.client.brand.default_language or settings.LANGUAGE_CODE
    with translation.override(language):
        if request.method == "GET":
            return _page(request, token, read)
        ip = client_ip(request)
        if request.POST.get("List-Unsubscribe") == ONE_CLICK:
            if consent_state(client=read.client).get(read.channel):
                consent_record(client=read.client, channel=read.channel, given=False, source="unsubscribe", ip=ip,
                               campaign_code=read.campaign_code)
            return _no_store(HttpResponse(b"", content_type="text/plain"))
        if request.POST.get("preferences") == "1":
            state = consent_state(client=read.client)
            for channel in Channel.values:
                wanted = request.POST.get(channel) == "on"
                if wanted != state.get(channel, False):
                    consent_record(client=read.client, channel=channel, given=wanted, source="preference_page", ip=ip,
                                   campaign_code=read.campaign_code)
            return _page(request, token, read, saved=True)
        return _no_store(render(request, "marketing/unsubscribe_invalid.html", {
            "problem": gettext("This request is neither a one-click unsubscribe nor the preference form.")},
            status=400))


@csrf_exempt  # the provider's server has no CSRF token nor session: the HMAC signature authenticates it
@require_POST
def mail_webhook(request: HttpRequest, provider: str) -> HttpResponse:
    from marketing.mail_events import mail_webhook_receive

    return webhook_answer(mail_webhook_receive(provider=provider, **webhook_request(request)))


def consent_tab_context(request: AuthedRequest, client: Client) -> dict[str, Any]:
    """The client page's consent tab: the state on each channel and the decisions, latest first."""
    state = consent_state(client=client)
    return {
        "consent_channels": [{"label": label, "given": state.get(value, False)} for value, label in Channel.choices],
        "consent_decisions": consent_history(client=client),
    }


# Who reads a client's marketing consent (the consent tab of their page, in the client page's own
# scope): marketing, compliance, administrators and the staff who work clients' records. Nobody
# changes it for a client: the client decides, in the trader's room or through an unsubscribe link.
CONSENT_READERS = ("admin", "compliance", "marketing", "desk_manager", "sales_agent", "retention_agent",
                   "support_agent")


def consent_contribute() -> None:
    """Add the consent tab to the client's page and "marketing.view_consentdecision" to its readers'
    grants (merged into what marketing's AppConfig already gave each role). Called from ready()."""
    from django.utils.translation import gettext_lazy as _

    from crm.registry import PROFILE_TABS, ROLE_PERMISSIONS, ClientTab, PermissionGrant
    from marketing.permissions import VIEW_CONSENT

    for role in CONSENT_READERS:
        given = ROLE_PERMISSIONS.get(("marketing", role))
        held = set(given.permissions) if given is not None else set()
        ROLE_PERMISSIONS.register(PermissionGrant(app="marketing", role=role,
                                                  permissions=tuple(sorted(held | {VIEW_CONSENT}))))
    PROFILE_TABS.register(ClientTab(key="consent", label=_("Marketing consent"),
                                    template="marketing/client_consent_tab.html", permission=VIEW_CONSENT,
                                    order=90, context=consent_tab_context))
