"""What a lead is made of, and how raw input from any channel becomes a clean `LeadInput`.

The web form, the API and spreadsheet imports all hand their raw values (strings, mostly) to
`lead_clean`, so that the same input is accepted or refused the same way whatever the channel,
with one message per offending field.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm.exceptions import FieldErrors
from crm.lib.money import InvalidAmount, amount_parse
from crm.lib.phone import phone_normalise
from crm.lib.validation import (
    InvalidValue,
    country_normalise,
    email_normalise,
    language_normalise,
    storable,
    text_clean,
)
from leads.models import Channel

if TYPE_CHECKING:
    from crm.models import ApiKey, User
    from leads.models import LeadImport

# Field name -> label, in the order forms, imports and the error report show them.
LEAD_FIELDS: dict[str, Any] = {
    "first_name": _("First name"),
    "last_name": _("Last name"),
    "email": _("Email"),
    "phone": _("Phone"),
    "country": _("Country"),
    "language": _("Language"),
    "source": _("Source"),
    "campaign": _("Campaign"),
    "utm_source": _("UTM source"),
    "utm_medium": _("UTM medium"),
    "utm_campaign": _("UTM campaign"),
    "utm_term": _("UTM term"),
    "utm_content": _("UTM content"),
    "click_id": _("Click id"),
    "referrer_code": _("Referrer (IB) code"),
    "landing_page": _("Landing page"),
    "experience": _("Trading experience"),
    "deposit_intent": _("Intended deposit"),
    "annual_income": _("Annual income"),
    "net_worth": _("Net worth"),
    "occupation": _("Occupation"),
    "consent": _("Consent given"),
    "consent_text_version": _("Consent text version"),
}
REQUIRED_FIELDS: tuple[str, ...] = ("first_name", "last_name", "email", "phone", "country")

TEXT_LIMITS: dict[str, int] = {
    "first_name": 100, "last_name": 100, "source": 100, "campaign": 100, "utm_source": 100,
    "utm_medium": 100, "utm_campaign": 100, "utm_term": 100, "utm_content": 100, "click_id": 255,
    "referrer_code": 64, "landing_page": 500, "occupation": 100, "consent_text_version": 32,
}


class Experience:
    """Declared trading experience, least to most."""

    NONE = "none"
    SOME = "some"
    EXPERIENCED = "experienced"
    PROFESSIONAL = "professional"
    CHOICES: tuple[tuple[str, Any], ...] = (
        (NONE, _("None")), (SOME, _("Some")), (EXPERIENCED, _("Experienced")), (PROFESSIONAL, _("Professional")),
    )
    VALUES: tuple[str, ...] = (NONE, SOME, EXPERIENCED, PROFESSIONAL)


DECLARED_AMOUNTS: tuple[str, ...] = ("deposit_intent", "annual_income", "net_worth")
# Amounts above this are typing errors, not prospects.
MAX_DECLARED_AMOUNT = Decimal("1000000000000")
_TRUE = {"1", "true", "yes", "y", "on", "checked", "x"}
_FALSE = {"", "0", "false", "no", "n", "off"}


@dataclass(frozen=True)
class LeadInput:
    """A validated, normalised lead. Email lower-cased and trimmed (no provider-specific rewriting
    such as Gmail's dots: two spellings are two addresses), phone in E.164."""

    first_name: str
    last_name: str
    email: str
    phone: str
    country: str
    language: str = ""
    source: str = ""
    campaign: str = ""
    utm_source: str = ""
    utm_medium: str = ""
    utm_campaign: str = ""
    utm_term: str = ""
    utm_content: str = ""
    click_id: str = ""
    referrer_code: str = ""
    landing_page: str = ""
    consent: bool = False
    consent_text_version: str = ""
    # experience, deposit_intent, annual_income, net_worth (as decimal strings), occupation
    declared: dict[str, str] = field(default_factory=dict)
    payload: dict[str, Any] = field(default_factory=dict)

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


@dataclass
class IntakeMeta:
    """Where a lead came from, beyond its own fields."""

    ip: str | None = None
    user_agent: str = ""
    api_key: ApiKey | None = None
    lead_import: LeadImport | None = None
    # The member of staff behind an import; None for the form and the API.
    actor: User | None = None
    default_source: str = ""
    default_campaign: str = ""
    consent_text_version: str = ""
    received_at: datetime | None = None


def _as_text(value: Any) -> str | None:
    """Spreadsheet cells and JSON give numbers and booleans too; text fields take them as text."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, float):
        # A phone number typed into a spreadsheet cell arrives as 4.47911123456e+11.
        return str(int(value)) if value.is_integer() else str(value)
    if isinstance(value, str):
        return value
    raise InvalidValue("", gettext("Enter text."))


def _amount(value: Any, name: str) -> str:
    """A declared amount by the one grammar of amounts (crm.lib.money): "5000" or "5000.50";
    "5,000", "5e3" or "٥٠٠٠" is refused by name, not guessed at."""
    text = (_as_text(value) or "").strip()
    if not text:
        return ""
    try:
        amount = amount_parse(text, field=name)
    except InvalidAmount:
        raise InvalidValue(name, gettext("Enter an amount, such as 5000.")) from None
    if amount > MAX_DECLARED_AMOUNT:
        raise InvalidValue(name, gettext("Enter an amount, such as 5000."))
    return format(amount.normalize(), "f")


def _consent(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = (_as_text(value) or "").strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InvalidValue("consent", gettext("Answer yes or no."))


def lead_clean(data: Mapping[str, Any], *, channel: str, meta: IntakeMeta | None = None
               ) -> tuple[LeadInput | None, dict[str, list[str]]]:
    """Validate and normalise one lead. Returns (lead, {}) or (None, {field: [messages]}).

    Required from every channel: first and last name, email, phone and country (the phone may be
    national: the country is its hint). The web form also requires consent. Unknown keys are
    kept in the raw payload and otherwise ignored.
    """
    meta = meta or IntakeMeta()
    errors = FieldErrors()
    if not isinstance(data, Mapping):
        errors.add("__all__", gettext("A lead must be an object of fields."))
        return None, errors.fields
    values = _person_values(data, errors)
    declared = _declared_values(data, values, errors)
    consent = _consent_given(data, channel, errors)
    if errors:
        return None, errors.fields

    lead = LeadInput(
        first_name=values["first_name"], last_name=values["last_name"], email=values["email"],
        phone=values["phone"], country=values["country"], language=values["language"],
        source=values["source"] or meta.default_source[:100],
        campaign=values["campaign"] or values["utm_campaign"] or meta.default_campaign[:100],
        utm_source=values["utm_source"], utm_medium=values["utm_medium"], utm_campaign=values["utm_campaign"],
        utm_term=values["utm_term"], utm_content=values["utm_content"], click_id=values["click_id"],
        referrer_code=values["referrer_code"], landing_page=values["landing_page"], consent=consent,
        consent_text_version=(values["consent_text_version"] or meta.consent_text_version)[:32] if consent else "",
        declared=declared, payload=_payload(data),
    )
    return lead, {}


def _person_values(data: Mapping[str, Any], errors: FieldErrors) -> dict[str, Any]:
    """The lead's text fields, email, country, language and phone, cleaned (what is wrong goes in `errors`)."""
    values: dict[str, Any] = {}
    for name, limit in TEXT_LIMITS.items():
        raw = data.get(name)
        if raw is None and name not in REQUIRED_FIELDS:
            values[name] = ""  # most of these are left out by most senders
            continue
        try:
            values[name] = text_clean(_as_text(raw), field=name, max_length=limit, required=name in REQUIRED_FIELDS)
        except InvalidValue as exc:
            errors.add(name, exc.message)
    for name, normalise in (("email", email_normalise), ("country", country_normalise),
                            ("language", language_normalise)):
        try:
            values[name] = normalise(_as_text(data.get(name)))
            if name in REQUIRED_FIELDS and not values[name]:
                errors.add(name, gettext("This field is required."))
        except InvalidValue as exc:
            errors.add(name, exc.message)
    raw_phone = ""
    try:
        raw_phone = (_as_text(data.get("phone")) or "").strip()
        values["phone"] = phone_normalise(raw_phone, region=values.get("country") or None)
        if not values["phone"]:
            errors.add("phone", gettext("This field is required."))
    except InvalidValue as exc:
        if "country" in errors and exc.field == "phone" and not raw_phone.startswith(("+", "00")):
            errors.add("phone", gettext("Enter a valid country first, or start the number with + and the country code."))
        else:
            errors.add("phone", exc.message)
    return values


def _declared_values(data: Mapping[str, Any], values: Mapping[str, Any], errors: FieldErrors) -> dict[str, str]:
    """What the lead says about themselves: experience, amounts and occupation."""
    declared: dict[str, str] = {}
    experience = (_as_text(data.get("experience")) or "").strip().lower()
    if experience:
        if experience in Experience.VALUES:
            declared["experience"] = experience
        else:
            errors.add("experience", gettext("Choose one of: %(choices)s.") % {"choices": ", ".join(Experience.VALUES)})
    for name in DECLARED_AMOUNTS:
        try:
            amount = _amount(data.get(name), name)
        except InvalidValue as exc:
            errors.add(name, exc.message)
            continue
        if amount:
            declared[name] = amount
    if values.get("occupation"):
        declared["occupation"] = values["occupation"]
    return declared


def _consent_given(data: Mapping[str, Any], channel: str, errors: FieldErrors) -> bool:
    """Whether the lead agreed to be contacted (the web form requires it)."""
    consent = False
    try:
        consent = _consent(data.get("consent"))
    except InvalidValue as exc:
        errors.add("consent", exc.message)
    if channel == Channel.FORM and not consent and "consent" not in errors:
        errors.add("consent", gettext("Please agree to be contacted."))
    return consent


PAYLOAD_MAX_KEYS = 100
PAYLOAD_MAX_VALUE = 1000


def _payload(data: Mapping[str, Any]) -> dict[str, Any]:
    """The raw input, bounded (a hostile caller must not store megabytes per lead), without NUL
    characters or lone surrogates (JSON in PostgreSQL cannot hold them)."""
    out: dict[str, Any] = {}
    for key, value in list(data.items())[:PAYLOAD_MAX_KEYS]:
        if key in {"csrfmiddlewaretoken", "form_token", "website"}:
            continue
        name = storable(str(key), replacement="")[:100]
        if isinstance(value, str):
            out[name] = storable(value, replacement="")[:PAYLOAD_MAX_VALUE]
        elif isinstance(value, float) and not math.isfinite(value):
            out[name] = str(value)  # JSON has no NaN or Infinity (Python's parser takes them)
        elif isinstance(value, int | float | bool) or value is None:
            out[name] = value
        else:
            out[name] = storable(str(value), replacement="")[:PAYLOAD_MAX_VALUE]
    return out
