"""API keys, for administrators: list, create (the secret is shown once) and revoke.

Keys are addressed by their public prefix, never by database id. Everyone but administrators
gets 404, as for the other administration pages.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.db.models import QuerySet
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from crm.api import scopes
from crm.exceptions import DomainError
from crm.lib.forms import form_field
from crm.models import ApiKey, Brand
from crm.permissions import AuthedRequest
from crm.views.ui.forms import apply_domain_errors
from integrations import apikeys as services
from integrations.permissions import api_clients_page


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        label=gettext_lazy("Name"), max_length=120,
        help_text=gettext_lazy("Who uses it and for what, e.g. \"Landing pages (Acme)\"."),
        widget=forms.TextInput(attrs={"class": "input", "autofocus": True}),
    )
    brand = forms.ModelChoiceField(
        label=gettext_lazy("Brand"), queryset=Brand.objects.none(), to_field_name="code",
        help_text=gettext_lazy("The key sees this brand's data only."),
        widget=forms.Select(attrs={"class": "input"}),
    )
    scopes = forms.MultipleChoiceField(
        label=gettext_lazy("Scopes"), choices=(), widget=forms.CheckboxSelectMultiple,
        help_text=gettext_lazy("Give a key only what its integration needs."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        form_field(self, "brand", forms.ModelChoiceField).queryset = Brand.objects.filter(is_active=True).order_by("name")
        form_field(self, "scopes", forms.ChoiceField).choices = [
            (code, f"{code}: {text}") for code, text in scopes().items()]


def _keys() -> QuerySet[ApiKey]:
    return ApiKey.objects.select_related("brand", "created_by").order_by("revoked_at", "-created_at")


@api_clients_page
def apikey_list(request: AuthedRequest) -> HttpResponse:
    return render(request, "integrations/apikeys/list.html", {"keys": _keys(), "scopes": scopes()})


@never_cache
@api_clients_page
def apikey_create(request: AuthedRequest) -> HttpResponse:
    form = ApiKeyForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        data = form.cleaned_data
        try:
            key, raw = services.apikey_create(
                actor=request.user, brand=data["brand"], name=data["name"], scopes=data["scopes"],
            )
        except DomainError as exc:
            apply_domain_errors(form, exc)
        else:
            # Rendered, not redirected: the secret is not stored anywhere it could be shown from later.
            return render(request, "integrations/apikeys/created.html", {"key": key, "raw_key": raw})
    return render(request, "integrations/apikeys/form.html", {"form": form})


@api_clients_page
@require_POST
def apikey_revoke(request: AuthedRequest, prefix: str) -> HttpResponse:
    key = ApiKey.objects.filter(prefix=prefix).first()
    if key is None:
        raise Http404
    try:
        services.apikey_revoke(actor=request.user, key=key)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("The key %(name)s was revoked; it no longer works.") % {"name": key.name})
    return redirect("apikey_list")
