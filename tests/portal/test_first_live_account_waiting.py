"""A client verified while their brand has no live trading server (issue 58, item 3): the first live
account waits instead of being dropped. The client's dashboard says so and offers the page to open one,
staff get a task (and the timeline an event), and the account opens when a live server is saved
(trading.server_saved) or at beat's sweep (portal.tasks.first_live_accounts_due), once."""

from __future__ import annotations

import pytest
from django.urls import reverse

from crm import events
from crm.models import Event, RoleCode, Task
from tests.factories import make_user
from tests.portal.conftest import sign_in
from tests.portal.test_verification import save_address
from tests.portal.test_verification_account import approve, live_accounts
from tests.trading.conftest import quiet_sim, shared_sim  # noqa: F401  (fixtures)
from tests.trading.crm_fixtures import ACCOUNT_TYPES, _fresh_adapters, make_server  # noqa: F401  (fixture)

# The client registers in GB: retail, so the FCA's 1:30 applies (the brand has no caps of its own).
TYPES = {**ACCOUNT_TYPES, "standard": {**ACCOUNT_TYPES["standard"], "default": True,
                                       "leverages": [30, 50, 100, 200, 500]}}


@pytest.fixture(autouse=True)
def _kyc_storage(settings, tmp_path):
    settings.KYC_STORAGE_DIR = tmp_path / "kyc-private"


@pytest.fixture
def no_server(registered, quiet_sim):  # noqa: F811
    from trading.services import brand_trading_policy_set

    brand_trading_policy_set(actor=None, brand=registered.brand, max_leverage_live=500, max_leverage_demo=500,
                             live_min_stage="registered", live_requires_verification=True)
    save_address(registered.client)
    registered.dealer = make_user(role_code=RoleCode.DEALER, brand=registered.brand, full_name="Dina Dealer")
    registered.sim = quiet_sim
    return registered


def test_a_client_verified_without_a_live_server_waits_and_gets_the_account_when_one_is_added(no_server, http):
    approve(no_server.client)
    events.dispatch_pending()
    assert live_accounts(no_server.client) == []
    assert Event.objects.filter(client=no_server.client, name="portal.live_account_waiting").count() == 1
    [task] = Task.objects.filter(client=no_server.client)
    assert task.assignee == no_server.dealer and "Add a live trading server for Atlas Test" in task.title
    from crm.views.ui.timeline import describe

    entry = describe(Event.objects.get(client=no_server.client, name="portal.live_account_waiting"))
    assert entry.label == "Verified, waiting for a live trading server" and "no active server" in entry.summary

    sign_in(http, no_server.brand)
    home = http.get(reverse("portal:home")).content.decode()
    assert 'data-state="waiting"' in home and "no live trading server ready yet" in home
    assert f'href="{reverse("portal:account_new")}"' in home and "Open a live account" in home
    assert "appears here in a moment" not in home
    events.dispatch_pending()  # delivered again: still one event, one task
    assert Task.objects.filter(client=no_server.client).count() == 1

    make_server(no_server.sim, no_server.brand, account_types=TYPES)
    events.dispatch_pending()  # trading.server_saved
    [account] = live_accounts(no_server.client)
    assert (account.account_type, account.leverage) == ("standard", 30)
    home = http.get(reverse("portal:home")).content.decode()
    assert 'id="account-setup"' not in home and str(account.login) in home


def test_beats_sweep_opens_a_waiting_clients_account_once(no_server):
    from portal.tasks import first_live_accounts_due

    approve(no_server.client)
    events.dispatch_pending()
    assert first_live_accounts_due() == 0  # still no server
    make_server(no_server.sim, no_server.brand, account_types=TYPES)
    assert first_live_accounts_due() == 1
    events.dispatch_pending()  # the server's event comes after: nothing more
    assert first_live_accounts_due() == 0
    assert len(live_accounts(no_server.client)) == 1
