"""Forms of the staff UI. They normalise input into the types services and selectors take; the
rules about what is allowed live in the services (their ValidationFailed is mapped back onto
the form by `apply_domain_errors`)."""

from __future__ import annotations

import uuid
import zoneinfo
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from django import forms
from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from crm.exceptions import DomainError
from crm.lib.forms import form_field
from crm.lib.money import InvalidAmount, amount_parse, money_parse
from crm.lib.validation import InvalidValue
from crm.models import Brand, Client, Stage, User
from crm.permissions import visible_brands
from plumbing.markup import html_of

# --- helpers ---------------------------------------------------------------------------------------


def apply_domain_errors(form: forms.BaseForm, error: DomainError, aliases: dict[str, str] | None = None) -> None:
    """Show a service's error on the form: per field where the field exists (after renaming a
    service argument to the form field that produced it, via `aliases`), else at the top."""
    placed = False
    for name, messages in error.fields.items():
        name = (aliases or {}).get(name, name)
        target = name if name in form.fields else None
        for message in messages:
            form.add_error(target, message)
            placed = True
    if not placed:
        form.add_error(None, error.message)


def _html_attrs(attrs: dict[str, Any]) -> str:
    """Attributes as Django's widgets/attrs.html writes them: False dropped, True bare, the rest quoted."""
    return "".join(
        format_html(" {}", name) if value is True else format_html(' {}="{}"', name, value)
        for name, value in attrs.items() if value is not False
    )


class AmountField(forms.CharField):
    """An amount above zero (or zero too, with ``allow_zero``) as people type it, by the one
    grammar (crm.lib.money.amount_parse: "1234.56", "250"; no grouping, exponent or other
    script's digits), cleaned to a Decimal. With ``currency`` (set when the form knows it, such as the account's), it also holds at
    most that currency's decimals (crm.lib.money.money_parse: "0.001" is refused for USD, eight
    decimals taken for BTC); otherwise that is the service's to say, with the currency."""

    MAX_LENGTH = 40

    def __init__(self, *, allow_zero: bool = False, currency: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)  # no max_length validator: it would measure the Decimal
        self.allow_zero = allow_zero
        self.currency = currency
        self.widget.attrs.setdefault("inputmode", "decimal")
        self.widget.attrs.setdefault("maxlength", str(self.MAX_LENGTH))

    def to_python(self, value: Any) -> Any:
        text = super().to_python(value)
        if not text:
            return None
        if len(text) > self.MAX_LENGTH:
            raise forms.ValidationError(gettext("Enter an amount such as 1234.56."), code="invalid")
        try:
            amount = amount_parse(text, signed=True)  # a "-" is this field's to refuse, with its own words
        except InvalidAmount as error:
            raise forms.ValidationError(error.message, code="invalid") from None
        if amount < 0 or (amount == 0 and not self.allow_zero):
            message = (gettext("Enter an amount of zero or more.") if self.allow_zero
                       else gettext("Enter an amount above zero."))
            raise forms.ValidationError(message, code="min_value")
        if self.currency:
            try:
                amount = money_parse(amount, self.currency, positive=False).amount
            except InvalidValue as error:  # the currency's decimals, or an unknown currency
                raise forms.ValidationError(error.message, code="invalid") from None
        return amount


class PlainSelect(forms.Select):
    """A <select> written in Python instead of through a template per <option>: the markup of
    Django's select.html in a fifth of the time (45 staff: 0.3 ms instead of 1.6 ms)."""

    def render(self, name: str, value: Any, attrs: dict[str, Any] | None = None,
               renderer: Any = None) -> SafeString:
        if not self.allow_multiple_selected:
            return self._render_plain(name, value, attrs)
        widget = self.get_context(name, value, attrs)["widget"]
        parts = [format_html('<select name="{}"', widget["name"]), _html_attrs(widget["attrs"]), ">"]
        for group_name, options, _index in widget["optgroups"]:
            if group_name:
                parts.append(format_html('\n  <optgroup label="{}">', group_name))
            for option in options:
                parts.append(format_html('\n  <option value="{}"', option["value"]))
                parts.append(_html_attrs(option["attrs"]))
                parts.append(format_html(">{}</option>\n", option["label"]))
            if group_name:
                parts.append("\n  </optgroup>")
        parts.append("\n</select>")
        return mark_safe("".join(parts))  # noqa: S308 - every piece above is escaped by format_html

    def _render_plain(self, name: str, value: Any, attrs: dict[str, Any] | None) -> SafeString:
        """The same markup as `render`, straight from the choices: Django's optgroups() builds a
        dict per <option> (a few hundred of them on the client list's filters)."""
        widget = forms.Widget.get_context(self, name, value, attrs)["widget"]
        values = widget["value"]
        parts = [format_html('<select name="{}"', widget["name"]), _html_attrs(widget["attrs"]), ">"]
        has_selected = False
        for option_value, option_label in self.choices:
            group = isinstance(option_label, list | tuple)
            if group:
                parts.append(format_html('\n  <optgroup label="{}">', option_value))
            for sub_value, sub_label in option_label if group else ((option_value, option_label),):
                sub_value = "" if sub_value is None else sub_value
                selected = not has_selected and str(sub_value) in values
                has_selected |= selected
                parts.append(f'\n  <option value="{html_of(sub_value)}"{" selected" if selected else ""}>'
                             f'{html_of(sub_label)}</option>\n')
            if group:
                parts.append("\n  </optgroup>")
        parts.append("\n</select>")
        return mark_safe("".join(parts))  # noqa: S308 - every piece above is escaped by format_html


class PlainTextInput(forms.TextInput):
    """A text <input> written in Python: the markup of Django's text.html without rendering a
    template (the client list's filters have four, on every view of the list)."""

    def render(self, name: str, value: Any, attrs: dict[str, Any] | None = None,
               renderer: Any = None) -> SafeString:
        widget = self.get_context(name, value, attrs)["widget"]
        shown = format_html(' value="{}"', widget["value"]) if widget["value"] is not None else ""
        return mark_safe(format_html('<input type="{}" name="{}"', widget["type"], widget["name"])  # noqa: S308
                         + shown + _html_attrs(widget["attrs"]) + ">")


class DateTimeLocalInput(forms.DateTimeInput):
    """<input type="datetime-local">; the value is read in the user's active time zone."""

    input_type = "datetime-local"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs=attrs, format="%Y-%m-%dT%H:%M")


# --- choices of rows ----------------------------------------------------------------------------

class ListedChoiceIterator(forms.models.ModelChoiceIterator[Any]):
    """Choices read by evaluating the field's queryset (one ordinary query, its rows cached on the
    queryset) rather than through `.iterator()`, which on PostgreSQL opens a server-side cursor:
    three round trips for a list of a few dozen staff, desks or brands."""

    def __iter__(self) -> Any:
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        field = self.field
        if isinstance(field, ListedModelChoiceField) and field.option_columns:
            # The options' values and words only (a hundred staff on the client list's filter): no
            # model instance per option. The value is the first column, the field's to_field_name.
            for row in self.queryset.values_list(*field.option_columns):
                yield (str(row[0]), field.label_from_row(row))
            return
        for obj in self.queryset:
            yield self.choice(obj)


class ListedModelChoiceField(forms.ModelChoiceField[Any]):
    iterator = ListedChoiceIterator
    # With columns here (the first one the field's to_field_name, the second its label), the options
    # are read as those columns and labelled by label_from_row; a chosen value is still looked up in
    # the queryset.
    option_columns: tuple[str, ...] = ()

    def label_from_row(self, row: tuple[Any, ...]) -> str:
        return str(row[1])


class UserCodeChoiceField(ListedModelChoiceField):
    option_columns = ("code", "full_name", "email")

    def label_from_instance(self, obj: Any) -> str:
        return str(obj.full_name or obj.email)

    def label_from_row(self, row: tuple[Any, ...]) -> str:
        return str(row[1] or row[2])


class BrandedChoiceField(ListedModelChoiceField):
    """Rows named within a brand (desks, trading servers): two brands may both have a "Live", so the
    label carries the brand's name unless `show_brand` is off (a viewer of one brand)."""

    def __init__(self, *args: Any, show_brand: bool = True, **kwargs: Any) -> None:
        self.show_brand = show_brand
        super().__init__(*args, **kwargs)

    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.name} ({obj.brand.name})" if self.show_brand else obj.name


class DeskChoiceField(BrandedChoiceField):
    option_columns = ("code", "name", "brand__name")

    def label_from_row(self, row: tuple[Any, ...]) -> str:
        return f"{row[1]} ({row[2]})" if self.show_brand else row[1]


# --- notes and tasks -----------------------------------------------------------------------------

class NoteForm(forms.Form):
    body = forms.CharField(
        label=_("Note"), max_length=10000, strip=True,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": _("Write a note about this client…")}),
        error_messages={"required": _("Write something first.")},
    )


REMINDER_CHOICES = [
    ("", _("No reminder")),
    ("0", _("At the due time")),
    ("15", _("15 minutes before")),
    ("60", _("1 hour before")),
    ("1440", _("1 day before")),
]


def assignee_queryset(client: Client | None, user: Any) -> QuerySet[User]:
    """Staff a task about `client` may be assigned to: active users who can see the client (one
    query, crm.permissions.users_who_can_see), and always the user themselves."""
    from crm.permissions import users_who_can_see

    if client is None:
        return User.objects.filter(pk=user.pk, is_active=True)
    return User.objects.filter(
        Q(pk__in=users_who_can_see(client).values("pk")) | Q(pk=user.pk, is_active=True)
    ).order_by("full_name")


class TaskForm(forms.Form):
    title = forms.CharField(label=_("Task"), max_length=200, strip=True,
                            widget=forms.TextInput(attrs={"placeholder": _("e.g. Call back about the deposit")}),
                            error_messages={"required": _("Give the task a title.")})
    assignee = UserCodeChoiceField(queryset=User.objects.none(), to_field_name="code", label=_("Assignee"),
                                   empty_label=None, widget=PlainSelect)
    due_at = forms.DateTimeField(label=_("Due"), required=False, widget=DateTimeLocalInput(),
                                 input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"])
    remind = forms.ChoiceField(label=_("Reminder"), required=False, choices=REMINDER_CHOICES, widget=PlainSelect)

    def __init__(self, data: Any = None, *, user: Any, client: Client | None = None) -> None:
        super().__init__(data, initial={"assignee": user.code})
        self.user = user
        self.client = client
        form_field(self, "assignee", forms.ModelChoiceField).queryset = assignee_queryset(client, user)

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        due_at: datetime | None = data.get("due_at")
        remind = data.get("remind") or ""
        data["remind_at"] = None
        if remind:
            if due_at is None:
                self.add_error("remind", _("Set a due date to get a reminder."))
            else:
                data["remind_at"] = due_at - timedelta(minutes=int(remind))
        return data


TASK_STATUS_CHOICES = [
    ("open", pgettext_lazy("task status", "Open")),
    ("overdue", pgettext_lazy("task status", "Overdue")),
    ("done", pgettext_lazy("task status", "Done")),
]


# --- user settings -------------------------------------------------------------------------------

COMMON_TIMEZONES: tuple[str, ...] = (
    "UTC",
    "Europe/London", "Europe/Dublin", "Europe/Lisbon", "Europe/Madrid", "Europe/Paris", "Europe/Berlin",
    "Europe/Rome", "Europe/Zurich", "Europe/Amsterdam", "Europe/Warsaw", "Europe/Prague", "Europe/Athens",
    "Europe/Bucharest", "Europe/Kyiv", "Europe/Istanbul", "Europe/Moscow", "Asia/Nicosia", "Asia/Beirut",
    "Asia/Amman", "Asia/Jerusalem", "Africa/Cairo", "Asia/Riyadh", "Asia/Kuwait", "Asia/Qatar", "Asia/Bahrain",
    "Asia/Dubai", "Asia/Baghdad", "Asia/Tehran", "Asia/Karachi", "Asia/Kolkata", "Asia/Dhaka", "Asia/Bangkok",
    "Asia/Ho_Chi_Minh", "Asia/Jakarta", "Asia/Kuala_Lumpur", "Asia/Singapore", "Asia/Manila", "Asia/Hong_Kong",
    "Asia/Shanghai", "Asia/Taipei", "Asia/Seoul", "Asia/Tokyo", "Australia/Perth", "Australia/Sydney",
    "Pacific/Auckland", "Africa/Casablanca", "Africa/Lagos", "Africa/Nairobi", "Africa/Johannesburg",
    "America/Sao_Paulo", "America/Buenos_Aires", "America/Bogota", "America/Lima", "America/Mexico_City",
    "America/New_York", "America/Toronto", "America/Chicago", "America/Denver", "America/Los_Angeles",
)


@cache
def _all_timezones() -> tuple[str, ...]:
    return tuple(sorted(z for z in zoneinfo.available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/"))))


def _offset_label(name: str, now: datetime) -> str:
    offset = now.astimezone(zoneinfo.ZoneInfo(name)).utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    hours, mins = divmod(abs(minutes), 60)
    return f"{name.replace('_', ' ')} (UTC{sign}{hours:02d}:{mins:02d})"


def timezone_choices(current: str | None = None) -> list[Any]:
    """Common zones with their current UTC offset first, then every other IANA zone."""
    now = timezone.now()
    common = [z for z in COMMON_TIMEZONES if z in _all_timezones() or z == "UTC"]
    common_set = set(common)
    others = [(z, z.replace("_", " ")) for z in _all_timezones() if z not in common_set]
    if current and current not in common_set and current not in _all_timezones():
        others.insert(0, (current, current))
    return [
        (_("Common time zones"), [(z, _offset_label(z, now)) for z in common]),
        (_("All time zones"), others),
    ]


class UserSettingsForm(forms.Form):
    language = forms.ChoiceField(label=_("Language"), choices=settings.LANGUAGES)
    timezone = forms.ChoiceField(label=_("Time zone"))

    def __init__(self, data: Any = None, *, user: Any) -> None:
        super().__init__(data, initial={"language": user.language, "timezone": user.timezone})
        form_field(self, "timezone", forms.ChoiceField).choices = timezone_choices(user.timezone)
        self.fields["timezone"].help_text = _("Dates and times across the CRM are shown in this zone.")


# --- client create and edit ----------------------------------------------------------------------

class ClientForm(forms.Form):
    """A client's details as the API takes them. The form only parses and bounds the input; the
    rules (names, email, phone in E.164 with the country as hint, ISO codes, dates, tags) are the
    service's, crm.services.client_create / client_update, so the pages and the API agree."""

    first_name = forms.CharField(label=_("First name"), max_length=100,
                                 error_messages={"required": _("Give the client's first name.")})
    last_name = forms.CharField(label=_("Last name"), max_length=100, required=False)
    email = forms.CharField(label=_("Email"), max_length=254, required=False,
                            widget=forms.TextInput(attrs={"type": "email", "autocomplete": "off"}))
    phone = forms.CharField(label=_("Phone"), max_length=40, required=False,
                            help_text=_("International (+44 20 7183 8750), or national with the country set."),
                            widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "off"}))
    country = forms.CharField(label=_("Country"), max_length=2, required=False,
                              help_text=_("Two-letter ISO code, e.g. GB."))
    nationality = forms.CharField(label=_("Nationality"), max_length=2, required=False,
                                  help_text=_("Two-letter ISO code, e.g. DE."))
    language = forms.CharField(label=_("Language"), max_length=16, required=False,
                               help_text=_("ISO code, e.g. en or pt-BR."))
    timezone = forms.ChoiceField(label=_("Time zone"), required=False)
    date_of_birth = forms.DateField(label=_("Date of birth"), required=False,
                                    widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    source = forms.CharField(label=_("Source"), max_length=100, required=False)
    campaign = forms.CharField(label=_("Campaign"), max_length=100, required=False)
    tags = forms.CharField(label=_("Tags"), max_length=2600, required=False,
                           help_text=_("Separated by commas."))

    CONTACT_FIELDS = ("email", "phone")

    def __init__(self, data: Any = None, *, initial: dict[str, Any] | None = None) -> None:
        super().__init__(data, initial=initial)
        current = (initial or {}).get("timezone") or ""
        form_field(self, "timezone", forms.ChoiceField).choices = [("", _("Not set")), *timezone_choices(current)]


def client_owner_queryset(user: Any) -> QuerySet[User]:
    """Staff a user may give a new client to: administrators and all-brand users anyone active who
    works clients; a desk manager the agents of the desks they run (and themselves)."""
    from crm.models import RoleCode
    from crm.permissions import desks_run_by

    works = [RoleCode.SALES_AGENT, RoleCode.RETENTION_AGENT, RoleCode.DESK_MANAGER]
    qs = User.objects.filter(is_active=True, role__code__in=works)
    if user.role_code == RoleCode.DESK_MANAGER and not user.is_administrator:
        qs = qs.filter(Q(desk__in=desks_run_by(user)) | Q(pk=user.pk))
    elif not (user.is_administrator or user.all_brands):
        qs = qs.filter(Q(all_brands=True) | Q(brands__in=visible_brands(user)))
    return qs.distinct().order_by("full_name", "email")


class ClientCreateForm(ClientForm):
    brand = ListedModelChoiceField(queryset=Brand.objects.none(), to_field_name="code", label=_("Brand"),
                                   empty_label=None, widget=PlainSelect)
    stage = forms.ChoiceField(label=_("Stage"), widget=PlainSelect,
                              help_text=_("Verified, funded and active follow from KYC, a deposit and a trade."))
    owner = UserCodeChoiceField(queryset=User.objects.none(), to_field_name="code", label=_("Owner"),
                                required=False, empty_label=_("Unassigned"), widget=PlainSelect)

    def __init__(self, data: Any = None, *, user: Any) -> None:
        from crm.models.stages import CREATABLE_STAGES, stage_label
        from crm.permissions import user_can

        super().__init__(data)
        form_field(self, "brand", forms.ModelChoiceField).queryset = visible_brands(user).filter(is_active=True).order_by("name")
        form_field(self, "stage", forms.ChoiceField).choices = [(s, stage_label(s)) for s in CREATABLE_STAGES]
        # Agents own what they create; who may assign picks the owner.
        if user_can(user, "crm.assign_client") and not (user.role_id and user.role.is_agent):
            form_field(self, "owner", forms.ModelChoiceField).queryset = client_owner_queryset(user)
        else:
            del self.fields["owner"]


class ClientEditForm(ClientForm):
    """The client's details. Email and phone are masked until revealed: one not revealed in this
    visit is shown empty (its masked value as the placeholder) and an empty answer keeps it."""

    def __init__(self, data: Any = None, *, client: Client, revealed: dict[str, str]) -> None:
        from crm.selectors import mask_email, mask_phone

        initial = {name: getattr(client, name) for name in ClientForm.base_fields if name not in self.CONTACT_FIELDS}
        initial["tags"] = ", ".join(client.tags)
        initial.update(revealed)
        super().__init__(data, initial=initial)
        self.hidden_contact = [name for name in self.CONTACT_FIELDS if name not in revealed and getattr(client, name)]
        masked = {"email": mask_email(client.email), "phone": mask_phone(client.phone)}
        for name in self.hidden_contact:
            self.fields[name].widget.attrs["placeholder"] = masked[name]
            self.fields[name].help_text = _("Masked: leave empty to keep it, or type a new one.")

    def changes(self) -> dict[str, Any]:
        """What to hand to client_update: every field, except a masked contact left empty."""
        data = dict(self.cleaned_data)
        for name in self.hidden_contact:
            if not data.get(name):
                data.pop(name, None)
        return data


# --- stage ---------------------------------------------------------------------------------------

class StageChangeForm(forms.Form):
    """An ordinary move (crm.models.stages.ORDINARY_MOVES): only the moves allowed from the current stage."""

    stage = forms.ChoiceField(label=_("Move to"), widget=PlainSelect)
    reason = forms.CharField(label=_("Reason"), max_length=500, required=False,
                             help_text=_("Needed to reopen a closed client."))

    def __init__(self, data: Any = None, *, client: Client) -> None:
        from crm.models.stages import stage_label, stage_moves_from

        super().__init__(data)
        form_field(self, "stage", forms.ChoiceField).choices = [(s, stage_label(s)) for s in stage_moves_from(client.stage)]


class StageOverrideForm(forms.Form):
    """An administrator's override: any stage, with a reason."""

    stage = forms.ChoiceField(label=_("Set the stage to"), widget=PlainSelect)
    reason = forms.CharField(label=_("Reason"), max_length=500,
                             error_messages={"required": _("Say why the stage is overridden.")})

    def __init__(self, data: Any = None, *, client: Client) -> None:
        super().__init__(data)
        form_field(self, "stage", forms.ChoiceField).choices = [(v, label) for v, label in Stage.choices if v != client.stage]


# --- assignment ----------------------------------------------------------------------------------

class ClientAssignForm(forms.Form):
    """Give a client (or the ticked clients) to an agent. The choices are the agents the user may assign to
    (crm.permissions.assignable_agents); any other member of staff posted is handed to client_assign, whose
    one rule (assignment_refusal) refuses it by name rather than as "not a valid choice"."""

    owner = forms.CharField(label=_("Owner"), widget=PlainSelect,
                            error_messages={"required": _("Choose the agent to give the client to.")})
    reason = forms.CharField(label=_("Reason"), max_length=500, required=False, strip=True, widget=PlainTextInput)

    def __init__(self, data: Any = None, *, user: Any, brand_id: int | None = None, prefix: str | None = None) -> None:
        from crm.permissions import assignable_agents

        super().__init__(data, prefix=prefix)
        # (code, name, desk's name): the options' text only, not a hundred agents' rows with their
        # desks and roles.
        agents = list(assignable_agents(user, brand_id=brand_id).values_list("code", "full_name", "desk__name"))
        choices = [("", gettext("Choose an agent…"))]
        choices += [(str(code), f"{name} ({desk})" if desk else name) for code, name, desk in agents]
        self.fields["owner"].widget.choices = choices
        self.agents = agents

    def clean_owner(self) -> User:
        value = self.cleaned_data["owner"]
        try:
            code = uuid.UUID(str(value))
        except ValueError:
            raise forms.ValidationError(gettext("Choose the agent to give the client to.")) from None
        owner = User.objects.select_related("desk", "role").filter(code=code).first()
        if owner is None:
            raise forms.ValidationError(gettext("No member of staff has this code."))
        return owner
