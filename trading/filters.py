"""Filters of trading's lists (django-filter, on crm.views.ui.listing's base): the dealer's deals."""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from crm.lib.forms import form_field
from crm.permissions import visible_brands
from crm.views.ui.forms import BrandedChoiceField, PlainSelect
from crm.views.ui.listing import DayFilter, IntegerFilter, ListFilterSet, ModelChoiceFilter
from trading.models import Deal, DealKind, PlatformServer


class DealFilter(ListFilterSet):
    """The dealer's deals: by server (of the viewer's brands), symbol, login, kind and days in the
    viewer's time zone."""

    server = ModelChoiceFilter(label=_("Server"), queryset=PlatformServer.objects.none(), to_field_name="code",
                               empty_label=_("All servers"), widget=PlainSelect, field_class=BrandedChoiceField)
    symbol = django_filters.CharFilter(label=_("Symbol"), max_length=32, lookup_expr="iexact")
    login = IntegerFilter(label=_("Login"), min_value=1)
    kind = django_filters.ChoiceFilter(label=_("Kind"), choices=DealKind.choices, empty_label=_("All"),
                                       widget=PlainSelect)
    date_from = DayFilter("time", label=_("From"))
    date_to = DayFilter("time", label=_("To"), until=True, after="date_from")

    def __init__(self, data: Any = None, queryset: QuerySet[Deal] | None = None, *, user: Any,
                 **kwargs: Any) -> None:
        super().__init__(data, queryset, **kwargs)
        brands = visible_brands(user)
        # Servers of several brands are often named alike (each brand's "Live"): by brand, then name,
        # each labelled with its brand unless the viewer sees one brand only.
        self.filters["server"].queryset = PlatformServer.objects.filter(
            brand__in=brands).select_related("brand").order_by("brand__name", "name")
        self.show_brand = brands.count() > 1

    @property
    def form(self) -> forms.Form:
        form = super().form
        form_field(form, "server", BrandedChoiceField).show_brand = self.show_brand  # per viewer
        return form
