"""Forms of lead acquisition: the public lead form (leads.public_form), imports, reassignment, merge and the
administrators' configuration. Forms check shape and presence; the services validate the rest
and their field errors are put back on the form (crm.views.ui.forms.apply_domain_errors)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from crm.lib.forms import form_field
from crm.models import Brand, Desk, User
from crm.permissions import visible_brands
from crm.views.ui.forms import AmountField
from leads.intake import LEAD_FIELDS, Experience
from leads.models import (
    AvailabilityStatus,
    Campaign,
    RoutingStrategy,
    RoutingTarget,
    ScoringKind,
)


class ImportUploadForm(forms.Form):
    brand = forms.ModelChoiceField(label=_("Brand"), queryset=Brand.objects.none())
    file = forms.FileField(label=_("Spreadsheet"), help_text=_("CSV or Excel (.xlsx), with a header row."))

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        brands = form_field(self, "brand", forms.ModelChoiceField).queryset = visible_brands(user).filter(is_active=True).order_by("name")
        only = list(brands[:2])
        if len(only) == 1:  # a desk manager of one brand is not asked to pick it
            form_field(self, "brand", forms.ModelChoiceField).empty_label = None
            self.fields["brand"].initial = only[0].pk


class ImportMappingForm(forms.Form):
    default_source = forms.CharField(label=_("Source for rows without one"), max_length=100, required=False)
    default_campaign = forms.CharField(label=_("Campaign for rows without one"), max_length=100, required=False)

    def __init__(self, *args: Any, headers: list[str], mapping: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = [("", _("— skip —")), *[(name, label) for name, label in LEAD_FIELDS.items()]]
        self.columns: list[tuple[str, str]] = []
        for index, header in enumerate(headers):
            name = f"col_{index}"
            self.fields[name] = forms.ChoiceField(label=header or _("Column %(n)d") % {"n": index + 1},
                                                  choices=choices, required=False, initial=mapping.get(str(index), ""))
            self.columns.append((name, header))

    def column_fields(self) -> list[forms.BoundField]:
        return [self[name] for name, _header in self.columns]

    def mapping(self) -> dict[str, str]:
        return {name.removeprefix("col_"): value for name, value in self.cleaned_data.items()
                if name.startswith("col_") and value}


class ReassignForm(forms.Form):
    owner = forms.ModelChoiceField(label=_("Give to"), queryset=User.objects.none(), required=False,
                                   empty_label=_("Nobody: back to the desk queue"))
    desk = forms.ModelChoiceField(label=_("Desk"), queryset=Desk.objects.none(), required=False,
                                  empty_label=_("The agent's desk"))
    reason = forms.CharField(label=_("Reason"), max_length=1000)

    def __init__(self, *args: Any, agents: Any, desks: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        form_field(self, "owner", forms.ModelChoiceField).queryset = agents
        form_field(self, "desk", forms.ModelChoiceField).queryset = desks

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if not data.get("owner") and not data.get("desk"):
            self.add_error("desk", _("Choose an agent, or the desk whose queue takes the leads."))
        return data


class MergeForm(forms.Form):
    other = forms.UUIDField(label=_("Client code of the duplicate"))
    reason = forms.CharField(label=_("Reason"), max_length=1000, widget=forms.Textarea(attrs={"rows": 2}))


class CampaignForm(forms.Form):
    brand = forms.ModelChoiceField(label=_("Brand"), queryset=Brand.objects.filter(is_active=True))
    code = forms.CharField(label=_("Code"), max_length=64, help_text=_("What leads send as campaign or utm_campaign."))
    name = forms.CharField(label=_("Name"), max_length=120)
    source = forms.CharField(label=_("Source"), max_length=100, required=False)
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    @classmethod
    def of(cls, campaign: Campaign) -> dict[str, Any]:
        return {"brand": campaign.brand, "code": campaign.code, "name": campaign.name, "source": campaign.source,
                "is_active": campaign.is_active}


class ScoringRuleForm(forms.Form):
    brand = forms.ModelChoiceField(label=_("Brand"), queryset=Brand.objects.filter(is_active=True))
    name = forms.CharField(label=_("Name"), max_length=120)
    kind = forms.ChoiceField(label=_("Kind"), choices=ScoringKind.choices)
    points = forms.IntegerField(label=_("Points"), min_value=-100, max_value=100)
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)
    countries = forms.CharField(label=_("Countries"), required=False, help_text=_("Country tier: GB, DE, CH"))
    levels = forms.MultipleChoiceField(label=_("Experience levels"), required=False, choices=Experience.CHOICES,
                                       widget=forms.CheckboxSelectMultiple)
    min_amount = AmountField(label=_("Minimum deposit intent"), required=False, allow_zero=True)
    max_amount = AmountField(label=_("Maximum deposit intent"), required=False, allow_zero=True)
    sources = forms.CharField(label=_("Sources"), required=False)
    campaigns = forms.CharField(label=_("Campaigns"), required=False)
    fields_wanted = forms.CharField(label=_("Fields for completeness"), required=False,
                                    help_text=_("phone, country, experience, deposit_intent…"))
    min_annual_income = AmountField(label=_("Minimum annual income"), required=False, allow_zero=True)
    min_net_worth = AmountField(label=_("Minimum net worth"), required=False, allow_zero=True)
    occupations = forms.CharField(label=_("Occupations"), required=False)

    def params(self) -> dict[str, Any]:
        d = self.cleaned_data
        kind = d.get("kind")

        def split(text: str) -> list[str]:
            return [p.strip() for p in (text or "").split(",") if p.strip()]

        def amount(value: Any) -> str | None:
            return None if value is None else str(value)

        if kind == ScoringKind.COUNTRY_TIER:
            return {"countries": split(d.get("countries", ""))}
        if kind == ScoringKind.DECLARED_EXPERIENCE:
            return {"levels": list(d.get("levels") or [])}
        if kind == ScoringKind.DEPOSIT_INTENT:
            return {"min": amount(d.get("min_amount")), "max": amount(d.get("max_amount"))}
        if kind == ScoringKind.SOURCE_QUALITY:
            return {"sources": split(d.get("sources", "")), "campaigns": split(d.get("campaigns", ""))}
        if kind == ScoringKind.COMPLETENESS:
            return {"fields": split(d.get("fields_wanted", ""))}
        return {"min_annual_income": amount(d.get("min_annual_income")),
                "min_net_worth": amount(d.get("min_net_worth")), "occupations": split(d.get("occupations", ""))}

    @classmethod
    def of(cls, rule: Any) -> dict[str, Any]:
        p = rule.params or {}
        return {
            "brand": rule.brand, "name": rule.name, "kind": rule.kind, "points": rule.points,
            "is_active": rule.is_active, "countries": ", ".join(p.get("countries", [])),
            "levels": p.get("levels", []), "min_amount": p.get("min"), "max_amount": p.get("max"),
            "sources": ", ".join(p.get("sources", [])), "campaigns": ", ".join(p.get("campaigns", [])),
            "fields_wanted": ", ".join(p.get("fields", [])), "min_annual_income": p.get("min_annual_income"),
            "min_net_worth": p.get("min_net_worth"), "occupations": ", ".join(p.get("occupations", [])),
        }


class RoutingRuleForm(forms.Form):
    brand = forms.ModelChoiceField(label=_("Brand"), queryset=Brand.objects.filter(is_active=True))
    name = forms.CharField(label=_("Name"), max_length=120)
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)
    is_fallback = forms.BooleanField(label=_("Fallback: catches every lead no other rule took"), required=False)
    countries = forms.CharField(label=_("Countries"), required=False, help_text=_("GB, IE — empty: any"))
    languages = forms.CharField(label=_("Languages"), required=False, help_text=_("en, ar — empty: any"))
    campaigns = forms.CharField(label=_("Campaigns"), required=False)
    sources = forms.CharField(label=_("Sources"), required=False)
    referrer_codes = forms.CharField(label=_("Referrer (IB) codes"), required=False)
    score_min = forms.IntegerField(label=_("Score from"), required=False, min_value=0, max_value=100)
    score_max = forms.IntegerField(label=_("Score to"), required=False, min_value=0, max_value=100)
    target_kind = forms.ChoiceField(label=_("Give to"), choices=RoutingTarget.choices, widget=forms.RadioSelect)
    target_agent = forms.ModelChoiceField(label=_("Agent"), required=False, queryset=User.objects.none())
    target_desk = forms.ModelChoiceField(label=_("Desk"), required=False, queryset=Desk.objects.none())
    strategy = forms.ChoiceField(label=_("Strategy"), choices=RoutingStrategy.choices)
    weights = forms.CharField(label=_("Weights"), required=False,
                              help_text=_("For the weighted strategy: one “agent email = weight” per line."),
                              widget=forms.Textarea(attrs={"rows": 3}))
    fall_through = forms.BooleanField(label=_("If nobody is available, try the next rules"), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from crm.permissions import AGENT_ROLES

        form_field(self, "target_agent", forms.ModelChoiceField).queryset = User.objects.filter(is_active=True, role__code__in=AGENT_ROLES)
        form_field(self, "target_desk", forms.ModelChoiceField).queryset = Desk.objects.filter(is_active=True).select_related("brand")

    def clean_weights(self) -> dict[str, int]:
        weights: dict[str, int] = {}
        for line in (self.cleaned_data.get("weights") or "").splitlines():
            if not line.strip():
                continue
            email, sep, weight = line.partition("=")
            user = User.objects.filter(email__iexact=email.strip()).first()
            if not sep or user is None or not weight.strip().isdigit():
                raise forms.ValidationError(_("Write one “agent email = weight” per line."))
            weights[str(user.code)] = int(weight.strip())
        return weights

    @classmethod
    def of(cls, rule: Any) -> dict[str, Any]:
        codes = {str(u.code): u.email for u in User.objects.filter(code__in=list((rule.weights or {}).keys()))}
        return {
            "brand": rule.brand, "name": rule.name, "is_active": rule.is_active, "is_fallback": rule.is_fallback,
            "countries": ", ".join(rule.countries), "languages": ", ".join(rule.languages),
            "campaigns": ", ".join(rule.campaigns), "sources": ", ".join(rule.sources),
            "referrer_codes": ", ".join(rule.referrer_codes), "score_min": rule.score_min, "score_max": rule.score_max,
            "target_kind": rule.target_kind, "target_agent": rule.target_agent, "target_desk": rule.target_desk,
            "strategy": rule.strategy, "fall_through": rule.fall_through,
            "weights": "\n".join(f"{codes.get(code, code)} = {w}" for code, w in (rule.weights or {}).items()),
        }


class DeskSlaForm(forms.Form):
    minutes_to_first_contact = forms.IntegerField(label=_("Minutes to first contact"), min_value=1, max_value=10080)
    escalate_to = forms.ModelChoiceField(label=_("Escalate to"), required=False, queryset=User.objects.none(),
                                         empty_label=_("The desk's manager"))
    auto_reassign = forms.BooleanField(label=_("Reassign automatically when missed"), required=False)
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        form_field(self, "escalate_to", forms.ModelChoiceField).queryset = User.objects.filter(is_active=True).order_by("full_name")


class AvailabilityForm(forms.Form):
    status = forms.ChoiceField(label=_("Status"), choices=AvailabilityStatus.choices)
    shift_start = forms.TimeField(label=_("Shift from"), required=False,
                                  widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))
    shift_end = forms.TimeField(label=_("Shift to"), required=False,
                                widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))
    shift_days = forms.MultipleChoiceField(
        label=_("Days"), required=False, widget=forms.CheckboxSelectMultiple,
        choices=[(str(i), label) for i, label in enumerate(
            [_("Mon"), _("Tue"), _("Wed"), _("Thu"), _("Fri"), _("Sat"), _("Sun")], start=1)])
    note = forms.CharField(label=_("Note"), max_length=200, required=False)


class TelephonyProviderForm(forms.Form):
    """A telephony provider: `code` only when adding one (it is part of the webhook address)."""

    # Not required here: leads.telephony checks every field at once, so a bad submission shows
    # all its errors together instead of the missing ones first.
    code = forms.CharField(label=_("Code"), max_length=40, required=False,
                           widget=forms.TextInput(attrs={"required": True}),
                           help_text=_("Lower-case letters, digits and hyphens; the end of the webhook address. "
                                       "It cannot be changed later."))
    name = forms.CharField(label=_("Name"), max_length=120, required=False,
                           widget=forms.TextInput(attrs={"required": True}))
    brand = forms.ModelChoiceField(label=_("Brand"), queryset=Brand.objects.filter(is_active=True), required=False,
                                   to_field_name="code", empty_label=_("Every brand"))
    click_to_call_template = forms.CharField(
        label=_("Click-to-call template"), max_length=300, required=False,
        help_text=_("Starts with sip:, tel:, https: or callto:; may use {phone} and {extension}, e.g. "
                    "https://pbx.example/call?to={phone}&ext={extension}. Empty: the CRM's default."))

    def __init__(self, *args: Any, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if editing:
            del self.fields["code"]

    @classmethod
    def of(cls, provider: Any) -> dict[str, Any]:
        return {"name": provider.name, "brand": provider.brand,
                "click_to_call_template": provider.click_to_call_template}
