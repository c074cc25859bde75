"""Filters of the partner list (django-filter, on crm.listing's base)."""

from __future__ import annotations

import django_filters
from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from crm.forms import PlainSelect
from crm.listing import ListFilterSet
from ib.models import Partner, PartnerKind, PartnerStatus


class PartnerFilter(ListFilterSet):
    q = django_filters.CharFilter(label=_("Search"), method="search", max_length=100)
    status = django_filters.ChoiceFilter(label=_("Status"), choices=PartnerStatus.choices, empty_label=_("Any"),
                                         widget=PlainSelect)
    kind = django_filters.ChoiceFilter(label=_("Kind"), choices=PartnerKind.choices, empty_label=_("Any"),
                                       widget=PlainSelect)

    def search(self, queryset: QuerySet[Partner], name: str, value: str) -> QuerySet[Partner]:
        return queryset.filter(Q(display_name__icontains=value) | Q(contact_email__icontains=value))
