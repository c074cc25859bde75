"""The money of prop-trading challenges: the fee and the profit-split payouts.

Trading owns the challenges (trading.prop: products, rules, the evaluator, the platform actions) and
sits below the wallet, so it cannot post to the ledger or queue a withdrawal. The wallet may use
both, so the two steps that move a client's money are here, called from the trader's room:
- ``challenge_buy``: the fee leaves the client's wallet for the brand's prop-fee revenue in one
  ledger posting keyed by the new challenge, in the same transaction as trading's challenge row;
  the platform account is opened after the commit (a platform that is down leaves the challenge
  "opening", retried; the fee is not taken twice).
- ``challenge_payout``: trading takes the funded account's profit off the platform (a balance
  operation that never applies twice) and records the payout decision; the trader's share goes
  from the brand's prop-payout expense to the wallet and, in the same transaction, into the
  wallet's withdrawal queue (the usual blockers, approvals and payout sending apply).
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import transaction
from django.utils.translation import gettext

from crm.exceptions import ValidationFailed
from crm.models import Client
from trading.exceptions import PlatformFailed
from trading.services import challenge_create, challenge_open_account, challenge_payout_take
from wallet.ledger import Leg, available, ledger_post, system_account_for, wallet_account_for
from wallet.models import AccountKind, PaymentMethod, Withdrawal
from wallet.withdrawals import withdrawal_request

FEES_REF = "prop challenge fees"  # owner_ref of the brand's revenue account for challenge fees
PAYOUTS_REF = "prop challenge payouts"  # owner_ref of the brand's equity account paying profit splits


# Challenge and ChallengeProduct are trading's models (trading.prop_models), typed Any here: the
# wallet meets trading through its services.
def challenge_fee_affordable(*, client: Client, product: Any) -> bool:
    """Whether the client's wallet in the product's currency can pay its fee now."""
    wallet = wallet_account_for(client=client, currency=product.currency)
    return bool(available(wallet).amount >= product.fee)


def challenge_buy(*, client: Client, product: Any, actor: Any = None) -> Any:
    """Buy `product` for `client` with the wallet's balance: the fee is posted (InsufficientFunds,
    naming what is available, if the wallet cannot pay it), the challenge recorded, then the account
    opened on the product's server. A platform failure after the commit leaves the challenge
    "opening" (shown to the client; retried), never a second fee."""
    code = uuid.uuid4()
    with transaction.atomic():
        fee = product.fee_money
        purchase_ref = ""
        if fee.amount > 0:
            tx = ledger_post(
                key=f"prop-fee:{code}", kind="prop_fee", ref_kind="challenge", ref_code=str(code),
                memo=f"challenge {product.key} v{product.version}", actor=actor,
                legs=[Leg(wallet_account_for(client=client, currency=fee.currency), -fee),
                      Leg(system_account_for(kind=AccountKind.REVENUE, currency=fee.currency, brand=client.brand_id,
                                             owner_ref=FEES_REF), fee)])
            purchase_ref = str(tx.code)
        challenge = challenge_create(client=client, product=product, purchase_ref=purchase_ref, actor=actor,
                                     code=code)
    try:
        return challenge_open_account(challenge_id=challenge.pk)
    except (PlatformFailed, ValidationFailed):
        challenge.refresh_from_db()
        return challenge


def challenge_payout(*, client: Client, challenge: Any, method: PaymentMethod, destination: dict[str, str],
                     actor: Any = None) -> Withdrawal:
    """Pay the trader's share of a funded challenge's profit through the withdrawal queue. All or
    nothing: the profit taken off the account, the share credited to the wallet and the withdrawal
    requested commit together (WithdrawalBlocked or ValidationFailed leave none of it)."""
    if challenge.client_id != client.pk:
        raise ValidationFailed(fields={"challenge": gettext("This challenge is not yours.")})
    with transaction.atomic():
        take = challenge_payout_take(challenge=challenge, actor=actor)
        share = take.share
        if share.amount <= 0:
            raise ValidationFailed(fields={"amount": gettext("There is no profit share to pay out yet.")})
        ledger_post(
            key=f"prop-payout:{take.operation_code}", kind="prop_payout", ref_kind="challenge",
            ref_code=str(challenge.code), memo=f"profit split {take.profit.amount} x {challenge.product.profit_split_pct}%",
            actor=actor,
            legs=[Leg(system_account_for(kind=AccountKind.EQUITY, currency=share.currency, brand=client.brand_id,
                                         owner_ref=PAYOUTS_REF), -share),
                  Leg(wallet_account_for(client=client, currency=share.currency), share)])
        return withdrawal_request(client=client, amount=share, method=method, destination=destination, actor=actor)
