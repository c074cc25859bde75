"""API keys: create, revoke and authenticate (the API's assembly, integrations.assembly, asks who a key is).
Who may create and revoke them, and give them which scopes: integrations.permissions."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from collections.abc import Iterable
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext

from crm.audit import audit_record
from crm.exceptions import Conflict, FieldErrors, NotAllowed
from crm.lib.validation import InvalidValue, text_clean
from crm.models import ApiKey, Brand, User
from crm.registry import API_SCOPES
from integrations import apikey_cache, permissions

API_KEY_PREFIX_LENGTH = 8
_PREFIX_ALPHABET = string.ascii_letters + string.digits
# A key is used on every API call; writing last_used_at each time would turn reads into writes.
API_KEY_TOUCH_INTERVAL = timedelta(minutes=1)


def _text(value: object, field: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise InvalidValue(field, gettext("Enter text."))


def _key_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@transaction.atomic
def apikey_create(*, actor: User, brand: Brand, name: str, scopes: Iterable[str]) -> tuple[ApiKey, str]:
    """Create an API key for `brand`. Returns the key and the raw secret, which is shown once and
    never stored ("crm_<prefix>_<secret>"; only its SHA-256 is kept)."""
    if actor is None:
        raise NotAllowed()
    permissions.require(actor, permissions.APIKEY_CREATE)
    errors = FieldErrors()
    try:
        name = text_clean(_text(name, "name"), field="name", max_length=120, required=True)
    except InvalidValue as exc:
        errors.add(exc.field, exc.message)
    if not isinstance(brand, Brand) or not brand.is_active:
        errors.add("brand", gettext("Choose an active brand."))
    requested = [scopes] if isinstance(scopes, str) else list(scopes or [])
    bad = [s for s in requested if s not in API_SCOPES]  # the scopes the apps registered (crm.registry)
    if bad:
        errors.add("scopes", gettext("Unknown scopes: %(scopes)s.") % {"scopes": ", ".join(map(str, bad))})
    elif not requested:
        errors.add("scopes", gettext("Choose at least one scope."))
    else:
        # A scope that carries another team's matters (compliance's events) is that team's to give.
        withheld = permissions.scopes_withheld(actor, requested)
        if withheld:
            errors.add("scopes", gettext("Only a compliance officer or an administrator may give a key these "
                                         "scopes: %(scopes)s.") % {"scopes": ", ".join(withheld)})
    errors.raise_if_any()

    chosen = [str(code) for code in API_SCOPES.keys() if code in requested]
    for _attempt in range(5):
        prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(API_KEY_PREFIX_LENGTH))
        if not ApiKey.objects.filter(prefix=prefix).exists():
            break
    else:
        raise Conflict(gettext("Could not create a unique key; try again."))
    raw = f"crm_{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey.objects.create(brand=brand, name=name, prefix=prefix, key_hash=_key_hash(raw),
                                scopes=chosen, created_by=actor)
    audit_record(action="apikey.create", obj=key, after={
        "name": name, "prefix": prefix, "scopes": chosen, "brand": brand.code,
    }, actor=actor)
    return key, raw


@transaction.atomic
def apikey_revoke(*, actor: User, key: ApiKey) -> ApiKey:
    """Revoke `key`: it stops working at once. Revoking a revoked key changes nothing."""
    if actor is None:
        raise NotAllowed()
    permissions.require(actor, permissions.APIKEY_REVOKE)
    key.refresh_from_db(from_queryset=ApiKey.objects.select_for_update())
    if key.revoked_at is not None:
        return key
    key.revoked_at = timezone.now()
    key.save(update_fields=["revoked_at"])
    apikey_cache.invalidate()
    audit_record(action="apikey.revoke", obj=key, before={"revoked_at": None},
                 after={"revoked_at": key.revoked_at}, actor=actor)
    return key


def apikey_authenticate(raw: str | None) -> ApiKey | None:
    """The active key matching `raw`, or None. Records use (`last_used_at`) at most once a minute."""
    if not isinstance(raw, str) or len(raw) > 200:
        return None
    parts = raw.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != "crm" or len(parts[1]) != API_KEY_PREFIX_LENGTH or len(parts[2]) < 32:
        return None
    digest = _key_hash(raw.strip())
    version = apikey_cache.current_version()
    key = apikey_cache.lookup(digest, version)
    if key is None:
        key = (
            ApiKey.objects.select_related("brand", "created_by")
            .filter(key_hash=digest, revoked_at__isnull=True)
            .first()
        )
        if key is not None:
            apikey_cache.remember(digest, key, version)
    if key is None or not hmac.compare_digest(key.key_hash, digest) or key.prefix != parts[1]:
        return None
    if not key.brand.is_active:
        return None
    now = timezone.now()
    if key.last_used_at is None or key.last_used_at < now - API_KEY_TOUCH_INTERVAL:
        # Conditional in SQL, so that concurrent requests write at most once per interval.
        ApiKey.objects.filter(pk=key.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - API_KEY_TOUCH_INTERVAL)
        ).update(last_used_at=now)
        key.last_used_at = now
    return key
