"""Forms of the context pages: they parse; the services (monitoring.services) validate and write."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from crm.models import Brand, Desk, User

DATE = forms.DateInput(attrs={"type": "date"})


class _AgentChoice(forms.ModelChoiceField[User]):
    def label_from_instance(self, obj: Any) -> str:
        desk = obj.desk.name if obj.desk_id else ""
        return f"{obj.full_name or obj.email} ({desk})" if desk else str(obj.full_name or obj.email)


class _Scoped(forms.Form):
    def __init__(self, *args: Any, agents: Any = None, desks: Any = None, brands: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            if isinstance(field, forms.ModelChoiceField):
                qs = {"agent": agents, "covered": agents, "desk": desks, "brand": brands}.get(name)
                field.queryset = qs if qs is not None else User.objects.none()


class CoverForm(_Scoped):
    agent = _AgentChoice(queryset=User.objects.none(), label=_("Agent covering"), to_field_name="code",
                         error_messages={"invalid_choice": _("Choose an agent of a desk you manage.")})
    covered = _AgentChoice(queryset=User.objects.none(), label=_("Covers the book of"), to_field_name="code",
                           error_messages={"invalid_choice": _("Choose an agent of a desk you manage.")})
    starts_on = forms.DateField(label=_("From"), widget=DATE)
    ends_on = forms.DateField(label=_("To"), widget=DATE)
    note = forms.CharField(label=_("Note"), max_length=200, required=False)


class LeaveForm(_Scoped):
    agent = _AgentChoice(queryset=User.objects.none(), label=_("Agent"), to_field_name="code",
                         error_messages={"invalid_choice": _("Choose an agent of a desk you manage.")})
    starts_on = forms.DateField(label=_("From"), widget=DATE)
    ends_on = forms.DateField(label=_("To"), widget=DATE)
    note = forms.CharField(label=_("Note"), max_length=200, required=False)


class NoticeForm(_Scoped):
    agent = _AgentChoice(queryset=User.objects.none(), label=_("Agent"), to_field_name="code",
                         error_messages={"invalid_choice": _("Choose an agent of a desk you manage.")})
    given_on = forms.DateField(label=_("Notice given on"), widget=DATE)
    last_day = forms.DateField(label=_("Last day"), widget=DATE)
    note = forms.CharField(label=_("Note"), max_length=200, required=False)


class ShiftForm(_Scoped):
    agent = _AgentChoice(queryset=User.objects.none(), label=_("Agent"), to_field_name="code",
                         error_messages={"invalid_choice": _("Choose an agent of a desk you manage.")})
    start_hour = forms.IntegerField(label=_("Start hour (UTC)"), min_value=0, max_value=23)
    end_hour = forms.IntegerField(label=_("End hour (UTC)"), min_value=1, max_value=24)
    starts_on = forms.DateField(label=_("From"), widget=DATE)


class CampaignDayForm(_Scoped):
    desk = forms.ModelChoiceField(queryset=Desk.objects.none(), label=_("Desk"), to_field_name="code",
                                  error_messages={"invalid_choice": _("Choose a desk you manage.")})
    day = forms.DateField(label=_("Day"), widget=DATE)
    note = forms.CharField(label=_("Note"), max_length=200, required=False)


class HolidayForm(_Scoped):
    brand = forms.ModelChoiceField(queryset=Brand.objects.none(), label=_("Brand"), to_field_name="code",
                                   error_messages={"invalid_choice": _("Choose a brand you manage a desk of.")})
    day = forms.DateField(label=_("Day"), widget=DATE)
    name = forms.CharField(label=_("Name"), max_length=120)
    country = forms.CharField(label=_("Country (two letters, empty: the whole brand)"), max_length=2, required=False)
