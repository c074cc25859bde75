"""Forms of the trader's room: they parse; the services decide (and name the field that is wrong)."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from crm.exceptions import DomainError
from crm.lib.countries import country_choices
from crm.views.ui.forms import AmountField

# The landing page's attribution, carried through the form in hidden fields: query name -> client field.
# A partner's tracking link (/r/<code>/) sends the visitor on with ref and click; a landing page may
# name the click click_id, which wins when both are there (the later name of one field wins).
ATTRIBUTION_PARAMS = {"utm_source": "utm_source", "utm_medium": "utm_medium", "utm_campaign": "utm_campaign",
                      "utm_term": "utm_term", "utm_content": "utm_content", "ref": "referrer_code",
                      "click": "click_id", "click_id": "click_id"}


class ServiceErrorsMixin:
    def add_service_errors(self, exc: DomainError) -> None:
        form: Any = self
        if not exc.fields:
            form.add_error(None, exc.message)
        for field, messages in exc.fields.items():
            for message in messages:
                form.add_error(field if field in form.fields else None, message)


class RegisterForm(ServiceErrorsMixin, forms.Form):
    first_name = forms.CharField(label=_("First name"), max_length=100)
    last_name = forms.CharField(label=_("Last name"), max_length=100)
    email = forms.EmailField(label=_("Email"), max_length=254)
    phone = forms.CharField(label=_("Phone"), max_length=40,
                            help_text=_("With your country's dialling code, or as you dial it at home."))
    country = forms.ChoiceField(label=_("Country of residence"), choices=())
    date_of_birth = forms.DateField(label=_("Date of birth"), widget=forms.DateInput(attrs={"type": "date"}))
    password = forms.CharField(label=_("Password"), strip=False, widget=forms.PasswordInput(
        attrs={"autocomplete": "new-password"}))
    accept_terms = forms.BooleanField(label=_("I accept the terms and conditions"), required=False)
    accept_privacy = forms.BooleanField(label=_("I accept the privacy policy"), required=False)
    accept_marketing = forms.BooleanField(label=_("Send me news and offers (optional)"), required=False)

    def __init__(self, *args: Any, language: str = "en", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        country = self.fields["country"]
        assert isinstance(country, forms.ChoiceField)
        country.choices = [("", _("Choose…")), *country_choices(language)]
        for name in ATTRIBUTION_PARAMS:
            self.fields[name] = forms.CharField(required=False, max_length=255, widget=forms.HiddenInput)

    def attribution(self) -> dict[str, str]:
        return {field: self.cleaned_data.get(param) or "" for param, field in ATTRIBUTION_PARAMS.items()
                if self.cleaned_data.get(param)}


class LoginForm(ServiceErrorsMixin, forms.Form):
    email = forms.EmailField(label=_("Email"), max_length=254)
    password = forms.CharField(label=_("Password"), strip=False, widget=forms.PasswordInput(
        attrs={"autocomplete": "current-password"}))


class CodeForm(ServiceErrorsMixin, forms.Form):
    code = forms.CharField(label=_("Code"), max_length=20, widget=forms.TextInput(
        attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}))


class EmailForm(ServiceErrorsMixin, forms.Form):
    email = forms.EmailField(label=_("Email"), max_length=254)


class NewPasswordForm(ServiceErrorsMixin, forms.Form):
    password = forms.CharField(label=_("New password"), strip=False, widget=forms.PasswordInput(
        attrs={"autocomplete": "new-password"}))
    password2 = forms.CharField(label=_("New password again"), strip=False, widget=forms.PasswordInput(
        attrs={"autocomplete": "new-password"}))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("password") and data.get("password2") and data["password"] != data["password2"]:
            self.add_error("password2", _("The two passwords are not the same."))
        return data


class ProfileForm(ServiceErrorsMixin, forms.Form):
    phone = forms.CharField(label=_("Phone"), max_length=40)
    language = forms.ChoiceField(label=_("Language"), choices=settings.LANGUAGES)


class PasswordChangeForm(ServiceErrorsMixin, forms.Form):
    current_password = forms.CharField(label=_("Current password"), strip=False, widget=forms.PasswordInput(
        attrs={"autocomplete": "current-password"}))
    new_password = forms.CharField(label=_("New password"), strip=False, widget=forms.PasswordInput(
        attrs={"autocomplete": "new-password"}))


class TwoFactorDisableForm(ServiceErrorsMixin, forms.Form):
    password = forms.CharField(label=_("Password"), strip=False, widget=forms.PasswordInput(
        attrs={"autocomplete": "current-password"}))
    code = forms.CharField(label=_("Code from your app, or a recovery code"), max_length=20)


class ConsentsForm(forms.Form):
    """Accept the current versions of the documents due (one checkbox each, all required)."""

    def __init__(self, *args: Any, documents: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.documents = documents
        for doc in documents:
            self.fields[f"accept_{doc.kind}"] = forms.BooleanField(label=doc.title, required=True, error_messages={
                "required": _("Accept this document to continue.")})


# --- the verification journey ---------------------------------------------------------------------------

ACCEPT = "image/png,image/jpeg,application/pdf,.png,.jpg,.jpeg,.pdf"


class AddressForm(ServiceErrorsMixin, forms.Form):
    """The address of residence (kyc.services.kyc_profile_save checks it and names the bad field)."""

    address_line1 = forms.CharField(label=_("Street and number"), max_length=200, required=False,
                                    widget=forms.TextInput(attrs={"autocomplete": "address-line1"}))
    address_line2 = forms.CharField(label=_("Apartment, building (optional)"), max_length=200, required=False,
                                    widget=forms.TextInput(attrs={"autocomplete": "address-line2"}))
    city = forms.CharField(label=_("City"), max_length=100, required=False,
                           widget=forms.TextInput(attrs={"autocomplete": "address-level2"}))
    postcode = forms.CharField(label=_("Postcode"), max_length=20, required=False,
                               widget=forms.TextInput(attrs={"autocomplete": "postal-code"}))
    country = forms.ChoiceField(label=_("Country of residence"), choices=(), required=False)

    def __init__(self, *args: Any, language: str = "en", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        country = self.fields["country"]
        assert isinstance(country, forms.ChoiceField)
        country.choices = [("", _("Choose…")), *country_choices(language)]


IDENTITY_KINDS = [("passport", _("Passport")), ("id_card", _("Identity card (front and back)")),
                  ("driving_licence", _("Driving licence"))]
ADDRESS_KINDS = [("utility_bill", _("Utility bill")), ("bank_statement", _("Bank statement"))]


class DocumentsForm(ServiceErrorsMixin, forms.Form):
    """Which identity document and proof of address, and their files. The files are checked by
    kyc.uploads (by content) in kyc.services.submission_create; the refusals come back on the fields
    named here ("identity", "identity_back", "address")."""

    identity_kind = forms.ChoiceField(label=_("Identity document"), choices=IDENTITY_KINDS, widget=forms.RadioSelect,
                                      initial="passport")
    identity = forms.FileField(label=_("Your identity document (the page with your photo, or the front)"),
                               required=False, allow_empty_file=True, widget=forms.FileInput(attrs={"accept": ACCEPT}),
                               help_text=_("PNG, JPEG or PDF."))
    identity_back = forms.FileField(label=_("The back of your identity card"), required=False, allow_empty_file=True,
                                    widget=forms.FileInput(attrs={"accept": ACCEPT}),
                                    help_text=_("Identity cards only."))
    address_kind = forms.ChoiceField(label=_("Proof of address"), choices=ADDRESS_KINDS, widget=forms.RadioSelect,
                                     initial="utility_bill")
    address = forms.FileField(label=_("Your proof of address"), required=False, allow_empty_file=True,
                              widget=forms.FileInput(attrs={"accept": ACCEPT}),
                              help_text=_("Issued in the last three months, showing your name and address."))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("identity"):
            self.add_error("identity", _("Choose the file of your identity document."))
        if data.get("identity_kind") == "id_card" and not data.get("identity_back"):
            self.add_error("identity_back", _("Choose the file of the back of your identity card."))
        if not data.get("address"):
            self.add_error("address", _("Choose the file of your proof of address."))
        return data

    def documents(self) -> list[Any]:
        from kyc.services import DocumentIn

        data = self.cleaned_data
        card = data["identity_kind"] == "id_card"
        docs = [DocumentIn(kind=data["identity_kind"], filename=data["identity"].name, file=data["identity"],
                           side="front" if card else "", field="identity")]
        if card:
            docs.append(DocumentIn(kind="id_card", filename=data["identity_back"].name, file=data["identity_back"],
                                   side="back", field="identity_back"))
        docs.append(DocumentIn(kind=data["address_kind"], filename=data["address"].name, file=data["address"],
                               field="address"))
        return docs


class AccountOpenForm(ServiceErrorsMixin, forms.Form):
    """Another trading account: the type (an offer of the brand), the leverage (the service holds it
    to the client's caps and says which), a demo's starting balance. `token` is the form's own: a
    double submit of it opens one account."""

    token = forms.UUIDField(widget=forms.HiddenInput)
    offer = forms.ChoiceField(label=_("Account type"))
    leverage = forms.IntegerField(label=_("Leverage"), min_value=1, widget=forms.Select)
    # In the account type's currency, at most its decimals (crm.lib.money: the service checks).
    demo_balance = AmountField(label=_("Starting balance"), required=False, allow_zero=True)

    def __init__(self, *args: Any, offers: list[tuple[str, str]], leverages: list[int], demo: bool,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["offer"]).choices = offers
        self.fields["leverage"].widget.choices = [(x, f"1:{x}") for x in leverages]
        if not demo:
            del self.fields["demo_balance"]


class AccountChoiceForm(forms.Form):
    offer = forms.ChoiceField(label=_("Account type"))

    def __init__(self, *args: Any, offers: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["offer"]).choices = offers


class LeverageForm(ServiceErrorsMixin, forms.Form):
    leverage = forms.IntegerField(label=_("Leverage"), min_value=1, widget=forms.Select)

    def __init__(self, *args: Any, leverages: list[int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["leverage"].widget.choices = [(x, f"1:{x}") for x in leverages]
