"""Forms of the IB manager's pages: they parse; the services decide."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm.lib.fieldcrypt import keyed_hashes
from crm.lib.forms import form_field
from crm.models import Brand, Client
from crm.views.ui.forms import AmountField, ListedModelChoiceField, PlainSelect
from ib.models import HedgeMode, Partner, PartnerStatus, PassUpBase, PayoutSchedule, PostbackEvent, SplitMode


class PartnerChoiceField(ListedModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.display_name} ({obj.get_kind_display()})"


class MoveForm(forms.Form):
    parent = PartnerChoiceField(label=_("New parent"), queryset=Partner.objects.none(), to_field_name="code",
                                required=False, empty_label=_("None (a top-level partner)"), widget=PlainSelect)
    reason = forms.CharField(label=_("Reason"), max_length=500)

    def __init__(self, *args: Any, partner: Partner, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["parent"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = (Partner.objects.filter(brand_id=partner.brand_id, status=PartnerStatus.ACTIVE)
                          .exclude(pk=partner.pk).order_by("display_name"))


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=500, required=False)


class ResolveForm(forms.Form):
    partner = PartnerChoiceField(label=_("Partner"), queryset=Partner.objects.none(), to_field_name="code",
                                 widget=PlainSelect)
    reason = forms.CharField(label=_("Reason"), max_length=500)

    def __init__(self, *args: Any, partners: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["partner"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = partners


class ReattributeForm(forms.Form):
    partner = PartnerChoiceField(label=_("Partner"), queryset=Partner.objects.none(), to_field_name="code",
                                 widget=PlainSelect)
    effective_from = forms.DateTimeField(label=_("From"), required=False,
                                         help_text=_("Leave empty for now. Never before the current attribution."),
                                         widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    reason = forms.CharField(label=_("Reason"), max_length=500)

    def __init__(self, *args: Any, brand_id: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["partner"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = Partner.objects.filter(brand_id=brand_id, status=PartnerStatus.ACTIVE).order_by("display_name")


class PostbackForm(forms.Form):
    """A partner's postback settings (ib.postbacks.postback_save checks the address)."""

    url = forms.CharField(label=_("URL"), max_length=500,
                          help_text=_("The partner's https address that receives the notifications."),
                          widget=forms.URLInput(attrs={"placeholder": "https://"}))
    events = forms.MultipleChoiceField(label=_("Events"), choices=PostbackEvent.choices, required=False,
                                       widget=forms.CheckboxSelectMultiple)
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)
    new_secret = forms.BooleanField(label=_("Make a new signing secret"), required=False,
                                    help_text=_("The old one stops working at once."))


class BannerForm(forms.Form):
    brand: forms.ModelChoiceField[Any] = forms.ModelChoiceField(label=_("Brand"), queryset=Brand.objects.none(),
                                                                 to_field_name="code")
    name = forms.CharField(label=_("Name"), max_length=120)
    image = forms.FileField(label=_("Image (PNG, JPEG, GIF or WebP, up to 2 MB)"))
    language = forms.ChoiceField(label=_("Language"), required=False)

    def __init__(self, *args: Any, brands: Any, **kwargs: Any) -> None:
        from django.conf import settings

        super().__init__(*args, **kwargs)
        form_field(self, "brand", forms.ModelChoiceField).queryset = brands
        if len(brands[:2]) == 1:  # one brand: chosen already
            self.fields["brand"].initial = brands[0].code
        form_field(self, "language", forms.ChoiceField).choices = [("", _("Any language")), *settings.LANGUAGES]


class DisputeDecideForm(forms.Form):
    """The IB manager's answer to a dispute (ib.disputes.dispute_decide checks it)."""

    outcome = forms.ChoiceField(label=_("Outcome"), widget=PlainSelect, choices=[
        ("upheld", _("Upheld: the line will be corrected by a recalculation")),
        ("rejected", _("Rejected: the line is right"))])
    answer = forms.CharField(label=_("Answer to the partner"), widget=forms.Textarea(attrs={"rows": 4}),
                             error_messages={"required": _("Write the answer the partner will read.")})


class PeriodField(forms.CharField):
    """A month as YYYY-MM (ib.commissions.period_parse names what is wrong)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("label", _("Period (YYYY-MM)"))
        kwargs.setdefault("max_length", 7)
        super().__init__(**kwargs)

    def clean(self, value: Any) -> Any:
        from crm.exceptions import DomainError
        from ib.commissions import period_parse

        text = super().clean(value)
        try:
            return period_parse(text)
        except DomainError as error:
            raise forms.ValidationError(next(iter(error.fields.values()), [error.message])[0]) from None


class RunStartForm(forms.Form):
    brand = ListedModelChoiceField(label=_("Brand"), queryset=Brand.objects.none(), to_field_name="code",
                                   empty_label=None, widget=PlainSelect)
    period = PeriodField()

    def __init__(self, *args: Any, brands: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["brand"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = brands


class WhatIfForm(forms.Form):
    period = PeriodField()


class PlanVersionForm(forms.Form):
    effective_from = forms.DateField(label=_("In force from"), widget=forms.DateInput(attrs={"type": "date"}),
                                     help_text=_("The day of an earlier version corrects it (from that version's own start); "
                                                 "another day starts at midnight UTC."))
    draft = forms.BooleanField(label=_("Draft: only what-if runs use it"), required=False)
    min_hold_seconds = forms.IntegerField(label=_("Minimum holding time (seconds)"), min_value=0, initial=0)
    split_mode = forms.ChoiceField(label=_("Split between levels"), widget=PlainSelect, choices=SplitMode.choices)
    pass_up_percent = forms.DecimalField(label=_("Pass-up percentage"), required=False, min_value=0, max_value=99)
    pass_up_base = forms.ChoiceField(label=_("Pass-up"), widget=PlainSelect, choices=PassUpBase.choices,
                                     required=False)
    pass_up_percents = forms.CharField(label=_("Pass-up chain (%)"), required=False, max_length=200,
                                       help_text=_("Instead of one percentage: one per level, comma separated "
                                                   "(25, 10: the client's partner passes 25 %, its parent 10 %)."))
    hedge_mode = forms.ChoiceField(label=_("Hedged positions"), widget=PlainSelect, choices=HedgeMode.choices,
                                   required=False)
    # In the plan's currency, at most its decimals (ib.commissions.plan_version_record holds to it too).
    period_cap = AmountField(label=_("Cap per partner and period"), required=False, allow_zero=True)
    period_minimum = AmountField(label=_("Minimum paid per period"), required=False, allow_zero=True)
    client_cap = AmountField(label=_("Cap per partner, client and period"), required=False, allow_zero=True)
    note = forms.CharField(label=_("Note"), max_length=500, required=False)
    rules = forms.CharField(label=_("Rules (JSON)"), widget=forms.Textarea(attrs={"rows": 12, "spellcheck": "false"}),
                            help_text=_("A list of rules as in the import format (README: partner programme import). "
                                        "Started from the latest version's rules."))

    def __init__(self, *args: Any, currency: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("period_cap", "period_minimum", "client_cap"):
            form_field(self, name, AmountField).currency = currency  # the plan's: at most its decimals

    def clean_pass_up_percents(self) -> list[str]:
        """The chain as its entries' text (ib.commissions.pass_up_chain_clean checks them)."""
        text = self.cleaned_data["pass_up_percents"].strip()
        return [part.strip() for part in text.split(",")] if text else []

    def clean_rules(self) -> Any:
        import json

        text = self.cleaned_data["rules"]
        try:
            rules = json.loads(text)
        except ValueError as error:
            raise forms.ValidationError(_("Not valid JSON: %(error)s.") % {"error": error}) from None
        if not isinstance(rules, list) or not all(isinstance(r, dict) for r in rules):
            raise forms.ValidationError(_("Give a list of rules, each an object."))
        return rules


class PlanAssignForm(forms.Form):
    partner = PartnerChoiceField(label=_("Partner"), queryset=Partner.objects.none(), to_field_name="code",
                                 widget=PlainSelect, required=False, empty_label=_("— or one account —"))
    account_login = forms.IntegerField(label=_("Trading account login (a personal override)"), required=False,
                                       min_value=1)
    effective_from = forms.DateField(label=_("From"), widget=forms.DateInput(attrs={"type": "date"}),
                                     help_text=_("Midnight UTC. The partner's current plan ends there."))

    def __init__(self, *args: Any, partners: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["partner"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = partners

    def clean(self) -> dict[str, Any] | None:
        data = super().clean() or {}
        if bool(data.get("partner")) == bool(data.get("account_login")):
            raise forms.ValidationError(_("Choose a partner, or give one trading account's login."))
        return data


class ImportForm(forms.Form):
    file = forms.FileField(label=_("Partner programme file (JSON)"),
                           help_text=_("The format of manage.py ib_import (README: partner programme import). "
                                       "All or nothing: a wrong entry is named and nothing is imported."))

    def clean_file(self) -> Any:
        from ib.importer import IMPORT_MAX_BYTES

        upload = self.cleaned_data["file"]
        if upload.size > IMPORT_MAX_BYTES:  # refused before it is read into memory
            raise forms.ValidationError(_("The file is larger than 20 MB."))
        return upload


# --- onboarding (ib.onboarding decides; these parse) ------------------------------------------------

class PlanChoiceField(ListedModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.name} ({obj.currency})"


def _brand_choices(form: forms.Form, brand_id: int, *, plan_required: bool = False) -> None:
    from ib.models import CommissionPlan

    plan = form.fields["plan"]
    parent = form.fields["parent"]
    assert isinstance(plan, forms.ModelChoiceField) and isinstance(parent, forms.ModelChoiceField)
    plan.queryset = CommissionPlan.objects.filter(brand_id=brand_id).order_by("name")
    plan.required = plan_required
    parent.queryset = Partner.objects.filter(brand_id=brand_id, status=PartnerStatus.ACTIVE).order_by("display_name")


class ApplicationApproveForm(forms.Form):
    plan = PlanChoiceField(label=_("Commission plan"), queryset=Partner.objects.none(), to_field_name="code",
                           widget=PlainSelect, empty_label=_("Choose a plan"),
                           error_messages={"required": _("Choose the plan the partner earns under.")})
    parent = PartnerChoiceField(label=_("Parent partner"), queryset=Partner.objects.none(), to_field_name="code",
                                required=False, empty_label=_("None (a top-level partner)"), widget=PlainSelect)
    reason = forms.CharField(label=_("Note"), max_length=500, required=False)

    def __init__(self, *args: Any, brand_id: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _brand_choices(self, brand_id, plan_required=True)


class ApplicationRejectForm(forms.Form):
    reason = forms.CharField(label=_("Reason (the applicant reads it)"), max_length=500,
                             widget=forms.Textarea(attrs={"rows": 3}),
                             error_messages={"required": _("Say why the application is rejected.")})


class PartnerNewForm(forms.Form):
    """The IB manager adds a partner (ib.onboarding.partner_onboard), or invites one (email only)."""

    brand = ListedModelChoiceField(label=_("Brand"), queryset=Brand.objects.none(), to_field_name="code",
                                   empty_label=None, widget=PlainSelect)
    display_name = forms.CharField(label=_("Name"), max_length=120, required=False)
    email = forms.EmailField(label=_("Email"), max_length=254)
    kind = forms.ChoiceField(label=_("Kind"), choices=[("ib", _("Introducing broker")), ("affiliate", _("Affiliate"))],
                             widget=PlainSelect)
    country = forms.ChoiceField(label=_("Country"), required=False, widget=PlainSelect)
    parent = PartnerChoiceField(label=_("Parent partner"), queryset=Partner.objects.none(), to_field_name="code",
                                required=False, empty_label=_("None (a top-level partner)"), widget=PlainSelect)
    plan = PlanChoiceField(label=_("Commission plan"), queryset=Partner.objects.none(), to_field_name="code",
                           widget=PlainSelect, required=False, empty_label=_("None yet"))
    send_login = forms.BooleanField(label=_("Email a portal login (a set-password link)"), required=False,
                                    initial=True)

    def __init__(self, *args: Any, brands: Any, language: str = "en", **kwargs: Any) -> None:
        from crm.lib.countries import country_choices
        from ib.models import CommissionPlan

        super().__init__(*args, **kwargs)
        brand_field = self.fields["brand"]
        assert isinstance(brand_field, forms.ModelChoiceField)
        brand_field.queryset = brands
        form_field(self, "country", forms.ChoiceField).choices = [("", _("—")), *country_choices(language)]
        ids = list(brands.values_list("pk", flat=True))
        plan = self.fields["plan"]
        parent = self.fields["parent"]
        assert isinstance(plan, forms.ModelChoiceField) and isinstance(parent, forms.ModelChoiceField)
        plan.queryset = CommissionPlan.objects.filter(brand_id__in=ids).order_by("name")
        parent.queryset = Partner.objects.filter(brand_id__in=ids, status=PartnerStatus.ACTIVE).order_by("display_name")


# --- a partner's settlement settings (the IB manager's, on the partner's page) ----------------------

class SettlementForm(forms.Form):
    schedule = forms.ChoiceField(label=_("Settlement schedule"), choices=PayoutSchedule.choices)
    client = forms.CharField(label=_("Linked client (email or code)"), max_length=254, required=False,
                             help_text=_("The partner's own client record: payouts go to its wallet. Leave "
                                         "empty for payouts paid by finance."))

    def __init__(self, *args: Any, partner: Partner, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.partner = partner

    def clean_client(self) -> Client | None:
        text = (self.cleaned_data.get("client") or "").strip()
        if not text:
            return None
        clients = Client.objects.filter(brand_id=self.partner.brand_id)
        try:
            found = list(clients.filter(code=uuid.UUID(text))[:2])
        except ValueError:
            found = list(clients.filter(email_hash__in=keyed_hashes(text, kind="email"))[:2])
        if not found:
            raise forms.ValidationError(gettext("No client of this brand has this email address or code."))
        if len(found) > 1:
            raise forms.ValidationError(gettext("Several clients have this email address: give the client's code."))
        return found[0]


def settlement_form_for(partner: Partner) -> SettlementForm:
    return SettlementForm(partner=partner, initial={
        "schedule": partner.schedule, "client": partner.client.email if partner.client is not None else ""})
