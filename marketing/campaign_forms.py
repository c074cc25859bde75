"""The new campaign's form: brand, name, channel (email or SMS), segment, hold-out share, attribution
window, the winner's metric, the cost, and variant A (B optional): subject (email only), body, share. The service (campaign_save) names
the problems it finds by these fields' names."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from crm.models import Brand
from marketing.campaign_models import CampaignChannel, WinnerMetric
from marketing.models import Segment


class CampaignForm(forms.Form):
    brand = forms.ModelChoiceField(label=_("Brand"), queryset=Brand.objects.none())
    name = forms.CharField(label=_("Name"), max_length=120)
    channel = forms.ChoiceField(
        label=_("Channel"), choices=CampaignChannel.choices, initial=CampaignChannel.EMAIL, required=False
    )
    segment = forms.ModelChoiceField(
        label=_("Segment"), queryset=Segment.objects.none(), to_field_name="code"
    )
    holdout_percent = forms.IntegerField(label=_("Hold-out group (%)"), min_value=0, max_value=50, initial=10)
    attribution_days = forms.IntegerField(
        label=_("Count results for (days)"), min_value=1, max_value=90, initial=14
    )
    winner_metric = forms.ChoiceField(
        label=_("Winner by"), choices=WinnerMetric.choices, initial=WinnerMetric.CLICK
    )
    cost_amount = forms.CharField(label=_("Cost"), required=False, max_length=40)
    cost_currency = forms.CharField(label=_("Cost currency"), required=False, max_length=10)
    subject_a = forms.CharField(label=_("Subject (A, email)"), max_length=255, required=False)
    body_a = forms.CharField(label=_("Text (A)"), widget=forms.Textarea(attrs={"rows": 8}))
    share_a = forms.IntegerField(label=_("Share of A (%)"), min_value=1, max_value=100, initial=50)
    subject_b = forms.CharField(label=_("Subject (B, email)"), max_length=255, required=False)
    body_b = forms.CharField(label=_("Text (B)"), widget=forms.Textarea(attrs={"rows": 8}), required=False)
    share_b = forms.IntegerField(
        label=_("Share of B (%)"), min_value=1, max_value=100, required=False, initial=50
    )

    def __init__(self, *args: Any, brands: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["brand"].queryset = brands  # type: ignore[attr-defined]  # a ModelChoiceField, typed as Field
        self.fields["segment"].queryset = (  # type: ignore[attr-defined]  # a ModelChoiceField, typed as Field
            Segment.objects.filter(brand__in=brands).select_related("brand").order_by("brand__name", "name")
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        data["channel"] = data.get("channel") or CampaignChannel.EMAIL
        sms = data["channel"] == CampaignChannel.SMS
        if not sms and not (data.get("subject_a") or "").strip() and "subject_a" not in self.errors:
            self.add_error("subject_a", _("This field is required."))
        has_b = bool((data.get("subject_b") or "").strip() or (data.get("body_b") or "").strip())
        if not has_b:
            if data.get("share_a") not in (None, 100):
                self.add_error("share_a", _("With one variant, it gets 100%."))
        else:
            for name in ("body_b", "share_b") if sms else ("subject_b", "body_b", "share_b"):
                if data.get(name) in (None, "") and name not in self.errors:
                    self.add_error(
                        name,
                        _("Variant B needs a text and a share.")
                        if sms
                        else _("Variant B needs a subject, a text and a share."),
                    )
        brand, segment = data.get("brand"), data.get("segment")
        if brand is not None and segment is not None and segment.brand_id != brand.pk:
            self.add_error("segment", _("Choose a segment of the campaign's brand."))
        return data

    def variant_data(self) -> dict[str, Any]:
        """The variants' fields as given (for campaigns.variants_from), also when the form is not valid."""
        source: Any = self.cleaned_data if hasattr(self, "cleaned_data") else {}
        return {
            name: source.get(name, self.data.get(name))
            for name in ("subject_a", "body_a", "share_a", "subject_b", "body_b", "share_b")
        }
