"""New leads and repeat touches are attributed to partners by the brand's rules.

"client.created" (from the lead intake, with its touch) and "lead.touched" carry the code of the
LeadTouch that holds the registration's referrer code and click id; the client's earlier touches
within the window are weighed with it. The trader's-room registration calls
ib.services.attribution_from_registration the same way."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from crm.events import subscribe
from crm.models import Event
from ib import services
from leads.selectors import touch_get, touches_with_partner_codes


def _history(event: Event, *, exclude: str) -> list[services.Touch]:
    assert event.client is not None
    policy = services.policy_for(event.client.brand_id)
    since = event.occurred_at - dt.timedelta(days=policy.window_days)
    touches: list[services.Touch] = []
    rows = touches_with_partner_codes(client=event.client, since=since, until=event.occurred_at, exclude=exclude)
    for row in rows:
        touches += services.touches_from_codes(client=event.client, at=row.created_at,
                                               referrer_code=row.referrer_code, click_id=row.click_id)
    return touches


@subscribe("client.created", "lead.touched")
def attribute_lead(event: Event) -> None:
    """Attribute the client of a new lead or a repeat touch that names a partner's code or click."""
    data = event.data if isinstance(event.data, dict) else {}
    code = data.get("touch")
    if event.client is None or not code:
        return
    touch = touch_get(code)
    if touch is None or not (touch.referrer_code or touch.click_id):
        return
    services.attribution_from_registration(
        client=event.client, referrer_code=touch.referrer_code, click_id=touch.click_id, at=touch.created_at,
        history=_history(event, exclude=str(touch.code)))



# The wallet's money facts the commission engine reads (CPA qualification, clawback), one row per
# wallet transaction: the reference is derived from the wallet's own stable codes, so a repeated
# delivery (or a replay of the event) finds the row already recorded and changes nothing.
@subscribe("wallet.deposit_succeeded")
def deposit_fact(event: Event) -> None:
    """A confirmed deposit, in its own currency, dated when the wallet credited it."""
    from crm.lib.money import Money
    from crm.lib.payloads import event_data
    from ib import commissions

    data = event_data(event)
    if event.client is None or not data.get("deposit"):
        return
    commissions.deposit_record(client=event.client, amount=Money(str(data["amount"]), str(data["currency"])),
                               at=event.occurred_at, reference=f"wallet:deposit:{data['deposit']}")


@subscribe("wallet.deposit_refunded", "wallet.deposit_charged_back")
def deposit_reversal_fact(event: Event) -> None:
    """A refund (one per refund) or the chargeback (one per deposit) of a confirmed deposit."""
    from crm.lib.money import Money
    from crm.lib.payloads import event_data
    from ib import commissions

    data = event_data(event)
    if event.client is None or not data.get("deposit"):
        return
    if event.name == "wallet.deposit_refunded":
        kind, reference = "refund", f"wallet:refund:{data['deposit']}:{data.get('reversal', '')}"
    else:
        kind, reference = "chargeback", f"wallet:chargeback:{data['deposit']}"
    commissions.chargeback_record(client=event.client, amount=Money(str(data["amount"]), str(data["currency"])),
                                  at=event.occurred_at, reference=reference[:100], kind=kind,
                                  deposit_reference=f"wallet:deposit:{data['deposit']}"[:100])


@subscribe("portal.registered", "kyc.approved", "wallet.first_deposit", "ib.client_qualified")
def postback_queue(event: Event) -> None:
    """Write the postback of the client's partner for this event, sent after commit (ib.postbacks)."""
    from ib.postbacks import deliveries_for_event

    deliveries_for_event(event)


@subscribe("ib.dispute_opened")
def dispute_alert(event: Event) -> None:
    """The brand's IB managers learn that a partner questions a commission line."""
    from django.urls import reverse
    from django.utils.translation import gettext_noop

    from crm.lib.money import money_round
    from crm.lib.payloads import event_data
    from crm.permissions import staff_of_brand
    from crm.services import notify_users
    from ib.commissions import MANAGE

    data = event_data(event)
    partner = (data.get("partner") or {}).get("name", "")
    amount = money_round(Decimal(str(data.get("amount") or "0")), str(data.get("currency") or ""))
    notify_users(staff_of_brand(event.brand_id, permission=MANAGE), kind="ib_dispute_opened",
                 title=gettext_noop("A partner disputes a commission line"),
                 body=f"{partner}: {amount} {data.get('currency', '')}",
                 url=reverse("ib_dispute_detail", args=[data["dispute"]]))


@subscribe("ib.dispute_decided")
def dispute_answer_mail(event: Event) -> None:
    """The partner (its portal login's address) is mailed the IB manager's answer, in the partner's language."""
    from django.conf import settings
    from django.core.mail import EmailMessage
    from django.template.loader import render_to_string
    from django.urls import reverse
    from django.utils.translation import override

    from crm.lib.payloads import event_data
    from crm.lib.public_url import public_url
    from ib.models import CommissionDispute, DisputeState, PartnerLogin
    from ib.partner_reset import partner_language

    code = event_data(event).get("dispute")
    if not code:
        return
    dispute = CommissionDispute.objects.select_related("partner", "brand").filter(code=str(code)).first()
    login = PartnerLogin.objects.filter(partner_id=dispute.partner_id, is_active=True).first() if dispute else None
    if dispute is None or login is None:
        return
    values = {"partner": dispute.partner, "brand": dispute.brand, "dispute": dispute,
              "upheld": dispute.state == DisputeState.UPHELD,
              "link": public_url(reverse("partners:disputes"))}
    with override(partner_language(dispute.partner)):
        subject = render_to_string("emails/ib/dispute_answered_subject.txt", values)
        body = render_to_string("emails/ib/dispute_answered.txt", values)
    EmailMessage(" ".join(subject.split()), body, settings.DEFAULT_FROM_EMAIL, [login.email]).send()
