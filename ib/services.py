"""Every write of the partner programme: joining (application, invitation, automatic approval),
the partner login, the hierarchy (moves, dated and audited), tracking links and clicks, and client
attribution (rules, conflicts, re-attribution).

Services are keyword-only, atomic, audited and emit their events (ib/event_types.py). Staff
actions need "ib.manage_partners" and a brand the actor works for; `actor=None` is the system.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.contrib.auth.password_validation import validate_password
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext

from crm.audit import audit_record
from crm.events import emit
from crm.lib.fieldcrypt import keyed_hashes
from crm.lib.money import currency_normalise
from crm.lib.ratelimit import rate_hit, rate_key, rate_spent
from crm.lib.validation import InvalidValue, name_problem
from crm.models import Brand, Client, User
from crm.models.locks import client_lock
from crm.permissions import user_can
from ib.exceptions import (
    Conflict,
    HierarchyCycle,
    InvitationUnusable,
    NotAllowed,
    NotFound,
    PartnerLoginRefused,
    PartnerLoginThrottled,
    PartnerNotActive,
    ValidationFailed,
)
from ib.models import (
    ATTRIBUTION_CONFLICT_STATES,
    INVITATION_STATES,
    PARTNER_STATES,
    AttributionConflict,
    AttributionModel,
    AttributionPolicy,
    AttributionSource,
    Click,
    ClientAttribution,
    ConflictStatus,
    InvitationStatus,
    JoinedVia,
    LinkKind,
    Partner,
    PartnerInvitation,
    PartnerKind,
    PartnerLogin,
    PartnerParentChange,
    PartnerProgram,
    PartnerStatus,
    PayoutSchedule,
    Precedence,
    TrackingLink,
)
from plumbing.sqlfiles import sql_text

MANAGE = "ib.manage_partners"
INVITATION_SALT = "ib.invitation"
CODE_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"  # no 0/o, 1/l/i: read aloud and typed without doubt
CODE_LENGTH = 8
CODE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{2,15}$")
BOT_RE = re.compile(r"bot|crawl|spider|slurp|preview|fetch|curl|wget|python-|headless|scan|monitor|http-client",
                    re.IGNORECASE)
DEFAULT_CLICK_RATE = "60/m"


# --- helpers ----------------------------------------------------------------------------------------

def partner_ref(partner: Partner | None) -> dict[str, str] | None:
    return None if partner is None else {"code": str(partner.code), "name": partner.display_name}


def _snapshot(partner: Partner) -> dict[str, Any]:
    return {"status": partner.status, "kind": partner.kind, "parent": partner.parent_id, "path": list(partner.path),
            "display_name": partner.display_name}


def _require(actor: User | None, brand_id: int) -> None:
    """Staff need the permission and to work for the brand; the system (None) may always act."""
    if actor is None:
        return
    if not user_can(actor, MANAGE):
        raise NotAllowed()
    if not (actor.is_administrator or actor.all_brands or actor.brands.filter(pk=brand_id).exists()):
        raise NotFound()


def program_for(brand: Brand | int) -> PartnerProgram:
    """The brand's programme settings (the defaults, unsaved, when none were saved)."""
    brand_id = brand if isinstance(brand, int) else brand.pk
    return PartnerProgram.objects.filter(brand_id=brand_id).first() or PartnerProgram(brand_id=brand_id)


def policy_for(brand: Brand | int) -> AttributionPolicy:
    brand_id = brand if isinstance(brand, int) else brand.pk
    return AttributionPolicy.objects.filter(brand_id=brand_id).first() or AttributionPolicy(brand_id=brand_id)


@transaction.atomic
def partner_program_set(*, actor: User | None, brand: Brand, auto_approve: bool | None = None,
                        landing_domains: Sequence[str] | None = None, append_utm: bool | None = None,
                        invitation_days: int | None = None) -> PartnerProgram:
    _require(actor, brand.pk)
    program, _created = PartnerProgram.objects.select_for_update().get_or_create(brand=brand)
    before = {"auto_approve": program.auto_approve, "landing_domains": list(program.landing_domains),
              "append_utm": program.append_utm, "invitation_days": program.invitation_days}
    if auto_approve is not None:
        program.auto_approve = auto_approve
    if landing_domains is not None:
        domains = [d.strip().lower().rstrip(".") for d in landing_domains if d.strip()]
        bad = [d for d in domains if not re.fullmatch(r"[a-z0-9.-]+\.[a-z]{2,}", d)]
        if bad:
            raise ValidationFailed(fields={"landing_domains": gettext("Not a domain name: %(value)s")
                                           % {"value": ", ".join(bad)}})
        program.landing_domains = domains
    if append_utm is not None:
        program.append_utm = append_utm
    if invitation_days is not None:
        if not 1 <= invitation_days <= 90:
            raise ValidationFailed(fields={"invitation_days": gettext("Between 1 and 90 days.")})
        program.invitation_days = invitation_days
    program.save()
    audit_record(action="ib.program_set", obj=brand, actor=actor, before=before,
                 after={"auto_approve": program.auto_approve, "landing_domains": program.landing_domains,
                        "append_utm": program.append_utm, "invitation_days": program.invitation_days})
    return program


@transaction.atomic
def attribution_policy_set(*, actor: User | None, brand: Brand, model: str, window_days: int,
                           precedence: str) -> AttributionPolicy:
    _require(actor, brand.pk)
    errors: dict[str, str] = {}
    if model not in AttributionModel.values:
        errors["model"] = gettext("Choose first touch or last touch.")
    if not 1 <= window_days <= 365:
        errors["window_days"] = gettext("Between 1 and 365 days.")
    if precedence not in Precedence.values:
        errors["precedence"] = gettext("Choose which wins: the link or the code.")
    if errors:
        raise ValidationFailed(fields=errors)
    policy, _created = AttributionPolicy.objects.select_for_update().get_or_create(brand=brand)
    before = {"model": policy.model, "window_days": policy.window_days, "precedence": policy.precedence}
    policy.model, policy.window_days, policy.precedence = model, window_days, precedence
    policy.save()
    audit_record(action="ib.attribution_policy_set", obj=brand, actor=actor, before=before,
                 after={"model": model, "window_days": window_days, "precedence": precedence})
    return policy


# --- partner logins ---------------------------------------------------------------------------------

def _clean_email(email: str, field: str = "email") -> str:
    email = (email or "").strip()
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationFailed(fields={field: gettext("Enter a valid email address.")}) from None
    return email


def _check_password(password: str, field: str = "password") -> None:
    try:
        validate_password(password)
    except ValidationError as error:
        raise ValidationFailed(fields={field: list(error.messages)}) from None


def _login_taken(brand_id: int, email: str, *, exclude_partner: int | None = None) -> bool:
    qs = PartnerLogin.objects.filter(brand_id=brand_id, email_hash__in=keyed_hashes(email, kind="email"))
    if exclude_partner is not None:
        qs = qs.exclude(partner_id=exclude_partner)
    return qs.exists()


@transaction.atomic
def partner_login_set_password(*, partner: Partner, password: str, actor: User | None = None,
                               email: str | None = None) -> PartnerLogin:
    """Set (or create with) the partner's portal password, checked by the password validators.
    The login's address is the partner's contact email unless `email` is given."""
    _check_password(password)
    address = _clean_email(email or partner.contact_email)
    if _login_taken(partner.brand_id, address, exclude_partner=partner.pk):
        raise ValidationFailed(fields={"email": gettext("A partner with this email address already exists.")})
    now = timezone.now()
    login = PartnerLogin.objects.select_for_update().filter(partner=partner).first()
    if login is None:
        login = PartnerLogin(partner=partner, brand_id=partner.brand_id, email=address)
    login.email = address
    login.password = make_password(password)
    login.password_changed_at = now
    login.save()
    audit_record(action="ib.partner_password_set", obj=partner, actor=actor, after={"email": address})
    return login


def partner_authenticate(*, brand: Brand, email: str, password: str) -> PartnerLogin | None:
    """The partner login for `email` and `password` in `brand`, if the password is right and the
    partner may sign in (active login, partner active); else None. An unknown address costs the same
    hashing time as a wrong password, so the answer's timing does not tell which."""
    login = (PartnerLogin.objects.select_related("partner")
             .filter(brand=brand, email_hash__in=keyed_hashes(email, kind="email")).first())
    if login is None:
        make_password(password)  # the same work as a check: no timing difference
        return None
    if not check_password(password, login.password):
        return None
    if not login.is_active or login.partner.status != PartnerStatus.ACTIVE:
        return None
    PartnerLogin.objects.filter(pk=login.pk).update(last_login_at=timezone.now())
    return login


def _not_active_message(login: PartnerLogin) -> str:
    status = login.partner.status
    if not login.is_active:
        return gettext("Your partner login is switched off. Please contact your partner manager.")
    if status == PartnerStatus.APPLIED:
        return gettext("Your partner application is still being reviewed. We will email you when it is approved.")
    if status == PartnerStatus.SUSPENDED:
        return gettext("Your partner account is suspended. Please contact your partner manager.")
    return gettext("Your partner account is not active. Please contact your partner manager.")


def partner_login_check(*, brand: Brand, email: str, password: str, ip: str | None) -> PartnerLogin:
    """Sign-in to the partner portal: the login of `email` in `brand` when `password` is right and
    the partner is active. Raises PartnerLoginThrottled (PARTNER_LOGIN_RATE_LIMIT attempts per IP;
    after PARTNER_LOGIN_FAILURE_LIMIT wrong passwords for one address, that address is refused
    until the window ends), PartnerLoginRefused (the same answer for an unknown address and a
    wrong password) or PartnerNotActive (right password, partner not approved or suspended)."""
    address = (email or "").strip().lower()
    failures = rate_key("ib:partner-login-failures", f"{brand.pk}:{address}")
    if (rate_hit(rate_key("ib:partner-login", ip or "unknown"), settings.PARTNER_LOGIN_RATE_LIMIT)
            or rate_spent(failures, settings.PARTNER_LOGIN_FAILURE_LIMIT)):
        raise PartnerLoginThrottled()
    login = (PartnerLogin.objects.select_related("partner", "partner__brand", "brand")
             .filter(brand=brand, email_hash__in=keyed_hashes(address, kind="email")).first())
    if login is None:
        make_password(password)  # the same work as a check: no timing difference
        rate_hit(failures, settings.PARTNER_LOGIN_FAILURE_LIMIT)
        raise PartnerLoginRefused()
    if not check_password(password, login.password):
        rate_hit(failures, settings.PARTNER_LOGIN_FAILURE_LIMIT)
        raise PartnerLoginRefused()
    if not login.is_active or login.partner.status != PartnerStatus.ACTIVE:
        raise PartnerNotActive(_not_active_message(login))
    now = timezone.now()
    PartnerLogin.objects.filter(pk=login.pk).update(last_login_at=now)
    login.last_login_at = now
    audit_record(action="ib.partner_login", obj=login.partner, actor=None, after={"email": login.email})
    return login


# --- joining ----------------------------------------------------------------------------------------

def _partner_event(name: str, partner: Partner, *, actor: User | None, reason: str | None = None) -> None:
    parent = Partner.objects.filter(pk=partner.parent_id).first() if partner.parent_id else None
    data: dict[str, Any] = {"partner": partner_ref(partner), "kind": partner.kind, "status": partner.status,
                            "parent": partner_ref(parent), "via": partner.joined_via}
    if reason is not None:
        data["reason"] = reason
    emit(name, brand=partner.brand_id, actor=actor, data=data)


def _partner_create(*, brand: Brand, kind: str, display_name: str, email: str, country: str,
                    payout_currency: str, schedule: str, parent: Partner | None, status: str,
                    joined_via: str) -> Partner:
    errors: dict[str, str] = {}
    if kind not in PartnerKind.values:
        errors["kind"] = gettext("Choose introducing broker or affiliate.")
    display_name = (display_name or "").strip()
    if not display_name:
        errors["display_name"] = gettext("Enter the partner's name.")
    elif problem := name_problem(display_name):
        errors["display_name"] = problem
    elif len(display_name) > 120:
        errors["display_name"] = gettext("At most 120 characters.")
    country = (country or "").strip().upper()
    if country and not re.fullmatch(r"[A-Z]{2}", country):
        errors["country"] = gettext("Use the two-letter country code (ISO 3166-1).")
    try:  # the one reader of currency codes: ISO 4217 in capitals, or a configured one
        payout_currency = currency_normalise(payout_currency or brand.default_currency, field="payout_currency")
    except InvalidValue as error:
        errors["payout_currency"] = error.message
    if schedule not in PayoutSchedule.values:
        errors["schedule"] = gettext("Choose daily, weekly or monthly.")
    if parent is not None and parent.brand_id != brand.pk:
        errors["parent"] = gettext("The parent partner belongs to another brand.")
    if errors:
        raise ValidationFailed(fields=errors)
    now = timezone.now()
    partner = Partner.objects.create(
        brand=brand, kind=kind, status=status, display_name=display_name, contact_email=email, country=country,
        payout_currency=payout_currency, schedule=schedule, parent=parent, joined_via=joined_via, created_at=now,
        status_changed_at=now, approved_at=now if status == PartnerStatus.ACTIVE else None,
    )
    partner.path = [*(parent.path if parent is not None else []), partner.pk]
    Partner.objects.filter(pk=partner.pk).update(path=partner.path)
    return partner


@transaction.atomic
def partner_apply(*, brand: Brand, display_name: str, email: str, password: str,
                  kind: str = PartnerKind.IB, country: str = "", payout_currency: str = "",
                  schedule: str = PayoutSchedule.MONTHLY, parent: Partner | None = None) -> Partner:
    """An application to join: status "applied" for the IB manager, or "active" at once when the
    brand approves applications automatically. The applicant's login is created with it."""
    email = _clean_email(email)
    _check_password(password)
    if _login_taken(brand.pk, email):
        raise ValidationFailed(fields={"email": gettext("A partner with this email address already exists.")})
    auto = program_for(brand).auto_approve
    partner = _partner_create(brand=brand, kind=kind, display_name=display_name, email=email, country=country,
                              payout_currency=payout_currency, schedule=schedule, parent=parent,
                              status=PartnerStatus.ACTIVE if auto else PartnerStatus.APPLIED,
                              joined_via=JoinedVia.APPLICATION)
    partner_login_set_password(partner=partner, password=password)
    audit_record(action="ib.partner_applied", obj=partner, actor=None, after=_snapshot(partner))
    _partner_event("ib.partner_applied", partner, actor=None)
    if auto:
        audit_record(action="ib.partner_approved", obj=partner, actor=None, after=_snapshot(partner),
                     reason="automatic approval")
        _partner_event("ib.partner_approved", partner, actor=None)
    return partner


def _locked(partner: Partner) -> Partner:
    return Partner.objects.select_for_update().get(pk=partner.pk)


@transaction.atomic
def partner_create(*, actor: User | None, brand: Brand, display_name: str, email: str,
                   kind: str = PartnerKind.IB, country: str = "", payout_currency: str = "",
                   schedule: str = PayoutSchedule.MONTHLY, parent: Partner | None = None) -> Partner:
    """A partner added by staff, active at once (its login is set later, or by an invitation)."""
    _require(actor, brand.pk)
    email = _clean_email(email)
    partner = _partner_create(brand=brand, kind=kind, display_name=display_name, email=email, country=country,
                              payout_currency=payout_currency, schedule=schedule, parent=parent,
                              status=PartnerStatus.ACTIVE, joined_via=JoinedVia.STAFF)
    audit_record(action="ib.partner_created", obj=partner, actor=actor, after=_snapshot(partner))
    _partner_event("ib.partner_approved", partner, actor=actor)
    return partner


@transaction.atomic
def partner_approve(*, actor: User | None, partner: Partner, reason: str = "") -> Partner:
    _require(actor, partner.brand_id)
    partner = _locked(partner)
    before = _snapshot(partner)
    now = timezone.now()
    PARTNER_STATES.move(partner, PartnerStatus.ACTIVE, also={"approved_at": now, "status_changed_at": now}, save=())
    audit_record(action="ib.partner_approved", obj=partner, actor=actor, before=before, after=_snapshot(partner),
                 reason=reason)
    _partner_event("ib.partner_approved", partner, actor=actor)
    return partner


@transaction.atomic
def partner_reject(*, actor: User | None, partner: Partner, reason: str) -> Partner:
    _require(actor, partner.brand_id)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(fields={"reason": gettext("Say why the application is rejected.")})
    partner = _locked(partner)
    before = _snapshot(partner)
    PARTNER_STATES.move(partner, PartnerStatus.REJECTED, also={"status_changed_at": timezone.now()}, save=())
    audit_record(action="ib.partner_rejected", obj=partner, actor=actor, before=before, after=_snapshot(partner),
                 reason=reason)
    _partner_event("ib.partner_rejected", partner, actor=actor, reason=reason)
    return partner


# --- invitations ------------------------------------------------------------------------------------

@transaction.atomic
def partner_invite(*, brand: Brand, email: str, actor: User | None = None, parent: Partner | None = None,
                   inviting_partner: Partner | None = None, kind: str = PartnerKind.IB) -> str:
    """Invite `email` to join `brand` (under `parent`); returns the signed token of the link.

    Staff invite anywhere in their brand; a partner (`inviting_partner`) invites sub-partners of
    its own, so the parent is the inviting partner itself."""
    if inviting_partner is not None:
        if inviting_partner.status != PartnerStatus.ACTIVE:
            raise NotAllowed(gettext("Only an active partner can invite sub-partners."))
        parent = inviting_partner
        brand = inviting_partner.brand
    else:
        _require(actor, brand.pk)
    email = _clean_email(email)
    if kind not in PartnerKind.values:
        raise ValidationFailed(fields={"kind": gettext("Choose introducing broker or affiliate.")})
    if parent is not None and parent.brand_id != brand.pk:
        raise ValidationFailed(fields={"parent": gettext("The parent partner belongs to another brand.")})
    if _login_taken(brand.pk, email):
        raise ValidationFailed(fields={"email": gettext("A partner with this email address already exists.")})
    days = program_for(brand).invitation_days
    now = timezone.now()
    invitation = PartnerInvitation.objects.create(
        brand=brand, email=email, kind=kind, parent=parent, invited_by=actor, invited_by_partner=inviting_partner,
        created_at=now, expires_at=now + dt.timedelta(days=days))
    audit_record(action="ib.partner_invited", obj=invitation, actor=actor,
                 after={"email": email, "parent": parent.pk if parent else None, "kind": kind})
    return signing.dumps({"i": str(invitation.code)}, salt=INVITATION_SALT)


def invitation_for_token(token: str) -> PartnerInvitation:
    """The usable invitation a token names; InvitationUnusable (saying why) otherwise."""
    try:
        data = signing.loads(token, salt=INVITATION_SALT, max_age=dt.timedelta(days=90))
    except signing.SignatureExpired:
        raise InvitationUnusable(gettext("This invitation has expired; ask for a new one.")) from None
    except signing.BadSignature:
        raise InvitationUnusable(gettext("This invitation link is not valid.")) from None
    invitation = PartnerInvitation.objects.select_related("brand", "parent").filter(
        code=str(data.get("i", "")) if isinstance(data, dict) else "").first()
    if invitation is None:
        raise InvitationUnusable(gettext("This invitation link is not valid."))
    if invitation.status == InvitationStatus.ACCEPTED:
        raise InvitationUnusable(gettext("This invitation has already been used."))
    if invitation.status == InvitationStatus.REVOKED:
        raise InvitationUnusable(gettext("This invitation was withdrawn."))
    if invitation.expires_at <= timezone.now():
        raise InvitationUnusable(gettext("This invitation has expired; ask for a new one."))
    return invitation


@transaction.atomic
def partner_accept_invitation(*, token: str, display_name: str, password: str, country: str = "",
                              payout_currency: str = "", schedule: str = PayoutSchedule.MONTHLY) -> Partner:
    """Join through an invitation: an active partner under the invitation's parent, with a login."""
    invitation = invitation_for_token(token)
    invitation = (PartnerInvitation.objects.select_for_update(of=("self",)).select_related("brand", "parent")
                  .get(pk=invitation.pk))
    INVITATION_STATES.check(invitation, InvitationStatus.ACCEPTED)  # accepted by a concurrent request first
    _check_password(password)
    if _login_taken(invitation.brand_id, invitation.email):
        raise ValidationFailed(fields={"email": gettext("A partner with this email address already exists.")})
    partner = _partner_create(brand=invitation.brand, kind=invitation.kind, display_name=display_name,
                              email=invitation.email, country=country, payout_currency=payout_currency,
                              schedule=schedule, parent=invitation.parent, status=PartnerStatus.ACTIVE,
                              joined_via=JoinedVia.INVITATION)
    partner_login_set_password(partner=partner, password=password)
    INVITATION_STATES.move(invitation, InvitationStatus.ACCEPTED, save=(),
                           also={"accepted_at": timezone.now(), "partner": partner})
    audit_record(action="ib.invitation_accepted", obj=partner, actor=None, after=_snapshot(partner))
    _partner_event("ib.partner_approved", partner, actor=None)
    return partner


# --- the hierarchy ----------------------------------------------------------------------------------

def _lock_tree(brand_id: int) -> None:
    """Serialise changes to one brand's tree: two moves at once could each miss the other's paths."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext('ib.partner_tree'), %s)", [brand_id])


@transaction.atomic
def partner_move(*, actor: User | None, partner: Partner, new_parent: Partner | None, reason: str,
                 effective_at: dt.datetime | None = None) -> PartnerParentChange:
    """Move `partner` (with its whole subtree) under `new_parent` (None: to the top), from
    `effective_at` (default now). The subtree is re-pathed in one UPDATE; the change is a dated
    row, audited; nothing already computed for the past is touched. A move under the partner
    itself or one of its descendants is refused."""
    _require(actor, partner.brand_id)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(fields={"reason": gettext("Say why the partner moves.")})
    _lock_tree(partner.brand_id)
    partner = Partner.objects.select_for_update().get(pk=partner.pk)
    if new_parent is not None:
        new_parent = Partner.objects.select_for_update().get(pk=new_parent.pk)
        if new_parent.brand_id != partner.brand_id:
            raise ValidationFailed(fields={"parent": gettext("The new parent belongs to another brand.")})
        if partner.pk in new_parent.path:
            raise HierarchyCycle(
                gettext("%(partner)s cannot move under %(parent)s: %(parent)s is %(partner)s itself or one of "
                        "its own sub-partners.") % {"partner": partner.display_name, "parent": new_parent.display_name},
                fields={"parent": gettext("Choose a partner outside this partner's own subtree.")})
    if (new_parent.pk if new_parent else None) == partner.parent_id:
        raise ValidationFailed(fields={"parent": gettext("The partner is already there.")})
    now = timezone.now()
    effective_at = effective_at or now
    last = PartnerParentChange.objects.filter(partner=partner).order_by("-effective_at").first()
    if last is not None and effective_at < last.effective_at:
        raise ValidationFailed(fields={"effective_at": gettext(
            "The partner's last move took effect on %(date)s; a new one cannot start before it.")
            % {"date": last.effective_at.isoformat()}})
    old_parent = Partner.objects.filter(pk=partner.parent_id).first() if partner.parent_id else None
    before = _snapshot(partner)
    prefix = list(new_parent.path) if new_parent is not None else []
    with connection.cursor() as cursor:
        cursor.execute(sql_text("ib", "partner_move"), {"prefix": prefix, "depth": len(partner.path),
                                                        "partner": partner.pk,
                                                        "parent": new_parent.pk if new_parent else None})
        moved = cursor.rowcount
    change = PartnerParentChange.objects.create(partner=partner, old_parent=old_parent, new_parent=new_parent,
                                                effective_at=effective_at, actor=actor, reason=reason, created_at=now)
    partner.refresh_from_db()
    audit_record(action="ib.partner_moved", obj=partner, actor=actor, before=before, after=_snapshot(partner),
                 reason=reason)
    emit("ib.partner_moved", brand=partner.brand_id, actor=actor, data={
        "partner": partner_ref(partner), "old_parent": partner_ref(old_parent), "new_parent": partner_ref(new_parent),
        "effective_at": effective_at.isoformat(), "moved": moved, "reason": reason})
    return change


# --- tracking links and clicks ----------------------------------------------------------------------

def _new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def landing_url_clean(url: str, *, brand: Brand | int) -> str:
    """`url` if a link may lead there: a path on this site ("/register/") or an http(s) address on
    one of the brand's allowed domains (or a subdomain of one). ValidationFailed naming the field."""
    url = (url or "").strip()
    field = "landing_url"
    if not url:
        raise ValidationFailed(fields={field: gettext("Enter the page the link leads to.")})
    if len(url) > 500:
        raise ValidationFailed(fields={field: gettext("At most 500 characters.")})
    parts = urlsplit(url)
    if not parts.scheme and not parts.netloc:
        if url.startswith("/") and not url.startswith("//") and "\\" not in url:
            return url
        raise ValidationFailed(fields={field: gettext("Use a full https:// address or a path starting with /.")})
    host = (parts.hostname or "").lower().rstrip(".")
    if parts.scheme not in ("http", "https") or not host or parts.username or parts.password:
        raise ValidationFailed(fields={field: gettext("Use a full https:// address or a path starting with /.")})
    domains = program_for(brand).landing_domains
    if not any(host == d or host.endswith("." + d) for d in domains):
        raise ValidationFailed(fields={field: gettext(
            "%(host)s is not one of the brand's allowed landing domains.") % {"host": host}})
    return url


@transaction.atomic
def tracking_link_create(*, partner: Partner, actor: User | None = None, kind: str = LinkKind.LINK,
                         campaign: str = "", landing_url: str = "", code: str = "",
                         by_partner: bool = False) -> TrackingLink:
    """A tracking link (with a landing URL) or a referral code for `partner`. Staff need the
    permission; a partner making its own (`by_partner`, from the partner portal) needs to be active."""
    if by_partner:
        if partner.status != PartnerStatus.ACTIVE:
            raise NotAllowed()
    else:
        _require(actor, partner.brand_id)
    errors: dict[str, str] = {}
    if kind not in LinkKind.values:
        errors["kind"] = gettext("Choose a tracking link or a referral code.")
    campaign = (campaign or "").strip()
    if len(campaign) > 100:
        errors["campaign"] = gettext("At most 100 characters.")
    code = (code or "").strip().lower()
    if code and not CODE_RE.match(code):
        errors["code"] = gettext("3 to 16 letters, digits, - or _, starting with a letter or digit.")
    if errors:
        raise ValidationFailed(fields=errors)
    if kind == LinkKind.LINK or landing_url:
        landing_url = landing_url_clean(landing_url, brand=partner.brand_id)
    for _attempt in range(5):
        try:
            with transaction.atomic():
                link = TrackingLink.objects.create(partner=partner, kind=kind, code=code or _new_code(),
                                                   campaign=campaign, landing_url=landing_url)
            break
        except IntegrityError:
            if code:
                raise ValidationFailed(fields={"code": gettext("This code is taken.")}) from None
    else:  # pragma: no cover - five collisions in a space of 31**8
        raise Conflict()
    audit_record(action="ib.link_created", obj=partner, actor=actor,
                 after={"code": link.code, "kind": kind, "campaign": campaign, "landing_url": landing_url})
    return link


@dataclass(frozen=True)
class ClickResult:
    target: str  # where to send the visitor
    click: str | None  # the click id, None when the click was not logged (over the rate)


def _ip_hash(ip: str) -> str:
    return salted_hmac("ib.click.ip", ip or "-", algorithm="sha256").hexdigest()[:32]


def is_bot(user_agent: str) -> bool:
    return not user_agent.strip() or BOT_RE.search(user_agent) is not None


def _with_params(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in ("ref", "click")]
    present = {k for k, _v in query}
    query += [(k, v) for k, v in params.items() if v and (k in ("ref", "click") or k not in present)]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


_CLICK_SQL = """
WITH l AS (
    SELECT l.id, l.code, l.landing_url, l.campaign, p.kind, COALESCE(pp.append_utm, true) AS append_utm
    FROM {links} l JOIN {partners} p ON p.id = l.partner_id
    LEFT JOIN {programs} pp ON pp.brand_id = p.brand_id
    WHERE l.code = %(code)s AND l.kind = 'link' AND l.is_active AND p.status = 'active'
), ins AS (
    INSERT INTO {clicks} (code, link_id, at, ip_hash, user_agent, referer, country, is_bot)
    SELECT %(click)s, l.id, now(), %(ip_hash)s, %(ua)s, %(referer)s, %(country)s, %(bot)s FROM l WHERE %(log)s
    RETURNING id
)
SELECT l.code, l.landing_url, l.campaign, l.kind, l.append_utm, (SELECT count(*) FROM ins) FROM l
"""


def click_log(*, code: str, ip: str, user_agent: str = "", referer: str = "", country: str = "") -> ClickResult:
    """Log a visit of the tracking link `code` (one statement: the link's lookup and the click's
    INSERT) and return where to send the visitor, with ref, click and utm_* appended. Each IP has a
    budget (settings.IB_CLICK_RATE): over it, the visitor is still sent on, the click not logged.
    NotFound for an unknown or inactive code (or a partner that is not active)."""
    code = (code or "").strip().lower()
    if not CODE_RE.match(code):
        raise NotFound()
    over = rate_hit(rate_key("ib_click", ip or "-"), getattr(settings, "IB_CLICK_RATE", DEFAULT_CLICK_RATE)) > 0
    click_code = Click._meta.get_field("code").default()
    country = country.strip().upper()
    sql = _CLICK_SQL.format(links=TrackingLink._meta.db_table, partners=Partner._meta.db_table,
                            programs=PartnerProgram._meta.db_table, clicks=Click._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(sql, {"code": code, "click": click_code, "ip_hash": _ip_hash(ip), "ua": user_agent[:400],
                             "referer": referer[:500], "country": country if re.fullmatch(r"[A-Z]{2}", country) else "",
                             "bot": is_bot(user_agent), "log": not over})
        row = cursor.fetchone()
    if row is None:
        raise NotFound()
    link_code, landing, campaign, kind, append_utm, logged = row
    params = {"ref": link_code, "click": str(click_code) if logged else ""}
    if append_utm:
        params |= {"utm_source": "partner", "utm_medium": kind, "utm_campaign": campaign}
    return ClickResult(target=_with_params(landing, params), click=str(click_code) if logged else None)


# --- attribution ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Touch:
    """One claim on a client: a partner's link clicked or code used (or an import, a manual set)."""

    partner_id: int
    source: str  # AttributionSource
    at: dt.datetime
    link_id: int | None = None
    click_id: int | None = None

    def as_claim(self) -> dict[str, Any]:
        return {"partner": self.partner_id, "source": self.source, "at": self.at.isoformat(),
                "link": self.link_id, "click": self.click_id}


@dataclass(frozen=True)
class Resolution:
    winner: Touch | None
    claims: tuple[Touch, ...]  # one per partner, the winner first

    @property
    def conflicting(self) -> bool:
        return len(self.claims) > 1


def _touch_order(touch: Touch) -> tuple[dt.datetime, str]:
    return (touch.at, touch.source)


def _pick(touches: Sequence[Touch], policy: AttributionPolicy) -> Touch | None:
    """The policy's touch among `touches`: the preferred kind first (link or code), then the first or
    the last of that kind in time; imports and manual claims only when neither kind is there."""
    if not touches:
        return None
    first, second = ((AttributionSource.LINK, AttributionSource.CODE)
                     if policy.precedence == Precedence.LINK_OVER_CODE
                     else (AttributionSource.CODE, AttributionSource.LINK))
    for kind in (first, second, None):
        pool = [t for t in touches if t.source == kind] if kind else list(touches)
        if pool:
            return (min(pool, key=_touch_order) if policy.model == AttributionModel.FIRST_TOUCH
                    else max(pool, key=_touch_order))
    return None


def attribution_resolve(*, client: Client, touches: Iterable[Touch], at: dt.datetime | None = None,
                        policy: AttributionPolicy | None = None) -> Resolution:
    """Apply the brand's rules to `touches` (no writes): only touches within the window before `at`
    (default now) count; the preferred kind wins (link or code), then the first or last in time.
    `claims` holds each claiming partner's best touch by the same rules, the winner first."""
    policy = policy or policy_for(client.brand_id)
    at = at or timezone.now()
    since = at - dt.timedelta(days=policy.window_days)
    # A little slack: a touch stamped a moment after the registration is the same visit.
    counted = [t for t in touches if since <= t.at <= at + dt.timedelta(minutes=5)]
    winner = _pick(counted, policy)
    if winner is None:
        return Resolution(None, ())
    by_partner: dict[int, list[Touch]] = {}
    for touch in counted:
        by_partner.setdefault(touch.partner_id, []).append(touch)
    others = [_pick(ts, policy) for pid, ts in by_partner.items() if pid != winner.partner_id]
    return Resolution(winner, (winner, *sorted((t for t in others if t is not None), key=lambda t: t.at)))


def touches_from_codes(*, client: Client, at: dt.datetime, referrer_code: str = "", click_id: str = "") -> list[Touch]:
    """The touches a registration's `referrer_code` and `click_id` (the redirect's ref and click)
    stand for, in the client's brand: a click is a link touch at the click's time; a code is a
    code touch at `at`. Unknown codes and ids count for nothing."""
    touches: list[Touch] = []
    click_id = (click_id or "").strip()
    if click_id and re.fullmatch(r"[0-9a-fA-F-]{32,36}", click_id):
        click = (Click.objects.select_related("link__partner")
                 .filter(code=click_id, link__partner__brand_id=client.brand_id).first())
        if click is not None and not click.is_bot:
            touches.append(Touch(click.link.partner_id, AttributionSource.LINK, click.at, click.link_id, click.pk))
    code = (referrer_code or "").strip().lower()
    if code and CODE_RE.match(code):
        link = TrackingLink.objects.filter(code=code, partner__brand_id=client.brand_id, is_active=True,
                                           partner__status=PartnerStatus.ACTIVE).first()
        # A code that came with its own link's click is that click, not a second claim.
        if link is not None and not any(t.link_id == link.pk for t in touches):
            touches.append(Touch(link.partner_id, AttributionSource.CODE, at, link.pk))
    return touches


def _attribution_event(attribution: ClientAttribution, previous: Partner | None, *, actor: User | None) -> None:
    emit("ib.client_attributed", client=attribution.client, actor=actor, data={
        "partner": partner_ref(attribution.partner), "previous": partner_ref(previous), "source": attribution.source,
        "effective_from": attribution.effective_from.isoformat(), "reason": attribution.reason})


def _open_attribution(client: Client) -> ClientAttribution | None:
    return (ClientAttribution.objects.select_for_update(of=("self",)).select_related("partner")
            .filter(client=client, effective_to__isnull=True).first())


def _attribute(*, client: Client, partner: Partner, source: str, touched_at: dt.datetime,
               effective_from: dt.datetime, actor: User | None, reason: str, link_id: int | None = None,
               click_id: int | None = None, recorded_at: dt.datetime | None = None) -> ClientAttribution:
    """Close the client's current attribution at `effective_from` and open `partner`'s from then.
    `recorded_at`: when the change became known, if later than `effective_from` (a migration's
    dated re-attribution): a run as of an earlier time sees the old attribution still open."""
    current = _open_attribution(client)
    previous = current.partner if current is not None else None
    if recorded_at is not None and recorded_at < effective_from:
        raise ValidationFailed(fields={"recorded_at": gettext("A change cannot be known before it takes effect.")})
    if current is not None:
        if effective_from <= current.effective_from:
            raise ValidationFailed(fields={"effective_from": gettext(
                "The current attribution began on %(date)s; a new one must start after it (the past is not "
                "rewritten).") % {"date": current.effective_from.isoformat()}})
        current.effective_to, current.ended_recorded_at = effective_from, recorded_at
        current.save(update_fields=["effective_to", "ended_recorded_at"])
    attribution = ClientAttribution.objects.create(
        client=client, partner=partner, source=source, link_id=link_id, click_id=click_id, touched_at=touched_at,
        effective_from=effective_from, actor=actor, reason=reason, recorded_at=recorded_at)
    audit_record(action="ib.client_attributed", obj=client, actor=actor,
                 before={"partner": previous.pk if previous else None},
                 after={"partner": partner.pk, "source": source, "effective_from": effective_from}, reason=reason)
    _attribution_event(attribution, previous, actor=actor)
    return attribution


def _conflict_open(*, client: Client, claims: Sequence[dict[str, Any]], suggested_id: int | None,
                   actor: User | None) -> AttributionConflict:
    conflict = (AttributionConflict.objects.select_for_update()
                .filter(client=client, status=ConflictStatus.OPEN).first())
    if conflict is not None:
        known = {(c.get("partner"), c.get("source"), c.get("at")) for c in conflict.claims}
        conflict.claims = [*conflict.claims,
                           *(c for c in claims if (c.get("partner"), c.get("source"), c.get("at")) not in known)]
        conflict.save(update_fields=["claims"])
        return conflict
    conflict = AttributionConflict.objects.create(brand_id=client.brand_id, client=client, claims=list(claims),
                                                  suggested_id=suggested_id)
    partners = Partner.objects.in_bulk({c["partner"] for c in claims})
    audit_record(action="ib.attribution_conflict", obj=client, actor=actor,
                 after={"claims": list(claims), "suggested": suggested_id})
    emit("ib.attribution_conflict", client=client, actor=actor, data={
        "conflict": str(conflict.code),
        "partners": [partner_ref(p) for p in partners.values()],
        "suggested": partner_ref(partners.get(suggested_id)) if suggested_id else None})
    return conflict


@transaction.atomic
def attribution_apply(*, client: Client, touches: Iterable[Touch], at: dt.datetime | None = None,
                      actor: User | None = None, reason: str = "") -> ClientAttribution | AttributionConflict | None:
    """Attribute `client` by the brand's rules from `touches` (attribution_resolve).

    One partner claims it and the client has none: the attribution from `at` (default now). The
    client already belongs to the winner: nothing. Two partners claim it (among the touches, or a
    touch against the current partner, e.g. an import): an AttributionConflict for the IB manager
    (claims joined to the open one, if any), and nothing else changes until it is resolved."""
    at = at or timezone.now()
    client = client_lock(client)
    resolution = attribution_resolve(client=client, touches=touches, at=at)
    if resolution.winner is None:
        return None
    winner = resolution.winner
    current = _open_attribution(client)
    claims = [t.as_claim() for t in resolution.claims]
    if current is not None and current.partner_id not in {t.partner_id for t in resolution.claims}:
        claims.insert(0, {"partner": current.partner_id, "source": "current", "at": current.effective_from.isoformat(),
                          "link": current.link_id, "click": current.click_id})
    if len({c["partner"] for c in claims}) > 1:
        return _conflict_open(client=client, claims=claims, suggested_id=current.partner_id if current else
                              winner.partner_id, actor=actor)
    if current is not None:
        return None  # already the winner's client
    partner = Partner.objects.get(pk=winner.partner_id)
    return _attribute(client=client, partner=partner, source=winner.source, touched_at=winner.at,
                      effective_from=at, actor=actor, reason=reason, link_id=winner.link_id,
                      click_id=winner.click_id)


@transaction.atomic
def client_attribution_import(*, actor: User | None, client: Client, partner: Partner,
                              touched_at: dt.datetime | None = None, reason: str = "",
                              recorded_at: dt.datetime | None = None)\
        -> ClientAttribution | AttributionConflict | None:
    """An import (a partner's list, a migration) says `client` is `partner`'s: attributed when the
    client has no partner; a conflict when it has another. `recorded_at`: when the old system
    knew it (default: since `touched_at`)."""
    _require(actor, partner.brand_id)
    if partner.brand_id != client.brand_id:
        raise ValidationFailed(fields={"partner": gettext("The partner belongs to another brand.")})
    at = touched_at or timezone.now()
    # The window does not apply to an import: its date is what the source says.
    policy = policy_for(client.brand_id)
    policy.window_days = max(policy.window_days, (timezone.now() - at).days + 1)
    client = client_lock(client)
    current = _open_attribution(client)
    if current is not None and current.partner_id != partner.pk:
        return _conflict_open(client=client, claims=[
            {"partner": current.partner_id, "source": "current", "at": current.effective_from.isoformat(),
             "link": current.link_id, "click": current.click_id},
            Touch(partner.pk, AttributionSource.IMPORT, at).as_claim()], suggested_id=current.partner_id, actor=actor)
    if current is not None:
        return None
    return _attribute(client=client, partner=partner, source=AttributionSource.IMPORT, touched_at=at,
                      effective_from=at, actor=actor, reason=reason or "import", recorded_at=recorded_at)


@transaction.atomic
def client_reattribute(*, actor: User | None, client: Client, partner: Partner, reason: str,
                       effective_from: dt.datetime | None = None, recorded_at: dt.datetime | None = None,
                       source: str = AttributionSource.MANUAL) -> ClientAttribution:
    """The IB manager gives `client` to `partner` from `effective_from` (default now, never before
    the current attribution began, never in the future): the current row is closed, a new one
    opened, both kept. Refused when the client already belongs to `partner`. A migration's dated
    re-attribution passes `recorded_at` (when the old system knew it, not before `effective_from`)
    and `source` "import"."""
    _require(actor, client.brand_id)
    reason = (reason or "").strip()
    errors: dict[str, str] = {}
    if not reason:
        errors["reason"] = gettext("Say why the client changes partner.")
    if partner.brand_id != client.brand_id:
        errors["partner"] = gettext("The partner belongs to another brand.")
    elif partner.status != PartnerStatus.ACTIVE:
        errors["partner"] = gettext("Only an active partner can be given clients.")
    now = timezone.now()
    effective_from = effective_from or now
    if effective_from > now + dt.timedelta(minutes=1):
        errors["effective_from"] = gettext("The date cannot be in the future.")
    if errors:
        raise ValidationFailed(fields=errors)
    client = client_lock(client)
    current = _open_attribution(client)
    if current is not None and current.partner_id == partner.pk:
        raise ValidationFailed(fields={"partner": gettext("The client already belongs to this partner.")})
    if recorded_at is not None and recorded_at > now + dt.timedelta(minutes=1):
        raise ValidationFailed(fields={"recorded_at": gettext("The date cannot be in the future.")})
    return _attribute(client=client, partner=partner, source=source, touched_at=effective_from,
                      effective_from=effective_from, actor=actor, reason=reason, recorded_at=recorded_at)


@transaction.atomic
def attribution_conflict_resolve(*, actor: User | None, conflict: AttributionConflict, partner: Partner,
                                 reason: str, effective_from: dt.datetime | None = None) -> AttributionConflict:
    """Decide a contested client: `partner` (one of the claimants) gets it. A client without a
    partner is attributed from its earliest claim by that partner; a client with another partner is
    re-attributed from `effective_from` (default now); the same partner changes nothing. Audited."""
    _require(actor, conflict.brand_id)
    # The client first, then its conflict (crm.models.locks), as attribution_apply takes them.
    client = client_lock(conflict.client_id)
    conflict = AttributionConflict.objects.select_for_update(of=("self",)).select_related("client").get(pk=conflict.pk)
    ATTRIBUTION_CONFLICT_STATES.check(conflict, ConflictStatus.RESOLVED)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(fields={"reason": gettext("Say why this partner gets the client.")})
    claims = [c for c in conflict.claims if c.get("partner") == partner.pk]
    if not claims:
        raise ValidationFailed(fields={"partner": gettext("Choose one of the partners that claim the client.")})
    current = _open_attribution(client)
    if current is None or current.partner_id != partner.pk:
        claim = min((c for c in claims if c.get("source") != "current"), key=lambda c: c["at"], default=claims[0])
        touched = dt.datetime.fromisoformat(claim["at"])
        start = effective_from or (conflict.created_at if current is None else timezone.now())
        source = claim["source"] if claim["source"] in AttributionSource.values else AttributionSource.MANUAL
        _attribute(client=client, partner=partner, source=source, touched_at=touched, effective_from=start,
                   actor=actor, reason=reason, link_id=claim.get("link"), click_id=claim.get("click"))
    ATTRIBUTION_CONFLICT_STATES.move(conflict, ConflictStatus.RESOLVED, save=(), also={
        "chosen": partner, "reason": reason, "resolved_at": timezone.now(), "resolved_by": actor})
    audit_record(action="ib.attribution_conflict_resolved", obj=conflict, actor=actor,
                 after={"chosen": partner.pk}, reason=reason)
    emit("ib.attribution_conflict_resolved", client=client, actor=actor, data={
        "conflict": str(conflict.code), "chosen": partner_ref(partner), "reason": reason})
    return conflict


def attribution_from_registration(*, client: Client, referrer_code: str = "", click_id: str = "",
                                  at: dt.datetime | None = None, history: Iterable[Touch] = ())\
        -> ClientAttribution | AttributionConflict | None:
    """The handlers' entry (a lead, a trader's-room registration): the registration's code and click
    id, with the client's earlier touches (`history`), through the brand's rules."""
    at = at or timezone.now()
    touches = [*history, *touches_from_codes(client=client, at=at, referrer_code=referrer_code, click_id=click_id)]
    if not touches:
        return None
    return attribution_apply(client=client, touches=touches, at=at, reason="registration")

