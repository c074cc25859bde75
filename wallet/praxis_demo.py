"""The demo brands' Praxis Cashier: the provider pointed at the Praxis simulator
(wallet.praxis_simulator) with its credentials, and card deposits in USD and EUR routed to it for
every active brand (``manage.py wallet_praxis_demo_setup``, which ``make run`` calls once the
simulator listens); then the demo's card disputes, on card deposits paid on the simulator's hosted
page (``praxis_demo_disputes``)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import urllib.request
from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.db import transaction

from crm.exceptions import ValidationFailed
from crm.lib.money import Money
from crm.models import Brand, Client
from wallet.deposits import deposit_create, deposit_webhook_apply
from wallet.models import Deposit, PaymentProvider
from wallet.provider_services import CurrencyRule, payment_method_save, payment_provider_save
from wallet.providers.base import WebhookKind, WebhookMessage

logger = logging.getLogger(__name__)

PRAXIS_CODE = "praxis"
# What the demo brands take by card through Praxis, per currency: from 10 to 20,000, no fee.
CARD_CURRENCIES = [CurrencyRule(c, Decimal("10"), Decimal("20000")) for c in ("USD", "EUR")]


def praxis_demo_configure(*, base_url: str, merchant_id: str, application_key: str, merchant_secret: str,
                          actor: Any = None) -> PaymentProvider:
    """Save the demo's Praxis provider (again: idempotent) and give every active brand card
    deposits through it. Returns the provider."""
    provider = payment_provider_save(
        code=PRAXIS_CODE, name="Praxis Cashier", kind="praxis", base_url=base_url, api_key=merchant_id,
        api_secret=merchant_secret, settings={"application_key": application_key, "environment": "sandbox",
                                              "payment_methods": {"card": "Credit Card"}}, actor=actor)
    for brand in Brand.objects.filter(is_active=True):
        payment_method_save(brand=brand, method="card", direction="deposit", provider=provider,
                            currencies=CARD_CURRENCIES, label="Card (Praxis Cashier)", order=5, actor=actor)
    return provider


# The demo's card disputes, each on a card deposit paid on the Praxis simulator's hosted page: (the
# simulator's test card, amount, kind, reason code, reason, days left to answer, outcome: "" while open).
# The cards of 3-D Secure go through its challenge (approved there): their evidence says "authenticated
# (challenge)"; the others' that Praxis reported nothing of it.
CARD_3DS, CARD_APPROVE = "4000000000003220", "4111111111111111"
DEMO_CARD_DISPUTES = [
    (CARD_3DS, "750.00", "chargeback", "10.4", "Other fraud: card-absent environment", 3, ""),
    (CARD_APPROVE, "400.00", "retrieval_request", "28",
     "Request for copy: the cardholder does not recognise the payment", 9, ""),
    (CARD_3DS, "1200.00", "chargeback", "13.1", "Merchandise or services not received", 12, "won"),
    (CARD_APPROVE, "300.00", "chargeback", "10.4", "Other fraud: card-absent environment", 12, "lost"),
]


def _sim_call(url: str, *, form: Mapping[str, str] | None = None, token: str = "") -> bytes:
    """A request to the loopback Praxis simulator: a form posted (the client on the hosted page), or
    a GET of its control API with the control token."""
    data = urlencode(form).encode() if form is not None else None
    headers = {"Content-Type": "application/x-www-form-urlencoded"} if form is not None else {"X-Sim-Token": token}
    request = urllib.request.Request(url, data=data, headers=headers,  # noqa: S310 - our loopback simulator
                                     method="POST" if form is not None else "GET")
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - our loopback simulator
        body: bytes = answer.read()
    return body


def _card_deposit(*, provider: PaymentProvider, client: Client, card: str, amount: str, sim_url: str,
                  control_token: str) -> Deposit:
    """A card deposit through Praxis as a client makes one: the cashier session (deposit_create), the
    card typed on the simulator's hosted page (and its 3-D Secure challenge approved), then the
    simulator's notifications, read from its control API, read by the Praxis adapter and applied
    through the deposits' webhook handler here and now, as demo_wire_deposit applies the bank's (the
    simulator also sends them to the CRM's address, where they change nothing more: each is older
    than, or the same as, what was applied)."""
    deposit = deposit_create(client=client, amount=Money(amount, "USD"), method="card", return_url="")
    if not deposit.redirect_url.startswith(sim_url):
        return deposit  # not opened on the simulator (it did not answer): the caller sees it pending
    _sim_call(deposit.redirect_url, form={"card_number": card, "card_holder": f"{client.first_name} {client.last_name}",
                                          "card_exp": "12/2030", "cvv": "123"})
    if card == CARD_3DS:
        _sim_call(deposit.redirect_url + "/3ds", form={"decision": "approve"})
    hooks = json.loads(_sim_call(sim_url + "/_sim/webhooks", token=control_token))["webhooks"]
    adapter = provider.adapter()
    for hook in hooks:
        if hook.get("order_id") == deposit.merchant_ref:
            with transaction.atomic():
                deposit_webhook_apply(provider, adapter.message(hook["body"]), None)
    deposit.refresh_from_db()
    return deposit


def praxis_demo_disputes(*, provider: PaymentProvider, sim_url: str, control_token: str) -> int:
    """The demo's card disputes (DEMO_CARD_DISPUTES) in the first brand whose demo clients were funded
    (by wire, wallet_seed_demo): a card deposit through the Praxis simulator for each (a client each), then its chargeback or
    retrieval request through the provider's notification and the webhook handlers, as demo_disputes
    opens the wires' ones, and the outcome of the decided ones recorded by the demo finance officer.
    Idempotent: once Praxis has a dispute, nothing is done. Returns how many disputes were opened."""
    from crm.models import RoleCode, User
    from plumbing import context
    from wallet.disputes import dispute_outcome_record, dispute_webhook_apply
    from wallet.models import DepositStatus, Dispute

    if Dispute.objects.filter(provider=provider).exists():
        return 0
    funded = (Deposit.objects.filter(status=DepositStatus.SUCCEEDED, brand__is_active=True)
              .exclude(provider=provider).order_by("brand_id", "client_id"))
    first = funded.first()
    if first is None:
        return 0
    client_ids = list(dict.fromkeys(funded.filter(brand_id=first.brand_id).values_list("client_id", flat=True)))
    clients = iter(Client.objects.filter(pk__in=client_ids).order_by("pk"))
    finance = User.objects.filter(role__code=RoleCode.FINANCE, is_active=True).order_by("pk").first()
    now = dt.datetime.now(dt.UTC)
    opened = 0
    with context.acting_as(None, source="seed"):
        for card, amount, kind, code, reason, days, outcome in DEMO_CARD_DISPUTES:
            deposit = None
            for client in clients:  # a client each; one the deposit checks refuse (a KYC hold) is passed over
                try:
                    deposit = _card_deposit(provider=provider, client=client, card=card, amount=amount,
                                            sim_url=sim_url, control_token=control_token)
                except ValidationFailed:
                    continue
                break
            if deposit is None:
                break
            if deposit.status != DepositStatus.SUCCEEDED:
                logger.warning("praxis demo deposit not credited", extra={"deposit": str(deposit.code),
                                                                         "status": deposit.status})
                break
            message = WebhookMessage(
                kind=WebhookKind.CHARGEBACK if kind == "chargeback" else WebhookKind.RETRIEVAL_REQUEST,
                event_id=f"demo-dispute-{deposit.merchant_ref}", provider_ref=f"demo-{kind}-{deposit.pk}",
                merchant_ref=deposit.merchant_ref, amount=deposit.money, fee=None, occurred_at=now,
                raw={"data": {"reason_code": code, "reason_text": reason,
                              "respond_by": (now + dt.timedelta(days=days)).isoformat()}})
            with transaction.atomic():
                if not deposit_webhook_apply(provider, message, None):
                    dispute_webhook_apply(provider, message, None)
            opened += 1
            if outcome and finance is not None:
                dispute = Dispute.objects.get(deposit=deposit)
                note = ("Representment with the 3-D Secure authentication and the KYC documents accepted."
                        if outcome == "won" else "The issuer upheld the chargeback.")
                dispute_outcome_record(dispute=dispute, outcome=outcome, note=note, actor=finance)
    return opened
