"""Receipts: the client is emailed when money moves on their wallet (a deposit credited, a withdrawal
paid, a withdrawal rejected or failed), in their language, under the brand's name.

A receipt is transactional mail: it is queued on the emails pipeline (emails.services.email_queue: an
OutboundEmail in the client's email history, sent by its Celery task after commit) without marketing's
X-CRM-Marketing header and without List-Unsubscribe, so marketing's delivery check (marketing.delivery)
never holds it back: a client who unsubscribed from marketing, or whose address marketing suppressed,
still gets it.

The words are the wallet's templates (templates/emails/wallet/<kind>.txt and <kind>_subject.txt),
rendered by Django in the client's language (translation.override; catalogue wallet/locale) and laid
out by the emails' own layout (templates/emails/base.*); the HTML version is the text, escaped, with
links and line breaks, as the emails pipeline makes it. Amounts go through crm.lib.money's formatter in
that language.

Once per deposit or withdrawal and kind: the email carries "X-CRM-Receipt: <kind>:<code>", looked for
under the deposit's or withdrawal's row lock before another is queued, so a repeated event (a provider's
webhook sent twice, an event delivered again) sends nothing more.

A brand turns receipts off by listing its code in the setting WALLET_RECEIPTS_OFF (default: none, every
brand sends them).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.db import transaction
from django.template.defaultfilters import date as date_format
from django.template.defaultfilters import linebreaks_filter, urlize
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.safestring import mark_safe

from crm.lib.money import Money, money_format
from crm.lib.public_url import public_url
from crm.models import Brand, Client, Event
from emails.selectors import client_email_with_header, file_template
from emails.services import RenderedEmail, brand_sender, client_mail_language, email_queue
from wallet.models import Deposit, Withdrawal, WithdrawalState

logger = logging.getLogger(__name__)

DEPOSIT_CREDITED = "deposit_credited"
WITHDRAWAL_PAID = "withdrawal_paid"
WITHDRAWAL_DECLINED = "withdrawal_declined"  # rejected by finance, or failed at the provider
KINDS = (DEPOSIT_CREDITED, WITHDRAWAL_PAID, WITHDRAWAL_DECLINED)
HEADER = "X-CRM-Receipt"
_SPACES = re.compile(r"[ \t\r\n]+")


@dataclass(frozen=True)
class Movement:
    """What a receipt says about one deposit or withdrawal."""

    kind: str
    code: str
    client: Client
    money: Money
    fee: Money | None
    method: str  # the method's label (translated when shown)
    reference: str
    at: datetime


def receipts_on(brand: Brand) -> bool:
    return brand.code not in set(getattr(settings, "WALLET_RECEIPTS_OFF", ()) or ())


def _local(at: datetime, client: Client) -> datetime:
    try:
        zone = ZoneInfo(client.timezone) if client.timezone else None
    except (ZoneInfoNotFoundError, ValueError):
        zone = None
    return timezone.localtime(at, zone) if zone is not None else timezone.localtime(at, ZoneInfo("UTC"))


def receipt_render(movement: Movement) -> RenderedEmail:
    """Subject, text and HTML of `movement`'s receipt in the client's language."""
    client = movement.client
    brand = client.brand
    language = client_mail_language(client)
    with translation.override(language):
        at = _local(movement.at, client)
        context = {
            "first_name": client.first_name,
            "brand_name": brand.name,
            "amount": money_format(movement.money),
            "fee": money_format(movement.fee) if movement.fee is not None and movement.fee.amount else "",
            "method": translation.gettext(movement.method),
            "reference": movement.reference,
            "when": f"{date_format(at, 'DATETIME_FORMAT')} ({at.tzname()})",
            "link": public_url(reverse("portal:wallet")),
        }
        # One line, the amount's no-break space kept (str.split would take it for a space).
        subject = _SPACES.sub(
            " ", render_to_string(f"emails/wallet/{movement.kind}_subject.txt", context)
        ).strip()
        body = render_to_string(f"emails/wallet/{movement.kind}.txt", context).strip()
        layout = {
            "subject": subject,
            "brand_name": brand.name,
            "language": language,
            "rtl": translation.get_language_bidi(),
        }
        text = render_to_string("emails/base.txt", {**layout, "body": body})
        body_html = linebreaks_filter(urlize(body, autoescape=True), autoescape=True)
        html = render_to_string("emails/base.html", {**layout, "body_html": mark_safe(body_html)})  # noqa: S308
    template = file_template(brand=brand, key=f"wallet_{movement.kind}", language=language)
    return RenderedEmail(
        template=template, language=language, subject=subject[:255], text=text.strip() + "\n", html=html
    )


@transaction.atomic
def receipt_send(movement: Movement) -> bool:
    """Queue `movement`'s receipt to its client, once per kind and deposit or withdrawal (the caller
    holds that row's lock); False when nothing is queued (no address, the brand turned receipts
    off, or sent already)."""
    client = movement.client
    key = f"{movement.kind}:{movement.code}"
    if not client.email or not receipts_on(client.brand):
        return False
    if client_email_with_header(client_id=client.pk, name=HEADER, value=key):
        return False
    email_queue(
        client=client,
        rendered=receipt_render(movement),
        template=None,
        actor=None,
        audit_action="wallet.receipt_queued",
        audit_extra={"receipt": key},
        headers={HEADER: key, "From": brand_sender(client.brand)},
    )
    return True


@transaction.atomic
def deposit_receipt(*, event: Event) -> bool:
    """The receipt of the deposit `event` (wallet.deposit_succeeded) names: what reached the wallet."""
    code = (event.data or {}).get("deposit")
    deposit = (
        Deposit.objects.select_for_update(of=("self",))
        .select_related("client__brand")
        .filter(code=code)
        .first()
        if code
        else None
    )
    if deposit is None or deposit.succeeded_at is None:  # credited once, whatever refunds came after
        return False
    fee = deposit.fee_money
    return receipt_send(
        Movement(
            kind=DEPOSIT_CREDITED,
            code=str(deposit.code),
            client=deposit.client,
            money=deposit.credited,
            fee=fee,
            method=str(deposit.get_method_display()),
            reference=deposit.merchant_ref,
            at=deposit.succeeded_at or event.occurred_at,
        )
    )


@transaction.atomic
def withdrawal_receipt(*, event: Event) -> bool:
    """The receipt of the withdrawal `event` (wallet.withdrawal_paid, _rejected or _failed) names, as
    the withdrawal stands now: a late event of a withdrawal since paid sends no "declined" receipt."""
    code = (event.data or {}).get("withdrawal")
    withdrawal = (
        Withdrawal.objects.select_for_update(of=("self",))
        .select_related("client__brand")
        .filter(code=code)
        .first()
        if code
        else None
    )
    if withdrawal is None:
        return False
    if withdrawal.state == WithdrawalState.PAID:
        kind = WITHDRAWAL_PAID
    elif withdrawal.state in {WithdrawalState.REJECTED, WithdrawalState.FAILED}:
        kind = WITHDRAWAL_DECLINED
    else:
        return False
    fee = withdrawal.fee_money if kind == WITHDRAWAL_PAID else None
    return receipt_send(
        Movement(
            kind=kind,
            code=str(withdrawal.code),
            client=withdrawal.client,
            money=withdrawal.money,
            fee=fee,
            method=str(withdrawal.get_method_display()),
            reference=withdrawal.merchant_ref,
            at=withdrawal.completed_at or event.occurred_at,
        )
    )
