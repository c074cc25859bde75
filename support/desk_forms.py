"""Forms of the staff desk's pages: they parse input into the types the services take; the services
check what matters and name the field."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from support.models import TicketCategory, TicketPriority, TicketStatus


def _choices(form: forms.Form, name: str, choices: list[Any]) -> None:
    field = form.fields[name]
    assert isinstance(field, forms.ChoiceField)
    field.choices = choices


STATUS_FILTER = [("active", _("Being worked")), ("all", _("All")), *TicketStatus.choices]
ASSIGNEE_FILTER = [("", _("Anyone")), ("me", _("Mine")), ("none", _("Nobody"))]


class QueueFilterForm(forms.Form):
    desk = forms.TypedChoiceField(label=_("Desk"), required=False, coerce=int, empty_value=None)
    category = forms.ChoiceField(label=_("Category"), required=False,
                                 choices=[("", _("Any")), *TicketCategory.choices])
    status = forms.ChoiceField(label=_("Status"), required=False, choices=STATUS_FILTER)
    priority = forms.ChoiceField(label=_("Priority"), required=False,
                                 choices=[("", _("Any")), *TicketPriority.choices])
    assignee = forms.ChoiceField(label=_("Assignee"), required=False, choices=ASSIGNEE_FILTER)
    breached = forms.BooleanField(label=_("SLA missed"), required=False)

    def __init__(self, *args: Any, desks: list[Any], agents: Sequence[Any] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _choices(self, "desk", [("", _("Any")), *((d.pk, str(d)) for d in desks)])
        # A manager also picks any agent whose queue they may see (the dashboard's KPI rows link there).
        _choices(self, "assignee", [*ASSIGNEE_FILTER, *((str(u.code), u.full_name or u.email) for u in agents)])


class ReplyForm(forms.Form):
    body = forms.CharField(label=_("Answer"), widget=forms.Textarea(attrs={"rows": 6}), max_length=50_000)
    status = forms.ChoiceField(label=_("Then"), choices=[
        (TicketStatus.PENDING_CLIENT, _("Wait for the client")), (TicketStatus.OPEN, _("Keep open")),
        (TicketStatus.ON_HOLD, _("Put on hold")), (TicketStatus.RESOLVED, _("Resolve"))],
        initial=TicketStatus.PENDING_CLIENT)
    canned = forms.IntegerField(required=False, widget=forms.HiddenInput)


class NoteForm(forms.Form):
    body = forms.CharField(label=_("Internal note"), widget=forms.Textarea(attrs={"rows": 3}), max_length=50_000)


class AssignForm(forms.Form):
    assignee = forms.ChoiceField(label=_("Assignee"), required=False)

    def __init__(self, *args: Any, workers: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.workers = {str(u.code): u for u in workers}
        _choices(self, "assignee", [("", _("Nobody (the desk's queue)")),
                                           *((code, u.full_name or u.email) for code, u in self.workers.items())])

    def clean_assignee(self) -> Any:
        code = self.cleaned_data["assignee"]
        return self.workers.get(code) if code else None


class StatusForm(forms.Form):
    status = forms.ChoiceField(label=_("Status"), choices=[(s, label) for s, label in TicketStatus.choices
                                                         if s not in (TicketStatus.NEW, TicketStatus.MERGED)])
    reason = forms.CharField(label=_("Why"), required=False, max_length=2000)


class PriorityForm(forms.Form):
    priority = forms.ChoiceField(label=_("Priority"), choices=TicketPriority.choices)


class MergeForm(forms.Form):
    into = forms.CharField(label=_("Merge into ticket"), max_length=16,
                           help_text=_("The reference of the ticket that continues, e.g. T001234"))


class LinkClientForm(forms.Form):
    client = forms.UUIDField(label=_("Client's code"), help_text=_("From the client's profile address"))


class DeskForm(forms.Form):
    brand = forms.TypedChoiceField(label=_("Brand"), coerce=int)
    name = forms.CharField(label=_("Name"), max_length=120)
    code = forms.SlugField(label=_("Code"), max_length=40)
    time_zone = forms.CharField(label=_("Time zone"), max_length=64, initial="UTC")
    business_hours = forms.CharField(label=_("Business hours"), widget=forms.Textarea(attrs={"rows": 4}),
                                     help_text=_('Per day, e.g. {"mon": [["09:00", "18:00"]], "sat": []}'))
    support_address = forms.EmailField(label=_("Support address"), required=False)
    active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def __init__(self, *args: Any, brands: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.brands = {b.pk: b for b in brands}
        _choices(self, "brand", [(b.pk, b.name) for b in brands])

    def clean_brand(self) -> Any:
        return self.brands[self.cleaned_data["brand"]]

    def clean_business_hours(self) -> Any:
        try:
            value = json.loads(self.cleaned_data["business_hours"])
        except ValueError:
            raise forms.ValidationError(gettext('Write the hours as JSON, e.g. {"mon": [["09:00", "18:00"]]}.')) from None
        if not isinstance(value, dict):
            raise forms.ValidationError(gettext('Write the hours as JSON, e.g. {"mon": [["09:00", "18:00"]]}.'))
        return value


class HolidayForm(forms.Form):
    day = forms.DateField(label=_("Day"), widget=forms.DateInput(attrs={"type": "date"}))
    name = forms.CharField(label=_("Name"), max_length=120)


class PolicyForm(forms.Form):
    priority = forms.ChoiceField(label=_("Priority"), choices=TicketPriority.choices)
    first_response_minutes = forms.IntegerField(label=_("First response (business minutes)"), min_value=1)
    resolution_minutes = forms.IntegerField(label=_("Resolution (business minutes)"), min_value=1)
    warn_before_minutes = forms.IntegerField(label=_("Warn before (business minutes)"), min_value=0, initial=30)


class RuleForm(forms.Form):
    order = forms.IntegerField(label=_("Order"), min_value=0, initial=100)
    language = forms.CharField(label=_("Language"), max_length=8, required=False, help_text=_("Blank: any"))
    category = forms.ChoiceField(label=_("Category"), required=False, choices=[("", _("Any")), *TicketCategory.choices])
    vip_only = forms.BooleanField(label=_("VIP clients only"), required=False)
    to_owner = forms.BooleanField(label=_("To the client's owner"), required=False)
    assignee = forms.ChoiceField(label=_("Assignee"), required=False)

    def __init__(self, *args: Any, workers: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.workers = {str(u.code): u for u in workers}
        _choices(self, "assignee", [("", "—"), *((c, u.full_name or u.email) for c, u in self.workers.items())])

    def clean_assignee(self) -> Any:
        code = self.cleaned_data["assignee"]
        return self.workers.get(code) if code else None


class CannedForm(forms.Form):
    brand = forms.TypedChoiceField(label=_("Brand"), coerce=int)
    language = forms.CharField(label=_("Language"), max_length=8, initial="en")
    title = forms.CharField(label=_("Title"), max_length=120)
    body = forms.CharField(label=_("Text"), widget=forms.Textarea(attrs={"rows": 6}),
                           help_text=_("Placeholders: {first_name} {last_name} {reference} {agent_name} {brand}"))
    category = forms.ChoiceField(label=_("Category"), required=False, choices=[("", _("Any")), *TicketCategory.choices])
    active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def __init__(self, *args: Any, brands: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.brands = {b.pk: b for b in brands}
        _choices(self, "brand", [(b.pk, b.name) for b in brands])

    def clean_brand(self) -> Any:
        return self.brands[self.cleaned_data["brand"]]
