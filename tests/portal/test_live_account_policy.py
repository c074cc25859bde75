"""A verified client gets a live account they can have: the trader's room offers (and preselects)
only the account types the brand's policy lets this client open (their country's and
classification's cap, the questionnaire's limit), the first live account opens with one of them on
approval, and when the policy still refuses it after the approval the client is told why (a
notification; the dashboard and the verification page say so instead of "being set up"), the
owner is notified and staff get a task. Against the MT5 Web API simulator, as a separate process."""

from __future__ import annotations

import pytest
from django.urls import reverse

from crm import events
from crm.models import Classification, RoleCode, Task
from crm.models import Notification as StaffNotification
from portal.models import AccountChoice, Notification
from tests.factories import make_user
from tests.portal.conftest import sign_in
from tests.portal.test_verification import save_address, send
from tests.portal.test_verification_account import live_accounts
from tests.trading.conftest import quiet_sim, shared_sim  # noqa: F401  (fixtures)
from tests.trading.crm_fixtures import _fresh_adapters, make_server  # noqa: F401  (fixture)

# The demo's types as a brand may map them, with no type marked "default": "cent" comes first by key
# and offers nothing a retail client in the UK may have (1:30 at most).
TYPES = {
    "cent": {"label": "Cent", "group": "real\\cent", "leverages": [100, 500, 1000], "currency": "USD"},
    "standard": {"label": "Standard", "group": "real\\standard", "leverages": [30, 50, 100, 200, 500],
                 "currency": "USD"},
    "demo": {"label": "Demo", "group": "demo\\standard", "leverages": [100, 500], "demo": True, "currency": "USD"},
}


@pytest.fixture(autouse=True)
def _kyc_storage(settings, tmp_path):
    settings.KYC_STORAGE_DIR = tmp_path / "kyc-private"


@pytest.fixture
def uk_broker(registered, quiet_sim):  # noqa: F811
    """A brand that caps its retail clients in the UK at 1:30 (as the demo's Atlas does), with the
    client registered in the trader's room from GB, who chose nothing."""
    from trading.services import brand_trading_policy_set, leverage_cap_save

    server = make_server(quiet_sim, registered.brand, account_types=TYPES,
                         close_only_groups={"real\\standard": "real\\standard-closeonly"})
    brand_trading_policy_set(actor=None, brand=registered.brand, max_leverage_live=500, max_leverage_demo=1000,
                             live_min_stage="registered", live_requires_verification=True)
    registered.cap = leverage_cap_save(actor=None, brand=registered.brand, country="GB",
                                       classification=Classification.RETAIL, max_leverage=30)
    assert registered.client.country == "GB" and registered.client.classification == Classification.RETAIL
    save_address(registered.client)
    registered.server, registered.sim = server, quiet_sim
    return registered


def officer_approves(client, brand):
    """The documents go to review and a compliance officer approves them (the officer's path)."""
    from kyc.services import submission_approve, submission_checks_record
    from tests.kyc.conftest import report

    officer = make_user(role_code=RoleCode.COMPLIANCE, brand=brand)
    submission = submission_checks_record(submission=send(client), report=report(decision="review"))
    submission_approve(submission=submission, actor=officer)
    events.dispatch_pending()
    events.dispatch_pending()  # the events the handlers emitted


def test_a_uk_retail_client_who_keeps_the_preselected_type_gets_a_live_account(uk_broker, http):
    sign_in(http, uk_broker.brand)
    page = http.get(reverse("portal:home"))
    form = page.context["choice_form"]
    # Cent (1:100 at the least) is not offered, and the preselected type is one the client can open.
    assert [key for key, _label in form.fields["offer"].choices] == [f"{uk_broker.server.code}:standard"]
    assert form.initial["offer"] == f"{uk_broker.server.code}:standard"

    officer_approves(uk_broker.client, uk_broker.brand)

    [account] = live_accounts(uk_broker.client)
    assert (account.account_type, account.leverage) == ("standard", 30)
    on_platform = {int(a["Login"]): int(a["Leverage"]) for a in uk_broker.sim.truth()["accounts"]}
    assert on_platform[account.login] == 30
    page = http.get(reverse("portal:home")).content.decode()
    assert str(account.login) in page and "being set up" not in page


def test_the_room_refuses_a_type_the_client_cannot_open(uk_broker, http):
    sign_in(http, uk_broker.brand)
    cent = f"{uk_broker.server.code}:cent"
    response = http.post(reverse("portal:account_choose"), {"offer": cent})
    assert response.status_code == 302
    assert not AccountChoice.objects.filter(client=uk_broker.client).exists()
    # Nor on the verification page's chooser.
    page = http.get(reverse("portal:kyc") + "?step=status")
    assert cent not in page.content.decode()
    # A professional client in the UK has no cap rule here: Cent is theirs to choose.
    from crm.services import client_classification_set

    client_classification_set(actor=None, client=uk_broker.client, classification=Classification.PROFESSIONAL,
                              reason="Opted up")
    assert http.post(reverse("portal:account_choose"), {"offer": cent}).status_code == 302
    assert AccountChoice.objects.get(client=uk_broker.client).account_type == "cent"


def test_a_policy_refusal_after_approval_is_told_to_the_client_the_owner_and_staff(uk_broker, http):
    from crm.services import client_assign
    from trading.services import leverage_cap_save

    owner = make_user(role_code=RoleCode.SALES_AGENT, brand=uk_broker.brand)
    client_assign(actor=None, client=uk_broker.client, owner=owner)
    sign_in(http, uk_broker.brand)
    http.post(reverse("portal:account_choose"), {"offer": f"{uk_broker.server.code}:standard"})
    assert AccountChoice.objects.get(client=uk_broker.client).account_type == "standard"
    # Before the approval, the brand lowers its UK retail cap below every type it offers.
    leverage_cap_save(actor=None, brand=uk_broker.brand, country="GB", classification=Classification.RETAIL,
                      max_leverage=10, cap=uk_broker.cap)

    officer_approves(uk_broker.client, uk_broker.brand)

    assert live_accounts(uk_broker.client) == []
    reason = "Retail clients in GB: at most 1:10"
    # The client's notification, the dashboard and the verification page say why.
    notification = Notification.objects.get(client=uk_broker.client, kind="portal.live_account_refused")
    assert reason in notification.data["reason"]
    home = http.get(reverse("portal:home")).content.decode()
    assert "being set up" not in home and reason in home and 'data-state="refused"' in home
    verification = http.get(reverse("portal:kyc")).content.decode()
    assert "Your live trading account is on your dashboard" not in verification and reason in verification
    assert reason in http.get(reverse("portal:notifications")).content.decode()
    # The owner is told, and has a task about the client.
    told = StaffNotification.objects.get(user=owner, kind="live_account_refused")
    assert reason in told.body
    [task] = Task.objects.filter(client=uk_broker.client, assignee=owner, done_at__isnull=True)
    assert reason in task.description

    # Delivered again: told once.
    from crm.models import Event
    from portal.handlers import first_live_account

    first_live_account(Event.objects.get(name="kyc.approved", client=uk_broker.client))
    assert Task.objects.filter(client=uk_broker.client).count() == 1
    assert Event.objects.filter(client=uk_broker.client, name="portal.live_account_refused").count() == 1


def test_a_refusal_by_the_brands_least_stage_is_final_too(uk_broker):
    """Not a platform failure: the delivery succeeds (no retry) and the task goes to the brand's staff
    when the client has no owner."""
    from crm.models import DeliveryStatus, EventDelivery
    from trading.services import brand_trading_policy_set

    brand_trading_policy_set(actor=None, brand=uk_broker.brand, max_leverage_live=500, max_leverage_demo=1000,
                             live_min_stage="funded", live_requires_verification=True)
    dealer = make_user(role_code=RoleCode.DEALER, brand=uk_broker.brand)
    uk_broker.client.refresh_from_db()
    assert uk_broker.client.owner is None

    officer_approves(uk_broker.client, uk_broker.brand)

    assert live_accounts(uk_broker.client) == []
    assert EventDelivery.objects.get(handler="portal.handlers.first_live_account").status == DeliveryStatus.SUCCEEDED
    [task] = Task.objects.filter(client=uk_broker.client)
    assert task.assignee == dealer and "at least Funded" in task.description
