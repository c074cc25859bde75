"""Trading passwords by a single-use link: the client gets an email with a link, in the brand's name
and the client's language, and sees the password once on a public page. Nobody at the brokerage
sees it, and it is not in the email.

The link carries a random token (256 bits); only its SHA-256 is stored (TradingPasswordLink), so a
copy of the database opens nothing. Until the client reveals it, the password waits encrypted under a
key of its own purpose (crm.lib.crypto); revealing wipes it, and so do the link's expiry
(TRADING_PASSWORD_LINK_HOURS, the sweep `password_links_purge`) and a newer link for the same
account. Opening the link shows a button; only pressing it (a POST) reveals and uses the link, so a
mail scanner that follows links does not spend it.

The email is sent after the transaction commits, straight to the mail server: it is not kept in the
outbound email log, where anyone who may read that log could use the link first.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.safestring import mark_safe
from django.utils.translation import gettext

from crm.audit import audit_record
from crm.lib.crypto import FieldCipher, Undecryptable
from crm.lib.public_url import public_url
from crm.models import Brand
from emails.services import brand_sender, client_mail_language
from trading.exceptions import PasswordLinkUnusable
from trading.models import PasswordLinkPurpose, TradingAccount, TradingPasswordLink

logger = logging.getLogger(__name__)

CIPHER = FieldCipher(salt=b"brokerage-crm/trading.password_links", info=b"trading passwords awaiting reveal v1",
                     what="trading passwords awaiting reveal")
TOKEN_BYTES = 32

USED, EXPIRED, REPLACED, UNKNOWN, VALID = "used", "expired", "replaced", "unknown", "valid"


def link_hours() -> int:
    return int(getattr(settings, "TRADING_PASSWORD_LINK_HOURS", 48))


def token_hash(token: str) -> str:
    return hashlib.sha256((token or "").encode()).hexdigest()


def _revoke_open_links(account: TradingAccount, now: dt.datetime) -> int:
    return TradingPasswordLink.objects.filter(account=account, revealed_at__isnull=True,
                                              revoked_at__isnull=True).update(
        revoked_at=now, password_encrypted="", investor_password_encrypted="")


def password_link_issue(*, account: TradingAccount, purpose: str, password: str, investor_password: str = "") -> None:
    """Store the passwords encrypted behind a new link (replacing the account's unrevealed ones: their
    passwords no longer work) and email the link to the client after commit. Call inside the
    transaction that records the change. A client without an email address gets nothing (and nothing
    is stored)."""
    client = account.client
    if not client.email:
        return
    now = timezone.now()
    _revoke_open_links(account, now)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    language = client_mail_language(client)
    link = TradingPasswordLink.objects.create(
        account=account, purpose=purpose, token_hash=token_hash(token), language=language,
        password_encrypted=CIPHER.encrypt(password),
        investor_password_encrypted=CIPHER.encrypt(investor_password) if investor_password else "",
        expires_at=now + dt.timedelta(hours=link_hours()),
    )
    audit_record(action="trading.password_link_issue", obj=account,
                 after={"login": account.login, "link": str(link.code), "purpose": purpose,
                        "expires_at": link.expires_at.isoformat(), "sent_to": "client email"})
    url = public_url(reverse("trading_password_link", args=[token]))
    brand = client.brand
    recipient = client.email
    context = {"client": client, "account": account, "server_name": account.server.name, "link": url,
               "hours": link_hours(), "brand_name": brand.name, "opened": purpose == PasswordLinkPurpose.OPENED}

    def send() -> None:
        with translation.override(language):
            subject = " ".join(render_to_string("emails/trading/password_link_subject.txt", context).split())
            body = render_to_string("emails/trading/password_link.txt", context).strip()
            layout = {"subject": subject, "brand_name": brand.name, "language": language,
                      "rtl": translation.get_language_bidi()}
            text = render_to_string("emails/base.txt", {**layout, "body": body})
            html = render_to_string("emails/base.html", {**layout, "body_html": mark_safe(  # noqa: S308
                render_to_string("emails/trading/password_link.html", context))})
        message = EmailMultiAlternatives(subject, text.strip() + "\n", brand_sender(brand), [recipient])
        message.attach_alternative(html, "text/html")
        try:
            message.send()
        except OSError:
            # The account (or the new password) is in place; staff can send a new link.
            logger.exception("could not send a trading password link", extra={"login": account.login})

    transaction.on_commit(send, robust=True)


# --- the link --------------------------------------------------------------------------------------------

def _state(link: TradingPasswordLink | None, now: dt.datetime) -> str:
    if link is None:
        return UNKNOWN
    if link.revealed_at is not None:
        return USED
    if link.revoked_at is not None:
        return REPLACED
    if link.expires_at <= now or not link.password_encrypted:
        return EXPIRED
    return VALID


@dataclass(frozen=True)
class LinkView:
    """What the page shows for a link: its state, and (unless unknown) whose account it is for."""

    state: str
    link: TradingPasswordLink | None

    @property
    def brand(self) -> Brand | None:
        return self.link.account.client.brand if self.link is not None else None


def _find(token: str, *, lock: bool = False) -> TradingPasswordLink | None:
    if not token or len(token) > 200:
        return None
    qs = TradingPasswordLink.objects.select_related("account__server", "account__client__brand")
    if lock:
        qs = qs.select_for_update(of=("self",))
    return qs.filter(token_hash=token_hash(token)).first()


def password_link_view(*, token: str) -> LinkView:
    """The link's state for the page, without using it."""
    link = _find(token)
    return LinkView(state=_state(link, timezone.now()), link=link)


@dataclass(frozen=True)
class Revealed:
    account: TradingAccount
    password: str
    investor_password: str
    language: str


_REFUSALS: dict[str, tuple[str, Callable[[], str]]] = {
    USED: ("password_link_used", lambda: gettext("This link was already used: the password was shown once.")),
    EXPIRED: ("password_link_expired", lambda: gettext("This link has expired.")),
    REPLACED: ("password_link_replaced", lambda: gettext("A newer link replaced this one.")),
    UNKNOWN: ("password_link_unknown", lambda: gettext("This link is not valid.")),
}


def password_link_reveal(*, token: str) -> Revealed:
    """Use the link: return its passwords once and wipe them. Raises PasswordLinkUnusable (its code
    says why) for a link that is used, expired, replaced or unknown. Audited
    ("trading.password_link_reveal")."""
    with transaction.atomic():
        link = _find(token, lock=True)
        state = _state(link, timezone.now())
        if state != VALID or link is None:
            code, message = _REFUSALS[state]
            raise PasswordLinkUnusable(message(), code=code)
        try:
            password = CIPHER.decrypt(link.password_encrypted)
            investor = CIPHER.decrypt(link.investor_password_encrypted) if link.investor_password_encrypted else ""
        except Undecryptable:
            logger.error("a trading password link cannot be decrypted (key removed?)", extra={"link": str(link.code)})
            password = investor = ""
        link.revealed_at = timezone.now()
        link.password_encrypted = link.investor_password_encrypted = ""
        link.save(update_fields=["revealed_at", "password_encrypted", "investor_password_encrypted"])
        audit_record(action="trading.password_link_reveal", obj=link.account, actor=None,
                     after={"login": link.account.login, "link": str(link.code), "readable": bool(password)})
    if not password:
        raise PasswordLinkUnusable(gettext("This password can no longer be read. Ask us for a new one."),
                                   code="password_link_unreadable")
    return Revealed(account=link.account, password=password, investor_password=investor, language=link.language)


def password_links_purge(*, now: dt.datetime | None = None) -> int:
    """Beat: wipe the passwords of links that expired unrevealed; returns how many."""
    now = now or timezone.now()
    return TradingPasswordLink.objects.filter(expires_at__lte=now).exclude(password_encrypted="").update(
        password_encrypted="", investor_password_encrypted="")
