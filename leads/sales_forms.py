"""Forms of the sales desk: call logging, pipeline moves, workspace filters, saved views."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from crm.lib.forms import form_field
from crm.lib.money import CURRENCY_MAX_LENGTH
from crm.models import Brand, Stage
from crm.views.ui.forms import AmountField
from leads.calls import DURATION_MAX, NOTES_MAX
from leads.models import CallDirection, CallOutcome, Campaign


class CallLogForm(forms.Form):
    outcome = forms.ChoiceField(label=_("Outcome"), choices=[("", "—"), *CallOutcome.choices])
    direction = forms.ChoiceField(label=_("Direction"), choices=CallDirection.choices, initial=CallDirection.OUTBOUND)
    duration = forms.CharField(label=_("Duration"), required=False, max_length=10,
                               help_text=_("Minutes:seconds (4:30) or seconds (270)."),
                               widget=forms.TextInput(attrs={"placeholder": "4:30", "inputmode": "numeric"}))
    notes = forms.CharField(label=_("Notes"), required=False, max_length=NOTES_MAX,
                            widget=forms.Textarea(attrs={"rows": 3}))

    def clean_duration(self) -> int:
        """The duration in seconds: "m:ss", or whole seconds."""
        value = (self.cleaned_data.get("duration") or "").strip()
        if not value:
            return 0
        match = re.fullmatch(r"(\d{1,4}):([0-5]\d)", value)
        if match:
            seconds = int(match.group(1)) * 60 + int(match.group(2))
        elif value.isdigit():
            seconds = int(value)
        else:
            raise forms.ValidationError(_("Write minutes:seconds (4:30) or seconds (270)."))
        if seconds > DURATION_MAX:
            raise forms.ValidationError(_("A call lasts at most 24 hours."))
        return seconds


class PipelineMoveForm(forms.Form):
    status = forms.ChoiceField(label=_("Status"), choices=())
    reason = forms.CharField(label=_("Reason"), required=False, max_length=500)

    def __init__(self, *args: Any, statuses: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        form_field(self, "status", forms.ChoiceField).choices = [(s.key, s.display_label) for s in statuses]


class WorkspaceFilterForm(forms.Form):
    status = forms.ChoiceField(label=_("Pipeline status"), required=False, choices=())
    stage = forms.ChoiceField(label=_("Stage"), required=False, choices=[("", _("Any stage")), *Stage.choices])
    country = forms.CharField(label=_("Country"), required=False, max_length=2)
    outcome = forms.ChoiceField(label=_("Last call"), required=False,
                                choices=[("", _("Any")), ("none", _("Never called")), *CallOutcome.choices])
    uncontacted = forms.BooleanField(label=_("Not contacted yet"), required=False)
    sla_due = forms.BooleanField(label=_("SLA due within 30 min"), required=False)

    def __init__(self, *args: Any, status_choices: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        form_field(self, "status", forms.ChoiceField).choices = [("", _("Any status")), *status_choices]

    def clean_country(self) -> str:
        return (self.cleaned_data.get("country") or "").strip().upper()


class SavedViewForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=80)
    query = forms.CharField(required=False, max_length=1000, widget=forms.HiddenInput)


class KpiPeriodForm(forms.Form):
    period = forms.ChoiceField(label=_("Period"), required=False, initial="7d", choices=[
        ("today", _("Today")), ("7d", _("Last 7 days")), ("30d", _("Last 30 days")), ("custom", _("Custom")),
    ])
    start = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if data.get("period") == "custom" and not (data.get("start") and data.get("end")):
            raise forms.ValidationError(_("A custom period needs both dates."))
        if data.get("start") and data.get("end") and (data["end"] - data["start"]).days > 366:
            raise forms.ValidationError(_("Choose at most a year."))
        return data


class CampaignCostForm(forms.Form):
    campaign = forms.ModelChoiceField(label=_("Campaign"), queryset=Campaign.objects.none())
    period_start = forms.DateField(label=_("From"), widget=forms.DateInput(attrs={"type": "date"}))
    period_end = forms.DateField(label=_("To"), widget=forms.DateInput(attrs={"type": "date"}))
    # At most the currency's own decimals (2 for USD, 8 for BTC): crm.lib.money, in the service.
    amount = AmountField(label=_("Amount"), allow_zero=True)
    currency = forms.CharField(label=_("Currency"), max_length=CURRENCY_MAX_LENGTH, initial="USD")

    def __init__(self, *args: Any, campaigns: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        form_field(self, "campaign", forms.ModelChoiceField).queryset = campaigns


class SegmentForm(forms.Form):
    brand = forms.ModelChoiceField(label=_("Brand"), queryset=Brand.objects.none())
    name = forms.CharField(label=_("Name"), max_length=120)
    stages = forms.MultipleChoiceField(label=_("Stages"), required=False, choices=Stage.choices,
                                       widget=forms.CheckboxSelectMultiple)
    countries = forms.CharField(label=_("Countries"), required=False, help_text=_("ISO codes: GB DE AE"))
    languages = forms.CharField(label=_("Languages"), required=False, help_text=_("en ar"))
    tags = forms.CharField(label=_("Any of these tags"), required=False)
    pipeline_statuses = forms.CharField(label=_("Pipeline statuses"), required=False, help_text=_("keys: interested"))
    registered_from = forms.DateField(label=_("Registered from"), required=False,
                                      widget=forms.DateInput(attrs={"type": "date"}))
    registered_to = forms.DateField(label=_("Registered until"), required=False,
                                    widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: Any, brands: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        form_field(self, "brand", forms.ModelChoiceField).queryset = brands

    def definition(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {k: data.get(k) for k in ("stages", "countries", "languages", "tags", "pipeline_statuses",
                                          "registered_from", "registered_to") if data.get(k)}


class PipelineStatusForm(forms.Form):
    brand = forms.ModelChoiceField(label=_("Brand"), queryset=Brand.objects.none())
    key = forms.SlugField(label=_("Key"), max_length=40, help_text=_("Stable; events name it. e.g. demo_booked"))
    label = forms.CharField(label=_("Label"), max_length=80)
    order = forms.IntegerField(label=_("Order"), min_value=0, initial=100)
    is_won = forms.BooleanField(label=_("Counts as won"), required=False)
    is_lost = forms.BooleanField(label=_("Counts as lost"), required=False)
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)
    call_outcomes = forms.MultipleChoiceField(
        label=_("Call outcomes that move a client here"), choices=CallOutcome.choices, required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("The ticked outcomes replace the status's current ones. The pipeline only moves forward."))

    def __init__(self, *args: Any, brands: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        form_field(self, "brand", forms.ModelChoiceField).queryset = brands
