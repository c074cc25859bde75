"""Telephony providers, as administrators configure them: create, change, (de)activate and rotate
the webhook secret; and reading a provider's secret back for the webhook (leads.calls).

The secret is generated here (`secrets.token_urlsafe`), handed back to the caller once so that the
page can show it, and stored only as a Fernet token (crm.lib.crypto, with this module's salt). It
never appears in the audit log, the model history, events or logs; the audit rows say only that a
new secret was set.

Conventions as in leads.services: keyword-only, actor first, `actor=None` is the system, only
administrators change providers, ValidationFailed names each bad field, each change is audited.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext

from crm.audit import audit_record
from crm.exceptions import FieldErrors, NotAllowed
from crm.lib.crypto import FieldCipher, Undecryptable
from crm.lib.validation import InvalidValue, text_clean
from crm.models import Brand, User
from leads.models import TelephonyProvider
from leads.services import text_field

logger = logging.getLogger(__name__)

# Changing these makes every stored secret unreadable: a new purpose needs a new migration.
CIPHER = FieldCipher(salt=b"brokerage-crm/leads.telephony", info=b"telephony webhook secrets v1",
                     what="telephony webhook secrets")
SECRET_BYTES = 32  # token_urlsafe(32): 43 characters, 256 bits
TEMPLATE_SCHEMES = ("sip:", "tel:", "https:", "callto:")
TEMPLATE_PLACEHOLDERS = ("phone", "extension")
TEMPLATE_MAX = 300
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_SAMPLE = {"phone": "+442071838750", "extension": "101"}


@dataclass(frozen=True)
class ProviderWithSecret:
    """A provider and its new secret in plaintext: show it once, keep it nowhere."""

    provider: TelephonyProvider
    secret: str


# --- the secret ------------------------------------------------------------------------------------


def provider_secret_read(provider: TelephonyProvider) -> str:
    """The provider's secret in plaintext, for checking a webhook signature; "" (and an error in the
    log) when no configured key decrypts it, so that the webhook refuses every request."""
    try:
        return CIPHER.decrypt(provider.secret_encrypted)
    except Undecryptable:
        logger.error("telephony provider %s: the secret cannot be decrypted with the configured keys; "
                     "rotate it on the telephony settings page", provider.code)
        return ""


def _new_secret(provider: TelephonyProvider) -> str:
    secret = secrets.token_urlsafe(SECRET_BYTES)
    provider.secret_encrypted = CIPHER.encrypt(secret)
    provider.secret_rotated_at = timezone.now()
    return secret


# --- validation ------------------------------------------------------------------------------------


def click_to_call_template_clean(value: str | None) -> str:
    """The template trimmed; "" is allowed (the setting CRM_CLICK_TO_CALL_TEMPLATE is used then).
    InvalidValue naming "click_to_call_template" unless it starts with sip:, tel:, https: or callto:,
    uses {phone} and no placeholder but {phone} and {extension}, and makes a valid link."""
    field = "click_to_call_template"
    template = text_clean(value, field=field, max_length=TEMPLATE_MAX)
    if not template:
        return ""
    if not template.lower().startswith(TEMPLATE_SCHEMES):
        raise InvalidValue(field, gettext("Start the click-to-call template with one of: %(schemes)s.")
                           % {"schemes": ", ".join(TEMPLATE_SCHEMES)})
    names = _PLACEHOLDER.findall(template)
    unknown = sorted({name for name in names if name not in TEMPLATE_PLACEHOLDERS})
    if unknown:
        raise InvalidValue(field, gettext("The click-to-call template may only use {phone} and {extension}, "
                                          "not %(names)s.") % {"names": ", ".join(f"{{{n}}}" for n in unknown)})
    if "{" in _PLACEHOLDER.sub("", template) or "}" in _PLACEHOLDER.sub("", template):
        raise InvalidValue(field, gettext("The click-to-call template has an unmatched brace."))
    if "phone" not in names:
        raise InvalidValue(field, gettext("Put {phone} in the click-to-call template where the number goes."))
    sample = template.replace("{phone}", _SAMPLE["phone"]).replace("{extension}", _SAMPLE["extension"])
    if any(ch.isspace() or ord(ch) < 32 for ch in sample):
        raise InvalidValue(field, gettext("The click-to-call template may not contain spaces."))
    if sample.lower().startswith("https:"):
        try:
            URLValidator(schemes=["https"])(sample)
        except ValidationError:
            raise InvalidValue(field, gettext("The click-to-call template is not a valid https link.")) from None
    return template


def _template(errors: FieldErrors, value: Any) -> str:
    try:
        return click_to_call_template_clean(value)
    except InvalidValue as exc:
        errors.add(exc.field, exc.message)
        return ""


def _require_admin(actor: User | None) -> None:
    if actor is not None and not actor.is_administrator:
        raise NotAllowed()


def _snapshot(provider: TelephonyProvider) -> dict[str, Any]:
    return {
        "code": provider.code, "name": provider.name,
        "brand": provider.brand.code if provider.brand is not None else None,
        "click_to_call_template": provider.click_to_call_template, "is_active": provider.is_active,
    }


def _attribute_history(provider: TelephonyProvider, actor: User | None) -> None:
    # The history row names the service's actor even outside a request.
    if actor is not None:
        provider._history_user = actor  # type: ignore[attr-defined]  # simple_history's hook (untyped package)


# --- services --------------------------------------------------------------------------------------


@transaction.atomic
def telephony_provider_create(*, actor: User | None, code: str, name: str, brand: Brand | None = None,
                              click_to_call_template: str = "") -> ProviderWithSecret:
    """Add a provider with a new secret (returned once, in plaintext). Its `code` is the last part of
    its webhook address (/hooks/telephony/<code>/): a lower-case slug, unique, never changed."""
    _require_admin(actor)
    errors = FieldErrors()
    raw_code = text_field(code, "code", 40, required=True, errors=errors)
    code = slugify(raw_code).lower()
    if raw_code and (code != raw_code.lower() or not code):
        errors.add("code", gettext("Use lower-case letters, digits and hyphens only, e.g. \"voipco\"."))
    elif code and TelephonyProvider.objects.filter(code=code).exists():
        errors.add("code", gettext("Another telephony provider has this code."))
    name = text_field(name, "name", 120, required=True, errors=errors)
    template = _template(errors, click_to_call_template)
    errors.raise_if_any()
    provider = TelephonyProvider(code=code, name=name, brand=brand, click_to_call_template=template, is_active=True)
    secret = _new_secret(provider)
    _attribute_history(provider, actor)
    provider.save()
    audit_record(action="telephony_provider.create", obj=provider,
                 after={**_snapshot(provider), "secret_set": True}, actor=actor)
    return ProviderWithSecret(provider=provider, secret=secret)


@transaction.atomic
def telephony_provider_update(*, actor: User | None, provider: TelephonyProvider, name: str,
                              brand: Brand | None = None, click_to_call_template: str = "") -> TelephonyProvider:
    """Change a provider's name, brand and click-to-call template (its code and secret stay)."""
    _require_admin(actor)
    errors = FieldErrors()
    name = text_field(name, "name", 120, required=True, errors=errors)
    template = _template(errors, click_to_call_template)
    errors.raise_if_any()
    provider = TelephonyProvider.objects.select_for_update(of=("self",)).select_related("brand").get(pk=provider.pk)
    before = _snapshot(provider)
    provider.name, provider.brand, provider.click_to_call_template = name, brand, template
    _attribute_history(provider, actor)
    provider.save(update_fields=["name", "brand", "click_to_call_template"])
    after = _snapshot(provider)
    if after != before:
        audit_record(action="telephony_provider.update", obj=provider, before=before, after=after, actor=actor)
    return provider


@transaction.atomic
def telephony_provider_set_active(*, actor: User | None, provider: TelephonyProvider,
                                  is_active: bool) -> TelephonyProvider:
    """Stop (or resume) accepting the provider's webhooks and using its click-to-call template. An
    inactive provider's requests are refused as unsigned; its calls and events stay."""
    _require_admin(actor)
    provider = TelephonyProvider.objects.select_for_update(of=("self",)).select_related("brand").get(pk=provider.pk)
    if provider.is_active == bool(is_active):
        return provider
    provider.is_active = bool(is_active)
    _attribute_history(provider, actor)
    provider.save(update_fields=["is_active"])
    audit_record(action="telephony_provider.activate" if is_active else "telephony_provider.deactivate",
                 obj=provider, before={"is_active": not provider.is_active},
                 after={"is_active": provider.is_active}, actor=actor)
    return provider


@transaction.atomic
def telephony_provider_rotate_secret(*, actor: User | None, provider: TelephonyProvider) -> ProviderWithSecret:
    """Replace the provider's secret with a new one (returned once, in plaintext). The old secret stops
    working at once: requests signed with it are refused from this commit on."""
    _require_admin(actor)
    provider = TelephonyProvider.objects.select_for_update(of=("self",)).select_related("brand").get(pk=provider.pk)
    before = {"secret_rotated_at": provider.secret_rotated_at}
    secret = _new_secret(provider)
    _attribute_history(provider, actor)
    provider.save(update_fields=["secret_encrypted", "secret_rotated_at"])
    audit_record(action="telephony_provider.rotate_secret", obj=provider, before=before,
                 after={"secret_rotated_at": provider.secret_rotated_at}, actor=actor)
    return ProviderWithSecret(provider=provider, secret=secret)


def telephony_secrets_reencrypt() -> tuple[int, list[str]]:
    """Re-encrypt every provider's secret under the current key, after a new FIELD_ENCRYPTION_KEY was
    put first (the secrets themselves stay, so providers need no change). Returns how many were
    re-encrypted and the codes of those no configured key decrypts (rotate those on the page)."""
    done, unreadable = 0, []
    for provider in TelephonyProvider.objects.only("pk", "code", "secret_encrypted").order_by("code"):
        if CIPHER.is_current(provider.secret_encrypted):
            continue
        try:
            fresh = CIPHER.rotate(provider.secret_encrypted)
        except Undecryptable:
            unreadable.append(provider.code)
            continue
        with transaction.atomic():
            TelephonyProvider.objects.filter(pk=provider.pk).update(secret_encrypted=fresh)
            audit_record(action="telephony_provider.secret_reencrypt", obj=provider, after={"reencrypted": True})
        done += 1
    return done, unreadable
