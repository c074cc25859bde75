"""The questionnaire's result holds the client's leverage (through trading, which reads the
"kyc.assessed" event): opening an account or raising leverage above it is refused naming the
questionnaire, the default leverage is the highest within it, the client's live accounts above it
are lowered, a later better result lifts it; demo accounts keep the demo ceiling. Against the MT5
simulator process."""
# ruff: noqa: F811 - pytest fixtures imported from crm_fixtures are redefined as test arguments

from __future__ import annotations

import datetime as dt

import pytest

from crm.events import dispatch_pending
from kyc.questionnaire import questionnaire_submit
from kyc.questionnaire_demo import ANSWERS_APPROPRIATE, ANSWERS_NOT_APPROPRIATE, ANSWERS_WITH_WARNING
from tests.factories import make_brand, make_client
from tests.kyc.questionnaire_support import seed
from tests.trading.conftest import quiet_sim, shared_sim  # noqa: F401 - fixtures
from tests.trading.crm_fixtures import ACCOUNT_TYPES, _fresh_adapters, make_server, world  # noqa: F401
from trading.exceptions import LeverageAboveCap
from trading.models import ClientLeverageLimit, TradingAccount
from trading.policy import leverage_limit
from trading.selectors import accounts_above_cap
from trading.services import (
    brand_trading_policy_set,
    client_accounts_lower,
    trading_account_open,
    trading_account_set_leverage,
)

TYPES = {**ACCOUNT_TYPES, "standard": {**ACCOUNT_TYPES["standard"], "leverages": [10, 30, 100, 500]},
         "demo": {**ACCOUNT_TYPES["demo"], "leverages": [10, 100, 500]}}


@pytest.fixture
def desk(world):
    """A brand with the example questionnaire, a 1:500 ceiling and a server offering 1:10 to 1:500."""
    brand = make_brand()
    brand_trading_policy_set(actor=world.admin, brand=brand, max_leverage_live=500, max_leverage_demo=500)
    world.qbrand, world.qserver = brand, make_server(world.sim, brand, name="MT5 questionnaire", account_types=TYPES)
    world.version = seed(brand)
    world.trader = make_client(brand=brand, stage="funded", email="assessed@example.com")
    return world


def _assess(world, answers):
    response = questionnaire_submit(actor=None, client=world.trader, version=world.version, answers=answers)
    dispatch_pending()
    return response


def _platform_leverage(world, login):
    return int(next(a for a in world.sim.truth()["accounts"] if int(a["Login"]) == login)["Leverage"])


def test_the_result_caps_new_accounts_and_leverage_changes_naming_the_questionnaire(desk, time_machine):
    world = desk
    before = trading_account_open(actor=None, client=world.trader, server=world.qserver, account_type="standard",
                                  leverage=500, send_credentials=False)
    time_machine.move_to(dt.datetime.now(dt.UTC), tick=True)
    _assess(world, ANSWERS_NOT_APPROPRIATE)
    limit = ClientLeverageLimit.objects.get(client=world.trader)
    assert (limit.source, limit.max_leverage, limit.reason) == ("appropriateness", 10, "not_appropriate")
    assert leverage_limit(client=world.trader, brand=world.qbrand, demo=False).rule == (
        "Appropriateness questionnaire: not appropriate, at most 1:10")
    accounts = len(world.sim.truth()["accounts"])
    with pytest.raises(LeverageAboveCap) as refused:
        trading_account_open(actor=world.admin, client=world.trader, server=world.qserver, account_type="standard",
                             leverage=100)
    assert refused.value.fields == {"leverage": [
        "Leverage 1:100 is refused. Appropriateness questionnaire: not appropriate, at most 1:10."]}
    assert len(world.sim.truth()["accounts"]) == accounts
    account = trading_account_open(actor=world.admin, client=world.trader, server=world.qserver,
                                   account_type="standard", send_credentials=False)
    assert account.leverage == 10 and _platform_leverage(world, account.login) == 10  # the highest within it
    before = TradingAccount.objects.select_related("client", "server__brand").get(pk=before.pk)
    with pytest.raises(LeverageAboveCap) as refused:
        trading_account_set_leverage(actor=world.admin, account=before, leverage=100)
    assert "Appropriateness questionnaire: not appropriate, at most 1:10" in refused.value.message
    # The account opened before is above the client's limit: the brand's list shows it, and lowering does it.
    assert [a.pk for a in accounts_above_cap(user=world.admin, brand=world.qbrand)] == [before.pk]
    assert client_accounts_lower(client_id=world.trader.pk) == {"lowered": 1, "skipped": 1, "failed": 0}
    assert _platform_leverage(world, before.login) == 10 and TradingAccount.objects.get(pk=before.pk).leverage == 10
    # Demo accounts are held to the demo ceiling only.
    demo = trading_account_open(actor=world.admin, client=world.trader, server=world.qserver, account_type="demo",
                                leverage=500, send_credentials=False)
    assert demo.leverage == 500
    # A day later a better result: "with a warning" (1:30), then "appropriate" (the brand's caps only).
    time_machine.shift(dt.timedelta(hours=25))
    _assess(world, ANSWERS_WITH_WARNING)
    assert leverage_limit(client=world.trader, brand=world.qbrand, demo=False).cap == 30
    time_machine.shift(dt.timedelta(hours=25))
    _assess(world, ANSWERS_APPROPRIATE)
    assert ClientLeverageLimit.objects.get(client=world.trader).max_leverage is None
    limit = leverage_limit(client=world.trader, brand=world.qbrand, demo=False)
    assert limit.cap == 500 and "Appropriateness" not in limit.rule
    changed = trading_account_set_leverage(actor=world.admin, account=before, leverage=100)
    assert changed.leverage == 100


def test_an_older_result_delivered_late_does_not_replace_a_newer_one(desk):
    from crm.models import Event
    from trading.handlers import appropriateness_limit

    world = desk
    _assess(world, ANSWERS_WITH_WARNING)
    newer = ClientLeverageLimit.objects.get(client=world.trader)
    event = Event.objects.get(name="kyc.assessed")
    event.occurred_at = newer.set_at - dt.timedelta(days=1)
    event.data = {**event.data, "max_leverage": 10, "level": "not_appropriate"}
    appropriateness_limit(event)  # as a retried delivery of an older event would
    assert ClientLeverageLimit.objects.get(client=world.trader).max_leverage == 30
