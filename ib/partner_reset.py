"""Partner "forgot password": a link by email that works once, for PASSWORD_RESET_MINUTES.

The same shape as the staff and trader's-room flows: the request answers the same whatever the
address (the known/unknown fact goes to the audit row only) and is rate-limited per IP and per
address; the token (Django's PasswordResetTokenGenerator with a salt of its own, over the login's
password hash, last sign-in and address) is made by the Celery task that sends the mail, so it never
travels through the broker; it stops working once the password changes, once the partner signs in,
and after PASSWORD_RESET_TIMEOUT. Setting the new password ends the partner's other sessions (their
cookie carries a digest of the old hash) and signs nobody in.
"""

from __future__ import annotations

from typing import Any, cast

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core.mail import EmailMessage
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode
from django.utils.translation import override

from crm.audit import audit_record
from crm.lib.enqueue import task_send_on_commit
from crm.lib.fieldcrypt import keyed_hashes
from crm.lib.public_url import public_url
from crm.lib.ratelimit import rate_hit, rate_key
from crm.models import Brand
from ib.exceptions import PartnerLoginThrottled, ResetLinkRefused
from ib.models import Partner, PartnerApplication, PartnerLogin, PartnerStatus


class PartnerResetTokens(PasswordResetTokenGenerator):
    key_salt = "ib.partner_reset.PartnerResetTokens"

    def _make_hash_value(self, user: Any, timestamp: int) -> str:
        last = "" if user.last_login_at is None else user.last_login_at.replace(microsecond=0, tzinfo=None)
        return f"{user.pk}{user.password}{last}{timestamp}{user.email.lower()}"


tokens = PartnerResetTokens()


def _may_reset(login: PartnerLogin) -> bool:
    """A switched-off login or a partner not (or no longer) active gets no link: it could not sign in."""
    return login.is_active and login.partner.status == PartnerStatus.ACTIVE


def reset_link(login: PartnerLogin) -> str:
    """The path of a fresh reset link of `login`."""
    uid = urlsafe_base64_encode(force_bytes(login.pk))
    return reverse("partners:password_reset_confirm", args=[uid, tokens.make_token(cast(Any, login))])


def partner_password_reset_request(*, brand: Brand, email: str, ip: str | None) -> None:
    """Queue the reset mail when `email` is an active partner login of `brand`; the caller answers
    the same either way. PartnerLoginThrottled beyond PASSWORD_RESET_IP_RATE_LIMIT per IP or
    PASSWORD_RESET_RATE_LIMIT per address."""
    address = (email or "").strip().lower()
    if (rate_hit(rate_key("ib:partner-reset-ip", ip or "unknown"), settings.PASSWORD_RESET_IP_RATE_LIMIT)
            or rate_hit(rate_key("ib:partner-reset", f"{brand.pk}:{address}"), settings.PASSWORD_RESET_RATE_LIMIT)):
        raise PartnerLoginThrottled()
    with transaction.atomic():
        login = (PartnerLogin.objects.select_related("partner").filter(brand=brand, email_hash__in=keyed_hashes(address, kind="email")).first()
                 if address else None)
        known = login is not None and _may_reset(login)
        audit_record(action="ib.partner_password_reset_requested", obj=login.partner if login else None,
                     object_type="ib.partner", actor=None, after={"brand": brand.code, "known": known})
        if login is not None and known:
            task_send_on_commit("ib.tasks.partner_reset_mail", login.pk, robust=True)


def partner_language(partner: Partner) -> str:
    """The language a partner is written to in: the one it applied in, else its own client record's
    (a partner who trades with the brand too), else its brand's."""
    application = PartnerApplication.objects.filter(partner=partner).only("language").first()
    language = application.language if application is not None else ""
    if not language and partner.client is not None:
        language = partner.client.language
    return language or partner.brand.default_language or settings.LANGUAGE_CODE


def partner_reset_mail_send(login_id: int) -> bool:
    """Make the link and mail it, in the partner's language; False when there is no one to write to."""

    login = PartnerLogin.objects.select_related("partner", "brand").filter(pk=login_id).first()
    if login is None or not _may_reset(login):
        return False
    values = {"partner": login.partner, "brand": login.brand, "minutes": settings.PASSWORD_RESET_MINUTES,
              "link": public_url(reset_link(login))}
    with override(partner_language(login.partner)):
        subject = render_to_string("emails/ib/partner_reset_subject.txt", values)
        body = render_to_string("emails/ib/partner_reset.txt", values)
    EmailMessage(" ".join(subject.split()), body, settings.DEFAULT_FROM_EMAIL, [login.email]).send()
    return True


def reset_link_login(*, uid: str, token: str) -> PartnerLogin:
    """The login a reset link names, while the link is good; ResetLinkRefused otherwise."""
    try:
        pk = int(force_str(urlsafe_base64_decode(uid)))
    except (TypeError, ValueError, OverflowError):
        raise ResetLinkRefused() from None
    login = PartnerLogin.objects.select_related("partner", "brand").filter(pk=pk).first()
    if login is None or not _may_reset(login) or not tokens.check_token(cast(Any, login), token):
        raise ResetLinkRefused()
    return login


@transaction.atomic
def partner_password_reset_complete(*, uid: str, token: str, password: str) -> PartnerLogin:
    """Set a new password through a good link, once: the link dies with the old password. The
    password validators apply (ValidationFailed naming the field "password")."""
    from ib.services import _check_password

    login = reset_link_login(uid=uid, token=token)
    login = PartnerLogin.objects.select_for_update(of=("self",)).select_related("partner", "brand").get(pk=login.pk)
    if not tokens.check_token(cast(Any, login), token):  # a second tab got there first
        raise ResetLinkRefused()
    _check_password(password)
    login.password = make_password(password)
    login.password_changed_at = timezone.now()
    login.save(update_fields=["password", "password_changed_at"])
    audit_record(action="ib.partner_password_reset", obj=login.partner, actor=None, after={"email": login.email})
    return login
