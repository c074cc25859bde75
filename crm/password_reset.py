"""Staff "forgot password": a link by email that works once, for PASSWORD_RESET_MINUTES.

The request answers the same whatever the address: the service does the same work for an unknown
address, a deactivated account and a real one (one lookup, one audit row, one task queued after
commit), and the Celery task decides, from the address alone, whether there is anyone to write to.
Whether the address is known is written only into the audit row.

The link carries the user's public code and a token from Django's PasswordResetTokenGenerator (with
a salt of its own): the token is a signature over the user's password hash, last login, email and
the time it was made, so it stops working once the password changes (single use), once the user
logs in, and PASSWORD_RESET_TIMEOUT seconds after it was made. It is made in the task, not in the
request, so it never travels through the broker.

Setting a new password does not log anyone in: the user logs in again, with the second factor when
they have one. Their other sessions end (the session's password hash no longer matches), and the
failed logins counted against the address are forgotten (they were guesses at the old password).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from axes.utils import reset as axes_reset
from django.conf import settings
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core.mail import EmailMessage
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.crypto import constant_time_compare
from django.utils.http import base36_to_int
from django.utils.translation import gettext as _
from django.utils.translation import override
from kombu.exceptions import OperationalError as BrokerError

from crm.audit import audit_record
from crm.events import emit
from crm.exceptions import NotFound
from crm.lib.enqueue import task_named
from crm.lib.public_url import public_url
from crm.lib.ratelimit import rate_hit, rate_key
from crm.models import User
from crm.staff_services import password_check
from plumbing import context

logger = logging.getLogger(__name__)

# Refusal reasons, as the audit log records them.
REFUSED_MALFORMED = "malformed"  # the code in the link is not a user's code at all
REFUSED_UNKNOWN_USER = "unknown_user"  # no active user has that code (deactivated since, or made up)
REFUSED_EXPIRED = "expired"  # a genuine token, older than PASSWORD_RESET_MINUTES
REFUSED_INVALID = "invalid"  # used already, superseded by a login, or forged


class StaffPasswordResetTokens(PasswordResetTokenGenerator):
    """Django's reset tokens with a salt of this flow, so that no other use of the generator
    (Django's admin views, should they ever be wired) makes tokens this flow accepts."""

    key_salt = "crm.password_reset.StaffPasswordResetTokens"

    def refusal(self, user: User, token: str) -> str | None:
        """None when `token` is good for `user` now; else why not (expired or invalid)."""
        if self.check_token(user, token):
            return None
        timestamp_b36, _sep, _hash = (token or "").partition("-")
        try:
            timestamp = base36_to_int(timestamp_b36)
        except ValueError:
            return REFUSED_INVALID
        # Genuine but old: the signature matches the timestamp it carries (check_token already
        # refused it for its age). Anything else was used, superseded or never ours.
        for secret in [self.secret, *self.secret_fallbacks]:
            if constant_time_compare(self._make_token_with_timestamp(user, timestamp, secret), token):
                return REFUSED_EXPIRED
        return REFUSED_INVALID


tokens = StaffPasswordResetTokens()


def password_reset_minutes() -> int:
    return int(settings.PASSWORD_RESET_MINUTES)


@dataclass(frozen=True)
class ResetRequest:
    """What password_reset_request did. Only for the caller's tests and logs: the page shows the
    same answer whatever is in here."""

    queued: bool
    throttled: bool


@transaction.atomic
def password_reset_request(*, email: str, ip: str | None) -> ResetRequest:
    """Someone asks for a reset link for `email` from `ip`.

    Counts the request against the per-address and per-IP budgets (PASSWORD_RESET_RATE_LIMIT,
    PASSWORD_RESET_IP_RATE_LIMIT), audits it ("auth.password_reset_requested", with whether the
    address is a known and active account and whether it was throttled) and, unless throttled,
    queues the mail task after commit, for every address alike: the task finds out whether there
    is someone to write to, so the request takes the same time either way.
    """
    email = email.strip().lower()
    over_address = rate_hit(rate_key("crm:pwreset:addr", email), settings.PASSWORD_RESET_RATE_LIMIT)
    over_ip = rate_hit(rate_key("crm:pwreset:ip", ip or "unknown"), settings.PASSWORD_RESET_IP_RATE_LIMIT)
    throttled = bool(over_address or over_ip)
    user = User.objects.filter(email__iexact=email).first()
    audit_record(
        action="auth.password_reset_requested", obj=user, object_type="crm.user",
        after={"email": email[:254], "known": user is not None, "active": bool(user and user.is_active),
               "throttled": throttled},
        actor=None,
    )
    if not throttled:
        request_id = context.current().request_id
        transaction.on_commit(lambda: _enqueue(email, request_id), robust=True)
    return ResetRequest(queued=not throttled, throttled=throttled)


def _enqueue(email: str, request_id: str) -> None:
    try:
        task_named("crm.tasks.password_reset_mail_send").apply_async(args=[email])
    except BrokerError:
        # Nothing to retry from: the person asks again (the page told them the link may not come).
        logger.warning("could not queue a password reset mail", exc_info=True, extra={"request_id": request_id})


def password_reset_link(user: User) -> str:
    """The absolute link for `user`, with a token made now. Built on CRM_PUBLIC_URL, never on the
    Host header of the request that asked for it (a forged Host would send the token elsewhere)."""
    path = reverse("password_reset_confirm", kwargs={"code": str(user.code), "token": tokens.make_token(user)})
    return public_url(path)


def password_reset_mail_send(*, email: str) -> bool:
    """Send the reset link to the active user whose address is `email`; False (nothing sent) when
    there is none. Plain text, in the user's language."""
    user = User.objects.filter(email__iexact=email.strip().lower(), is_active=True).first()
    if user is None:
        return False
    language = user.language or settings.LANGUAGE_CODE
    values = {
        "user": user, "link": password_reset_link(user), "minutes": password_reset_minutes(),
        "site_name": settings.CRM_SITE_NAME, "login_url": public_url(reverse("login")),
    }
    with override(language):
        subject = render_to_string("emails/auth/password_reset_subject.txt", values)
        body = render_to_string("emails/auth/password_reset.txt", values)
    EmailMessage(" ".join(subject.split()), body, settings.DEFAULT_FROM_EMAIL, [user.email]).send()
    return True


# --- the link -------------------------------------------------------------------------------------


def _link_user(code: str, token: str, *, lock: bool = False) -> tuple[User | None, str | None]:
    """The active user the link names, and None, when the token is good; else why it is refused."""
    try:
        user_code = uuid.UUID(str(code))
    except ValueError:
        return None, REFUSED_MALFORMED
    users = User.objects.select_for_update() if lock else User.objects.all()
    user = users.filter(code=user_code, is_active=True).first()
    if user is None:
        return None, REFUSED_UNKNOWN_USER
    refusal = tokens.refusal(user, token)
    return (user, None) if refusal is None else (user, refusal)


def _refusal_record(*, code: str, user: User | None, reason: str) -> None:
    with transaction.atomic():
        # The code is kept only when it is one (a path can hold any text; the audit log keeps none of it).
        object_id = str(user.code) if user is not None else ("" if reason == REFUSED_MALFORMED else str(code))
        audit_record(action="auth.password_reset_refused", obj=user, object_type="crm.user", object_id=object_id,
                     after={"reason": reason}, actor=None)


def _link_refused() -> NotFound:
    return NotFound(_("This password reset link is no longer valid."), code="reset_link_invalid")


def password_reset_link_check(*, code: str, token: str) -> User:
    """The user a reset link is good for. Raises NotFound (code "reset_link_invalid") for a link
    that is used, expired, superseded or made up, and audits the refusal
    ("auth.password_reset_refused", with the reason)."""
    user, refusal = _link_user(code, token)
    if refusal is None and user is not None:
        return user
    _refusal_record(code=code, user=user, reason=refusal or REFUSED_INVALID)
    raise _link_refused()


def password_reset_complete(*, code: str, token: str, new_password: str) -> User:
    """Set `new_password` for the user of a good reset link, once.

    The link is checked again with the user's row locked, so that of two submissions of one link
    only the first sets a password. The password must satisfy AUTH_PASSWORD_VALIDATORS
    (ValidationFailed naming "new_password1"; nothing written). Audited
    ("auth.password_reset_done"), emits "staff.password_changed". Nobody is logged in; the user's
    sessions end and the failed logins counted against their address are forgotten. A refused link
    raises NotFound as in password_reset_link_check.
    """
    with transaction.atomic():
        user, refusal = _link_user(code, token, lock=True)
        if refusal is None and user is not None:
            password_check(password=new_password, user=user, field="new_password1")
            user.set_password(new_password)
            user.save(update_fields=["password"])
            cleared = axes_reset(username=user.email)
            audit_record(action="auth.password_reset_done", obj=user, actor=user,
                         after={"failed_logins_cleared": cleared})
            emit("staff.password_changed", actor=user, data={"user": str(user.code)})
            return user
    _refusal_record(code=code, user=user, reason=refusal or REFUSED_INVALID)
    raise _link_refused()
