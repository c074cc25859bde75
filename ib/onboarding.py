"""Onboarding partners without a developer: the public application, the IB manager's queue
(approve with a plan and an optional parent, or reject with a reason), partners added or invited by
staff, sub-partners invited from the portal within what the partner's plan allows, and the mails
that carry a set-password or an invitation link.

A new partner's login starts without a password (an unusable hash): the welcome mail carries a
link of the partner password reset machinery (ib.partner_reset), made by the Celery task that
sends it, so it never travels through the broker. Every decision is audited and emits its event
(ib/event_types.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core import signing
from django.core.mail import EmailMessage
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext, override

from crm.audit import audit_record
from crm.events import emit
from crm.exceptions import FieldErrors
from crm.lib.countries import country_name
from crm.lib.enqueue import task_named, task_send_on_commit
from crm.lib.fieldcrypt import keyed_hashes
from crm.lib.phone import phone_normalise
from crm.lib.public_url import public_url
from crm.lib.ratelimit import rate_hit, rate_key, rate_spent
from crm.lib.validation import COUNTRY_CODES, InvalidValue, email_normalise, name_problem
from crm.models import Brand, User
from ib import commissions, services
from ib.exceptions import NotAllowed, PartnerLoginThrottled, ValidationFailed
from ib.models import (
    APPLICATION_STATES,
    ApplicationStatus,
    CommissionPlan,
    InvitationStatus,
    JoinedVia,
    MarketingMethod,
    Partner,
    PartnerApplication,
    PartnerInvitation,
    PartnerKind,
    PartnerLogin,
    PartnerStatus,
    PlanAssignment,
)
from ib.partner_reset import partner_language

MAX_EXPECTED_CLIENTS = 100_000
MAX_COUNTRIES = 50


def _application_ref(application: PartnerApplication) -> dict[str, Any]:
    return {"application": str(application.code), "company": application.company,
            "countries": list(application.countries), "kind": application.kind}


def _snapshot(application: PartnerApplication) -> dict[str, Any]:
    return {"status": application.status, "company": application.company, "email": application.contact_email,
            "countries": list(application.countries), "marketing_methods": list(application.marketing_methods),
            "expected_clients": application.expected_clients, "partner": application.partner_id}


def countries_label(codes: Sequence[str], language: str = "en") -> str:
    """The countries' names (never their codes), in `language`, for pages and mails."""
    return ", ".join(country_name(code, language) for code in codes)


# --- the public application -------------------------------------------------------------------------

def _website_clean(value: str, errors: FieldErrors) -> str:
    value = (value or "").strip()
    if not value:
        return ""
    if "://" not in value:
        value = "https://" + value
    try:
        URLValidator(schemes=["http", "https"])(value)
    except Exception:  # noqa: BLE001 - a ValidationError, said as the field's error
        errors.add("website", gettext("Enter your website's address, such as https://example.com."))
        return ""
    if len(value) > 200:
        errors.add("website", gettext("At most 200 characters."))
    return value


def _text_clean(value: str, field: str, missing: str, errors: FieldErrors) -> str:
    value = (value or "").strip()
    if not value:
        errors.add(field, missing)
    elif problem := name_problem(value):  # a company's or a person's name
        errors.add(field, problem)
    elif len(value) > 120:
        errors.add(field, gettext("At most 120 characters."))
    return value


def _contact_clean(company: str, contact_name: str, contact_email: str, contact_phone: str,
                   countries: Sequence[str], errors: FieldErrors) -> tuple[str, str, str, str]:
    """The applicant's company, contact name, email and phone, cleaned; each problem named in `errors`."""
    company = _text_clean(company, "company", gettext("Enter your company's name (or your own, if you work alone)."),
                          errors)
    contact_name = _text_clean(contact_name, "contact_name",
                               gettext("Enter the name of the person we should talk to."), errors)
    email = ""
    try:
        email = email_normalise(contact_email, field="contact_email")
        if not email:
            errors.add("contact_email", gettext("Enter your email address."))
    except InvalidValue as error:
        errors.add(error.field, error.message)
    phone = ""
    try:
        region = next(iter(countries), None)
        phone = phone_normalise(contact_phone, region=region if isinstance(region, str) else None,
                                field="contact_phone")
        if not phone:
            errors.add("contact_phone", gettext("Enter a phone number."))
    except InvalidValue as error:
        errors.add(error.field, error.message)
    return company, contact_name, email, phone


def _reach_clean(expected_clients: int | None, countries: Sequence[str], marketing_methods: Sequence[str],
                 marketing_note: str, errors: FieldErrors) -> tuple[list[str], list[str], str]:
    """How many clients, from which countries, by which methods: cleaned, each problem named."""
    if expected_clients is None:
        errors.add("expected_clients", gettext("Say how many clients a month you expect to bring."))
    elif not 1 <= expected_clients <= MAX_EXPECTED_CLIENTS:
        errors.add("expected_clients", gettext("Between 1 and %(max)d.") % {"max": MAX_EXPECTED_CLIENTS})
    codes = list(dict.fromkeys((c or "").strip().upper() for c in countries if (c or "").strip()))
    unknown = [c for c in codes if c not in COUNTRY_CODES]
    if unknown:
        errors.add("countries", gettext("Unknown country code: %(value)s. Choose the countries from the list.")
                   % {"value": ", ".join(unknown)})
    elif not codes:
        errors.add("countries", gettext("Choose at least one country where you find clients."))
    elif len(codes) > MAX_COUNTRIES:
        errors.add("countries", gettext("At most %(max)d countries.") % {"max": MAX_COUNTRIES})
    methods = list(dict.fromkeys(marketing_methods))
    if any(m not in MarketingMethod.values for m in methods):
        errors.add("marketing_methods", gettext("Choose the methods from the list."))
    elif not methods:
        errors.add("marketing_methods", gettext("Choose at least one way you find clients."))
    marketing_note = (marketing_note or "").strip()
    if len(marketing_note) > 2000:
        errors.add("marketing_note", gettext("At most 2000 characters."))
    return codes, methods, marketing_note


def _email_free(brand: Brand, email: str, errors: FieldErrors) -> None:
    """An address that is a partner's login, or has an application waiting, cannot apply."""
    if PartnerLogin.objects.filter(brand=brand, email_hash__in=keyed_hashes(email, kind="email")).exists():
        errors.add("contact_email", gettext(
            "A partner with this email address already exists. Sign in to the partner portal instead."))
    elif PartnerApplication.objects.filter(brand=brand, contact_email_hash__in=keyed_hashes(email, kind="email"),
                                           status=ApplicationStatus.PENDING).exists():
        errors.add("contact_email", gettext(
            "An application from this address is already waiting for review. We will email you."))


@transaction.atomic
def partner_application_submit(*, brand: Brand, company: str, contact_name: str, contact_email: str,
                               contact_phone: str, expected_clients: int | None, countries: Sequence[str],
                               marketing_methods: Sequence[str], agree: bool, website: str = "",
                               marketing_note: str = "", kind: str = PartnerKind.IB, language: str = "",
                               ip: str | None = None) -> PartnerApplication:
    """Take an application to become `brand`'s partner, for the IB manager's queue.

    PartnerLoginThrottled beyond PARTNER_APPLY_RATE_LIMIT applications taken per IP (a refused one
    is not counted: a person correcting a typo is not throttled). ValidationFailed naming every
    bad field: company and contact name, email, phone (international form), expected clients per
    month (1 to 100 000), at least one known country, at least one marketing method, the agreement
    not accepted; an address that already has an application waiting, or is a partner's login, is
    refused (an applicant rejected before may apply again). Event "ib.partner_applied"."""
    budget = rate_key("ib:partner-apply", ip or "unknown")
    if rate_spent(budget, settings.PARTNER_APPLY_RATE_LIMIT):
        raise PartnerLoginThrottled()
    errors = FieldErrors()
    if kind not in PartnerKind.values:
        errors.add("kind", gettext("Choose introducing broker or affiliate."))
    company, contact_name, email, phone = _contact_clean(company, contact_name, contact_email, contact_phone,
                                                         countries, errors)
    website = _website_clean(website, errors)
    codes, methods, marketing_note = _reach_clean(expected_clients, countries, marketing_methods, marketing_note,
                                                  errors)
    if not agree:
        errors.add("agree", gettext("Accept the partner agreement to apply."))
    if email and "contact_email" not in errors:
        _email_free(brand, email, errors)
    errors.raise_if_any()
    assert expected_clients is not None
    now = timezone.now()
    try:
        with transaction.atomic():
            application = PartnerApplication.objects.create(
                brand=brand, kind=kind, company=company, website=website, expected_clients=expected_clients,
                countries=codes, marketing_methods=methods, marketing_note=marketing_note,
                contact_name=contact_name, contact_email=email, contact_phone=phone, language=language[:12],
                agreed_at=now, created_at=now,
                ip_hash=salted_hmac("ib.apply.ip", ip or "-", algorithm="sha256").hexdigest()[:32])
    except IntegrityError:  # the same address sent twice at once
        raise ValidationFailed(fields={"contact_email": gettext(
            "An application from this address is already waiting for review. We will email you.")}) from None
    rate_hit(budget, settings.PARTNER_APPLY_RATE_LIMIT)  # counted once taken
    audit_record(action="ib.partner_applied", obj=application, actor=None, after=_snapshot(application))
    emit("ib.partner_application_received", brand=brand.pk, actor=None, data=_application_ref(application))
    if services.program_for(brand).auto_approve:
        application_approve(actor=None, application=application, plan=None, reason="automatic approval")
    return application


# --- the IB manager's decisions -----------------------------------------------------------------------

def _locked(application: PartnerApplication) -> PartnerApplication:
    return PartnerApplication.objects.select_for_update(of=("self",)).select_related("brand").get(pk=application.pk)


def _check_plan_and_parent(*, brand_id: int, plan: CommissionPlan | None, parent: Partner | None,
                           errors: FieldErrors) -> None:
    if plan is not None and plan.brand_id != brand_id:
        errors.add("plan", gettext("The plan belongs to another brand."))
    if parent is not None:
        if parent.brand_id != brand_id:
            errors.add("parent", gettext("The parent partner belongs to another brand."))
        elif parent.status != PartnerStatus.ACTIVE:
            errors.add("parent", gettext("Only an active partner can have sub-partners."))


def _login_without_password(partner: Partner) -> PartnerLogin:
    """The partner's portal login, to be given a password through the welcome mail's link."""
    return PartnerLogin.objects.create(partner=partner, brand_id=partner.brand_id, email=partner.contact_email,
                                       password=make_password(None))


def _welcome_mail_on_commit(login: PartnerLogin) -> None:
    task_send_on_commit("ib.tasks.partner_welcome_mail", login.pk, robust=True)


def _assign(actor: User | None, partner: Partner, plan: CommissionPlan | None, at: dt.datetime) -> None:
    if plan is not None:
        commissions.plan_assign(actor=actor, plan=plan, partner=partner, effective_from=at)


@transaction.atomic
def application_approve(*, actor: User | None, application: PartnerApplication, plan: CommissionPlan | None,
                        parent: Partner | None = None, reason: str = "") -> Partner:
    """Approve a waiting application: an active partner (the company's name, the contact's email,
    the first country), under `parent` if given, earning under `plan` from now; its portal login
    without a password, and the welcome mail with the link to set one. Staff need the permission
    and the brand ("missing" otherwise); Conflict when the application was decided already."""
    services._require(actor, application.brand_id)
    application = _locked(application)
    APPLICATION_STATES.check(application, ApplicationStatus.APPROVED)
    errors = FieldErrors()
    _check_plan_and_parent(brand_id=application.brand_id, plan=plan, parent=parent, errors=errors)
    if PartnerLogin.objects.filter(brand_id=application.brand_id,
                                   email_hash__in=keyed_hashes(application.contact_email, kind="email")).exists():
        errors.add("contact_email", gettext("A partner with this email address already exists."))
    errors.raise_if_any()
    before = _snapshot(application)
    partner = services._partner_create(
        brand=application.brand, kind=application.kind, display_name=application.company,
        email=application.contact_email, country=(application.countries or [""])[0], payout_currency="",
        schedule="monthly", parent=parent, status=PartnerStatus.ACTIVE, joined_via=JoinedVia.APPLICATION)
    now = partner.created_at
    _assign(actor, partner, plan, now)
    login = _login_without_password(partner)
    APPLICATION_STATES.move(application, ApplicationStatus.APPROVED, save=(), also={
        "decided_at": now, "decided_by": actor, "partner": partner, "reason": (reason or "").strip()[:500]})
    audit_record(action="ib.application_approved", obj=application, actor=actor, before=before,
                 after={**_snapshot(application), "plan": plan.name if plan else None,
                        "parent": parent.pk if parent else None}, reason=application.reason)
    emit("ib.partner_application_decided", brand=application.brand_id, actor=actor,
         data={**_application_ref(application), "status": application.status,
               "partner": services.partner_ref(partner), "reason": application.reason})
    services._partner_event("ib.partner_approved", partner, actor=actor)
    _welcome_mail_on_commit(login)
    return partner


@transaction.atomic
def application_reject(*, actor: User | None, application: PartnerApplication, reason: str) -> PartnerApplication:
    """Reject a waiting application, saying why (the applicant is told by email and may apply again)."""
    services._require(actor, application.brand_id)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(fields={"reason": gettext("Say why the application is rejected.")})
    if len(reason) > 500:
        raise ValidationFailed(fields={"reason": gettext("At most 500 characters.")})
    application = _locked(application)
    before = _snapshot(application)
    APPLICATION_STATES.move(application, ApplicationStatus.REJECTED, save=(),
                            also={"decided_at": timezone.now(), "decided_by": actor, "reason": reason})
    audit_record(action="ib.application_rejected", obj=application, actor=actor, before=before,
                 after=_snapshot(application), reason=reason)
    emit("ib.partner_application_decided", brand=application.brand_id, actor=actor,
         data={**_application_ref(application), "status": application.status, "partner": None, "reason": reason})
    application_id = application.pk
    transaction.on_commit(lambda: _rejection_mail_task(application_id), robust=True)
    return application


def _rejection_mail_task(application_id: int) -> None:
    task_named("ib.tasks.partner_application_rejected_mail").delay(application_id)


# --- partners added or invited by staff ----------------------------------------------------------------

@transaction.atomic
def partner_onboard(*, actor: User | None, brand: Brand, display_name: str, email: str,
                    kind: str = PartnerKind.IB, country: str = "", parent: Partner | None = None,
                    plan: CommissionPlan | None = None, send_login: bool = True) -> Partner:
    """The IB manager adds a partner directly: active at once, under `parent`, earning under `plan`;
    with `send_login`, its portal login is made and the welcome mail (a set-password link) sent."""
    services._require(actor, brand.pk)
    errors = FieldErrors()
    _check_plan_and_parent(brand_id=brand.pk, plan=plan, parent=parent, errors=errors)
    address = (email or "").strip()
    if send_login and address and PartnerLogin.objects.filter(brand=brand, email_hash__in=keyed_hashes(address, kind="email")).exists():
        errors.add("email", gettext("A partner with this email address already exists."))
    errors.raise_if_any()
    partner = services.partner_create(actor=actor, brand=brand, display_name=display_name, email=email, kind=kind,
                                      country=country, parent=parent)
    _assign(actor, partner, plan, partner.created_at)
    if send_login:
        _welcome_mail_on_commit(_login_without_password(partner))
    return partner


def invitation_token(invitation: PartnerInvitation) -> str:
    return signing.dumps({"i": str(invitation.code)}, salt=services.INVITATION_SALT)


def _invitation_mail_on_commit(token: str) -> None:
    invitation = services.invitation_for_token(token)
    task_send_on_commit("ib.tasks.partner_invitation_mail", invitation.pk, robust=True)


@transaction.atomic
def partner_invite_send(*, actor: User | None, brand: Brand, email: str, kind: str = PartnerKind.IB,
                        parent: Partner | None = None, plan: CommissionPlan | None = None) -> PartnerInvitation:
    """The IB manager invites `email` to join (under `parent`, earning under `plan`): the invitation
    mail carries the link to the page where the partner names itself and sets its password."""
    services._require(actor, brand.pk)
    errors = FieldErrors()
    _check_plan_and_parent(brand_id=brand.pk, plan=plan, parent=parent, errors=errors)
    address = (email or "").strip()
    if address and PartnerInvitation.objects.filter(brand=brand, email_hash__in=keyed_hashes(address, kind="email"),
                                                    status=InvitationStatus.SENT,
                                                    expires_at__gt=timezone.now()).exists():
        errors.add("email", gettext("An invitation to this address is still open."))
    errors.raise_if_any()
    token = services.partner_invite(brand=brand, email=email, actor=actor, parent=parent, kind=kind)
    invitation = services.invitation_for_token(token)
    if plan is not None:
        PartnerInvitation.objects.filter(pk=invitation.pk).update(plan=plan)
    emit("ib.partner_invited", brand=brand.pk, actor=actor, data={
        "invitation": str(invitation.code), "email": invitation.email, "kind": invitation.kind,
        "parent": services.partner_ref(parent), "by_partner": None})
    _invitation_mail_on_commit(token)
    return invitation


def current_plan(partner: Partner, at: dt.datetime | None = None) -> CommissionPlan | None:
    """The plan assigned to `partner` at `at` (default now), if any."""
    at = at or timezone.now()
    row = (PlanAssignment.objects.select_related("plan")
           .filter(partner=partner, effective_from__lte=at).filter(Q(effective_to__isnull=True) | Q(effective_to__gt=at))
           .order_by("-effective_from").first())
    return row.plan if row is not None else None


def sub_partner_allowance(partner: Partner) -> tuple[int | None, int]:
    """(how many direct sub-partners the partner's plan allows, None for no limit; how many it has:
    sub-partners not rejected or closed, and invitations still open)."""
    plan = current_plan(partner)
    limit = 0 if plan is None else plan.max_sub_partners
    used = (Partner.objects.filter(parent=partner).exclude(status__in=[PartnerStatus.REJECTED, PartnerStatus.CLOSED])
            .count()
            + PartnerInvitation.objects.filter(parent=partner, status=InvitationStatus.SENT,
                                               expires_at__gt=timezone.now()).count())
    return limit, used


@transaction.atomic
def sub_partner_invite(*, partner: Partner, email: str) -> PartnerInvitation:
    """A partner invites a sub-partner from the portal: the new partner joins as its child, on the
    same plan. NotAllowed when the partner's plan allows no (more) sub-partners."""
    Partner.objects.select_for_update().get(pk=partner.pk)  # one invitation at a time per partner: the count holds
    limit, used = sub_partner_allowance(partner)
    if limit == 0:
        raise NotAllowed(gettext("Your commission plan does not include sub-partners. Ask your partner manager."))
    if limit is not None and used >= limit:
        raise NotAllowed(gettext("Your plan allows %(limit)d sub-partners and you have %(used)d (open invitations "
                                 "count).") % {"limit": limit, "used": used})
    address = (email or "").strip()
    if address and PartnerInvitation.objects.filter(brand_id=partner.brand_id,
                                                    email_hash__in=keyed_hashes(address, kind="email"),
                                                    status=InvitationStatus.SENT,
                                                    expires_at__gt=timezone.now()).exists():
        raise ValidationFailed(fields={"email": gettext("An invitation to this address is still open.")})
    token = services.partner_invite(brand=partner.brand, email=email, inviting_partner=partner)
    invitation = services.invitation_for_token(token)
    emit("ib.partner_invited", brand=partner.brand_id, actor=None, data={
        "invitation": str(invitation.code), "email": invitation.email, "kind": invitation.kind,
        "parent": services.partner_ref(partner), "by_partner": services.partner_ref(partner)})
    _invitation_mail_on_commit(token)
    return invitation


@transaction.atomic
def invitation_accept(*, token: str, display_name: str, password: str, country: str = "") -> Partner:
    """Join through an invitation (ib.services.partner_accept_invitation): the invitation's plan, or
    else the parent's current plan, applies to the new partner's clients from now."""
    invitation = services.invitation_for_token(token)
    partner = services.partner_accept_invitation(token=token, display_name=display_name, password=password,
                                                 country=country)
    plan = invitation.plan or (current_plan(invitation.parent) if invitation.parent is not None else None)
    _assign(None, partner, plan, partner.created_at)
    return partner


@transaction.atomic
def plan_sub_partners_set(*, actor: User | None, plan: CommissionPlan, max_sub_partners: int | None) -> CommissionPlan:
    """How many direct sub-partners a partner on `plan` may invite from the portal (None: no limit)."""
    services._require(actor, plan.brand_id)
    if max_sub_partners is not None and not 0 <= max_sub_partners <= 10_000:
        raise ValidationFailed(fields={"max_sub_partners": gettext("Between 0 and 10000, or empty for no limit.")})
    plan = CommissionPlan.objects.select_for_update().get(pk=plan.pk)
    before = plan.max_sub_partners
    plan.max_sub_partners = max_sub_partners
    plan.save(update_fields=["max_sub_partners"])
    audit_record(action="ib.plan_sub_partners_set", obj=plan, actor=actor, before={"max_sub_partners": before},
                 after={"max_sub_partners": max_sub_partners})
    return plan


# --- mails (sent by ib.tasks) -----------------------------------------------------------------------------

def _send(*, template: str, values: dict[str, Any], to: str, language: str) -> None:
    with override(language or settings.LANGUAGE_CODE):
        subject = render_to_string(f"emails/ib/{template}_subject.txt", values)
        body = render_to_string(f"emails/ib/{template}.txt", values)
    EmailMessage(" ".join(subject.split()), body, settings.DEFAULT_FROM_EMAIL, [to]).send()


def partner_welcome_mail_send(login_id: int) -> bool:
    """The welcome mail of a new partner: a set-password link (ib.partner_reset's, once, for
    PASSWORD_RESET_MINUTES) and the portal's sign-in address."""
    from ib.partner_reset import reset_link

    login = PartnerLogin.objects.select_related("partner", "brand").filter(pk=login_id).first()
    if login is None or not login.is_active or login.partner.status != PartnerStatus.ACTIVE:
        return False
    _send(template="partner_welcome", to=login.email, language=partner_language(login.partner), values={
        "partner": login.partner, "brand": login.brand, "minutes": settings.PASSWORD_RESET_MINUTES,
        "link": public_url(reset_link(login)),
        "login_url": public_url(reverse("partners:login_brand", args=[login.brand.code]))})
    return True


def partner_invitation_mail_send(invitation_id: int) -> bool:
    invitation = (PartnerInvitation.objects.select_related("brand", "parent", "invited_by_partner")
                  .filter(pk=invitation_id, status=InvitationStatus.SENT).first())
    if invitation is None or invitation.expires_at <= timezone.now():
        return False
    # The inviting partner's language for a sub-partner (they are likely to share it), else the brand's.
    inviter = invitation.invited_by_partner
    language = partner_language(inviter) if inviter is not None else invitation.brand.default_language
    _send(template="partner_invitation", to=invitation.email, language=language, values={
        "brand": invitation.brand, "invitation": invitation, "inviter": invitation.invited_by_partner,
        "link": public_url(reverse("partners:join", args=[invitation_token(invitation)]))})
    return True


def partner_application_rejected_mail_send(application_id: int) -> bool:
    application = PartnerApplication.objects.select_related("brand").filter(
        pk=application_id, status=ApplicationStatus.REJECTED).first()
    if application is None:
        return False
    _send(template="partner_application_rejected", to=application.contact_email,
          language=application.language or application.brand.default_language,
          values={"application": application, "brand": application.brand,
                  "apply_url": public_url(reverse("partners:apply", args=[application.brand.code]))})
    return True
