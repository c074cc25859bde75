"""Forms of the KYC staff pages: they parse; kyc.services validate and decide."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from kyc.models import ExpiryHold


class ApproveForm(forms.Form):
    note = forms.CharField(label=_("Note (kept with the decision)"), required=False, max_length=1000,
                           widget=forms.Textarea(attrs={"rows": 2}))


class RejectForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=2000, widget=forms.Textarea(attrs={"rows": 3}),
                             help_text=_("Sent to the client with what to fix when the rejection is retryable."))
    final = forms.BooleanField(label=_("Final: the client may not send documents again"), required=False)


class RequestInfoForm(forms.Form):
    message = forms.CharField(label=_("What the client should send"), max_length=2000,
                              widget=forms.Textarea(attrs={"rows": 3}))


class AssignForm(forms.Form):
    assignee = forms.ChoiceField(label=_("Officer"), required=False)

    def __init__(self, *args: Any, reviewers: list[Any] = (), **kwargs: Any) -> None:  # type: ignore[assignment]  # a tuple default, only read
        super().__init__(*args, **kwargs)
        self.reviewers = {str(u.code): u for u in reviewers}
        field = self.fields["assignee"]
        assert isinstance(field, forms.ChoiceField)  # noqa: S101 - declared above
        field.choices = [("", _("Nobody (release)")),
                                           *[(code, u.full_name or u.email) for code, u in self.reviewers.items()]]

    def clean_assignee(self) -> Any:
        value = self.cleaned_data.get("assignee") or ""
        return self.reviewers.get(value) if value else None


def _codes(value: str) -> list[str]:
    return [part for part in value.replace(";", ",").replace(" ", ",").split(",") if part.strip()]


class PolicyForm(forms.Form):
    allowed_issuing_countries = forms.CharField(
        label=_("Allowed issuing countries"), required=False, max_length=2000,
        help_text=_("Three-letter codes as printed in the document's machine-readable zone (GBR, DEU), separated "
                    "by commas; empty: every country."))
    poa_max_age_days = forms.IntegerField(label=_("Proof of address: maximum age (days)"), min_value=1, max_value=3650)
    expiry_warning_days = forms.IntegerField(label=_("Warn clients this many days before a document expires"),
                                             min_value=0, max_value=365)
    review_sla_hours = forms.IntegerField(label=_("Review SLA (hours)"), min_value=1, max_value=720)
    high_risk_countries = forms.CharField(
        label=_("High-risk countries of residence (two officers approve)"), required=False, max_length=2000,
        help_text=_("Two-letter codes (ISO 3166-1), separated by commas."))
    expiry_holds = forms.MultipleChoiceField(label=_("When a verification expires, hold"), required=False,
                                             choices=ExpiryHold.choices, widget=forms.CheckboxSelectMultiple)
    vendor = forms.ChoiceField(label=_("Verification vendor"), required=False, help_text=_(
        "Who checks the documents: the built-in automatic checks or an external vendor."))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from kyc.vendors import vendor_choices

        super().__init__(*args, **kwargs)
        field = self.fields["vendor"]
        assert isinstance(field, forms.ChoiceField)  # noqa: S101 - declared above
        field.choices = vendor_choices()

    def clean_vendor(self) -> str | None:
        return self.cleaned_data.get("vendor") or None  # not sent: the policy keeps its vendor

    def clean_allowed_issuing_countries(self) -> list[str]:
        return _codes(self.cleaned_data.get("allowed_issuing_countries") or "")

    def clean_high_risk_countries(self) -> list[str]:
        return _codes(self.cleaned_data.get("high_risk_countries") or "")


class AddressForm(forms.Form):
    address_line1 = forms.CharField(label=_("Address"), max_length=200)
    address_line2 = forms.CharField(label=_("Address (line 2)"), max_length=200, required=False)
    city = forms.CharField(label=_("City"), max_length=100)
    postcode = forms.CharField(label=_("Postcode"), max_length=20, required=False)
    country = forms.CharField(label=_("Country"), max_length=2, help_text=_("Two-letter code, e.g. GB."))
