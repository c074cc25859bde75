"""Forms of the trading pages: they turn input into the types the services take, nothing more."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from django import forms
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from crm.lib.forms import form_field
from crm.lib.validation import json_problem
from crm.models import Brand, Classification, Client
from crm.permissions import visible_brands
from crm.views.ui.forms import AmountField, BrandedChoiceField
from trading import retention
from trading.models import (
    DEFAULT_LIVE_MIN_STAGE,
    OPENING_STAGES,
    AccessLevel,
    BalanceKind,
    PlatformKind,
    PlatformServer,
    TradingAccount,
)
from trading.policy import LEVERAGE_CAP_MAX, cap_parse, leverage_limit
from trading.services import allowed_leverages, mapped_groups

REASON = forms.CharField(label=_("Reason"), max_length=200, required=False,
                         widget=forms.TextInput(attrs={"placeholder": _("Why (kept in the audit log)")}))


class LeverageChoiceField(forms.TypedChoiceField):
    """A select of the leverages allowed; a value outside them is not refused here but by the service,
    whose message names the client's cap and its rule (or the leverages allowed)."""

    def validate(self, value: Any) -> None:
        forms.Field.validate(self, value)


class OpenAccountForm(forms.Form):
    plan = forms.ChoiceField(label=_("Server and account type"))
    leverage = LeverageChoiceField(label=_("Leverage"), coerce=int, required=False, empty_value=None)

    def __init__(self, *args: Any, client: Client, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.servers = {str(s.code): s for s in PlatformServer.objects.filter(brand_id=client.brand_id, is_active=True)
                        .select_related("brand")}
        plans = []
        leverages: set[int] = set()
        for code, server in self.servers.items():
            for key, spec in sorted(server.account_types.items()):
                label = spec.get("label") or key
                if spec.get("demo"):
                    label = f"{label} ({_('demo')})"
                plans.append((f"{code}:{key}", f"{server.name} · {label}"))
                leverages.update(allowed_leverages(server, key, client=client))
        form_field(self, "plan", forms.ChoiceField).choices = plans
        form_field(self, "leverage", forms.ChoiceField).choices = [("", _("Highest allowed"))] + [(x, f"1:{x}") for x in sorted(leverages)]
        live = leverage_limit(client=client, brand=client.brand, demo=False)
        if live.cap is not None:
            self.fields["leverage"].help_text = gettext("Live accounts of this client: %(rule)s.") % {"rule": live.rule}

    def clean_plan(self) -> tuple[PlatformServer, str]:
        code, _sep, key = self.cleaned_data["plan"].partition(":")
        return self.servers[code], key

    def clean_leverage(self) -> int | None:
        value = self.cleaned_data.get("leverage")
        if value is not None and not 1 <= value <= LEVERAGE_CAP_MAX:
            raise forms.ValidationError(_("Choose one of the leverages offered."))
        return value


class LeverageForm(forms.Form):
    leverage = LeverageChoiceField(label=_("Leverage"), coerce=int)
    reason = REASON

    def __init__(self, *args: Any, account: TradingAccount, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        options = allowed_leverages(account.server, account.account_type, client=account.client) or sorted(
            {x for spec in account.server.account_types.values() for x in spec.get("leverages", [])})
        form_field(self, "leverage", forms.ChoiceField).choices = [(x, f"1:{x}") for x in options]
        self.fields["leverage"].initial = account.leverage
        limit = leverage_limit(client=account.client, brand=account.server.brand, demo=account.is_demo)
        if limit.cap is not None:
            self.fields["leverage"].help_text = limit.rule

    def clean_leverage(self) -> int:
        value: int = self.cleaned_data["leverage"]
        if not 1 <= value <= LEVERAGE_CAP_MAX:
            raise forms.ValidationError(_("Choose one of the leverages offered."))
        return value


class ClassificationForm(forms.Form):
    classification = forms.ChoiceField(label=_("Classification"), choices=Classification.choices)
    reason = forms.CharField(label=_("Reason"), max_length=500, widget=forms.TextInput(
        attrs={"placeholder": _("What the decision rests on (kept in the audit log)")}))

    def __init__(self, *args: Any, client: Client, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["classification"].initial = client.classification
        self.fields["reason"].error_messages["required"] = _("Say what the classification rests on.")


class GroupForm(forms.Form):
    group = forms.ChoiceField(label=_("Group"))
    reason = REASON

    def __init__(self, *args: Any, account: TradingAccount, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        form_field(self, "group", forms.ChoiceField).choices = [(g, g) for g in mapped_groups(account.server)]
        self.fields["group"].initial = account.group


class AccessForm(forms.Form):
    access = forms.ChoiceField(label=_("Access"), choices=AccessLevel.choices)
    reason = REASON

    def __init__(self, *args: Any, account: TradingAccount, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["access"].initial = account.access


class PasswordResetForm(forms.Form):
    reason = REASON

    def __init__(self, *args: Any, account: TradingAccount, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)


class BalanceOperationForm(forms.Form):
    DIRECTIONS = (("in", _("Add to the account")), ("out", _("Take from the account")))

    kind = forms.ChoiceField(label=_("Kind"), choices=BalanceKind.choices, initial=BalanceKind.BALANCE)
    direction = forms.ChoiceField(label=_("Direction"), choices=DIRECTIONS, initial="in")
    amount = AmountField(label=_("Amount"))
    reason = REASON

    def __init__(self, *args: Any, account: TradingAccount, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        amount = form_field(self, "amount", AmountField)
        amount.label = _("Amount (%(currency)s)") % {"currency": account.currency}
        amount.currency = account.currency  # the account currency's decimals: 2 for USD, 8 for BTC, none for JPY

    def signed_amount(self) -> Decimal:
        amount: Decimal = self.cleaned_data["amount"]
        return -amount if self.cleaned_data["direction"] == "out" else amount


class JSONMappingField(forms.CharField):
    """A JSON object typed into a textarea; cleaned into a dict."""

    widget = forms.Textarea(attrs={"rows": 8, "class": "mono", "spellcheck": "false"})

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, dict):
            return json.dumps(value, indent=2, ensure_ascii=False)
        return value

    def clean(self, value: Any) -> dict[str, Any]:
        text = super().clean(value)
        if not text:
            return {}
        try:
            parsed = json.loads(text)
        except ValueError as exc:
            raise forms.ValidationError(_("Not valid JSON: %(error)s") % {"error": exc}) from None
        if not isinstance(parsed, dict):
            raise forms.ValidationError(_("Enter a JSON object."))
        # An escape ("\u0000", "\ud800") passes the request's text check as six plain characters and
        # only becomes unstorable once parsed.
        unstorable = json_problem(parsed)
        if unstorable:
            raise forms.ValidationError(f"{unstorable[0]}: {unstorable[1]}")
        return parsed


class ServerForm(forms.Form):
    """Create or edit a platform server. The manager password is write-only: left empty, the stored
    one is kept."""

    brand = forms.ModelChoiceField(label=_("Brand"), queryset=Brand.objects.none())
    name = forms.CharField(label=_("Name"), max_length=120)
    kind = forms.ChoiceField(label=_("Platform"), choices=PlatformKind.choices)
    is_active = forms.BooleanField(label=_("Active"), required=False)
    host = forms.CharField(label=_("Host"), max_length=255)
    port = forms.IntegerField(label=_("Port"), min_value=1, max_value=65535)
    manager_login = forms.IntegerField(label=_("Manager login"), min_value=1)
    manager_password = forms.CharField(
        label=_("Manager password"), required=False, strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("Write-only. Leave empty to keep the stored password."))
    ca_file = forms.CharField(label=_("Trusted certificate file"), max_length=500, required=False)
    verify_tls = forms.BooleanField(label=_("Verify TLS"), required=False)
    timeout_seconds = forms.IntegerField(label=_("Timeout (s)"), min_value=1, max_value=120)
    server_tz = forms.CharField(label=_("Server time zone"), max_length=64, required=False)
    server_tz_offset_minutes = forms.IntegerField(label=_("Server UTC offset (minutes)"), min_value=-840,
                                                  max_value=840)
    terminal_path = forms.CharField(label=_("Terminal path"), max_length=500, required=False)
    account_types = JSONMappingField(
        label=_("Account types"),
        help_text=_('{"standard": {"label": "Standard", "group": "real\\\\standard", "leverages": [50, 100, 500], '
                    '"demo": false, "currency": "USD"}}'))
    close_only_groups = JSONMappingField(label=_("Close-only groups"), required=False,
                                         help_text=_('{"real\\\\standard": "real\\\\standard-closeonly"}'))
    sync_enabled = forms.BooleanField(label=_("Sync enabled"), required=False)
    deal_poll_seconds = forms.IntegerField(label=_("Deal poll interval (s)"), min_value=1, max_value=86_400)
    state_poll_seconds = forms.IntegerField(label=_("Account state poll interval (s)"), min_value=1,
                                            max_value=86_400)
    deal_overlap_seconds = forms.IntegerField(label=_("Deal window overlap (s)"), min_value=0, max_value=7 * 86_400)
    deal_visibility_lag_seconds = forms.IntegerField(label=_("Deal visibility lag (s)"), min_value=0,
                                                     max_value=7 * 86_400)
    reconcile_days = forms.IntegerField(label=_("Reconcile window (days)"), min_value=1, max_value=3650)
    inactivity_days = forms.IntegerField(label=_("Inactive after (days)"), min_value=0, max_value=3650)
    sync_lag_alert_seconds = forms.IntegerField(label=_("Sync lag alert (s)"), min_value=10, max_value=86_400)
    margin_call_enter_level = forms.DecimalField(label=_("Margin call below (%)"), min_value=0, max_digits=7,
                                                 decimal_places=2)
    margin_call_leave_level = forms.DecimalField(label=_("Margin call over above (%)"), min_value=0, max_digits=7,
                                                 decimal_places=2)

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        form_field(self, "brand", forms.ModelChoiceField).queryset = visible_brands(user)

    @classmethod
    def initial_for(cls, server: PlatformServer | None) -> dict[str, Any]:
        if server is None:
            defaults = PlatformServer()
            values = {name: getattr(defaults, name) for name in cls.base_fields if hasattr(defaults, name)}
            values["is_active"] = values["sync_enabled"] = values["verify_tls"] = True
            return values
        return {name: getattr(server, name) for name in cls.base_fields if hasattr(server, name)}

    def service_values(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data.pop("manager_password", None)
        return data


class LeverageCapField(forms.CharField):
    """A leverage cap as "N" of 1:N: "30", "1:30", or in Arabic-Indic digits ("٣٠"); cleaned to an int
    and shown back in ASCII digits. Every kind of bad input gets the one message `invalid`."""

    def __init__(self, *, message: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.error_messages.update({"required": message, "invalid": message})
        self.widget.attrs.update({"inputmode": "numeric", "autocomplete": "off", "dir": "ltr"})

    def to_python(self, value: Any) -> int | None:  # type: ignore[override]  # a number, not CharField's str
        text = super().to_python(value)
        if text is None or text in self.empty_values:
            return None
        number = cap_parse(text)
        if number is None or not 1 <= number <= LEVERAGE_CAP_MAX:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return number

    def bound_data(self, data: Any, initial: Any) -> Any:
        number = cap_parse(data) if isinstance(data, str) else None
        return str(number) if number is not None else data


def _cap_message(what: str, example: int) -> str:
    return gettext("Give the %(what)s as a whole number from 1 to %(max)s (%(example)s means 1:%(example)s).") % {
        "what": what, "max": LEVERAGE_CAP_MAX, "example": example}

class RetentionFilterForm(forms.Form):
    """The retention workspace's filters; unset fields take their defaults."""

    show = forms.ChoiceField(label=_("Show"), required=False, choices=[
        ("all", _("Dormant or at risk")), ("dormant", _("Dormant")), ("at_risk", _("At risk")),
        ("margin_call", _("Margin call")),
    ])
    days = forms.TypedChoiceField(label=_("No trade for"), required=False, coerce=int, empty_value=None)
    drop = forms.IntegerField(label=_("Equity drop over (%)"), required=False, min_value=1, max_value=100,
                              widget=forms.NumberInput(attrs={"min": 1, "max": 100, "step": 1}))
    brand = forms.ModelChoiceField(label=_("Brand"), queryset=Brand.objects.none(), required=False,
                                   to_field_name="code", empty_label=_("All brands"))

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        form_field(self, "brand", forms.ModelChoiceField).queryset = visible_brands(user).order_by("name")
        # Labelled here, in the language of the request (a label formatted at import would be English).
        form_field(self, "days", forms.ChoiceField).choices = [
            (d, ngettext("%(days)s day", "%(days)s days", d) % {"days": d}) for d in retention.DORMANT_DAYS]
        self.fields["drop"].error_messages.update({
            key: gettext("Give the equity drop as a whole percent from 1 to 100.")
            for key in ("invalid", "min_value", "max_value")})
        self.initial.update({"show": "all", "days": retention.DEFAULT_DAYS, "drop": retention.DEFAULT_DROP})

    @property
    def show_brand(self) -> bool:
        brands = form_field(self, "brand", forms.ModelChoiceField).queryset  # set in __init__
        return brands is not None and brands.count() > 1

    def filters(self) -> retention.RetentionFilters:
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        brand = data.get("brand")
        return retention.RetentionFilters(
            show=data.get("show") or "all", days=data.get("days") or retention.DEFAULT_DAYS,
            drop=data.get("drop") or retention.DEFAULT_DROP, brand_id=brand.pk if brand is not None else None)


class ExposureFilterForm(forms.Form):
    server = BrandedChoiceField(label=_("Server"), queryset=PlatformServer.objects.none(), required=False,
                                to_field_name="code", empty_label=_("All servers"))

    def __init__(self, *args: Any, servers: Any, show_brand: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = form_field(self, "server", BrandedChoiceField)
        field.queryset = servers
        field.show_brand = show_brand


class BrandPolicyForm(forms.Form):
    """A brand's policy: its leverage ceilings, as "N" of 1:N (Arabic-Indic digits are read and shown
    back in ASCII), and who may get a live account."""

    max_leverage_live = forms.CharField(label=_("Maximum live leverage (1:N)"))
    max_leverage_demo = forms.CharField(label=_("Maximum demo leverage (1:N)"))
    live_min_stage = forms.ChoiceField(label=_("Live accounts from stage"), required=False, choices=[
        (s.value, s.label) for s in OPENING_STAGES], initial=DEFAULT_LIVE_MIN_STAGE,
        help_text=_("Until then, only demo accounts can be opened for the client."))
    live_requires_verification = forms.BooleanField(
        label=_("Live accounts need a verified client (an approved verification that has not expired)"),
        required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["max_leverage_live"] = LeverageCapField(
            label=_("Maximum live leverage (1:N)"), message=_cap_message(gettext("maximum live leverage"), 500))
        self.fields["max_leverage_demo"] = LeverageCapField(
            label=_("Maximum demo leverage (1:N)"), message=_cap_message(gettext("maximum demo leverage"), 500))

    def clean_live_min_stage(self) -> str | None:
        return self.cleaned_data.get("live_min_stage") or None  # not sent: unchanged


class LeverageCapForm(forms.Form):
    """A cap rule: a country, a classification or both, and the cap."""

    country = forms.CharField(label=_("Country"), max_length=2, required=False,
                              help_text=_("Two-letter ISO code, such as GB or DE; empty: any country."),
                              widget=forms.TextInput(attrs={"dir": "ltr", "autocomplete": "off"}))
    classification = forms.ChoiceField(label=_("Classification"), required=False,
                                       choices=[("", _("Any classification")), *Classification.choices])
    max_leverage = forms.CharField(label=_("Maximum leverage (1:N)"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["max_leverage"] = LeverageCapField(
            label=_("Maximum leverage (1:N)"), message=_cap_message(gettext("cap"), 30))

    def clean_country(self) -> str:
        value: str = self.cleaned_data.get("country") or ""
        return value.strip().upper()


class LowerForm(forms.Form):
    """Which accounts "Lower N accounts to 1:X" lowers: those above cap X, live or demo."""

    cap = forms.IntegerField(min_value=1, max_value=LEVERAGE_CAP_MAX)
    demo = forms.BooleanField(required=False)
