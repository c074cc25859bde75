"""Filters of the partner list (django-filter, on crm.views.ui.listing's base)."""

from __future__ import annotations

import django_filters
from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from crm.lib.fieldcrypt import keyed_hashes
from crm.views.ui.forms import PlainSelect
from crm.views.ui.listing import ListFilterSet
from ib.models import Partner, PartnerKind, PartnerStatus


class PartnerFilter(ListFilterSet):
    q = django_filters.CharFilter(label=_("Search"), method="search", max_length=100)
    status = django_filters.ChoiceFilter(label=_("Status"), choices=PartnerStatus.choices, empty_label=_("Any"),
                                         widget=PlainSelect)
    kind = django_filters.ChoiceFilter(label=_("Kind"), choices=PartnerKind.choices, empty_label=_("Any"),
                                       widget=PlainSelect)

    def search(self, queryset: QuerySet[Partner], name: str, value: str) -> QuerySet[Partner]:
        """Partners whose display name contains `value`, or whose contact email is `value` as a whole
        address: the email is encrypted in its column and found by its keyed hash (of the address
        lower-cased, so in any case), never by a part of it, as in the client search."""
        value = " ".join(value.split())
        condition = Q(display_name__icontains=value)
        if "@" in value and " " not in value:
            condition |= Q(contact_email_hash__in=keyed_hashes(value, kind="email"))
        return queryset.filter(condition)
