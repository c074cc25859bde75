"""One meaning of "verified" (crm.selectors.client_verified, set only by the KYC app): an approval a
verification vendor withdraws (kyc.reopened) is no verification for anyone. The live account its
delivery would have opened is not opened, staff cannot open one, and the client cannot withdraw."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from crm import events
from crm.lib.money import Money
from crm.models import DeliveryStatus, Event, EventDelivery
from crm.selectors import client_verified
from kyc.models import KycStatus
from kyc.selectors import kyc_status
from tests.portal.test_verification_account import approve, broker, live_accounts  # noqa: F401  (fixture)
from tests.trading.conftest import quiet_sim, shared_sim  # noqa: F401  (fixtures)
from tests.trading.crm_fixtures import _fresh_adapters  # noqa: F401  (fixture)

FORGED = "the passport was found forged by ongoing monitoring"


@pytest.fixture(autouse=True)
def _kyc_storage(settings, tmp_path):
    settings.KYC_STORAGE_DIR = tmp_path / "kyc-private"


def vendor_withdraws(submission) -> None:
    """A later result of the verification vendor says the approved documents are not good after all
    (the path of a signed vendor webhook: kyc.vendor_services.vendor_result_apply)."""
    from kyc.vendor_services import vendor_result_apply
    from kyc.vendors.base import VendorOutcome, VendorResult

    vendor_result_apply(submission=submission, result=VendorResult(
        reference="apl_monitoring", outcome=VendorOutcome.REJECT, reason=FORGED, sequence=5))


def test_an_approval_the_vendor_withdrew_gives_no_live_account_and_no_withdrawal(broker):  # noqa: F811
    from trading.exceptions import AccountOpeningRefused
    from trading.services import trading_account_open
    from wallet.withdrawals import withdrawal_blockers

    # The platform is down when the approval is delivered: the delivery will be retried.
    broker.sim.faults({"type": "http_error", "path": "/api/user/add", "count": 1, "status": 503})
    submission = approve(broker.client)
    events.dispatch_pending()
    assert client_verified(client=broker.client) and live_accounts(broker.client) == []

    vendor_withdraws(submission)
    events.dispatch_pending()
    assert kyc_status(client=broker.client) == KycStatus.PENDING
    assert Event.objects.filter(name="kyc.reopened", client=broker.client).count() == 1
    assert not client_verified(client=broker.client)

    # The retried delivery opens nothing, and tells nobody of a refusal.
    assert events.retry_due(now=timezone.now() + timedelta(hours=1)) == 1
    assert EventDelivery.objects.get(handler="portal.handlers.first_live_account").status == DeliveryStatus.SUCCEEDED
    assert live_accounts(broker.client) == []
    assert not Event.objects.filter(name="portal.live_account_refused", client=broker.client).exists()
    # Staff cannot open one either: the brand asks for a verification that stands.
    with pytest.raises(AccountOpeningRefused):
        trading_account_open(actor=None, client=broker.client, server=broker.server, account_type="standard",
                             leverage=100, send_credentials=False)
    # Nor may the client withdraw.
    blockers = withdrawal_blockers(client=broker.client, amount=Money(Decimal("10"), "USD"), method=None)
    assert "kyc_not_approved" in [b.code for b in blockers]


def test_the_kyc_status_sets_and_clears_the_one_verification(broker):  # noqa: F811
    from crm.models import RoleCode
    from kyc.services import submission_approve
    from tests.factories import make_user

    submission = approve(broker.client)
    assert client_verified(client=broker.client)
    broker.client.refresh_from_db()
    assert broker.client.stage == "verified"  # proven in the approval's own transaction
    vendor_withdraws(submission)
    assert not client_verified(client=broker.client)
    # An officer who looks again and approves makes the client verified again.
    submission_approve(submission=submission, actor=make_user(role_code=RoleCode.COMPLIANCE, brand=broker.brand))
    assert client_verified(client=broker.client)
