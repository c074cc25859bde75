"""Forms a partner fills in: the partner portal's (sign-in, passwords, links, questions about a line,
sub-partner invitations, payouts) and the public application. Their words are the partner portal's
catalogue (ib/locale), so they live apart from the IB manager's forms (ib.forms)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from crm.lib.forms import form_field
from crm.views.ui.forms import PlainSelect


class PartnerLoginForm(forms.Form):
    """The partner portal's sign-in (the brand comes from the page's address)."""

    email = forms.EmailField(label=_("Email"), max_length=254,
                             widget=forms.EmailInput(attrs={"autocomplete": "username"}))
    password = forms.CharField(label=_("Password"), strip=False, max_length=256,
                               widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))


class PartnerResetForm(forms.Form):
    """Forgot password: the address of the partner login (the brand comes from the page's address)."""

    email = forms.EmailField(label=_("Email"), max_length=254,
                             widget=forms.EmailInput(attrs={"autocomplete": "username"}))


class PartnerNewPasswordForm(forms.Form):
    password = forms.CharField(label=_("New password"), strip=False, max_length=256,
                               widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))
    password2 = forms.CharField(label=_("New password again"), strip=False, max_length=256,
                                widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("password") and data.get("password2") and data["password"] != data["password2"]:
            self.add_error("password2", _("The two passwords differ."))
        return data


class DisputeForm(forms.Form):
    """A partner's question about one of its commission lines (ib.disputes.dispute_open checks it)."""

    message = forms.CharField(label=_("What do you think is wrong?"), widget=forms.Textarea(attrs={"rows": 4}),
                              error_messages={"required": _("Say what you think is wrong with this amount.")},
                              help_text=_("For example the lots, the rate or the client you expected. The IB "
                                          "manager sees this line's whole calculation beside your question."))


class PartnerApplicationForm(forms.Form):
    """The public partner application (ib.onboarding.partner_application_submit checks it)."""

    company = forms.CharField(label=_("Company"), max_length=120,
                              help_text=_("Or your own name, if you work alone."))
    website = forms.CharField(label=_("Website"), max_length=200, required=False,
                              widget=forms.TextInput(attrs={"placeholder": "https://", "inputmode": "url"}))
    kind = forms.ChoiceField(label=_("You are"), choices=[("ib", _("An introducing broker")),
                                                          ("affiliate", _("An affiliate (online marketing)"))],
                             initial="ib", widget=forms.RadioSelect)
    expected_clients = forms.IntegerField(label=_("Clients you expect to bring per month"), required=False,
                                          widget=forms.NumberInput(attrs={"min": 1, "inputmode": "numeric"}))
    # A list of checkboxes (templates/ib/partner_portal/_countries.html, filtered as one types by
    # static/js/checklist-filter.js), not a select of every country; a code not in the list is named.
    countries = forms.MultipleChoiceField(
        label=_("Countries where you find clients"), required=False, widget=forms.CheckboxSelectMultiple,
        error_messages={"invalid_choice": _("Unknown country code: %(value)s. Choose the countries from the list.")})
    marketing_methods = forms.MultipleChoiceField(label=_("How you find clients"), required=False,
                                                  widget=forms.CheckboxSelectMultiple)
    marketing_note = forms.CharField(label=_("Tell us more (optional)"), required=False, max_length=2000,
                                     widget=forms.Textarea(attrs={"rows": 3}))
    contact_name = forms.CharField(label=_("Contact name"), max_length=120)
    contact_email = forms.EmailField(label=_("Contact email"), max_length=254,
                                     widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    contact_phone = forms.CharField(label=_("Contact phone"), max_length=40,
                                    help_text=_("With the country code, such as +44 20 7183 8750."),
                                    widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel"}))
    agree = forms.BooleanField(label=_("I accept the partner agreement and the privacy policy"),
                               error_messages={"required": _("Accept the partner agreement to apply.")})
    # A field people never see: a bot fills it in.
    nickname = forms.CharField(required=False, widget=forms.TextInput(attrs={"tabindex": "-1", "autocomplete": "off"}))

    def __init__(self, *args: Any, language: str = "en", **kwargs: Any) -> None:
        from crm.lib.countries import country_choices
        from ib.models import MarketingMethod

        super().__init__(*args, **kwargs)
        form_field(self, "countries", forms.ChoiceField).choices = country_choices(language)
        form_field(self, "marketing_methods", forms.ChoiceField).choices = MarketingMethod.choices

    @property
    def is_bot(self) -> bool:
        return bool(self.data.get("nickname"))


class LinkForm(forms.Form):
    """A tracking link or referral code (ib.services.tracking_link_create checks it)."""

    kind = forms.ChoiceField(label=_("Kind"), choices=[("link", _("Tracking link")), ("code", _("Referral code"))],
                             widget=PlainSelect)
    campaign = forms.CharField(label=_("Campaign"), max_length=100, required=False)
    landing_url = forms.CharField(label=_("Landing page"), max_length=500, required=False,
                                  help_text=_("A page of this site (such as the registration) or an address on the "
                                              "brand's allowed domains."))
    code = forms.CharField(label=_("Own code (optional)"), max_length=16, required=False,
                           help_text=_("3 to 16 letters, digits, - or _. Empty: one is made for you."))


class SubPartnerInviteForm(forms.Form):
    email = forms.EmailField(label=_("Email of the partner you invite"), max_length=254)


class JoinForm(PartnerNewPasswordForm):
    """Accepting an invitation: the partner names itself and chooses its password."""

    display_name = forms.CharField(label=_("Your name or company"), max_length=120)
    field_order = ["display_name", "password", "password2"]


class PayoutRequestForm(forms.Form):
    currency = forms.ChoiceField(label=_("Currency"), choices=())
    amount = forms.CharField(label=_("Amount"), max_length=40)

    def __init__(self, *args: Any, currencies: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["currency"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [(c, c) for c in currencies]
