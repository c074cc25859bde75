"""Outbound webhook subscribers and their delivery log, for administrators (integrations.services).

Subscribers and deliveries are addressed by their UUIDs. Everyone else gets 404, as for the
other administration pages. New and rotated signing secrets are rendered once, never stored in
clear anywhere they could be shown from later.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from crm.events import catalogue
from crm.exceptions import DomainError, NotFound, ValidationFailed
from crm.lib.forms import form_field
from crm.models import ApiKey
from crm.permissions import AuthedRequest
from crm.views.ui import render_page, safe_next
from crm.views.ui.forms import apply_domain_errors
from integrations import services as outbound
from integrations.models import WebhookDelivery, WebhookDeliveryStatus, WebhookSubscriber
from integrations.permissions import api_clients_page

PAGE_SIZE = 50
LOG_TEMPLATE = "integrations/webhooks/delivery_list.html"


class SubscriberForm(forms.Form):
    api_key = forms.ModelChoiceField(
        label=gettext_lazy("API client"), queryset=ApiKey.objects.none(), to_field_name="prefix",
        help_text=gettext_lazy("The subscriber belongs to this key and sees its brand's events only."),
        widget=forms.Select(attrs={"class": "input"}))
    name = forms.CharField(label=gettext_lazy("Name"), max_length=120,
                           widget=forms.TextInput(attrs={"class": "input"}))
    url = forms.CharField(label=gettext_lazy("URL"), max_length=500,
                          help_text=gettext_lazy("An https:// address the CRM POSTs each event to."),
                          widget=forms.URLInput(attrs={"class": "input", "dir": "ltr"}))
    event_types = forms.MultipleChoiceField(label=gettext_lazy("Event types"), choices=(),
                                            widget=forms.CheckboxSelectMultiple)
    scopes = forms.MultipleChoiceField(label=gettext_lazy("Scopes"), choices=(), required=False,
                                       widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        form_field(self, "api_key", forms.ModelChoiceField).queryset = (
            ApiKey.objects.filter(revoked_at__isnull=True).select_related("brand").order_by("name"))
        # Grouped by the app that emits them (the name's first part): a hundred boxes in one block
        # were a wall to search through.
        groups: dict[str, list[tuple[str, str]]] = {}
        for e in catalogue.declared():
            groups.setdefault(e.name.split(".", 1)[0], []).append((e.name, f"{e.name}: {e.description}"))
        form_field(self, "event_types", forms.ChoiceField).choices = list(groups.items())
        form_field(self, "scopes", forms.ChoiceField).choices = [
            (code, f"{code}: {_(text)}") for code, text in outbound.SUBSCRIBER_SCOPES.items()]

    def clean_url(self) -> str:
        """The service's own check of the address, here too: its problem is shown beside the form's
        others on the first submit, not only once they are all put right."""
        try:
            return outbound.url_clean(self.cleaned_data["url"])
        except ValidationFailed as exc:
            raise forms.ValidationError(exc.fields.get("url") or [exc.message]) from None


class DeliveryFilterForm(forms.Form):
    subscriber = forms.ChoiceField(label=gettext_lazy("Subscriber"), required=False)
    status = forms.ChoiceField(label=gettext_lazy("Status"), required=False,
                               choices=[("", gettext_lazy("Any")), *WebhookDeliveryStatus.choices])
    event_name = forms.CharField(label=gettext_lazy("Event"), required=False, max_length=80)
    client = forms.UUIDField(label=gettext_lazy("Client code"), required=False)

    def __init__(self, *args: Any, subscribers: list[WebhookSubscriber], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        form_field(self, "subscriber", forms.ChoiceField).choices = [
            ("", _("All subscribers")), *((str(s.code), s.name) for s in subscribers)]
        for field in self.fields.values():
            field.widget.attrs["class"] = "input"

    def values(self) -> dict[str, Any]:
        if not self.is_bound or not self.is_valid():
            return {}
        return {k: v for k, v in self.cleaned_data.items() if v}


def _subscriber(request: AuthedRequest, code: Any) -> WebhookSubscriber:
    try:
        return outbound.subscriber_get(code=code, actor=request.user)
    except NotFound:
        raise Http404 from None


@api_clients_page
@require_GET
def webhook_subscriber_list(request: AuthedRequest) -> HttpResponse:
    subs = outbound.subscribers_for(actor=request.user)
    # A subscriber taking every declared event type is said so, not listed name by name.
    declared = {e.name for e in catalogue.declared()}
    rows = [(s, declared <= set(s.event_types)) for s in subs]
    return render(request, "integrations/webhooks/subscriber_list.html", {"rows": rows, "declared": len(declared)})


@never_cache
@api_clients_page
def webhook_subscriber_create(request: AuthedRequest) -> HttpResponse:
    form = SubscriberForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        data = form.cleaned_data
        try:
            saved = outbound.subscriber_create(actor=request.user, api_key=data["api_key"], name=data["name"],
                                               url=data["url"], event_types=data["event_types"],
                                               scopes=data["scopes"])
        except DomainError as exc:
            apply_domain_errors(form, exc)
        else:
            return render(request, "integrations/webhooks/secret.html", {"subscriber": saved.subscriber,
                                                                "secret": saved.secret, "created": True})
    return render(request, "integrations/webhooks/subscriber_form.html", {"form": form})


@api_clients_page
@require_GET
def webhook_subscriber_detail(request: AuthedRequest, code: Any) -> HttpResponse:
    sub = _subscriber(request, code)
    recent = outbound.deliveries_for(actor=request.user, subscriber=sub.code)[:20]
    return render(request, "integrations/webhooks/subscriber_detail.html", {"sub": sub, "recent": recent})


@never_cache
@api_clients_page
@require_POST
def webhook_subscriber_action(request: AuthedRequest, code: Any, action: str) -> HttpResponse:
    """rotate (a new secret beside the old, shown once), retire (the old secret), pause, resume."""
    sub = _subscriber(request, code)
    if action == "rotate":
        try:
            secret = outbound.subscriber_rotate_secret(actor=request.user, subscriber=sub)
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            return render(request, "integrations/webhooks/secret.html", {"subscriber": sub, "secret": secret,
                                                                "created": False})
    elif action == "retire":
        if outbound.subscriber_retire_secret(actor=request.user, subscriber=sub):
            messages.success(request, _("The old secret is retired; deliveries are signed with the new one only."))
    elif action == "pause":
        outbound.subscriber_pause(actor=request.user, subscriber=sub)
        messages.success(request, _("Paused: events queue until you resume it."))
    elif action == "resume":
        outbound.subscriber_resume(actor=request.user, subscriber=sub)
        messages.success(request, _("Resumed: queued events are being sent, in order."))
    else:
        raise Http404
    return redirect("webhook_subscriber_detail", sub.code)


@api_clients_page
@require_GET
def webhook_delivery_list(request: AuthedRequest) -> HttpResponse:
    subs = list(outbound.subscribers_for(actor=request.user))
    form = DeliveryFilterForm(request.GET or None, subscribers=subs)
    filters = form.values()
    qs = outbound.deliveries_for(actor=request.user, **filters)
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    return render_page(request, LOG_TEMPLATE, {
        "form": form, "page_obj": page, "deliveries": page.object_list, "next_url": request.get_full_path(),
        "filtered": bool(filters),
    }, partial="webhook-delivery-table")


@api_clients_page
@require_POST
def webhook_delivery_replay(request: AuthedRequest, delivery_id: Any) -> HttpResponse:
    """Queue the delivery to be sent again with the same delivery id (a new attempt)."""
    try:
        delivery = outbound.delivery_get(delivery_id=delivery_id, actor=request.user)
    except NotFound:
        raise Http404 from None
    try:
        outbound.delivery_replay(actor=request.user, delivery=delivery)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("The delivery is queued to be sent again with the same delivery id."))
    return redirect(safe_next(request, request.POST.get("next"), reverse("webhook_delivery_list")))


@api_clients_page
@require_GET
def webhook_delivery_detail(request: AuthedRequest, delivery_id: Any) -> HttpResponse:
    try:
        delivery: WebhookDelivery = outbound.delivery_get(delivery_id=delivery_id, actor=request.user)
    except NotFound:
        raise Http404 from None
    attempts = delivery.attempt_log.order_by("number")
    return render(request, "integrations/webhooks/delivery_detail.html", {"d": delivery, "attempts": attempts})
