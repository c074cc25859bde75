"""Staff users: creation and their own preferences."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext

from crm.audit import audit_record
from crm.exceptions import Conflict, FieldErrors
from crm.lib.validation import InvalidValue, email_normalise, text_clean, timezone_normalise
from crm.models import Brand, Desk, Role, RoleCode, User
from crm.services.common import _require, _text


def _role_for(code: Any) -> Role | None:
    if code not in RoleCode.values:
        return None
    role = Role.objects.select_related("group").filter(code=code).first()
    if role is None:
        from crm.roles import roles_sync

        roles_sync()
        role = Role.objects.select_related("group").get(code=code)
    return role


def _clean_user_language(value: Any, errors: FieldErrors) -> str:
    codes = {code for code, _ in settings.LANGUAGES}
    value = (value or "").strip().lower() if isinstance(value, str) else value
    if value not in codes:
        errors.add("language", gettext("Choose one of: %(codes)s.") % {"codes": ", ".join(sorted(codes))})
        return ""
    return str(value)


def _clean_user_timezone(value: Any, errors: FieldErrors) -> str:
    try:
        return timezone_normalise(_text(value, "timezone")) or "UTC"
    except InvalidValue as exc:
        errors.add(exc.field, exc.message)
        return ""


def _user_snapshot(user: User) -> dict[str, Any]:
    return {
        "email": user.email, "full_name": user.full_name, "role": user.role_code,
        "desk": user.desk_id, "all_brands": user.all_brands,
        "brands": sorted(user.brands.values_list("pk", flat=True)) if user.pk else [],
        "is_active": user.is_active, "language": user.language, "timezone": user.timezone,
    }


def _check_user_desk(desk: Any, brand_ids: set[int], all_brands: bool, errors: FieldErrors) -> None:
    if desk is None:
        return
    if not isinstance(desk, Desk):
        errors.add("desk", gettext("Choose a desk."))
    elif not all_brands and desk.brand_id not in brand_ids:
        errors.add("desk", gettext("The desk belongs to a brand this user does not work for."))


@transaction.atomic
def user_create(
    *,
    actor: User | None,
    email: str,
    full_name: str,
    role_code: str,
    password: str | None = None,
    desk: Desk | None = None,
    brands: Iterable[Brand] = (),
    all_brands: bool = False,
    language: str = "en",
    timezone: str = "UTC",
) -> User:
    """Create a member of staff with `role_code` (joined to the role's group). Without `password`
    the account cannot log in until a password is set; a password must pass the password rules."""
    _require(actor, "crm.add_user")
    errors = FieldErrors()
    try:
        email = email_normalise(_text(email, "email"))
        if not email:
            errors.add("email", gettext("This field is required."))
        elif User.objects.filter(email__iexact=email).exists():
            errors.add("email", gettext("A user with this email already exists."))
    except InvalidValue as exc:
        errors.add(exc.field, exc.message)
    try:
        full_name = text_clean(_text(full_name, "full_name"), field="full_name", max_length=150, required=True)
    except InvalidValue as exc:
        errors.add(exc.field, exc.message)
    role = _role_for(role_code)
    if role is None:
        errors.add("role_code", gettext("Choose a valid role."))
    brand_list = list(brands or ())
    if any(not isinstance(b, Brand) for b in brand_list):
        errors.add("brands", gettext("Choose brands from the list."))
        brand_list = []
    _check_user_desk(desk, {b.pk for b in brand_list}, all_brands, errors)
    language = _clean_user_language(language, errors)
    tz_name = _clean_user_timezone(timezone, errors)
    if password is not None and "email" not in errors and "full_name" not in errors:
        try:
            validate_password(password, user=User(email=email, full_name=full_name))
        except ValidationError as exc:
            for message in exc.messages:
                errors.add("password", message)
    errors.raise_if_any()
    assert role is not None  # refused above

    try:
        with transaction.atomic():
            user = User.objects.create_user(
                email, password, full_name=full_name, role=role, desk=desk, all_brands=bool(all_brands),
                language=language, timezone=tz_name,
            )
    except IntegrityError:
        raise Conflict(gettext("A user with this email already exists.")) from None
    if brand_list:
        user.brands.set(brand_list)
    user.groups.add(role.group)
    audit_record(action="user.create", obj=user, after=_user_snapshot(user), actor=actor)
    return user


@transaction.atomic
def user_update_preferences(*, user: User, language: str, timezone: str) -> User:
    """The user's own interface language and time zone."""
    errors = FieldErrors()
    language = _clean_user_language(language, errors)
    tz_name = _clean_user_timezone(timezone, errors)
    errors.raise_if_any()
    before = {"language": user.language, "timezone": user.timezone}
    if before == {"language": language, "timezone": tz_name}:
        return user
    user.language, user.timezone = language, tz_name
    user.save(update_fields=["language", "timezone"])
    audit_record(action="user.preferences", obj=user, before=before,
                 after={"language": language, "timezone": tz_name}, actor=user)
    return user


BRAND_CODE_RE = r"^[a-z0-9][a-z0-9-]{0,39}$"


@transaction.atomic
def brand_create(*, actor: User | None, code: str, name: str, default_currency: str = "USD",
                 default_language: str = "en") -> Brand:
    """A new brand (a migration brings a brokerage's partner programme in under its own brand):
    `code` lower-case letters, digits and hyphens, not taken; `name` required; the currency a
    three-letter code. Audited ("brand.create"). Needs crm.add_brand (`actor=None`: the system)."""
    _require(actor, "crm.add_brand")
    errors = FieldErrors()
    code = (code or "").strip()
    name = " ".join(str(name or "").split())[:120]
    if not re.fullmatch(BRAND_CODE_RE, code):
        errors.add("code", gettext("Lower-case letters, digits and hyphens, at most 40."))
    elif Brand.objects.filter(code=code).exists():
        errors.add("code", gettext("A brand with this code exists."))
    if not name:
        errors.add("name", gettext("This field is required."))
    currency = (default_currency or "").strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", currency):
        errors.add("default_currency", gettext("A three-letter currency code such as USD."))
    errors.raise_if_any()
    brand = Brand.objects.create(code=code, name=name, default_currency=currency,
                                 default_language=(default_language or "en")[:8])
    audit_record(action="brand.create", obj=brand, actor=actor,
                 after={"code": code, "name": name, "default_currency": currency})
    return brand
