"""Staff administration and two-factor services: users, roles, desks, passwords, TOTP devices.

Same rules as crm/services.py: keyword-only, typed, atomic, audited, events emitted. The
administration services check `actor.is_administrator` themselves as well, so that a view that
forgets its check still cannot change staff.

Two-factor verification is the one deliberate exception to "the whole service is one atomic
block": django-otp counts a wrong code on the device (its throttling), and that count must be
committed even though the attempt failed. Verification therefore runs in its own transaction
first, and the outcome is returned (or raised) after it has committed.
"""

from __future__ import annotations

import re
import secrets
import string
import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

import phonenumbers
from django.conf import settings
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from crm.audit import audit_record, model_snapshot
from crm.events import emit
from crm.exceptions import Conflict, NotAllowed, ValidationFailed
from crm.models import Brand, Desk, DeskKind, Role, RoleCode, User
from crm.services import access_login_record, user_create

BACKUP_CODE_COUNT = 10
USER_AUDIT_FIELDS = (
    "email", "full_name", "role", "desk", "all_brands", "language", "timezone", "phone_extension", "is_active",
)
DESK_AUDIT_FIELDS = (
    "brand", "name", "kind", "countries", "languages", "timezone", "work_start", "work_end", "work_days",
    "manager", "is_active",
)
_LANGUAGE_RE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})?$")
# Letters and digits that cannot be confused with each other when read off a screen.
_PASSWORD_ALPHABET = "".join(c for c in string.ascii_letters + string.digits if c not in "0O1lI")


# --- checks shared by the services ----------------------------------------------------------------


def _require_admin(actor: Any) -> None:
    if actor is None or not getattr(actor, "is_administrator", False):
        raise NotAllowed(_("Only administrators may manage staff."))


def _user_snapshot(user: User) -> dict[str, Any]:
    data = model_snapshot(user, USER_AUDIT_FIELDS)
    data["role"] = user.role_code
    data["brands"] = sorted(user.brands.values_list("code", flat=True)) if user.pk else []
    return data


def timezone_check(name: str, *, field: str = "timezone") -> str:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed(_("Unknown time zone."), fields={field: [_("Unknown time zone: %s") % name]}) from None
    return name


def countries_normalise(values: Iterable[str], *, field: str = "countries") -> list[str]:
    out: list[str] = []
    for raw in values:
        code = raw.strip().upper()
        if not code:
            continue
        if code not in phonenumbers.SUPPORTED_REGIONS:
            raise ValidationFailed(
                _("Unknown country code."), fields={field: [_("Not an ISO country code: %s") % raw.strip()]}
            )
        if code not in out:
            out.append(code)
    return out


def languages_normalise(values: Iterable[str], *, field: str = "languages") -> list[str]:
    out: list[str] = []
    for raw in values:
        code = raw.strip().lower()
        if not code:
            continue
        if not _LANGUAGE_RE.match(code):
            raise ValidationFailed(
                _("Unknown language code."), fields={field: [_("Not a language code: %s") % raw.strip()]}
            )
        if code not in out:
            out.append(code)
    return out


def password_check(*, password: str, user: User | None = None, field: str = "password") -> None:
    """Run AUTH_PASSWORD_VALIDATORS; raise ValidationFailed naming every rule the password breaks."""
    try:
        password_validation.validate_password(password, user=user)
    except ValidationError as exc:
        raise ValidationFailed(_("The password is too weak."), fields={field: list(exc.messages)}) from None


def password_rules() -> list[str]:
    """The password rules in words, one per configured validator."""
    return [str(text) for text in password_validation.password_validators_help_texts()]


def password_generate(*, length: int = 16) -> str:
    """A random password that satisfies the validators; shown to the administrator once."""
    while True:
        candidate = "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(length))
        has_classes = (
            any(c.islower() for c in candidate) and any(c.isupper() for c in candidate)
            and any(c.isdigit() for c in candidate)
        )
        if has_classes:
            return candidate


def _brands_check(*, all_brands: bool, brands: list[Brand], desk: Desk | None) -> None:
    if not all_brands and not brands:
        raise ValidationFailed(
            _("Choose the brands this person works for."),
            fields={"brands": [_("Choose at least one brand, or give access to all brands.")]},
        )
    if desk is not None and not all_brands and desk.brand_id not in {b.pk for b in brands}:
        raise ValidationFailed(
            _("The desk belongs to a brand this person has no access to."),
            fields={"desk": [_("The desk's brand (%s) is not among the chosen brands.") % desk.brand.name]},
        )


# --- users --------------------------------------------------------------------------------------


def staff_search(
    *, role: Role | None = None, desk: Desk | None = None, brand: Brand | None = None,
    active: bool | None = None, q: str = "",
) -> QuerySet[User]:
    """Staff for the administration list. `brand` matches users of that brand and all-brand users."""
    qs = User.objects.select_related("role", "desk", "desk__brand").prefetch_related("brands")
    if role is not None:
        qs = qs.filter(role=role)
    if desk is not None:
        qs = qs.filter(desk=desk)
    if brand is not None:
        qs = qs.filter(Q(all_brands=True) | Q(brands=brand)).distinct()
    if active is not None:
        qs = qs.filter(is_active=active)
    if q.strip():
        term = q.strip()
        qs = qs.filter(Q(full_name__icontains=term) | Q(email__icontains=term))
    return qs.order_by("full_name", "id")


_USER_UPDATABLE = {
    "email", "full_name", "role", "desk", "brands", "all_brands", "language", "timezone", "phone_extension",
}


@transaction.atomic
def staff_user_create(
    *, actor: User, email: str, full_name: str, role: Role, password: str, desk: Desk | None = None,
    brands: Iterable[Brand] = (), all_brands: bool = False, language: str = "en", timezone: str = "UTC",
) -> User:
    """An administrator adds a member of staff (crm.services.user_create does the checks and the
    audit row). Emits "staff.user_created"."""
    _require_admin(actor)
    user = user_create(
        actor=actor, email=email, full_name=full_name, role_code=role.code, password=password, desk=desk,
        brands=list(brands), all_brands=all_brands, language=language, timezone=timezone,
    )
    emit("staff.user_created", actor=actor, data={"user": str(user.code), "role": role.code})
    return user


@transaction.atomic
def user_update(*, actor: User, user: User, reason: str = "", **changes: Any) -> User:
    """Change a staff member's profile, role, desk and brand access. Emits "staff.user_updated".

    An administrator cannot take the administrator role away from themselves (that is how the
    last administrator would lock everyone out).
    """
    _require_admin(actor)
    unknown = set(changes) - _USER_UPDATABLE
    if unknown:
        raise ValidationFailed(_("Unknown fields."), fields={name: [_("Cannot be changed here.")] for name in unknown})
    user = User.objects.select_for_update().get(pk=user.pk)
    before = _user_snapshot(user)

    _user_names_apply(user, changes)
    old_role = user.role
    if "role" in changes:
        role: Role = changes["role"]
        if user.pk == actor.pk and actor.role_code == RoleCode.ADMIN and role.code != RoleCode.ADMIN:
            raise NotAllowed(_("You cannot take the administrator role away from yourself."))
        user.role = role
    _user_settings_apply(user, changes)
    brands = list(changes["brands"]) if "brands" in changes else list(user.brands.all())
    _brands_check(all_brands=user.all_brands, brands=brands, desk=user.desk)

    user.save()
    if "brands" in changes:
        user.brands.set(brands)
    if user.role_id != getattr(old_role, "pk", None):
        # Permissions come from the role's group: move the user from the old group to the new one.
        if old_role is not None:
            user.groups.remove(old_role.group_id)
        if user.role is not None:
            user.groups.add(user.role.group_id)
    after = _user_snapshot(user)
    if after != before:
        changed = {k: v for k, v in after.items() if before.get(k) != v}
        audit_record(action="staff.user_updated", obj=user, before=before, after=after, reason=reason)
        emit("staff.user_updated", actor=actor, data={"user": str(user.code), "changed": sorted(changed)})
    return user


def _user_names_apply(user: User, changes: Mapping[str, Any]) -> None:
    """The email (nobody else's) and the full name, if changed; neither may be blank."""
    if "email" in changes:
        email = changes["email"].strip().lower()
        if not email:
            raise ValidationFailed(_("Email is required."), fields={"email": [_("This field is required.")]})
        if User.objects.filter(email__iexact=email).exclude(pk=user.pk).exists():
            raise ValidationFailed(
                _("Another user has this email."), fields={"email": [_("Another user has this email.")]}
            )
        user.email = email
    if "full_name" in changes:
        full_name = changes["full_name"].strip()
        if not full_name:
            raise ValidationFailed(_("Name is required."), fields={"full_name": [_("This field is required.")]})
        user.full_name = full_name


def _user_settings_apply(user: User, changes: Mapping[str, Any]) -> None:
    """Time zone, language, extension, brand access and desk, if changed (brands are checked after)."""
    if "timezone" in changes:
        user.timezone = timezone_check(changes["timezone"])
    if "language" in changes:
        language = (changes["language"] or "").strip().lower()
        if language not in {code for code, _name in settings.LANGUAGES}:
            raise ValidationFailed(_("Unknown language."), fields={"language": [_("Choose a language from the list.")]})
        user.language = language
    if "phone_extension" in changes:
        user.phone_extension = changes["phone_extension"].strip()
    if "all_brands" in changes:
        user.all_brands = bool(changes["all_brands"])
    if "desk" in changes:
        user.desk = changes["desk"]


@transaction.atomic
def user_set_active(*, actor: User, user: User, active: bool, reason: str = "") -> User:
    """Deactivate or reactivate a staff member (staff are never deleted: the audit trail points at them).

    A deactivated user's open sessions stop working at their next request (the auth backend
    refuses inactive users). Emits "staff.user_deactivated" or "staff.user_reactivated".
    """
    _require_admin(actor)
    if user.pk == actor.pk and not active:
        raise NotAllowed(_("You cannot deactivate yourself."))
    user = User.objects.select_for_update().get(pk=user.pk)
    if user.is_active == active:
        return user
    before = {"is_active": user.is_active}
    user.is_active = active
    user.save(update_fields=["is_active"])
    name = "staff.user_reactivated" if active else "staff.user_deactivated"
    audit_record(action=name, obj=user, before=before, after={"is_active": active}, reason=reason)
    emit(name, actor=actor, data={"user": str(user.code)})
    return user


@transaction.atomic
def user_password_change(*, user: User, old_password: str, new_password: str) -> User:
    """A user changes their own password. Validators apply; the change is audited (never the value)."""
    user = User.objects.select_for_update().get(pk=user.pk)
    if not user.check_password(old_password):
        raise ValidationFailed(
            _("Your old password was entered incorrectly."),
            fields={"old_password": [_("Your old password was entered incorrectly.")]},
        )
    password_check(password=new_password, user=user, field="new_password1")
    user.set_password(new_password)
    user.save(update_fields=["password"])
    audit_record(action="auth.password_changed", obj=user, actor=user)
    emit("staff.password_changed", actor=user, data={"user": str(user.code)})
    return user


# --- roles --------------------------------------------------------------------------------------


@transaction.atomic
def role_set_requires_2fa(*, actor: User, role: Role, required: bool, reason: str = "") -> Role:
    """Mark a role privileged (its users must log in with a TOTP code) or not. Emits "staff.role_updated"."""
    _require_admin(actor)
    role = Role.objects.select_for_update().get(pk=role.pk)
    if role.requires_2fa == required:
        return role
    before = {"requires_2fa": role.requires_2fa}
    role.requires_2fa = required
    role.save(update_fields=["requires_2fa"])
    audit_record(action="staff.role_2fa_changed", obj=role, before=before, after={"requires_2fa": required},
                 reason=reason)
    emit("staff.role_updated", actor=actor, data={"role": role.code, "requires_2fa": required})
    return role


# --- desks --------------------------------------------------------------------------------------


def _desk_validate(desk: Desk) -> None:
    if not desk.name.strip():
        raise ValidationFailed(_("Name is required."), fields={"name": [_("This field is required.")]})
    if desk.kind not in DeskKind.values:
        raise ValidationFailed(_("Unknown desk kind."), fields={"kind": [_("Unknown desk kind.")]})
    if any(day not in range(1, 8) for day in desk.work_days):
        raise ValidationFailed(_("Unknown work day."), fields={"work_days": [_("Days are numbered 1 to 7.")]})
    if desk.work_start == desk.work_end:
        raise ValidationFailed(
            _("Working hours are empty."), fields={"work_end": [_("The end must differ from the start.")]}
        )
    manager = desk.manager
    if manager is not None:
        if not manager.is_active:
            raise ValidationFailed(_("Inactive manager."), fields={"manager": [_("This user is deactivated.")]})
        if not manager.all_brands and not manager.brands.filter(pk=desk.brand_id).exists():
            raise ValidationFailed(
                _("The manager has no access to this brand."),
                fields={"manager": [_("This user has no access to the desk's brand.")]},
            )
    clash = Desk.objects.filter(brand_id=desk.brand_id, name__iexact=desk.name.strip())
    if desk.pk:
        clash = clash.exclude(pk=desk.pk)
    if clash.exists():
        raise Conflict(_("This brand already has a desk with that name."),
                       fields={"name": [_("This brand already has a desk with that name.")]})


@transaction.atomic
def desk_create(
    *, actor: User, brand: Brand, name: str, kind: str = DeskKind.SALES, countries: Iterable[str] = (),
    languages: Iterable[str] = (), timezone: str = "UTC", work_start: time = time(9, 0),
    work_end: time = time(18, 0), work_days: Iterable[int] = (1, 2, 3, 4, 5), manager: User | None = None,
) -> Desk:
    """Create a desk of `brand`. Emits "staff.desk_created"."""
    _require_admin(actor)
    desk = Desk(
        brand=brand, name=name.strip(), kind=kind, countries=countries_normalise(countries),
        languages=languages_normalise(languages), timezone=timezone_check(timezone), work_start=work_start,
        work_end=work_end, work_days=sorted({int(d) for d in work_days}), manager=manager,
    )
    _desk_validate(desk)
    desk.save()
    audit_record(action="staff.desk_created", obj=desk, after=model_snapshot(desk, DESK_AUDIT_FIELDS))
    emit("staff.desk_created", actor=actor, brand=brand, data={"desk": str(desk.code), "name": desk.name})
    return desk


_DESK_UPDATABLE = set(DESK_AUDIT_FIELDS)


@transaction.atomic
def desk_update(*, actor: User, desk: Desk, reason: str = "", **changes: Any) -> Desk:
    """Change a desk's settings. Members keep their desk when it moves brand only if they may see it."""
    _require_admin(actor)
    unknown = set(changes) - _DESK_UPDATABLE
    if unknown:
        raise ValidationFailed(_("Unknown fields."), fields={name: [_("Cannot be changed here.")] for name in unknown})
    desk = Desk.objects.select_for_update().get(pk=desk.pk)
    before = model_snapshot(desk, DESK_AUDIT_FIELDS)
    for name, value in changes.items():
        if name == "countries":
            value = countries_normalise(value)
        elif name == "languages":
            value = languages_normalise(value)
        elif name == "timezone":
            value = timezone_check(value)
        elif name == "work_days":
            value = sorted({int(d) for d in value})
        elif name == "name":
            value = value.strip()
        setattr(desk, name, value)
    _desk_validate(desk)
    if "brand" in changes and desk.members.filter(all_brands=False).exclude(brands=desk.brand).exists():
        raise ValidationFailed(
            _("Some members of this desk have no access to the new brand."),
            fields={"brand": [_("Some members of this desk have no access to this brand.")]},
        )
    desk.save()
    after = model_snapshot(desk, DESK_AUDIT_FIELDS)
    if after != before:
        audit_record(action="staff.desk_updated", obj=desk, before=before, after=after, reason=reason)
        emit("staff.desk_updated", actor=actor, brand=desk.brand, data={
            "desk": str(desk.code), "changed": sorted(k for k in after if after[k] != before.get(k)),
        })
    return desk


# --- login records ------------------------------------------------------------------------------


@transaction.atomic
def auth_login_record(*, user: User) -> None:
    """Record a successful password login (the second factor, when needed, is recorded separately)."""
    audit_record(action="auth.login", obj=user, actor=user)
    access_login_record(user=user)


@transaction.atomic
def auth_login_failure_record(*, email: str, locked_out: bool = False) -> None:
    """Record a failed login. No user is attached (the email may not exist) and no password, ever."""
    audit_record(
        action="auth.login_failed", object_type="crm.user",
        after={"email": email.strip().lower()[:254], "locked_out": locked_out},
    )


@transaction.atomic
def auth_logout_record(*, user: User) -> None:
    audit_record(action="auth.logout", obj=user, actor=user)


# --- two-factor ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class OtpCheck:
    """The outcome of a code check: which kind of code, whether it matched, and, when the code
    was refused unchecked because the device is backing off, until when."""

    ok: bool
    method: str  # "totp" or "backup"
    device: Any = None
    locked_until: datetime | None = None


def otp_token_normalise(token: str) -> str:
    return re.sub(r"[\s-]", "", token or "").lower()


def otp_device_for(user: User) -> TOTPDevice | None:
    """The user's confirmed TOTP device, if they have turned two-factor on."""
    return TOTPDevice.objects.devices_for_user(user, confirmed=True).order_by("id").first()


def otp_enabled(user: User) -> bool:
    return bool(TOTPDevice.objects.devices_for_user(user, confirmed=True).exists())


def otp_verified(user: User) -> bool:
    """Whether the request's user gave their second factor in this session: django_otp's
    OTPMiddleware sets `otp_device` on request.user (None until then; its `is_verified()` says the same)."""
    return getattr(user, "otp_device", None) is not None


def otp_user_ids(users: Iterable[User]) -> set[int]:
    """Which of `users` have two-factor turned on (one query, for lists)."""
    return set(TOTPDevice.objects.filter(user__in=[u.pk for u in users], confirmed=True)
               .values_list("user_id", flat=True))


def otp_backup_codes_left(user: User) -> int:
    return int(StaticToken.objects.filter(device__user=user, device__confirmed=True).count())


def _throttled_until(device: Any) -> datetime | None:
    allowed, info = device.verify_is_allowed()
    if allowed:
        return None
    return (info or {}).get("locked_until")


def _verify_committed(device: Any, token: str) -> bool:
    """Check `token` on `device` in a transaction of its own, so that a failure counted by the
    device's throttling is committed whatever the caller does next."""
    with transaction.atomic():
        locked = type(device).objects.select_for_update().get(pk=device.pk)
        ok = bool(locked.verify_token(token))
    device.refresh_from_db()
    return ok


def otp_check(*, user: User, token: str) -> OtpCheck:
    """Check a six-digit TOTP code or a backup code for `user` and audit the attempt.

    A backup code is consumed when it matches. Wrong codes count towards the device's
    throttling (exponential back-off); while throttled, every code is refused.
    """
    token = otp_token_normalise(token)
    if re.fullmatch(r"\d{6}", token):
        method = "totp"
        device: Any = otp_device_for(user)
    else:
        method = "backup"
        device = StaticDevice.objects.devices_for_user(user, confirmed=True).order_by("id").first()
    if device is None or not otp_enabled(user):
        result = OtpCheck(ok=False, method=method)
    else:
        locked_until = _throttled_until(device)
        if locked_until is not None:
            result = OtpCheck(ok=False, method=method, device=device, locked_until=locked_until)
        else:
            result = OtpCheck(ok=_verify_committed(device, token), method=method, device=device)
    with transaction.atomic():
        audit_record(
            action="auth.2fa_verified" if result.ok else "auth.2fa_failed", obj=user, actor=user,
            after={"method": method, "throttled": result.locked_until is not None and not result.ok},
        )
    return result


@transaction.atomic
def otp_device_start(*, user: User) -> TOTPDevice:
    """The unconfirmed TOTP device the user is setting up (made on first call, reused after).

    Refuses when a confirmed device exists: replacing it must go through disable or an
    administrator's reset, never through setup (that would bypass the second factor).
    """
    if otp_enabled(user):
        raise Conflict(_("Two-factor authentication is already on."))
    device = TOTPDevice.objects.devices_for_user(user, confirmed=False).order_by("-id").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)
    return device


def _backup_codes_replace(user: User) -> list[str]:
    # The device is kept (only its tokens change): a session verified with a backup code
    # stays verified when the codes are renewed.
    static = StaticDevice.objects.filter(user=user).order_by("id").first()
    if static is None:
        static = StaticDevice.objects.create(user=user, name="backup", confirmed=True)
    StaticDevice.objects.filter(user=user).exclude(pk=static.pk).delete()
    static.token_set.all().delete()
    codes: list[str] = []
    while len(codes) < BACKUP_CODE_COUNT:
        code = StaticToken.random_token()
        if code not in codes:
            codes.append(code)
    StaticToken.objects.bulk_create([StaticToken(device=static, token=c) for c in codes])
    return codes


def otp_setup_confirm(*, user: User, device: TOTPDevice, token: str) -> list[str]:
    """Confirm the device being set up with a code from the app; returns fresh backup codes
    (shown once). Emits "staff.2fa_enabled". A wrong code raises ValidationFailed and counts
    towards the device's throttling."""
    if device.user_id != user.pk or device.confirmed:
        raise Conflict(_("This setup is no longer valid; start again."))
    locked_until = _throttled_until(device)
    if locked_until is not None:
        raise ValidationFailed(_("Too many wrong codes."), fields={"token": [
            _("Too many wrong codes. Try again in a few seconds."),
        ]})
    token = otp_token_normalise(token)
    if not re.fullmatch(r"\d{6}", token) or not _verify_committed(device, token):
        with transaction.atomic():
            audit_record(action="auth.2fa_setup_failed", obj=user, actor=user)
        raise ValidationFailed(_("Wrong code."), fields={"token": [
            _("That code is not right. Check the time on your phone and enter the current code."),
        ]})
    with transaction.atomic():
        TOTPDevice.objects.filter(pk=device.pk).update(confirmed=True)
        TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
        codes = _backup_codes_replace(user)
        audit_record(action="auth.2fa_enabled", obj=user, actor=user)
        emit("staff.2fa_enabled", actor=user, data={"user": str(user.code)})
    device.refresh_from_db()
    return codes


@transaction.atomic
def otp_backup_codes_regenerate(*, user: User) -> list[str]:
    """Replace the user's backup codes with a fresh set (the old ones stop working)."""
    if not otp_enabled(user):
        raise Conflict(_("Two-factor authentication is off."))
    codes = _backup_codes_replace(user)
    audit_record(action="auth.2fa_backup_codes_regenerated", obj=user, actor=user)
    return codes


def _otp_devices_delete(user: User) -> int:
    removed: int = TOTPDevice.objects.filter(user=user).delete()[0]
    removed += StaticDevice.objects.filter(user=user).delete()[0]
    return removed


def otp_disable(*, user: User, token: str) -> None:
    """A user turns two-factor off with a current code. Not allowed for privileged roles.
    Emits "staff.2fa_disabled"."""
    if user.requires_2fa:
        raise NotAllowed(_("Your role requires two-factor authentication; it cannot be turned off."))
    result = otp_check(user=user, token=token)
    if not result.ok:
        message = (_("Too many wrong codes. Try again in a few seconds.") if result.locked_until
                   else _("That code is not right."))
        raise ValidationFailed(message, fields={"token": [message]})
    with transaction.atomic():
        _otp_devices_delete(user)
        audit_record(action="auth.2fa_disabled", obj=user, actor=user)
        emit("staff.2fa_disabled", actor=user, data={"user": str(user.code)})


@transaction.atomic
def otp_reset(*, actor: User, user: User, reason: str = "") -> int:
    """An administrator removes another user's two-factor devices (lost phone). The user's open sessions lose
    their verification; a privileged user must set up a new device at once. Emits "staff.2fa_reset"."""
    _require_admin(actor)
    if user.pk == actor.pk:
        raise NotAllowed(_("Ask another administrator to reset your own two-factor authentication."))
    removed = _otp_devices_delete(user)
    audit_record(action="staff.2fa_reset", obj=user, after={"devices_removed": removed}, reason=reason)
    emit("staff.2fa_reset", actor=actor, data={"user": str(user.code)})
    return removed
