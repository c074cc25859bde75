"""Filters of crm's lists (django-filter, on crm.views.ui.listing's base): the client list and the audit log."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import django_filters
from django import forms
from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from crm import selectors
from crm.models import Brand, Client, Desk, Stage, User
from crm.permissions import visible_brands
from crm.views.ui.forms import DeskChoiceField, PlainSelect, PlainTextInput, UserCodeChoiceField
from crm.views.ui.listing import DayFilter, ListFilterForm, ListFilterSet, ModelChoiceFilter

# --- the client list -----------------------------------------------------------------------------


def _as_everywhere(name: str) -> Callable[[QuerySet[Client], str, Any], QuerySet[Client]]:
    """Apply one filter as selectors.client_filter does for the pages, API keys and segments alike
    (one meaning for "stage", "q", "tag" ... wherever clients are filtered)."""

    def apply(queryset: QuerySet[Client], _field_name: str, value: Any) -> QuerySet[Client]:
        return selectors.client_filter(queryset, **{name: value})

    return apply


class ClientFilterForm(ListFilterForm):
    def clean_country(self) -> str:
        value = (self.cleaned_data.get("country") or "").strip().upper()
        if value and not (len(value) == 2 and value.isascii() and value.isalpha()):
            raise forms.ValidationError(_("Use a two-letter country code, e.g. GB."))
        return value

    def clean_language(self) -> str:
        return (self.cleaned_data.get("language") or "").strip().lower().replace("_", "-")

    def clean_tag(self) -> str:
        return (self.cleaned_data.get("tag") or "").strip().lower()


class ClientFilter(ListFilterSet):
    """The client list's filters, over the clients the user may see. Lenient: a stale bookmark (an
    owner who left, a desk closed) still opens the list, without that filter and saying so."""

    lenient = True

    q = django_filters.CharFilter(
        label=_("Search"), max_length=100, method=_as_everywhere("q"),
        widget=PlainTextInput(attrs={"type": "search", "placeholder": _("Name, email, phone or code"),
                                      "autocomplete": "off"}))
    stage = django_filters.ChoiceFilter(label=_("Stage"), choices=Stage.choices, empty_label=_("Any stage"),
                                        widget=PlainSelect, method=_as_everywhere("stage"))
    country = django_filters.CharFilter(
        label=_("Country"), max_length=20, method=_as_everywhere("country"),
        widget=PlainTextInput(attrs={"placeholder": _("e.g. GB"), "maxlength": 2, "autocapitalize": "characters",
                                      "size": 4}))
    language = django_filters.CharFilter(label=_("Language"), max_length=8, method=_as_everywhere("language"),
                                         widget=PlainTextInput(attrs={"placeholder": _("e.g. en"), "size": 6}))
    brand = ModelChoiceFilter(label=_("Brand"), queryset=Brand.objects.none(), to_field_name="code",
                              empty_label=_("All brands"), widget=PlainSelect, method=_as_everywhere("brand"))
    owner = ModelChoiceFilter(label=_("Owner"), queryset=User.objects.none(), to_field_name="code",
                              field_class=UserCodeChoiceField, empty_label=_("Any owner"), widget=PlainSelect,
                              method=_as_everywhere("owner"))
    desk = ModelChoiceFilter(label=_("Desk"), queryset=Desk.objects.none(), to_field_name="code",
                             field_class=DeskChoiceField, empty_label=_("Any desk"), widget=PlainSelect,
                             method=_as_everywhere("desk"))
    tag = django_filters.CharFilter(label=_("Tag"), max_length=50, method=_as_everywhere("tag"),
                                    widget=PlainTextInput(attrs={"placeholder": _("e.g. vip")}))

    class Meta:
        form = ClientFilterForm

    def __init__(self, data: Any = None, queryset: QuerySet[Client] | None = None, *, user: Any,
                 **kwargs: Any) -> None:
        # The shares read once, up front: an agent's book is then read from the owner's index alone.
        super().__init__(data, queryset if queryset is not None else selectors.client_list(user=user, shares_read=True),
                         **kwargs)
        self.user = user
        # Only brands, desks and staff the user works with are offered (and accepted).
        brands = visible_brands(user)
        # The options read a desk's name and brand's name, a person's code and name: only those.
        desks = Desk.objects.select_related("brand").only("code", "name", "brand__name").order_by("brand__name", "name")
        staff = User.objects.filter(is_active=True, role__isnull=False).only("code", "full_name", "email").order_by(
            "full_name")
        if not (user.is_administrator or user.all_brands):
            desks = desks.filter(brand__in=brands)
            staff = staff.filter(Q(all_brands=True) | Q(brands__in=brands)).distinct()
        self.filters["brand"].queryset = brands.order_by("name")
        self.filters["desk"].queryset = desks
        self.filters["owner"].queryset = staff


# --- the audit log -------------------------------------------------------------------------------

SYSTEM = "system"


class AuditFilter(ListFilterSet):
    """The audit log's filters. `action` matches the beginning ("client." finds every client
    action); the dates are whole days in the viewer's time zone."""

    actor = django_filters.ChoiceFilter(label=_("Actor"), empty_label=_("Anyone"), method="filter_actor",
                                        widget=PlainSelect)
    action = django_filters.CharFilter(
        label=_("Action"), max_length=100, lookup_expr="startswith",
        help_text=_('Matches the beginning: "client." finds every client action.'))
    object_type = django_filters.CharFilter(label=_("Object type"), max_length=100,
                                            widget=forms.TextInput(attrs={"placeholder": "crm.client"}))
    object_id = django_filters.CharFilter(label=_("Object id"), max_length=64)
    # Only the brands the viewer works with are offered (and accepted): the rows are scoped already.
    brand = ModelChoiceFilter(label=_("Brand"), queryset=lambda request: visible_brands(request.user).order_by("name"),
                              to_field_name="code", empty_label=_("All brands"), widget=PlainSelect)
    date_from = DayFilter("at", label=_("From"))
    date_to = DayFilter("at", label=_("To"), until=True, after="date_from")

    def __init__(self, data: Any = None, queryset: QuerySet[Any] | None = None, **kwargs: Any) -> None:
        super().__init__(data, queryset, **kwargs)
        staff = User.objects.order_by("full_name", "email").values_list("code", "full_name", "email")
        self.filters["actor"].extra["choices"] = [
            (SYSTEM, _("The system (tasks, imports)")),
            *((str(code), f"{name or email} <{email}>") for code, name, email in staff),
        ]

    def filter_actor(self, queryset: QuerySet[Any], _name: str, value: str) -> QuerySet[Any]:
        if value == SYSTEM:
            return queryset.filter(actor_id__isnull=True)
        return queryset.filter(actor_id__in=User.objects.filter(code=value).values("pk"))
