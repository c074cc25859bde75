"""Filters of the automation run log (django-filter, on crm.views.ui.listing's base)."""

from __future__ import annotations

import uuid
from typing import Any

import django_filters
from django import forms
from django.utils.translation import gettext_lazy as _

from automation.models import RunStatus
from automation.services import automation_rules
from crm.models import Brand, Client
from crm.views.ui.forms import ListedModelChoiceField, PlainSelect
from crm.views.ui.listing import ListFilterForm, ListFilterSet, ModelChoiceFilter


class RuleChoiceField(ListedModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.name} ({obj.brand.code})"


class RunFilterForm(ListFilterForm):
    def clean_client(self) -> uuid.UUID | str:
        value = (self.cleaned_data.get("client") or "").strip()
        if not value:
            return ""
        try:
            code = uuid.UUID(value)
        except ValueError:
            code = None
        if code is None or not Client.objects.filter(code=code).exists():
            raise forms.ValidationError(_("No client has this code."))
        return code


class RunFilter(ListFilterSet):
    """The automation run log's filters."""

    brand = ModelChoiceFilter(label=_("Brand"), queryset=Brand.objects.filter(is_active=True).order_by("name"),
                              to_field_name="code", empty_label=_("All brands"), widget=PlainSelect)
    rule = ModelChoiceFilter(label=_("Rule"), queryset=automation_rules(), to_field_name="code",
                             field_class=RuleChoiceField, empty_label=_("All rules"), widget=PlainSelect)
    status = django_filters.ChoiceFilter(label=_("Status"), choices=RunStatus.choices, empty_label=_("Any"),
                                         widget=PlainSelect)
    client = django_filters.CharFilter(label=_("Client code"), max_length=40, field_name="client__code")

    class Meta:
        form = RunFilterForm
