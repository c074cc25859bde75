"""Forms for login, two-factor, password change and staff administration.

Forms parse and normalise input; the rules that protect the data live in crm/staff_services.py
and crm/services.py, whose ValidationFailed errors are put back onto the form's fields with
crm.views.ui.forms.apply_domain_errors.
"""

from __future__ import annotations

import functools
import zoneinfo
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth import authenticate
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from crm.exceptions import DomainError
from crm.lib.forms import form_field
from crm.models import Brand, Desk, DeskKind, Role, User
from crm.staff_services import countries_normalise, languages_normalise, password_check
from crm.views.ui.forms import apply_domain_errors

INPUT = {"class": "input"}
WEEKDAYS = [
    (1, _("Monday")), (2, _("Tuesday")), (3, _("Wednesday")), (4, _("Thursday")), (5, _("Friday")),
    (6, _("Saturday")), (7, _("Sunday")),
]


@functools.cache
def timezone_choices() -> list[tuple[str, str]]:
    return [(name, name.replace("_", " ")) for name in sorted(zoneinfo.available_timezones())]


# --- login and two-factor -----------------------------------------------------------------------


class LoginForm(forms.Form):
    # Named "username" because django-axes reads the attempted login from that field.
    username = forms.EmailField(
        label=_("Email"), max_length=254,
        widget=forms.EmailInput(attrs={**INPUT, "autocomplete": "username", "autofocus": True, "dir": "ltr"}),
    )
    password = forms.CharField(
        label=_("Password"), strip=False,
        widget=forms.PasswordInput(attrs={**INPUT, "autocomplete": "current-password"}),
    )

    error_messages = {
        # One message for a wrong password, an unknown email and a deactivated account alike.
        "invalid_login": _("That email and password do not match an active account."),
    }

    def __init__(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        self.request = request
        self.user_cache: User | None = None
        super().__init__(*args, **kwargs)

    def clean_username(self) -> str:
        return str(self.cleaned_data["username"]).strip().lower()

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        email, password = cleaned.get("username"), cleaned.get("password")
        if email and password:
            # `request` is required by django-axes to count failures per email and IP.
            self.user_cache = authenticate(self.request, username=email, password=password)
            if self.user_cache is None:
                raise forms.ValidationError(self.error_messages["invalid_login"], code="invalid_login")
        return cleaned

    def get_user(self) -> User | None:
        return self.user_cache


class OtpTokenForm(forms.Form):
    token = forms.CharField(
        label=_("Code"), max_length=24,
        widget=forms.TextInput(attrs={
            **INPUT, "autocomplete": "one-time-code", "autofocus": True, "spellcheck": "false",
            "autocapitalize": "off",
        }),
    )


class NewPasswordForm(forms.Form):
    """A new password typed twice. Bounded: hashing megabytes of text costs the server, and a reset
    link's form is open to whoever holds the link."""

    new_password1 = forms.CharField(
        label=_("New password"), strip=False, max_length=4096,
        widget=forms.PasswordInput(attrs={**INPUT, "autocomplete": "new-password"}),
    )
    new_password2 = forms.CharField(
        label=_("New password again"), strip=False, max_length=4096,
        widget=forms.PasswordInput(attrs={**INPUT, "autocomplete": "new-password"}),
    )

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        one, two = cleaned.get("new_password1"), cleaned.get("new_password2")
        if one and two and one != two:
            self.add_error("new_password2", _("The two new passwords differ."))
        return cleaned


class PasswordChangeForm(NewPasswordForm):
    field_order = ["old_password", "new_password1", "new_password2"]
    old_password = forms.CharField(
        label=_("Current password"), strip=False,
        widget=forms.PasswordInput(attrs={**INPUT, "autocomplete": "current-password", "autofocus": True}),
    )


class PasswordResetRequestForm(forms.Form):
    email = forms.EmailField(
        label=_("Email"), max_length=254,
        widget=forms.EmailInput(attrs={**INPUT, "autocomplete": "username", "autofocus": True, "dir": "ltr"}),
    )

    def clean_email(self) -> str:
        return str(self.cleaned_data["email"]).strip().lower()


class PasswordResetForm(NewPasswordForm):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["new_password1"].widget.attrs["autofocus"] = True


# --- staff administration -----------------------------------------------------------------------


class StaffFilterForm(forms.Form):
    q = forms.CharField(
        label=_("Search"), required=False,
        widget=forms.TextInput(attrs={**INPUT, "type": "search", "placeholder": _("Name or email")}),
    )
    role = forms.ModelChoiceField(
        label=_("Role"), queryset=Role.objects.all(), required=False, empty_label=_("Any role"),
        to_field_name="code", widget=forms.Select(attrs=INPUT),
    )
    desk = forms.ModelChoiceField(
        label=_("Desk"), queryset=Desk.objects.select_related("brand"), required=False,
        empty_label=_("Any desk"), to_field_name="code", widget=forms.Select(attrs=INPUT),
    )
    brand = forms.ModelChoiceField(
        label=_("Brand"), queryset=Brand.objects.all(), required=False, empty_label=_("Any brand"),
        to_field_name="code", widget=forms.Select(attrs=INPUT),
    )
    status = forms.ChoiceField(
        label=_("Status"), required=False,
        choices=[("", _("Any status")), ("active", _("Active")), ("inactive", _("Deactivated"))],
        widget=forms.Select(attrs=INPUT),
    )

    def active(self) -> bool | None:
        return {"active": True, "inactive": False}.get(self.cleaned_data.get("status") or "")


class _RoleChoiceField(forms.ModelChoiceField[Role]):
    def label_from_instance(self, obj: Role) -> str:
        return obj.name


class _ManagerChoiceField(forms.ModelChoiceField[User]):
    def label_from_instance(self, obj: User) -> str:
        return f"{obj.full_name} ({obj.role.name if obj.role else '-'})"


class _StaffFieldsForm(forms.Form):
    """Fields shared by creating and editing a member of staff."""

    full_name = forms.CharField(label=_("Full name"), max_length=150, widget=forms.TextInput(attrs=INPUT))
    email = forms.EmailField(label=_("Email"), max_length=254, widget=forms.EmailInput(attrs={**INPUT, "dir": "ltr"}))
    role = _RoleChoiceField(
        label=_("Role"), queryset=Role.objects.all(), to_field_name="code", empty_label=_("Choose a role"),
        widget=forms.Select(attrs=INPUT),
    )
    desk = forms.ModelChoiceField(
        label=_("Desk"), queryset=Desk.objects.filter(is_active=True).select_related("brand"), required=False,
        empty_label=_("No desk"), to_field_name="code", widget=forms.Select(attrs=INPUT),
    )
    all_brands = forms.BooleanField(
        label=_("All brands"), required=False,
        help_text=_("Sees every brand, including brands added later."),
    )
    brands = forms.ModelMultipleChoiceField(
        label=_("Brands"), queryset=Brand.objects.filter(is_active=True), required=False,
        to_field_name="code", widget=forms.CheckboxSelectMultiple,
    )
    language = forms.ChoiceField(label=_("Language"), choices=settings.LANGUAGES, widget=forms.Select(attrs=INPUT))
    timezone = forms.ChoiceField(label=_("Time zone"), choices=(), widget=forms.Select(attrs=INPUT))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        form_field(self, "timezone", forms.ChoiceField).choices = timezone_choices()

    def clean_email(self) -> str:
        return str(self.cleaned_data["email"]).strip().lower()

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        all_brands, brands, desk = cleaned.get("all_brands"), list(cleaned.get("brands") or []), cleaned.get("desk")
        if not all_brands and not brands and "brands" not in self.errors:
            self.add_error("brands", _("Choose at least one brand, or give access to all brands."))
        elif desk is not None and not all_brands and desk.brand_id not in {b.pk for b in brands}:
            self.add_error("desk", _("The desk's brand (%s) is not among the chosen brands.") % desk.brand.name)
        return cleaned


class UserCreateForm(_StaffFieldsForm):
    password = forms.CharField(
        label=_("Initial password"), required=False, strip=False,
        widget=forms.PasswordInput(attrs={**INPUT, "autocomplete": "new-password"}),
        help_text=_("Leave empty to generate one; it is shown once after saving."),
    )

    def clean_email(self) -> str:
        email = super().clean_email()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError(_("A user with this email already exists."))
        return email

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        password = cleaned.get("password")
        if password:
            # The similarity validator compares with the person's name and email.
            probe = User(email=cleaned.get("email") or "", full_name=cleaned.get("full_name") or "")
            try:
                password_check(password=password, user=probe)
            except DomainError as exc:
                apply_domain_errors(self, exc)
        return cleaned


class UserEditForm(_StaffFieldsForm):
    phone_extension = forms.CharField(
        label=_("Phone extension"), max_length=20, required=False, widget=forms.TextInput(attrs=INPUT),
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        self.user = user
        kwargs.setdefault("initial", {
            "full_name": user.full_name, "email": user.email, "role": user.role, "desk": user.desk,
            "all_brands": user.all_brands, "brands": list(user.brands.all()), "language": user.language,
            "timezone": user.timezone, "phone_extension": user.phone_extension,
        })
        super().__init__(*args, **kwargs)
        # A desk that has been closed stays selectable for the people still on it.
        if user.desk_id:
            form_field(self, "desk", forms.ModelChoiceField).queryset = Desk.objects.filter(
                pk__in=[*Desk.objects.filter(is_active=True).values_list("pk", flat=True), user.desk_id]
            ).select_related("brand")

    def clean_email(self) -> str:
        email = super().clean_email()
        if User.objects.filter(email__iexact=email).exclude(pk=self.user.pk).exists():
            raise forms.ValidationError(_("A user with this email already exists."))
        return email


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"), max_length=500, required=False,
        widget=forms.TextInput(attrs={**INPUT, "placeholder": _("Why (kept in the audit log)")}),
    )


class RoleTwoFactorForm(forms.Form):
    requires_2fa = forms.BooleanField(required=False)


class _CodeListField(forms.CharField):
    """A comma- or space-separated list of codes, as a list of strings."""

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]  # a list, not CharField's str
        text = super().to_python(value) or ""
        return [part for part in text.replace(",", " ").split() if part]

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return ", ".join(value)
        return value


class DeskForm(forms.Form):
    brand = forms.ModelChoiceField(
        label=_("Brand"), queryset=Brand.objects.all(), to_field_name="code", widget=forms.Select(attrs=INPUT),
    )
    name = forms.CharField(label=_("Name"), max_length=120, widget=forms.TextInput(attrs=INPUT))
    kind = forms.ChoiceField(label=_("Kind"), choices=DeskKind.choices, widget=forms.Select(attrs=INPUT))
    countries = _CodeListField(
        label=_("Countries"), required=False, widget=forms.TextInput(attrs={**INPUT, "placeholder": "DE, AT, CH"}),
        help_text=_("ISO country codes, separated by commas. Empty: any country."),
    )
    languages = _CodeListField(
        label=_("Languages"), required=False, widget=forms.TextInput(attrs={**INPUT, "placeholder": "de, en"}),
        help_text=_("Language codes, separated by commas. Empty: any language."),
    )
    timezone = forms.ChoiceField(label=_("Time zone"), choices=(), widget=forms.Select(attrs=INPUT))
    work_start = forms.TimeField(
        label=_("Opens at"), widget=forms.TimeInput(attrs={**INPUT, "type": "time"}, format="%H:%M"),
    )
    work_end = forms.TimeField(
        label=_("Closes at"), widget=forms.TimeInput(attrs={**INPUT, "type": "time"}, format="%H:%M"),
    )
    work_days = forms.TypedMultipleChoiceField(
        label=_("Work days"), choices=WEEKDAYS, coerce=int, widget=forms.CheckboxSelectMultiple,
    )
    manager = _ManagerChoiceField(
        label=_("Manager"), required=False, empty_label=_("No manager"), to_field_name="code",
        queryset=User.objects.filter(is_active=True).select_related("role"), widget=forms.Select(attrs=INPUT),
    )
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def __init__(self, *args: Any, desk: Desk | None = None, **kwargs: Any) -> None:
        self.desk = desk
        if desk is not None:
            kwargs.setdefault("initial", {
                "brand": desk.brand, "name": desk.name, "kind": desk.kind, "countries": desk.countries,
                "languages": desk.languages, "timezone": desk.timezone, "work_start": desk.work_start,
                "work_end": desk.work_end, "work_days": desk.work_days, "manager": desk.manager,
                "is_active": desk.is_active,
            })
        else:
            kwargs.setdefault("initial", {"work_days": [1, 2, 3, 4, 5], "work_start": "09:00",
                                          "work_end": "18:00", "timezone": "UTC", "is_active": True})
        super().__init__(*args, **kwargs)
        form_field(self, "timezone", forms.ChoiceField).choices = timezone_choices()
        if desk is None:
            del self.fields["is_active"]

    def clean_countries(self) -> list[str]:
        try:
            return countries_normalise(self.cleaned_data["countries"])
        except DomainError as exc:
            raise forms.ValidationError(exc.fields.get("countries") or exc.message) from None

    def clean_languages(self) -> list[str]:
        try:
            return languages_normalise(self.cleaned_data["languages"])
        except DomainError as exc:
            raise forms.ValidationError(exc.fields.get("languages") or exc.message) from None
