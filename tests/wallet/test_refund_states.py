"""A deposit refund's status moves only through its state machine (wallet.models.deposits.REFUND_STATES):
a move outside the table is refused with an error naming both states and nothing written, and a
provider's word that the table does not allow (a success for a refund never asked of the provider, a
failure after the money went back) changes nothing."""

from __future__ import annotations

import pytest

from crm.models import AuditLog
from tests.wallet.conftest import WEBHOOK_SECRET
from tests.wallet.support import signed_webhook
from tests.wallet.test_refund_four_eyes import usd, world  # noqa: F401 - the fixture
from wallet.deposits import deposit_refund, deposit_refund_send_back
from wallet.exceptions import RefundTransitionRefused
from wallet.ledger import balance
from wallet.models import DepositRefund, DepositStatus, RefundStatus
from wallet.models.deposits import REFUND_STATES
from wallet.webhooks import webhook_receive


def _notify(refund: DepositRefund, event_type: str) -> None:
    headers, body = signed_webhook(WEBHOOK_SECRET, event_type=event_type, merchant_ref=refund.merchant_ref,
                                   data={"object": "refund", "id": "rfd_forged", "amount": str(refund.amount),
                                         "status": event_type.split(".")[1]})
    webhook_receive(provider_code="psp-sim", headers=headers, body=body)


def test_a_sent_back_refund_cannot_be_asked_of_the_provider_and_says_why(world):  # noqa: F811
    deposit = world.paid("1000")
    refund = deposit_refund(deposit=deposit, amount=usd("800"), actor=world.first, reason="Client asked")
    back = deposit_refund_send_back(refund=refund, actor=world.second, reason="Traded since")
    with pytest.raises(RefundTransitionRefused) as refused:
        REFUND_STATES.move(back, RefundStatus.REQUESTED, save=())
    assert refused.value.message == "A refund that is sent back cannot become asked of the provider."
    assert refused.value.code == "refund_transition_refused" and refused.value.status_code == 409
    back.refresh_from_db()
    assert back.status == RefundStatus.SENT_BACK


def test_a_refund_given_back_cannot_fail_afterwards(world):  # noqa: F811
    deposit = world.paid("300")
    done = deposit_refund(deposit=deposit, amount=usd("300"), actor=world.first, reason="Client asked")
    assert done.status == RefundStatus.SUCCEEDED
    with pytest.raises(RefundTransitionRefused) as refused:
        REFUND_STATES.move(done, RefundStatus.FAILED, save=())
    assert "refunded" in refused.value.message and "refused by the provider" in refused.value.message
    # The provider's late "failed" for it changes nothing either: the money went back once.
    _notify(done, "refund.failed")
    done.refresh_from_db()
    assert done.status == RefundStatus.SUCCEEDED and balance(world.wallet()) == usd("0")


def test_a_success_notified_for_a_refund_waiting_for_a_second_person_gives_nothing_back(world):  # noqa: F811
    deposit = world.paid("1000")
    waiting = deposit_refund(deposit=deposit, amount=usd("900"), actor=world.first, reason="Client asked")
    assert waiting.status == RefundStatus.PENDING_APPROVAL
    _notify(waiting, "refund.succeeded")
    waiting.refresh_from_db()
    deposit.refresh_from_db()
    assert waiting.status == RefundStatus.PENDING_APPROVAL and waiting.transaction is None
    assert deposit.status == DepositStatus.SUCCEEDED and balance(world.wallet()) == usd("1000")
    assert not AuditLog.objects.filter(action="wallet.deposit_refunded").exists()
