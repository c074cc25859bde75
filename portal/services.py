"""Every write of the trader's room: registration, sign-in, email verification, two-factor,
passwords and consents. Keyword-only, typed, atomic; audited; mails go out after commit.

The client is never the actor of a staff service: the crm services run with `actor=None` (the
system), and the audit rows carry the request's IP and user agent."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any, cast

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from crm import selectors as crm_selectors
from crm import services as crm_services
from crm.audit import audit_record
from crm.events import emit
from crm.exceptions import DomainError, FieldErrors, NotFound, ValidationFailed
from crm.lib.countries import country_name
from crm.lib.enqueue import task_send_on_commit
from crm.lib.money import money_parse
from crm.lib.ratelimit import rate_hit, rate_key
from crm.lib.validation import InvalidValue
from crm.models import Brand, Client, Stage
from crm.models.locks import client_lock
from leads import services as leads_services
from leads.services import Channel, IntakeMeta, lead_clean, lead_intake
from marketing.services import consent_record as marketing_consent_record
from portal import totp
from portal.cookies import SESSION
from portal.models import (
    AccountChoice,
    AccountRequest,
    ClientLogin,
    ConsentDocument,
    ConsentKind,
    ConsentRecord,
    Notification,
    PortalSession,
)
from portal.selectors import (
    LIVE_ACCOUNT_REFUSED,
    chosen_offer,
    documents_current,
    leverages_for,
    login_find,
    offers_for,
    questionnaire_cap,
)

logger = logging.getLogger(__name__)

ATTRIBUTION_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "referrer_code",
                      "click_id", "landing_page", "campaign", "source")
MIN_AGE = 18
VERIFY_SALT = "portal.email-verify"
VERIFY_MAX_AGE = timedelta(days=3)


class RateLimited(DomainError):
    default_code = "rate_limited"
    status_code = 429

    def default_message(self) -> str:
        return gettext("Too many attempts from your network. Please wait a while and try again.")


class LoginRefused(DomainError):
    default_code = "login_refused"

    def default_message(self) -> str:
        return gettext("The email address or password is not right.")


def _rate(bucket: str, subject: str, rate: str) -> None:
    if rate_hit(rate_key(f"portal:{bucket}", subject or "unknown"), rate):
        raise RateLimited()


def _on_commit_mail(kind: str, login_id: int) -> None:
    task_send_on_commit("portal.tasks.portal_mail_send", kind, login_id, robust=True)


# --- registration ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Registration:
    """What portal_register did. The page answers the same for a new and an already registered
    address (no account enumeration); this is for the caller's tests and logs."""

    login: ClientLogin | None
    duplicate: bool = False
    matched_lead: bool = False


def _age(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def password_problems(password: str, *, first_name: str = "", last_name: str = "", email: str = "") -> list[str]:
    who = SimpleNamespace(first_name=first_name, last_name=last_name, email=email, username=email)
    try:
        validate_password(password, user=who)  # type: ignore[arg-type]  # any object with the attributes
    except ValidationError as exc:
        return list(exc.messages)
    return []


def _consents_record(*, client: Client, documents: Mapping[str, ConsentDocument], accepted: Mapping[str, bool],
                     ip: str | None, user_agent: str) -> None:
    now = timezone.now()
    rows = []
    for kind, yes in accepted.items():
        doc = documents.get(kind)
        rows.append(ConsentRecord(client=client, document=doc, kind=kind, version=doc.version if doc else "",
                                  accepted=yes, at=now, ip=ip, user_agent=user_agent[:300]))
    ConsentRecord.objects.bulk_create(rows)
    if ConsentKind.MARKETING in accepted:  # the room's marketing consent is consent to marketing email
        marketing_consent_record(client=client, channel="email", given=accepted[ConsentKind.MARKETING],
                                 source="portal_registration", ip=ip, at=now)


@transaction.atomic
def portal_register(*, brand: Brand, language: str, first_name: str, last_name: str, email: str, phone: str,
                    country: str, date_of_birth: date | None, password: str, accept_terms: bool,
                    accept_privacy: bool, accept_marketing: bool = False,
                    attribution: Mapping[str, str] | None = None, ip: str | None = None,
                    user_agent: str = "") -> Registration:
    """Open a trader's-room login for a person of `brand`.

    Raises ValidationFailed naming every bad field (names, email, phone, a country the brand does
    not serve, age under 18, a weak password, the terms or privacy policy not accepted); nothing is
    written then. A person the brand already knows (the leads app's contact keys: same email, or the
    same phone of a client without another email) becomes the registered client: owner, desk and
    attribution kept, lead moved to registered. Anyone else is taken in as a lead would be (routing,
    attribution, touch) and moved to registered. An address that already has a login gets nothing
    new: its owner is told by email. Event "portal.registered"; the verification mail after commit.
    """
    _rate("register", ip or "", settings.PORTAL_REGISTER_RATE_LIMIT)
    attribution = {k: str(v) for k, v in (attribution or {}).items() if k in ATTRIBUTION_FIELDS and v}
    data: dict[str, Any] = {"first_name": first_name, "last_name": last_name, "email": email, "phone": phone,
                            "country": country, "language": language, **attribution}
    data.setdefault("source", "portal")
    docs = documents_current(brand=brand, language=language)
    terms_version = docs[ConsentKind.TERMS].version if ConsentKind.TERMS in docs else ""
    meta = IntakeMeta(ip=ip, user_agent=user_agent[:300], default_source="portal", consent_text_version=terms_version)
    lead, lead_errors = lead_clean({**data, "consent": True}, channel=Channel.FORM, meta=meta)
    errors = FieldErrors()
    for field, messages in (lead_errors or {}).items():
        for message in messages:
            errors.add(field, message)
    if lead is not None and not brand.serves(lead.country):
        errors.add("country", gettext("We cannot open accounts for residents of %(country)s with %(brand)s.")
                   % {"country": country_name(lead.country, language), "brand": brand.name})
    elif lead is not None:
        # A jurisdiction the brand's compliance rules refuse (sanctioned): said neutrally, on no field.
        refused = leads_services.intake_refusal(brand=brand, country=lead.country)
        if refused:
            errors.add("__all__", refused)
    _registration_check(errors, date_of_birth=date_of_birth, password=password, first_name=first_name,
                        last_name=last_name, email=email, accept_terms=accept_terms, accept_privacy=accept_privacy)
    errors.raise_if_any()
    assert lead is not None

    keys = leads_services.contact_keys(email=lead.email, phone=lead.phone)
    found = leads_services.keys_lock_and_find(brand.pk, keys)
    existing = login_find(brand=brand, email=lead.email)
    known_id = found.get(keys[0])  # the email's key
    if existing is None and known_id is None and len(keys) > 1 and keys[1] in found:
        by_phone = Client.objects.get(pk=found[keys[1]])
        if by_phone.email and by_phone.email.lower() != lead.email:
            # Someone else's phone: registering would hand them that person's record.
            raise ValidationFailed(fields={"phone": [gettext(
                "This phone number belongs to another account. Sign in with that account's email "
                "address, or contact support.")]})
        known_id = by_phone.pk
    if existing is None and known_id is not None:
        existing = ClientLogin.objects.filter(client_id=known_id).first()
    if existing is not None:
        audit_record(action="portal.register_repeated", obj=existing.client, actor=None,
                     after={"brand": brand.code, "login": str(existing.code)})
        _on_commit_mail("already_registered", existing.pk)
        return Registration(login=None, duplicate=True)

    result = lead_intake(brand=brand, data={**data, "consent": True}, channel=Channel.FORM, meta=meta)
    assert result.client_code is not None  # a valid lead is always written (created or touched)
    client = Client.objects.select_related("brand").get(code=result.client_code)
    matched = result.status == "duplicate"
    changes: dict[str, Any] = {}
    if client.date_of_birth is None:
        changes["date_of_birth"] = date_of_birth
    if not client.language:
        changes["language"] = language
    if changes:
        crm_services.client_update(actor=None, client=client, reason=gettext("registered in the trader's room"),
                                   **changes)
    if client.stage == Stage.LEAD:
        crm_services.client_stage_change(actor=None, client=client, stage=Stage.REGISTERED,
                                         reason=gettext("registered in the trader's room"))
    login = ClientLogin.objects.create(client=client, brand=brand, email=lead.email, password=make_password(password))
    _consents_record(client=client, documents=docs, ip=ip, user_agent=user_agent,
                     accepted={ConsentKind.TERMS: True, ConsentKind.PRIVACY: True,
                               **({ConsentKind.MARKETING: True} if accept_marketing else {})})
    audit_record(action="portal.register", obj=client, actor=None, after={
        "brand": brand.code, "login": str(login.code), "language": language, "matched_lead": matched,
        "consents": {kind: doc.version for kind, doc in docs.items()
                     if kind != ConsentKind.MARKETING or accept_marketing},
    })
    emit("portal.registered", client=client, actor=None, data={
        "login": str(login.code), "brand": brand.code, "language": language, "matched_lead": matched,
        "attribution": {k: client_value for k in ATTRIBUTION_FIELDS
                        if (client_value := str(getattr(client, k, "") or attribution.get(k, "")))},
        "marketing": bool(accept_marketing),
    })
    _on_commit_mail("verify", login.pk)
    return Registration(login=login, matched_lead=matched)


def _registration_check(errors: FieldErrors, *, date_of_birth: date | None, password: str, first_name: str,
                        last_name: str, email: str, accept_terms: bool, accept_privacy: bool) -> None:
    """What registering asks beyond a lead's details: an adult, a strong password, the terms and
    the privacy policy accepted."""
    if date_of_birth is None:
        errors.add("date_of_birth", gettext("Enter your date of birth."))
    elif _age(date_of_birth, timezone.localdate()) < MIN_AGE:
        errors.add("date_of_birth", gettext("You must be at least %(age)d years old to open an account.")
                   % {"age": MIN_AGE})
    for problem in password_problems(password, first_name=first_name, last_name=last_name, email=email):
        errors.add("password", problem)
    if not accept_terms:
        errors.add("accept_terms", gettext("Accept the terms and conditions to open an account."))
    if not accept_privacy:
        errors.add("accept_privacy", gettext("Accept the privacy policy to open an account."))


# --- email verification -----------------------------------------------------------------------------


def verification_token(login: ClientLogin) -> str:
    return signing.dumps({"l": str(login.code), "e": login.email.lower()}, salt=VERIFY_SALT, compress=False)


class LinkRefused(NotFound):
    default_code = "link_invalid"

    def default_message(self) -> str:
        return gettext("This link is not valid. Ask for a new one.")


@transaction.atomic
def portal_email_verify(*, token: str) -> ClientLogin:
    """Mark the address of the link's login verified. A link older than VERIFY_MAX_AGE raises
    LinkRefused with code "link_expired"; a forged or altered one, "link_invalid". Verifying
    again changes nothing."""
    try:
        data = signing.loads(token, salt=VERIFY_SALT, max_age=VERIFY_MAX_AGE)
    except signing.SignatureExpired:
        raise LinkRefused(gettext("This link has expired. Sign in and ask for a new one."),
                          code="link_expired") from None
    except signing.BadSignature:
        raise LinkRefused() from None
    login = ClientLogin.objects.select_for_update().filter(code=str(data.get("l"))).first() if _uuid(str(data.get("l"))) else None
    if login is None or login.email.lower() != data.get("e"):
        raise LinkRefused()
    if login.email_verified_at is None:
        login.email_verified_at = timezone.now()
        login.save(update_fields=["email_verified_at", "updated_at"])
        audit_record(action="portal.email_verified", obj=login.client, actor=None, after={"login": str(login.code)})
    return login


def portal_verification_resend(*, login: ClientLogin, ip: str | None) -> bool:
    """Send the verification link again (rate-limited per login and per IP); False when already verified."""
    if login.email_verified:
        return False
    _rate("verify-ip", ip or "", settings.PORTAL_MAIL_RATE_LIMIT)
    _rate("verify-login", str(login.code), "3/h")
    with transaction.atomic():
        _on_commit_mail("verify", login.pk)
    return True


# --- signing in ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoginStep:
    login: ClientLogin
    needs_code: bool


def _failure(login: ClientLogin, *, reason: str) -> None:
    login.failed_attempts += 1
    after: dict[str, Any] = {"reason": reason, "attempts": login.failed_attempts}
    if login.failed_attempts >= settings.AXES_FAILURE_LIMIT:
        login.locked_until = timezone.now() + settings.AXES_COOLOFF_TIME
        login.failed_attempts = 0
        after["locked_until"] = login.locked_until.isoformat()
    login.save(update_fields=["failed_attempts", "locked_until", "updated_at"])
    audit_record(action="portal.login_failed", obj=login.client, actor=None, after=after)


def _locked_error(login: ClientLogin) -> LoginRefused:
    minutes = max(1, int(((login.locked_until or timezone.now()) - timezone.now()).total_seconds() // 60) + 1)
    return LoginRefused(gettext("Too many failed attempts. Try again in %(minutes)d minutes, or reset your "
                                "password.") % {"minutes": minutes}, code="locked")


def portal_login_check(*, brand: Brand, email: str, password: str, ip: str | None) -> LoginStep:
    """The first step of signing in. Raises LoginRefused (the same message for an unknown address and
    a wrong password; "locked" after AXES_FAILURE_LIMIT failures, for AXES_COOLOFF_TIME) or
    RateLimited. A login with two-factor on still needs its code (portal_login_code_check)."""
    _rate("login", ip or "", settings.PORTAL_LOGIN_RATE_LIMIT)
    with transaction.atomic():
        login = login_find(brand=brand, email=email)
        if login is None:
            make_password(password)  # the same work as for a real account
            raise LoginRefused()
        login = ClientLogin.objects.select_for_update(of=("self",)).select_related("client", "brand").get(pk=login.pk)
        if login.is_locked():
            raise _locked_error(login)
        error: LoginRefused | None
        if not check_password(password, login.password):
            _failure(login, reason="password")
            error = _locked_error(login) if login.is_locked() else LoginRefused()
        else:
            error = _restricted_error(login)
            if error is None and not login.totp_confirmed:
                _login_done(login, method="password")
    if error is not None:
        raise error
    return LoginStep(login=login, needs_code=login.totp_confirmed)


def _restricted_error(login: ClientLogin) -> LoginRefused | None:
    """At each sign-in the client's compliance rules are brought up to date (a jurisdiction that became
    sanctioned restricts its clients now); a client barred from the trader's room is refused in neutral
    words, audited. The caller commits what this wrote before raising."""
    from compliance.services import client_login_check

    refused = client_login_check(client=login.client)
    if refused is None:
        return None
    audit_record(action="portal.login_refused", obj=login.client, actor=None,
                 after={"login": str(login.code), "reason": "restricted"})
    return LoginRefused(refused, code="restricted")


def _login_done(login: ClientLogin, *, method: str) -> None:
    login.failed_attempts = 0
    login.locked_until = None
    login.last_login = timezone.now()
    login.save(update_fields=["failed_attempts", "locked_until", "last_login", "updated_at"])
    audit_record(action="portal.login", obj=login.client, actor=None, after={"login": str(login.code), "method": method})


def portal_login_code_check(*, login: ClientLogin, code: str) -> ClientLogin:
    """The second step: a TOTP code (each accepted once) or a recovery code (used up). A wrong code
    counts as a failed login; raises LoginRefused."""
    error: LoginRefused | None = None
    with transaction.atomic():
        login = ClientLogin.objects.select_for_update(of=("self",)).select_related("client", "brand").get(pk=login.pk)
        if login.is_locked():
            raise _locked_error(login)
        method = _code_use(login, code)
        if method is None:
            _failure(login, reason="code")
            error = _locked_error(login) if login.is_locked() else LoginRefused(
                gettext("That code is not right. Enter the current code from your app, or a recovery code."),
                code="code_invalid")
        else:
            _login_done(login, method=method)
    if error is not None:
        raise error
    return login


def _code_use(login: ClientLogin, code: str) -> str | None:
    """Accept `code` for a locked login row: "totp", "recovery" (removed from the list) or None."""
    if login.totp_secret and login.totp_confirmed:
        step = totp.code_step(totp.secret_decrypt(login.totp_secret), code, after=login.totp_last_step)
        if step is not None:
            login.totp_last_step = step
            login.save(update_fields=["totp_last_step", "updated_at"])
            return "totp"
    hashed = totp.recovery_hash(code or "")
    if code and hashed in login.recovery_codes:
        login.recovery_codes = [h for h in login.recovery_codes if h != hashed]
        login.save(update_fields=["recovery_codes", "updated_at"])
        audit_record(action="portal.recovery_code_used", obj=login.client, actor=None,
                     after={"remaining": len(login.recovery_codes)})
        return "recovery"
    return None


# --- two-factor ----------------------------------------------------------------------------------------


class TwoFactorError(DomainError):
    default_code = "two_factor"


@transaction.atomic
def portal_totp_start(*, login: ClientLogin) -> bytes:
    """A new secret for the login's authenticator app (not in use until confirmed). Refused while
    two-factor is on."""
    login = ClientLogin.objects.select_for_update().get(pk=login.pk)
    if login.totp_confirmed:
        raise TwoFactorError(gettext("Two-factor sign-in is already on."))
    key = totp.secret_new()
    login.totp_secret = totp.secret_encrypt(key)
    login.save(update_fields=["totp_secret", "updated_at"])
    return key


def totp_pending_key(login: ClientLogin) -> bytes | None:
    if not login.totp_secret or login.totp_confirmed:
        return None
    return totp.secret_decrypt(login.totp_secret)


@transaction.atomic
def portal_totp_confirm(*, login: ClientLogin, code: str) -> list[str]:
    """Turn two-factor on with a code from the app; returns the recovery codes, shown once (only
    their hashes are kept). Raises ValidationFailed on "code"."""
    login = ClientLogin.objects.select_for_update(of=("self",)).select_related("client").get(pk=login.pk)
    key = totp_pending_key(login)
    if key is None:
        raise TwoFactorError(gettext("Start setting up two-factor sign-in first."))
    step = totp.code_step(key, code, after=login.totp_last_step)
    if step is None:
        raise ValidationFailed(fields={"code": [gettext("That code is not right. Enter the current code from your app.")]})
    codes = totp.recovery_codes_new()
    login.totp_confirmed = True
    login.totp_last_step = step
    login.recovery_codes = [totp.recovery_hash(c) for c in codes]
    login.save(update_fields=["totp_confirmed", "totp_last_step", "recovery_codes", "updated_at"])
    audit_record(action="portal.two_factor_on", obj=login.client, actor=None, after={"login": str(login.code)})
    return codes


@transaction.atomic
def portal_totp_disable(*, login: ClientLogin, password: str, code: str) -> None:
    """Turn two-factor off: needs the password and a current code (or a recovery code)."""
    login = ClientLogin.objects.select_for_update(of=("self",)).select_related("client").get(pk=login.pk)
    errors = FieldErrors()
    if not check_password(password, login.password):
        errors.add("password", gettext("The password is not right."))
    elif _code_use(login, code) is None:
        errors.add("code", gettext("That code is not right. Enter the current code from your app."))
    errors.raise_if_any()
    login.totp_secret = ""
    login.totp_confirmed = False
    login.recovery_codes = []
    login.save(update_fields=["totp_secret", "totp_confirmed", "recovery_codes", "updated_at"])
    audit_record(action="portal.two_factor_off", obj=login.client, actor=None, after={"login": str(login.code)})


# --- passwords ------------------------------------------------------------------------------------------


class ClientResetTokens(PasswordResetTokenGenerator):
    """Django's reset tokens over a client login: they stop working once the password changes (single
    use), once the client signs in, and after PASSWORD_RESET_TIMEOUT."""

    key_salt = "portal.services.ClientResetTokens"

    def _make_hash_value(self, user: Any, timestamp: int) -> str:
        last = "" if user.last_login is None else user.last_login.replace(microsecond=0, tzinfo=None)
        return f"{user.pk}{user.password}{last}{timestamp}{user.email.lower()}"


reset_tokens = ClientResetTokens()


def reset_token_make(login: ClientLogin) -> str:
    return reset_tokens.make_token(cast(Any, login))


def reset_token_check(login: ClientLogin, token: str) -> bool:
    return reset_tokens.check_token(cast(Any, login), token)


def portal_password_reset_request(*, brand: Brand, email: str, ip: str | None) -> None:
    """Send a reset link if the address has a login with the brand; the caller answers the same
    either way. Rate-limited per IP and per address; the known/unknown fact goes to the audit only."""
    _rate("reset-ip", ip or "", settings.PASSWORD_RESET_IP_RATE_LIMIT)
    _rate("reset-addr", f"{brand.pk}:{(email or '').strip().lower()}", settings.PASSWORD_RESET_RATE_LIMIT)
    with transaction.atomic():
        login = login_find(brand=brand, email=email)
        audit_record(action="portal.password_reset_requested", obj=login.client if login else None,
                     object_type="crm.client", actor=None, after={"brand": brand.code, "known": login is not None})
        if login is not None:
            _on_commit_mail("reset", login.pk)


def reset_link_login(*, code: str, token: str) -> ClientLogin:
    login = ClientLogin.objects.select_related("client", "brand").filter(code=code).first() if _uuid(code) else None
    if login is None or not reset_token_check(login, token):
        raise LinkRefused(gettext("This password reset link is no longer valid. Ask for a new one."))
    return login


def _uuid(value: str) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def _password_set(login: ClientLogin, password: str, *, field: str) -> None:
    client = login.client
    problems = password_problems(password, first_name=client.first_name, last_name=client.last_name,
                                 email=login.email)
    if problems:
        raise ValidationFailed(fields={field: problems})
    login.password = make_password(password)
    login.failed_attempts = 0
    login.locked_until = None
    login.save(update_fields=["password", "failed_attempts", "locked_until", "updated_at"])


@transaction.atomic
def portal_password_reset_complete(*, code: str, token: str, password: str) -> ClientLogin:
    """Set a new password through a good reset link, once (the link dies with the old password).
    The address is verified by the same token: it reached the inbox."""
    login = reset_link_login(code=code, token=token)
    login = ClientLogin.objects.select_for_update(of=("self",)).select_related("client", "brand").get(pk=login.pk)
    if not reset_token_check(login, token):
        raise LinkRefused(gettext("This password reset link is no longer valid. Ask for a new one."))
    _password_set(login, password, field="password")
    if login.email_verified_at is None:
        login.email_verified_at = timezone.now()
        login.save(update_fields=["email_verified_at"])
    PortalSession.objects.filter(login=login).delete()  # the password change ended them all
    audit_record(action="portal.password_reset", obj=login.client, actor=None, after={"login": str(login.code)})
    return login


@transaction.atomic
def portal_password_change(*, login: ClientLogin, current: str, new: str) -> ClientLogin:
    login = ClientLogin.objects.select_for_update(of=("self",)).select_related("client").get(pk=login.pk)
    if not check_password(current, login.password):
        raise ValidationFailed(fields={"current_password": [gettext("The password is not right.")]})
    _password_set(login, new, field="new_password")
    audit_record(action="portal.password_changed", obj=login.client, actor=None, after={"login": str(login.code)})
    return login


# --- consents and profile -------------------------------------------------------------------------------


@transaction.atomic
def portal_consent_set(*, login: ClientLogin, document: ConsentDocument, accepted: bool, ip: str | None,
                       user_agent: str) -> ConsentRecord:
    """Record the client's decision on `document` (of their brand). Terms and privacy can only be
    accepted here; marketing can be withdrawn too."""
    if document.brand_id != login.brand_id:
        raise NotFound()
    if not accepted and document.kind != ConsentKind.MARKETING:
        raise ValidationFailed(fields={"accepted": [gettext("This consent cannot be withdrawn here; contact support "
                                                            "to close your account.")]})
    record = ConsentRecord.objects.create(client=login.client, document=document, kind=document.kind,
                                          version=document.version, accepted=accepted, ip=ip,
                                          user_agent=user_agent[:300])
    audit_record(action="portal.consent_accepted" if accepted else "portal.consent_withdrawn", obj=login.client,
                 actor=None, after={"kind": document.kind, "version": document.version})
    if document.kind == ConsentKind.MARKETING:  # what marketing's sends read (marketing.consent)
        marketing_consent_record(client=login.client, channel="email", given=accepted, source="portal", ip=ip)
    return record


@transaction.atomic
def portal_profile_update(*, login: ClientLogin, phone: str, language: str) -> Client:
    """The client's own changes: phone and language (name and email are changed by support)."""
    client = Client.objects.select_related("brand").get(pk=login.client_id)
    if language not in dict(settings.LANGUAGES):
        raise ValidationFailed(fields={"language": [gettext("Choose a language from the list.")]})
    try:
        client = crm_services.client_update(actor=None, client=client, phone=phone, language=language,
                                            reason=gettext("changed by the client in the trader's room"))
    except ValidationFailed as exc:
        raise ValidationFailed(fields=exc.fields) from None
    leads_services.contact_keys_sync(client)
    return client


@transaction.atomic
def portal_language_remember(*, login: ClientLogin, language: str) -> None:
    """The language the client picked in the room's switch becomes the client's own (their emails and
    notifications, the room on another device). Nothing is written when it already is, or is unknown."""
    client = Client.objects.get(pk=login.client_id)
    if language in dict(settings.LANGUAGES) and client.language != language:
        crm_services.client_update(actor=None, client=client, language=language,
                                   reason=gettext("chosen by the client in the trader's room"))


# --- the first live account after verification ---------------------------------------------------


def portal_first_live_account_open(*, client: Client, approval: Any = None) -> Any:
    """Open the client's first live trading account with the account type they chose
    (portal_account_choose; else the brand's default live type, trading.selectors.default_live_offer),
    at the highest leverage the type offers within the client's caps (the brand's, the cap rules' and
    the questionnaire's). A type the client cannot open (no leverage within their caps) is never
    used: the first one of the brand's types they can open is. Nothing when the client has a live
    account already or the approval (`approval`) no longer stands. The brand has no live server: the
    client waits (live_account_waiting_record) and is tried again when one is saved and by the
    sweep (first_live_accounts_retry). Idempotent: the client's row is locked
    while deciding, so two deliveries cannot both open one.

    A platform failure (PlatformFailed) is raised, for the event delivery to retry: the platform
    comes back. A refusal by the brand's policy is final (no type within the client's caps, or
    AccountOpeningRefused, LeverageAboveCap): live_account_refusal_record tells the client why, tells
    the owner and gives staff a task, once per approval (`approval`: the "kyc.approved" event)."""
    from django.utils import translation

    from trading.exceptions import AccountOpeningRefused, LeverageAboveCap
    from trading.selectors import account_offers, has_live_account
    from trading.services import trading_account_open

    # A refusal's words are the client's: in their language.
    with translation.override(client.language or settings.LANGUAGE_CODE), transaction.atomic():
        client = client_lock(client, related=("brand", "owner"))
        if has_live_account(client=client):
            return None
        if approval is not None and not client_verified(client=client):
            # The approval no longer stands (withdrawn for review, expired) by the time it is
            # delivered (again): nothing to open, nothing to tell; a new approval opens it.
            return None
        if not account_offers(brand_id=client.brand_id, demo=False):
            # Not final: the account opens when a live server is added (trading.server_saved) or at
            # the next sweep (first_live_accounts_retry); meanwhile client and staff are told.
            live_account_waiting_record(client=client, approval=approval)
            return None
        offer = chosen_offer(client=client) or next(iter(offers_for(client=client, demo=False)), None)
        if offer is None:
            live_account_refusal_record(client=client, reason=_no_type_reason(client), approval=approval)
            return None
        try:
            return trading_account_open(actor=None, client=client, server=offer.server,
                                        account_type=offer.account_type,
                                        leverage=max(leverages_for(client=client, offer=offer)))
        except (AccountOpeningRefused, LeverageAboveCap) as refused:
            live_account_refusal_record(client=client, reason=refused.message, approval=approval,
                                        account_type=offer.account_type)
            return None


LIVE_ACCOUNT_WAITING = "portal.live_account_waiting"


@transaction.atomic
def live_account_waiting_record(*, client: Client, approval: Any = None) -> Any:
    """A verified client's first live account cannot open yet: the brand has no live trading
    server. The client's timeline says so (event "portal.live_account_waiting"; the dashboard says
    what is happening), their owner is notified and staff get a task to add a server. Once per
    approval (`approval`: the "kyc.approved" event); without one, once while the client waits."""
    from django.utils import translation
    from django.utils.translation import gettext_noop

    from crm.lib.payloads import client_url
    from crm.services import notify_user, task_create

    approval_ref = str(getattr(approval, "uuid", "") or "")
    if live_account_waiting_since(client=client) is not None:
        return None
    logger.warning("no live server for the first live account: the client waits", extra={
        "client": str(client.code), "brand": client.brand.code})
    event = emit(LIVE_ACCOUNT_WAITING, client=client, actor=None, data={"approval": approval_ref})
    url = client_url(client, tab="trading")
    notify_user(client.owner, kind="live_account_waiting",
                title=gettext_noop("%(name)s is verified and waiting for a live account"),
                params={"name": client.full_name}, body="", url=url)
    assignee = _refusal_assignee(client)
    if assignee is None:
        return event
    with translation.override(assignee.language or settings.LANGUAGE_CODE):
        title = gettext("Add a live trading server for %(brand)s: %(name)s is waiting for a live account") % {
            "brand": client.brand.name, "name": client.full_name}
        description = gettext("The client is verified, but %(brand)s has no active trading server with live "
                              "account types, so no live account could be opened. It opens by itself as soon "
                              "as one is added.") % {"brand": client.brand.name}
    task_create(actor=None, title=title[:200], assignee=assignee, client=client, description=description[:2000],
                due_at=timezone.now() + timedelta(days=1))
    return event


def live_account_waiting_since(*, client: Client) -> Any:
    """When the client began waiting for a live server (the "portal.live_account_waiting" event
    after their latest approval), or None: not waiting, or approved again since."""
    from crm.models import Event

    latest = (Event.objects.filter(client_id=client.pk, name__in=("kyc.approved", LIVE_ACCOUNT_WAITING))
              .order_by("-occurred_at", "-id").values_list("name", "occurred_at").first())
    return latest[1] if latest is not None and latest[0] == LIVE_ACCOUNT_WAITING else None


def first_live_accounts_retry(*, brand_id: int | None = None) -> int:
    """Open the first live account of every verified client (of `brand_id`, or of every brand) who
    is waiting for a live server (live_account_waiting_record) and has none yet, now that the brand
    may have one. Returns how many were opened. A platform failure for one client is logged and
    left to the next sweep; the others go on."""
    from crm.models import Event
    from trading.exceptions import PlatformFailed
    from trading.selectors import account_offers

    waiting = Event.objects.filter(name=LIVE_ACCOUNT_WAITING)
    if brand_id is not None:
        waiting = waiting.filter(client__brand_id=brand_id)
    opened = 0
    offered: dict[int, bool] = {}
    for client in Client.objects.filter(pk__in=waiting.values("client_id")).select_related("brand").order_by("pk"):
        if client.brand_id not in offered:
            offered[client.brand_id] = bool(account_offers(brand_id=client.brand_id, demo=False))
        if not offered[client.brand_id] or live_account_waiting_since(client=client) is None:
            continue
        approval = (Event.objects.filter(client_id=client.pk, name="kyc.approved")
                    .order_by("-occurred_at", "-id").first())
        try:
            account = portal_first_live_account_open(client=client, approval=approval)
        except PlatformFailed as failed:
            logger.warning("the waiting client's first live account failed: %s", failed.message,
                           extra={"client": str(client.code)})
            continue
        opened += account is not None
    return opened


def _no_type_reason(client: Client) -> str:
    """Why none of the brand's live account types can be opened for `client`: the limit that rules
    them all out, in words."""
    from trading.selectors import leverage_limit

    limit = leverage_limit(client=client, brand=client.brand, demo=False)
    cap = questionnaire_cap(client)
    if cap is not None and (limit.cap is None or cap < limit.cap):
        rule = gettext("Appropriateness questionnaire: at most 1:%(cap)s") % {"cap": cap}
    else:
        rule = limit.rule
    return gettext("None of the live account types of %(brand)s offers a leverage within your limit (%(rule)s).") % {
        "brand": client.brand.name, "rule": rule}


def _refusal_assignee(client: Client) -> Any:
    """Who gets the task about a refused first live account: the client's owner, else their desk's
    manager, else the brand's first dealer or administrator. None if nobody works the brand."""
    from crm.models import RoleCode
    from crm.permissions import staff_of_brand

    for candidate in (client.owner, client.desk.manager if client.desk_id and client.desk else None):
        if candidate is not None and candidate.is_active:
            return candidate
    staff = sorted(staff_of_brand(client.brand_id, roles=[RoleCode.DEALER, RoleCode.ADMIN]),
                   key=lambda u: (u.role.code != RoleCode.DEALER if u.role else True, u.pk))
    return staff[0] if staff else None


@transaction.atomic
def live_account_refusal_record(*, client: Client, reason: str, approval: Any = None,
                                account_type: str = "") -> Any:
    """The brand's policy refused the client's first live account after their approval: the client
    is told why (event "portal.live_account_refused", which becomes their notification, and the
    dashboard and verification page show the reason instead of "being set up"), their owner is
    notified and staff get a task to sort it out. Once per approval: a second call for the same
    `approval` changes nothing (returns None)."""
    from django.utils import translation
    from django.utils.translation import gettext_noop

    from crm.lib.payloads import client_url
    from crm.models import Event
    from crm.services import notify_user, task_create

    approval_ref = str(getattr(approval, "uuid", "") or "")
    if approval_ref and Event.objects.filter(client_id=client.pk, name=LIVE_ACCOUNT_REFUSED,
                                             data__approval=approval_ref).exists():
        return None
    logger.warning("the first live account was refused: %s", reason, extra={"client": str(client.code)})
    event = emit(LIVE_ACCOUNT_REFUSED, client=client, actor=None, data={
        "reason": str(reason)[:500], "account_type": account_type[:64], "approval": approval_ref})
    url = client_url(client, tab="trading")
    notify_user(client.owner, kind="live_account_refused",
                title=gettext_noop("%(name)s is verified but got no live account"),
                params={"name": client.full_name}, body=str(reason)[:500], url=url)
    assignee = _refusal_assignee(client)
    if assignee is None:
        logger.warning("nobody to give the refused live account to", extra={"client": str(client.code)})
        return event
    with translation.override(assignee.language or settings.LANGUAGE_CODE):
        title = gettext("Open a live account for %(name)s: the brand's policy refused it") % {
            "name": client.full_name}
        description = gettext("The client is verified, but no live account could be opened: %(reason)s "
                              "Open one of a type the client can have, or tell the client what to do.") % {
            "reason": reason}
    task_create(actor=None, title=title[:200], assignee=assignee, client=client, description=description[:2000],
                due_at=timezone.now() + timedelta(days=1))
    return event


# --- accounts the client chooses and opens -------------------------------------------------------

class AccountNotOpened(DomainError):
    """The platform did not open the account: nothing was recorded, the client may try again."""

    default_code = "account_not_opened"
    status_code = 502

    def default_message(self) -> str:
        return gettext("We could not open your account just now: the trading platform did not accept the request. "
                       "Nothing was opened. Please try again in a few minutes.")


def offer_key(offer: Any) -> str:
    """How a form names an offer: the server's public code and the account type's key."""
    return f"{offer.server.code}:{offer.account_type}"


def offer_find(*, client: Client, key: str, demo: bool) -> Any:
    """The brand's offer named by `key` (offer_key), or None."""
    return next((o for o in offers_for(client=client, demo=demo) if offer_key(o) == key), None)


@transaction.atomic
def portal_account_choose(*, login: ClientLogin, key: str) -> AccountChoice:
    """Remember the live account type the client wants for their first live account (one of the
    brand's live offers; ValidationFailed on "offer" otherwise). Audited."""
    offer = offer_find(client=login.client, key=key, demo=False)
    if offer is None:
        raise ValidationFailed(fields={"offer": [gettext("Choose one of the account types on offer.")]})
    choice, _created = AccountChoice.objects.update_or_create(
        client=login.client, defaults={"server": offer.server, "account_type": offer.account_type})
    audit_record(action="portal.account_type_chosen", obj=login.client, actor=None,
                 after={"server": offer.server.pk, "account_type": offer.account_type})
    return choice


def client_verified(*, client: Client) -> bool:
    """The core's one answer (crm.selectors.client_verified), as trading's policy and withdrawals read it."""
    return crm_selectors.client_verified(client=client)


def _cap_refusal(leverage: int, cap: int) -> Any:
    from trading.exceptions import LeverageAboveCap

    message = gettext("1:%(leverage)s is above your limit of 1:%(cap)s from the appropriateness questionnaire.") % {
        "leverage": leverage, "cap": cap}
    return LeverageAboveCap(message, fields={"leverage": [message]})


def demo_balance_limits() -> tuple[Decimal, Decimal]:
    return Decimal(settings.PORTAL_DEMO_BALANCE_MIN), Decimal(settings.PORTAL_DEMO_BALANCE_MAX)


def portal_account_open(*, login: ClientLogin, token: uuid.UUID, key: str, demo: bool, leverage: int,
                        demo_balance: Decimal | None = None) -> Any:
    """Open another account the client asked for in the trader's room, through
    trading.services.trading_account_open (the system acts; the brand's policy and the client's caps
    hold; the password link is mailed as for the first account).

    `token` is the form's own: the same form sent twice opens one account (the client's row is
    locked while deciding; the second submit finds the first's AccountRequest and returns its
    account). A live account needs a verified client (the brand's policy: AccountOpeningRefused);
    leverage above the client's cap raises LeverageAboveCap; a demo account is credited
    `demo_balance` (within PORTAL_DEMO_BALANCE_MIN/MAX). A platform failure raises AccountNotOpened
    and nothing is recorded."""
    from trading.exceptions import PlatformFailed
    from trading.services import BalanceKind, balance_operation_request, trading_account_open

    client = login.client
    offer = offer_find(client=client, key=key, demo=demo)
    errors = FieldErrors()
    if offer is None:
        errors.add("offer", gettext("Choose one of the account types on offer."))
    low, high = demo_balance_limits()
    if demo and (demo_balance is None or not low <= demo_balance <= high):
        errors.add("demo_balance", gettext("Choose a starting balance from %(low)s to %(high)s.")
                   % {"low": f"{low:,.0f}", "high": f"{high:,.0f}"})
    elif demo and offer is not None and demo_balance is not None:
        # At most the account currency's decimals, before the platform opens anything: the balance
        # operation would refuse it once the account exists.
        try:
            money_parse(demo_balance, offer.currency, field="demo_balance")
        except InvalidValue as error:
            errors.add("demo_balance", error.message)
    errors.raise_if_any()
    if not demo and not client_verified(client=client):
        from trading.exceptions import AccountOpeningRefused

        raise AccountOpeningRefused(gettext("A live account opens once your identity is verified."))
    with transaction.atomic():
        client = client_lock(client, related=("brand",))
        done = AccountRequest.objects.select_related("account__server").filter(token=token, client=client).first()
        if done is not None:
            return done.account
        if not demo and (cap := questionnaire_cap(client)) is not None and leverage > cap:
            raise _cap_refusal(leverage, cap)
        try:
            account = trading_account_open(actor=None, client=client, server=offer.server,
                                           account_type=offer.account_type, leverage=leverage)
        except PlatformFailed as failed:
            logger.warning("the platform did not open a client's account: %s", failed.message,
                           extra={"client": str(client.code)})
            raise AccountNotOpened() from failed
        AccountRequest.objects.create(token=token, client=client, account=account)
        if demo and demo_balance:
            balance_operation_request(actor=None, account=account, kind=BalanceKind.BALANCE, amount=demo_balance,
                                      reason=gettext("Demo starting balance"))
    return account


def portal_account_leverage_set(*, login: ClientLogin, code: str, leverage: int) -> Any:
    """Change the leverage of one of the client's own open accounts through
    trading.services.trading_account_set_leverage (the system acts; the brand's and the cap rules'
    limits hold), within the questionnaire's limit too. Another client's account is NotFound."""
    from trading.exceptions import PlatformFailed
    from trading.permissions import trading_account_for_client
    from trading.services import trading_account_set_leverage

    account = trading_account_for_client(client=login.client, code=code)
    if account is None:
        raise NotFound()
    if not account.is_demo and (cap := questionnaire_cap(account.client)) is not None and leverage > cap:
        raise _cap_refusal(leverage, cap)
    try:
        return trading_account_set_leverage(actor=None, account=account, leverage=leverage,
                                            reason=gettext("changed by the client in the trader's room"))
    except PlatformFailed as failed:
        raise DomainError(gettext("The trading platform did not change the leverage just now. Nothing was "
                                  "changed; please try again in a few minutes."), code="platform_failed") from failed


# --- sessions --------------------------------------------------------------------------------------------


@transaction.atomic
def portal_session_record(*, login: ClientLogin, session_key: str, replaced: str | None, ip: str | None,
                          user_agent: str) -> PortalSession:
    """A new signed-in session of `login` (and the row of the session it replaced gone)."""
    if replaced:
        PortalSession.objects.filter(session_key=replaced).delete()
    return PortalSession.objects.create(login=login, session_key=session_key, ip=ip, user_agent=user_agent[:300])


def portal_session_seen(*, login: ClientLogin, session_key: str, at: Any, ip: str | None, user_agent: str) -> None:
    """Move the session's last-seen time; a session signed in before sessions were recorded gets
    its row now (its sign-in time unknown: the first time seen)."""
    if not PortalSession.objects.filter(session_key=session_key).update(last_seen_at=at):
        PortalSession.objects.get_or_create(session_key=session_key, defaults={
            "login": login, "ip": ip, "user_agent": user_agent[:300], "signed_in_at": at, "last_seen_at": at})


def portal_session_forget(*, session_key: str | None) -> None:
    if session_key:
        PortalSession.objects.filter(session_key=session_key).delete()


@transaction.atomic
def portal_session_end(*, login: ClientLogin, code: str, current_key: str | None) -> int:
    """Sign out the login's session named `code` (NotFound for another login's, or an unknown code),
    or with code "others" every session of the login except `current_key`. Their stores are deleted:
    their cookies open nothing any more. Returns how many ended. Audited."""
    rows = PortalSession.objects.filter(login=login)
    if code == "others":
        rows = rows.exclude(session_key=current_key or "")
    else:
        rows = rows.filter(code=code) if _uuid(code) else rows.none()
        if not rows.exists():
            raise NotFound()
    ended = list(rows)
    for row in ended:
        SESSION.discard(row.session_key)
    PortalSession.objects.filter(pk__in=[r.pk for r in ended]).delete()
    audit_record(action="portal.sessions_ended", obj=login.client, actor=None,
                 after={"login": str(login.code), "sessions": [str(r.code) for r in ended],
                        "others": code == "others"})
    return len(ended)


# --- notifications --------------------------------------------------------------------------------------

NOTIFIED_EVENTS = (
    "kyc.approved", "kyc.rejected", "kyc.info_requested", "kyc.expiry_warned", "kyc.expired",
    "trading.account_opened", "trading.leverage_changed", LIVE_ACCOUNT_REFUSED,
    "wallet.deposit_succeeded", "wallet.withdrawal_approved", "wallet.withdrawal_paid",
    "wallet.withdrawal_rejected", "wallet.withdrawal_failed", "wallet.transfer_completed", "wallet.transfer_failed",
)


def _notification_data(event: Any) -> dict[str, Any]:
    data = dict(event.data or {})
    if event.name == "kyc.rejected":
        # What to fix: the hints the client is shown (already in their language) and the officer's words.
        from kyc.selectors import submissions_for_client

        submission = submissions_for_client(client=event.client).first()
        if submission is not None:
            data["hints"] = list(submission.client_hints or [])
            data["client_reason"] = submission.reason if submission.reviewer_id else ""
        data.pop("reason", None)  # staff's words: not for the client unless an officer wrote them
        data.pop("reviewer", None)
    return data


def portal_notification_record(*, event: Any) -> Notification | None:
    """The client's notification of `event` (one per event, however often delivered); None for an
    event of no trader's-room client."""
    if event.client_id is None or not ClientLogin.objects.filter(client_id=event.client_id).exists():
        return None
    notification, _created = Notification.objects.get_or_create(
        event=event, defaults={"client_id": event.client_id, "kind": event.name, "data": _notification_data(event),
                               "created_at": event.occurred_at})
    return notification


def portal_notifications_read(*, login: ClientLogin, code: str | None = None) -> int:
    """Mark one of the client's notifications (`code`; NotFound for another's) or all of them read."""
    rows = Notification.objects.filter(client=login.client, read_at__isnull=True)
    if code is not None:
        if not _uuid(code) or not Notification.objects.filter(client=login.client, code=code).exists():
            raise NotFound()
        rows = rows.filter(code=code)
    return rows.update(read_at=timezone.now())
