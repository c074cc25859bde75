"""An approved client gets a live trading account (portal.handlers.first_live_account), against the MT5 Web
API simulator running as a separate process: once, within the questionnaire's leverage limit, and a
platform failure neither loses the approval nor the account (the event delivery retries it)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from crm import events
from crm.models import DeliveryStatus, EventDelivery, RoleCode
from kyc.models import KycStatus
from tests.kyc.conftest import report
from tests.portal.conftest import sign_in
from tests.portal.test_verification import save_address, send
from tests.trading.conftest import quiet_sim, shared_sim  # noqa: F401  (fixtures)
from tests.trading.crm_fixtures import ACCOUNT_TYPES, _fresh_adapters, make_server  # noqa: F401  (fixture)

HANDLER = "portal.handlers.first_live_account"
TYPES = {**ACCOUNT_TYPES, "standard": {**ACCOUNT_TYPES["standard"], "default": True}}


@pytest.fixture(autouse=True)
def _kyc_storage(settings, tmp_path):
    settings.KYC_STORAGE_DIR = tmp_path / "kyc-private"


@pytest.fixture
def broker(registered, quiet_sim):  # noqa: F811
    from crm.services import client_classification_set
    from trading.services import brand_trading_policy_set

    server = make_server(quiet_sim, registered.brand, account_types=TYPES)
    # A professional client: the FCA's default for retail clients in GB (1:30) is not what these
    # tests are about (tests/trading/test_leverage_caps.py is).
    client_classification_set(actor=None, client=registered.client, classification="professional",
                              reason="Opted up (test)")
    brand_trading_policy_set(actor=None, brand=registered.brand, max_leverage_live=500, max_leverage_demo=500,
                             live_min_stage="registered", live_requires_verification=True)
    save_address(registered.client)
    registered.server = server
    registered.sim = quiet_sim
    return registered


def approve(client):
    from kyc.services import submission_checks_record

    return submission_checks_record(submission=send(client), report=report(decision="approve"))


def live_accounts(client):
    from trading.models import TradingAccount

    return list(TradingAccount.objects.filter(client=client, is_demo=False))


def test_an_approved_client_gets_one_live_account_on_the_brands_default_server(broker, http):
    approve(broker.client)
    events.dispatch_pending()
    [account] = live_accounts(broker.client)
    assert (account.server_id, account.account_type, account.leverage, account.currency) == (
        broker.server.pk, "standard", 500, "USD")
    on_platform = {int(a["Login"]): int(a["Leverage"]) for a in broker.sim.truth()["accounts"]}
    assert on_platform[account.login] == 500
    assert EventDelivery.objects.get(handler=HANDLER).status == DeliveryStatus.SUCCEEDED

    # Delivered again, or the handler given the event again: still one account.
    from crm.models import Event
    from portal.handlers import first_live_account

    event = Event.objects.get(name="kyc.approved", client=broker.client)
    assert events.deliver_event(event) == 0
    first_live_account(event)
    assert len(live_accounts(broker.client)) == 1

    # The dashboard shows it.
    sign_in(http, broker.brand)
    page = http.get(reverse("portal:home")).content.decode()
    assert str(account.login) in page and broker.server.name in page and "1:500" in page


def test_the_questionnaires_leverage_limit_holds_for_the_first_account(registered, quiet_sim):  # noqa: F811
    from kyc.questionnaire import (
        questionnaire_draft_save,
        questionnaire_submit,
        questionnaire_version_publish,
    )
    from kyc.questionnaire_demo import ANSWERS_WITH_WARNING, demo_content
    types = {**TYPES, "standard": {**TYPES["standard"], "leverages": [10, 30, 100, 500]}}
    make_server(quiet_sim, registered.brand, account_types=types)
    save_address(registered.client)
    version = questionnaire_version_publish(actor=None, version=questionnaire_draft_save(
        actor=None, brand=registered.brand, content=demo_content()))
    questionnaire_submit(actor=None, client=registered.client, version=version, answers=ANSWERS_WITH_WARNING)
    approve(registered.client)
    events.dispatch_pending()
    # "Appropriate with a warning": at most 1:30, the highest the type offers within it.
    [account] = live_accounts(registered.client)
    assert account.leverage == 30


def test_no_leverage_within_the_limit_opens_nothing(registered, quiet_sim):  # noqa: F811
    from kyc.questionnaire import (
        questionnaire_draft_save,
        questionnaire_submit,
        questionnaire_version_publish,
    )
    from kyc.questionnaire_demo import ANSWERS_NOT_APPROPRIATE, demo_content

    make_server(quiet_sim, registered.brand, account_types=TYPES)  # 1:50 at the least
    save_address(registered.client)
    version = questionnaire_version_publish(actor=None, version=questionnaire_draft_save(
        actor=None, brand=registered.brand, content=demo_content()))
    questionnaire_submit(actor=None, client=registered.client, version=version, answers=ANSWERS_NOT_APPROPRIATE)
    approve(registered.client)
    events.dispatch_pending()
    assert live_accounts(registered.client) == []
    assert EventDelivery.objects.get(handler=HANDLER).status == DeliveryStatus.SUCCEEDED


def test_a_platform_failure_keeps_the_approval_and_the_retry_opens_the_account(broker):
    from kyc.selectors import kyc_status

    broker.sim.faults({"type": "http_error", "path": "/api/user/add", "count": 1, "status": 503})
    approve(broker.client)
    events.dispatch_pending()
    assert kyc_status(client=broker.client) == KycStatus.APPROVED
    assert live_accounts(broker.client) == []
    delivery = EventDelivery.objects.get(handler=HANDLER)
    assert delivery.status == DeliveryStatus.FAILED and "503" in delivery.last_error
    # The other handlers of the approval took effect (the client is verified).
    broker.client.refresh_from_db()
    assert broker.client.stage == "verified"

    assert events.retry_due(now=timezone.now() + timedelta(hours=1)) == 1
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert len(live_accounts(broker.client)) == 1


def test_a_client_with_a_live_account_gets_no_second_one(broker):
    from trading.services import trading_account_open

    approve(broker.client)
    # An account opened by staff before the event was delivered.
    trading_account_open(actor=None, client=broker.client, server=broker.server, account_type="pro", leverage=100,
                         send_credentials=False)
    events.dispatch_pending()
    [account] = live_accounts(broker.client)
    assert account.account_type == "pro"


def test_a_brand_without_a_live_server_opens_nothing_and_the_delivery_succeeds(registered):
    save_address(registered.client)
    approve(registered.client)
    events.dispatch_pending()
    assert live_accounts(registered.client) == []
    assert EventDelivery.objects.get(handler=HANDLER).status == DeliveryStatus.SUCCEEDED


def test_the_default_live_offer_skips_demo_types_and_inactive_servers(broker):
    from tests.factories import make_brand
    from trading.selectors import default_live_offer

    offer = default_live_offer(brand_id=broker.brand.pk)
    assert offer is not None and (offer.server.pk, offer.account_type) == (broker.server.pk, "standard")
    # Without a mark: the first live type by key ("demo" is skipped).
    other = make_brand()
    make_server(broker.sim, other, account_types=ACCOUNT_TYPES)
    offer = default_live_offer(brand_id=other.pk)
    assert offer is not None and offer.account_type == "pro"
    assert default_live_offer(brand_id=make_brand().pk) is None


def test_an_officers_approval_opens_the_account_too(broker):
    from kyc.services import submission_approve, submission_checks_record
    from tests.factories import make_user

    officer = make_user(role_code=RoleCode.COMPLIANCE, brand=broker.brand)
    submission = submission_checks_record(submission=send(broker.client), report=report(decision="review"))
    events.dispatch_pending()
    assert live_accounts(broker.client) == []
    submission_approve(submission=submission, actor=officer)
    events.dispatch_pending()
    assert len(live_accounts(broker.client)) == 1
