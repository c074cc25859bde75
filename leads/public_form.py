"""The public web-to-lead form (served without login at /f/<brand>/lead/, in the visitor's language):
its fields, its signed token, and the attribution a landing page passes on. Every message here is
shown to the public and translated (tests/leads/test_public_translations.py)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core import signing
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from crm.lib.countries import country_choices
from crm.lib.forms import form_field
from crm.models import Brand
from leads.intake import Experience

FORM_TOKEN_SALT = "leads.public-form"  # noqa: S105 - a signing namespace, not a secret
FORM_TOKEN_MAX_AGE = 12 * 3600
CONSENT_TEXT_VERSION = "1"
DEPOSIT_CHOICES: tuple[tuple[str, Any], ...] = (
    ("", _("Choose…")),
    ("250", "250+"),
    ("1000", "1,000+"),
    ("5000", "5,000+"),
    ("25000", "25,000+"),
    ("100000", "100,000+"),
)


def form_token(brand: Brand) -> str:
    return signing.dumps({"b": brand.code}, salt=FORM_TOKEN_SALT)


def form_token_valid(token: str, brand: Brand) -> bool:
    try:
        data = signing.loads(token or "", salt=FORM_TOKEN_SALT, max_age=FORM_TOKEN_MAX_AGE)
    except signing.BadSignature:
        return False
    return isinstance(data, dict) and data.get("b") == brand.code


# Query-string parameters a landing page passes on, and the lead field each fills.
ATTRIBUTION_PARAMS: dict[str, tuple[str, ...]] = {
    "utm_source": ("utm_source",),
    "utm_medium": ("utm_medium",),
    "utm_campaign": ("utm_campaign",),
    "utm_term": ("utm_term",),
    "utm_content": ("utm_content",),
    # "click": the partner tracking link's redirect (/r/<code>/) names its click so.
    "click_id": ("click_id", "click", "gclid", "fbclid", "msclkid", "ttclid"),
    "referrer_code": ("ref", "referrer", "ib"),
    "campaign": ("campaign",),
    "source": ("source",),
    "landing_page": ("landing", "landing_page"),
}
ATTRIBUTION_LIMITS: dict[str, int] = {"click_id": 255, "referrer_code": 64, "landing_page": 500}


FORM_EXPIRED = _("This form has expired. Please check your details and send it again.")


class PublicLeadForm(forms.Form):
    first_name = forms.CharField(
        label=_("First name"), max_length=100, widget=forms.TextInput(attrs={"autocomplete": "given-name"})
    )
    last_name = forms.CharField(
        label=_("Last name"), max_length=100, widget=forms.TextInput(attrs={"autocomplete": "family-name"})
    )
    email = forms.CharField(
        label=_("Email"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "dir": "ltr"}),
    )
    country = forms.ChoiceField(label=_("Country"), choices=())
    phone = forms.CharField(
        label=_("Phone"),
        max_length=40,
        widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel", "dir": "ltr"}),
        help_text=_("With your country's dialling code, or as you dial it at home."),
    )
    experience = forms.ChoiceField(
        label=_("Trading experience"), required=False, choices=(("", _("Choose…")), *Experience.CHOICES)
    )
    deposit_intent = forms.ChoiceField(
        label=_("How much would you start with?"), required=False, choices=DEPOSIT_CHOICES
    )
    consent = forms.BooleanField(
        label=_("I agree to be contacted about my account and the brand's services."), required=True
    )
    # A field people never see: bots fill it in.
    website = forms.CharField(required=False, label=_("Leave this empty"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Named in the visitor's language, as registration names them.
        form_field(self, "country", forms.ChoiceField).choices = [
            ("", _("Choose…")),
            *country_choices(get_language() or "en"),
        ]
        for name, limit in ((n, ATTRIBUTION_LIMITS.get(n, 100)) for n in ATTRIBUTION_PARAMS):
            self.fields[name] = forms.CharField(required=False, max_length=limit, widget=forms.HiddenInput)
        self.fields["website"].widget.attrs.update({"tabindex": "-1", "autocomplete": "off"})

    def clean(self) -> dict[str, Any]:
        """Every field's problem at once: the service's own checks (email, phone with its country...)
        also run on fields the form found no fault with."""
        super().clean()
        data = self.cleaned_data
        from leads.intake import lead_clean
        from leads.models import Channel

        raw = {name: self.data.get(name, "") for name in self.fields if name != "website"}
        raw["consent"] = bool(data.get("consent"))
        _lead, errors = lead_clean(raw, channel=Channel.FORM)
        for name, messages in errors.items():
            if name in self.fields and name not in self.errors:
                for message in messages:
                    self.add_error(name, message)
        return data

    @property
    def is_bot(self) -> bool:
        return bool(self.data.get("website"))

    def lead_data(self) -> dict[str, Any]:
        data = {name: value for name, value in self.cleaned_data.items() if name != "website"}
        data["consent"] = bool(self.cleaned_data.get("consent"))
        return data


def attribution_from_query(params: Any, referer: str = "") -> dict[str, str]:
    """Hidden-field values from the landing page's query string (first parameter that is set)."""
    out: dict[str, str] = {}
    for field, names in ATTRIBUTION_PARAMS.items():
        for name in names:
            value = (params.get(name) or "").strip()
            if value:
                out[field] = value[: ATTRIBUTION_LIMITS.get(field, 100)]
                break
    if "landing_page" not in out and referer:
        out["landing_page"] = referer[:500]
    return out


# --- staff forms ----------------------------------------------------------------------------------
